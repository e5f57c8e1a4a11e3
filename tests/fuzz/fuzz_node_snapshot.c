/* libFuzzer target: a snapshot file is read back at start and may be cut,
 * damaged or from another version; node_restore must accept or refuse any
 * bytes (formats 1 and 2) without a crash, a leak or an allocation the
 * input sizes, and a refused file changes nothing. */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "gossip/gossip.h"
#include "node/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct node *node;
static const ivt_ms WALL0 = 1700000000000;

static int setup(void)
{
    if (sodium_init() < 0)
        return -1;
    struct node_config cfg;
    node_config_defaults(&cfg);
    memset(cfg.id, 0x33, sizeof(cfg.id));
    cfg.generation = 1;
    strcpy(cfg.name, "fuzz");
    uint8_t key[GOSSIP_KEY_LEN];
    memset(key, 5, sizeof(key));
    if (gossip_keyring_install(&cfg.keyring, key))
        return -1;
    memset(cfg.hash_key, 9, sizeof(cfg.hash_key));
    cfg.addr.port = 1;
    cfg.max_entities = 4096; /* restores beyond it evict: memory stays bounded */
    return node_new(&node, &cfg, 1, 0, WALL0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!node && setup())
        abort();
    int rc = node_restore(node, data, size, WALL0);
    if (rc > 0)
        __builtin_trap(); /* 0 or a negative code, nothing else */
    return 0;
}
