/* libFuzzer target: a whole gossip instance receiving arbitrary datagrams
 * under a fixed key and label. The first bytes choose how the input is
 * used: raw (open must reject it), or sealed with the real key so the
 * fuzzer reaches the plaintext decoder and every message handler. Either
 * way gossip_receive must return, never crash, and count each drop. */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gossip/envelope.h"
#include "gossip/gossip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char LABEL[] = "fuzz";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gossip *g;
    static struct gossip_keyring kr;
    if (!g) {
        if (sodium_init() < 0)
            __builtin_trap();
        uint8_t key[GOSSIP_KEY_LEN];
        memset(key, 0x5a, sizeof(key));
        gossip_keyring_init(&kr);
        gossip_keyring_install(&kr, key);
        struct gossip_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        gossip_config_profile(&cfg, GOSSIP_PROFILE_LAN);
        cfg.app_eager = 2; /* lazy push: payloads re-gossiped are announced after two sends */
        memset(cfg.id, 0xee, GOSSIP_ID_LEN);
        cfg.generation = 1;
        strcpy(cfg.name, "fuzz");
        strcpy(cfg.label, LABEL);
        if (gossip_new(&g, &cfg, &kr, NULL, 1, 0))
            __builtin_trap();
    }
    struct gossip_addr from = {.port = 9};
    static ivt_ms now;
    now += 100;
    if (size > 0 && data[0] & 1) {
        uint8_t sealed[GOSSIP_PACKET_MAX];
        uint8_t nonce[GOSSIP_NONCE_LEN] = {0};
        size_t n = size - 1 > 1100 ? 1100 : size - 1, len;
        memcpy(nonce, &now, sizeof(now));
        if (gossip_seal(sealed, sizeof(sealed), &len, &kr, LABEL, strlen(LABEL), nonce, data + 1,
                        n) == 0)
            gossip_receive(g, &from, sealed, len, now);
    } else {
        gossip_receive(g, &from, data, size, now);
    }
    gossip_tick(g, now);
    struct gossip_packet out[8];
    while (gossip_outbox(g, out, 8))
        ;
    return 0;
}
