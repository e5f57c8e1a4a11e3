/* libFuzzer target: the ad-server API handlers (score, observe, lookup) and
 * the control API's (status, members, explain, top, decide, decisions,
 * keys.list, metrics) on arbitrary params bytes. The first input byte picks
 * the method; the rest is handed over as the params array, exactly as
 * node/rpc.c would after framing. Any bytes must give a result or an error,
 * never a crash or a read past end. Left out: join (it would send
 * datagrams to whatever addresses the input names), leave (the node would
 * stay out of its cluster for every later input) and keys.install/use/remove
 * (they save the keyring into a state directory); their parameter readers
 * are the ones tested here. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "node/ivtd.h"
#include "node/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ivtd *daemon_for_fuzz(void)
{
    static struct ivtd *d;
    static uv_loop_t loop;
    if (d)
        return d;
    d = calloc(1, sizeof(*d));
    uv_loop_init(&loop);
    d->loop = &loop;
    /* A decision ends with ivtd_pump, which re-arms the tick timer (the
     * loop never runs here) and sends the node's outbox: empty, since
     * this node has no members and join is not fuzzed. */
    uv_timer_init(&loop, &d->tick);
    uv_udp_init(&loop, &d->udp);
    struct node_config nc;
    node_config_defaults(&nc);
    uint8_t key[GOSSIP_KEY_LEN] = {1};
    gossip_keyring_install(&nc.keyring, key);
    nc.addr.family = 4;
    nc.addr.port = 7946;
    nc.addr.bytes[0] = 127;
    nc.addr.bytes[3] = 1;
    if (node_new(&d->node, &nc, 1, 0, 1700000000000) != 0)
        abort();
    return d;
}

/* The methods fuzzed: every API method, and the control methods but those
 * named in the comment at the top. */
static const struct ivtd_rpc_method *methods[64];
static size_t n_methods;

static void pick_methods(void)
{
    static const char *const io[] = {"join", "leave", "keys.install", "keys.use", "keys.remove"};
    for (size_t i = 0; i < ivtd_n_api_methods; i++)
        methods[n_methods++] = &ivtd_api_methods[i];
    for (size_t i = ivtd_n_api_methods; i < ivtd_n_control_methods; i++) {
        bool skip = false;
        for (size_t j = 0; j < sizeof(io) / sizeof(io[0]); j++)
            skip |= strcmp(ivtd_control_methods[i].name, io[j]) == 0;
        if (!skip && n_methods < sizeof(methods) / sizeof(methods[0]))
            methods[n_methods++] = &ivtd_control_methods[i];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct ivtd *d = daemon_for_fuzz();
    if (!n_methods) {
        pick_methods();
        ivtd_log_set_level(IVTD_LOG_WARN); /* no line per accepted decision */
    }
    const struct ivtd_rpc_method *m = methods[data[0] % n_methods];
    const uint8_t *p = data + 1, *end = data + size;
    uint32_t n;
    if (ivt_mp_read_array(&p, end, &n) != 0)
        return 0;
    struct ivt_mpw out;
    ivt_mpw_init_dyn(&out, 1 << 20);
    char msg[IVTD_RPC_MSG_MAX] = "";
    struct ivtd_rpc_call call = {p, end, n, false, &out, msg, sizeof(msg)};
    int rc = m->fn(d, &call);
    /* A success writes exactly one well-formed value. */
    if (rc == 0 && ivt_mpw_error(&out) == 0 && ivt_mp_value_len(out.data, out.len) != (long)out.len)
        __builtin_trap();
    ivt_mpw_destroy(&out);
    return 0;
}
