/* libFuzzer target: push-pull frames from a peer that holds the cluster key
 * (a compromised or buggy node) must be accepted or refused without a
 * crash, a leak or a hang, whatever their order: REQ, FIN and DIFF frames
 * with any fields, segments of app diff (ivtd's: decisions and evidence
 * repair parts) merged into a real node, its own answer written in
 * segments over ticks. The input is a sequence of frames, each a 2-byte
 * big-endian length and the frame message ([type, fields ...]); the
 * target puts the header in front, seals it with the cluster key and feeds
 * the node's responder stream, ticking the node between frames. */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mp.h"
#include "gossip/envelope.h"
#include "gossip/gossip.h"
#include "gossip/wire.h"
#include "node/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    FRAMES_MAX = 16,     /* per input: enough for every phase and some */
    FRAME_MAX = 1 << 16, /* bytes of one frame message (2-byte lengths) */
    KEY_BYTE = 7
};

static struct node *node;
static struct gossip_keyring kr;
static char label[80];
static size_t label_len;
static uint64_t counter; /* the fake peer's: never repeats across inputs */
static ivt_ms now;
static const ivt_ms WALL0 = 1700000000000;

static int setup(void)
{
    if (sodium_init() < 0)
        return -1;
    uint8_t key[GOSSIP_KEY_LEN];
    memset(key, KEY_BYTE, sizeof(key));
    gossip_keyring_init(&kr);
    struct node_config cfg;
    node_config_defaults(&cfg);
    memset(cfg.id, 0x11, sizeof(cfg.id));
    cfg.generation = 1;
    strcpy(cfg.name, "fuzz");
    if (gossip_keyring_install(&kr, key) || gossip_keyring_install(&cfg.keyring, key))
        return -1;
    memset(cfg.hash_key, 9, sizeof(cfg.hash_key));
    cfg.addr.port = 1;
    cfg.max_entities = 4096;
    if (node_new(&node, &cfg, 1, 0, WALL0))
        return -1;
    label_len = strlen(cfg.label);
    memcpy(label, cfg.label, label_len);
    memcpy(label + label_len, "/stream", 7);
    label_len += 7;
    return 0;
}

/* Seals [header, message] as one length-prefixed stream frame into out. */
static size_t frame(uint8_t *out, size_t cap, const uint8_t *msg, size_t n)
{
    static uint8_t plain[FRAME_MAX + 64];
    static const uint8_t peer[GOSSIP_ID_LEN] = {0x22};
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, plain, sizeof(plain));
    counter++;
    gossip_wire_hdr(&w, peer, 1, counter);
    ivt_mpw_raw(&w, msg, n);
    if (ivt_mpw_error(&w))
        return 0;
    uint8_t nonce[GOSSIP_NONCE_LEN] = {0x22};
    for (int i = 0; i < 8; i++)
        nonce[GOSSIP_NONCE_LEN - 1 - i] = (uint8_t)(counter >> (8 * i));
    size_t sealed;
    if (gossip_seal(out + 4, cap - 4, &sealed, &kr, label, label_len, nonce, w.data, w.len))
        return 0;
    out[0] = (uint8_t)(sealed >> 24);
    out[1] = (uint8_t)(sealed >> 16);
    out[2] = (uint8_t)(sealed >> 8);
    out[3] = (uint8_t)sealed;
    return 4 + sealed;
}

/* Ticks the node and drains what the stream has to say. */
static void turn(struct gossip *g, uint32_t sid)
{
    static uint8_t buf[1 << 16];
    now += 10;
    node_tick(node, now, WALL0 + now);
    while (gossip_stream_output(g, sid, buf, sizeof(buf)) > 0)
        ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t sealed[FRAME_MAX + 128];
    if (!node && setup())
        abort();
    struct gossip *g = node_gossip(node);
    struct gossip_addr from = {.port = 2};
    uint32_t sid;
    if (gossip_stream_accept(g, &sid, &from, now))
        return 0;
    for (int f = 0; f < FRAMES_MAX && size >= 2; f++) {
        size_t n = (size_t)data[0] << 8 | data[1];
        data += 2;
        size -= 2;
        if (n > size)
            n = size;
        size_t len = frame(sealed, sizeof(sealed), data, n);
        data += n;
        size -= n;
        if (len)
            gossip_stream_receive(g, sid, sealed, len, now);
        for (int t = 0; t < 12; t++)
            turn(g, sid); /* our segments, if we owe any, one a tick */
    }
    gossip_stream_close(g, sid, now);
    return 0;
}
