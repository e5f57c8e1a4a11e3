/* libFuzzer target: gossip_open() on arbitrary bytes with a fixed keyring must
 * return one of its documented codes without reading past the end, and a
 * packet sealed from the same bytes (with the AEAD the first byte's parity
 * picks, where this CPU runs it) must open back to them. gossip_open_memo
 * with a memo kept across inputs must give the same code and bytes, and
 * libsodium's own XChaCha20-Poly1305 must open what gossip sealed with it. A first
 * byte of 1 or 2 is an XChaCha20-Poly1305 or AES-256-GCM envelope. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/err.h"
#include "gossip/envelope.h"
#include "gossip/keyring.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The corpus was sealed with these: key i is bytes i*32 .. i*32+31, label
 * "fuzz", key 0 primary (tests/fuzz/corpus/fuzz_gossip_envelope/). */
static const char LABEL[] = "fuzz";
static struct gossip_keyring ring;
static struct gossip_subkeys *memo;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0)
        abort();
    gossip_keyring_init(&ring);
    for (int k = 0; k < 2; k++) {
        uint8_t key[GOSSIP_KEY_LEN];
        for (int i = 0; i < GOSSIP_KEY_LEN; i++)
            key[i] = (uint8_t)(k * GOSSIP_KEY_LEN + i);
        if (gossip_keyring_install(&ring, key))
            abort();
    }
    memo = gossip_subkeys_new(GOSSIP_SUBKEYS);
    if (!memo)
        abort();
    return 0;
}

enum { MAX_PACKET = 65536 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[MAX_PACKET + GOSSIP_ENVELOPE_OVERHEAD], back[MAX_PACKET],
        memo_out[MAX_PACKET + GOSSIP_ENVELOPE_OVERHEAD];
    if (size > MAX_PACKET)
        return 0;
    size_t n = 0;
    int rc = gossip_open(out, sizeof(out), &n, &ring, LABEL, strlen(LABEL), data, size);
    if (rc != 0 && rc != IVT_EPROTO && rc != IVT_EVERSION && rc != IVT_ENOENT && rc != IVT_EAUTH)
        __builtin_trap();
    if (rc == 0 && n + GOSSIP_ENVELOPE_OVERHEAD != size)
        __builtin_trap();
    size_t mn = 0;
    int mrc = gossip_open_memo(memo_out, sizeof(memo_out), &mn, &ring, LABEL, strlen(LABEL), data,
                               size, memo);
    if (mrc != rc || (rc == 0 && (mn != n || (n && memcmp(memo_out, out, n) != 0))))
        __builtin_trap();

    /* Round trip with the input as plaintext and its first bytes as nonce. */
    uint8_t nonce[GOSSIP_NONCE_LEN] = {0};
    memcpy(nonce, data, size < sizeof(nonce) ? size : sizeof(nonce));
    size_t len = 0, m = 0;
    enum gossip_aead aead = size && data[0] % 2 && gossip_aead_available(GOSSIP_AEAD_AES256GCM)
                                ? GOSSIP_AEAD_AES256GCM
                                : GOSSIP_AEAD_XCHACHA20POLY1305;
    if (gossip_seal_memo(out, sizeof(out), &len, &ring, LABEL, strlen(LABEL), nonce, data, size,
                         aead, size && data[0] % 4 < 2 ? memo : NULL) ||
        out[0] != aead ||
        gossip_open(back, sizeof(back), &m, &ring, LABEL, strlen(LABEL), out, len) || m != size ||
        (size && memcmp(back, data, size) != 0))
        __builtin_trap();
    /* envelope.c builds XChaCha20-Poly1305 from libsodium's primitives for
     * datagram sizes: libsodium's own AEAD must open what it sealed. */
    if (aead == GOSSIP_AEAD_XCHACHA20POLY1305) {
        uint8_t ad[sizeof(LABEL) - 1 + GOSSIP_ENVELOPE_HEADER];
        memcpy(ad, LABEL, sizeof(LABEL) - 1);
        memcpy(ad + sizeof(LABEL) - 1, out, GOSSIP_ENVELOPE_HEADER);
        const uint8_t *c = out + GOSSIP_ENVELOPE_HEADER;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                back, NULL, c, size, c + size, ad, sizeof(ad), out + 5,
                gossip_keyring_primary(&ring)->key) != 0 ||
            (size && memcmp(back, data, size) != 0))
            __builtin_trap();
    }
    return 0;
}
