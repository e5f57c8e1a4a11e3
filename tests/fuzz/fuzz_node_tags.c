/* libFuzzer target: member tags arrive from any node of the cluster; the
 * keyring fingerprint reader must accept or reject any bytes without reading
 * past them, and a fingerprint it accepts must survive being written back. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "gossip/gossip.h"
#include "node/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > GOSSIP_META_MAX)
        return 0; /* gossip never delivers longer tags */
    uint8_t fp[NODE_KEYRING_FP_LEN];
    int rc = node_tags_keyring(fp, data, size);
    if (rc != 0 && rc != IVT_ENOENT && rc != IVT_EPROTO)
        __builtin_trap();
    if (rc == 0) {
        uint8_t tags[GOSSIP_META_MAX], again[NODE_KEYRING_FP_LEN];
        struct ivt_mpw w;
        ivt_mpw_init_fixed(&w, tags, sizeof(tags));
        ivt_mpw_map(&w, 1);
        ivt_mpw_cstr(&w, "kr");
        ivt_mpw_bin(&w, fp, sizeof(fp));
        if (node_tags_keyring(again, tags, w.len) != 0 || memcmp(fp, again, sizeof(fp)) != 0)
            __builtin_trap();
    }
    return 0;
}
