/* libFuzzer target: the ad-server API handlers (score, observe, lookup) on
 * arbitrary params bytes. The first input byte picks the method; the rest is
 * handed over as the params array, exactly as node/rpc.c would after framing.
 * Any bytes must give a result or an error, never a crash or a read past end. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "node/ivtd.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct ivtd *d = daemon_for_fuzz();
    const struct ivtd_rpc_method *m = &ivtd_api_methods[data[0] % ivtd_n_api_methods];
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
