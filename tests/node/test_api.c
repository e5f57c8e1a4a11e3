/*
 * Tests of ivtd's ad-server API handlers in process (node/api.c), without
 * sockets: the reply a client gets for what it sends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/err.h"
#include "base/mp.h"
#include "node/ivtd.h"
#include "tests/test.h"

static int call_method(struct ivtd *d, const char *name, const uint8_t *params, size_t len,
                       struct ivt_mpw *out)
{
    const struct ivtd_rpc_method *m = NULL;
    for (size_t i = 0; i < ivtd_n_api_methods; i++)
        if (strcmp(ivtd_api_methods[i].name, name) == 0)
            m = &ivtd_api_methods[i];
    assert_non_null(m);
    const uint8_t *p = params, *end = params + len;
    uint32_t n;
    assert_int_equal(ivt_mp_read_array(&p, end, &n), 0);
    char msg[IVTD_RPC_MSG_MAX] = "";
    struct ivtd_rpc_call call = {p, end, n, false, out, msg, sizeof(msg)};
    return m->fn(d, &call);
}

static void read_key(const uint8_t **p, const uint8_t *end, const char *want)
{
    const char *k;
    uint32_t kl;
    assert_int_equal(ivt_mp_read_str(p, end, &k, &kl), 0);
    assert_int_equal(kl, strlen(want));
    assert_memory_equal(k, want, kl);
}

/* An observe call larger than the handler's batches, with bad events
 * scattered through it: every good event is recorded, and each bad one is
 * reported by its index in the call, in order, whether it failed to parse
 * or the node refused it. */
TEST(node_api_observe_reports_errors_by_index)
{
    (void)state;
    if (sodium_init() < 0)
        fail();
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct ivtd *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    d->loop = &loop;
    /* the node's tick timer: observe brings it forward (ivtd_rearm) */
    assert_int_equal(uv_timer_init(&loop, &d->tick), 0);
    struct node_config nc;
    node_config_defaults(&nc);
    uint8_t key[GOSSIP_KEY_LEN] = {1};
    assert_int_equal(gossip_keyring_install(&nc.keyring, key), 0);
    nc.addr.family = 4;
    nc.addr.port = 7946;
    nc.max_entities = 4096;
    assert_int_equal(node_new(&d->node, &nc, 1, 0, ivtd_wall()), 0);

    enum { N = 150 };
    static const uint32_t bad[] = {3, 64, 70, 140}; /* 64: the first of a second batch */
    struct ivt_mpw in, out;
    ivt_mpw_init_dyn(&in, 1 << 20);
    ivt_mpw_init_dyn(&out, 1 << 20);
    ivt_mpw_array(&in, 1);
    ivt_mpw_array(&in, N);
    for (uint32_t i = 0; i < N; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "192.0.2.%u", i % 200);
        if (i == 3) {
            ivt_mpw_uint(&in, 7); /* not a map */
            continue;
        }
        ivt_mpw_map(&in, i == 140 ? 5 : 4);
        ivt_mpw_cstr(&in, "kind");
        ivt_mpw_cstr(&in, "request");
        ivt_mpw_cstr(&in, "ip");
        ivt_mpw_cstr(&in, i == 70 || i == 64 ? "not-an-address" : ip);
        ivt_mpw_cstr(&in, "ua");
        ivt_mpw_cstr(&in, "Mozilla/5.0 (X11; Linux x86_64)");
        ivt_mpw_cstr(&in, "pub");
        ivt_mpw_cstr(&in, "pub-1");
        if (i == 140) {
            ivt_mpw_cstr(&in, "ts");
            ivt_mpw_uint(&in, 1000); /* 1970: older than the window */
        }
    }
    assert_int_equal(call_method(d, "observe", in.data, in.len, &out), 0);

    const uint8_t *p = out.data, *end = out.data + out.len;
    uint32_t n;
    uint64_t v;
    assert_int_equal(ivt_mp_read_map(&p, end, &n), 0);
    assert_int_equal(n, 3);
    read_key(&p, end, "accepted");
    assert_int_equal(ivt_mp_read_uint(&p, end, &v), 0);
    assert_int_equal(v, N - 4);
    read_key(&p, end, "rejected");
    assert_int_equal(ivt_mp_read_uint(&p, end, &v), 0);
    assert_int_equal(v, 4);
    read_key(&p, end, "errors");
    assert_int_equal(ivt_mp_read_array(&p, end, &n), 0);
    assert_int_equal(n, 4);
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t m;
        const char *s;
        uint32_t sl;
        assert_int_equal(ivt_mp_read_map(&p, end, &m), 0);
        read_key(&p, end, "index");
        assert_int_equal(ivt_mp_read_uint(&p, end, &v), 0);
        assert_int_equal(v, bad[i]);
        read_key(&p, end, "message");
        assert_int_equal(ivt_mp_read_str(&p, end, &s, &sl), 0);
        assert_true(sl > 0);
        if (bad[i] == 140)
            assert_memory_equal(s, ivt_strerror(IVT_ESTALE), sl);
    }
    assert_true(p == end);
    assert_int_equal(node_events_observed(d->node), N - 4);

    ivt_mpw_destroy(&in);
    ivt_mpw_destroy(&out);
    /* The first events of an idle node asked for a tick at once. */
    assert_true(uv_is_active((uv_handle_t *)&d->tick));
    assert_int_equal(uv_timer_get_due_in(&d->tick), 0);
    uv_close((uv_handle_t *)&d->tick, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    node_delete(d->node);
    free(d);
    assert_int_equal(uv_loop_close(&loop), 0);
}
