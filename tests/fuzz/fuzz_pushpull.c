/* libFuzzer target: push-pull frames from a peer that holds the cluster key
 * (a compromised or buggy node) must be accepted or refused without a
 * crash, a leak or a hang, whatever their order: REQ, FIN and DIFF frames
 * with any fields, segments of app diff (ivtd's: decisions and evidence
 * repair parts) merged into a real node, its own answer written in
 * segments over ticks. The input is a sequence of frames, each a 2-byte
 * big-endian length and the frame message ([type, fields ...]); the
 * target puts the header in front, seals it with the cluster key and feeds
 * the node's responder stream, ticking the node between frames. When the
 * first frame is a RESP (its message's second byte: the type after a
 * fixarray header), the node is the initiator instead: it joins through
 * the fake peer, and the frames answer its REQ (RESP, DIFF, END: member
 * digests full or hashed, entries). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    FRAMES_MAX = 16,    /* per input: enough for every phase and some */
    FRAME_MAX = 1 << 16 /* bytes of one frame message (2-byte lengths) */
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
    if (fuzz_node_new(&node, &kr, label, WALL0))
        return -1;
    label_len = strlen(label);
    memcpy(label + label_len, "/stream", 7);
    label_len += 7;
    return 0;
}

/* Seals [header, message] as one length-prefixed stream frame into out. */
static size_t frame(uint8_t *out, size_t cap, const uint8_t *msg, size_t n)
{
    size_t sealed = fuzz_node_seal(out + 4, cap - 4, &kr, label, label_len, ++counter, msg, n);
    if (!sealed)
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
    struct gossip_addr from = {.port = 2}, to;
    uint32_t sid;
    if (size >= 4 && data[3] == GOSSIP_MSG_PP_RESP) {
        /* Our REQ goes out at the first tick; the frames answer it. */
        if (gossip_join(g, &from, 1, now) || gossip_stream_poll_connect(g, &sid, &to) != 1)
            return 0;
        turn(g, sid);
    } else if (gossip_stream_accept(g, &sid, &from, now)) {
        return 0;
    }
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
