/* Benchmarks of the gossip envelope: what sealing and opening cost per packet
 * at the default packet size and at a typical ping/ack size. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/envelope.h"
#include "gossip/gossip.h"
#include "gossip/keyring.h"
#include "tests/bench/bench.h"

/* One seal and one open of a packet of `packet` bytes on the wire (plaintext
 * packet - GOSSIP_ENVELOPE_OVERHEAD) with aead, as a sender and a receiver
 * pay it (no subkey memo: a receiver in a large cluster has none). */
static void seal_open(const char *name, size_t packet, int iters, enum gossip_aead aead)
{
    if (sodium_init() < 0)
        abort();
    if (!gossip_aead_available(aead)) {
        printf("%s: skipped, this CPU cannot run %s\n", name, gossip_aead_name(aead));
        return;
    }
    struct gossip_keyring kr;
    gossip_keyring_init(&kr);
    uint8_t key[GOSSIP_KEY_LEN];
    for (int i = 0; i < GOSSIP_KEY_LEN; i++)
        key[i] = (uint8_t)(i * 11 + 3);
    gossip_keyring_install(&kr, key);
    static const char label[] = "prod-eu";
    uint8_t env[GOSSIP_PACKET_MAX], plain[GOSSIP_PACKET_MAX], nonce[GOSSIP_NONCE_LEN] = {0};
    size_t plain_len = packet - GOSSIP_ENVELOPE_OVERHEAD, len = 0, n = 0;
    memset(plain, 0x5a, plain_len);
    uint64_t acc = 0, t0 = bench_now_ns();
    for (int i = 0; i < iters; i++) {
        memcpy(nonce, &i, sizeof(i)); /* a fresh nonce per packet, as the core draws one */
        if (gossip_seal_memo(env, sizeof(env), &len, &kr, label, sizeof(label) - 1, nonce, plain,
                             plain_len, aead, NULL) ||
            gossip_open(plain, sizeof(plain), &n, &kr, label, sizeof(label) - 1, env, len))
            abort();
        acc += plain[i % plain_len];
    }
    uint64_t t1 = bench_now_ns();
    bench_sink(acc);
    double ns = (double)(t1 - t0) / iters;
    char unit_name[64];
    bench_report(name, ns, "ns/op");
    snprintf(unit_name, sizeof(unit_name), "%s_throughput", name);
    /* MB/s of packets through both seal and open (1 MB = 10^6 bytes). */
    bench_report(unit_name, (double)packet * 1e3 / ns, "MB/s");
    gossip_keyring_destroy(&kr);
}

BENCH(gossip_envelope_1200)
{
    seal_open("gossip_envelope_seal_open_1200", 1200, 400000, GOSSIP_AEAD_XCHACHA20POLY1305);
}

BENCH(gossip_envelope_200)
{
    seal_open("gossip_envelope_seal_open_200", 200, 1000000, GOSSIP_AEAD_XCHACHA20POLY1305);
}

BENCH(gossip_envelope_aes_1200)
{
    seal_open("gossip_envelope_aes_seal_open_1200", 1200, 400000, GOSSIP_AEAD_AES256GCM);
}

BENCH(gossip_envelope_aes_200)
{
    seal_open("gossip_envelope_aes_seal_open_200", 200, 1000000, GOSSIP_AEAD_AES256GCM);
}

/* The same seal and open with libsodium's own XChaCha20-Poly1305 AEAD on
 * the same plaintext and associated data (label || header): what the
 * envelope cost before it made the keystream itself (gossip/envelope.c,
 * chacha_seal), and the baseline its rows are read against. */
static void sodium_seal_open(const char *name, size_t packet, int iters)
{
    if (sodium_init() < 0)
        abort();
    uint8_t key[GOSSIP_KEY_LEN];
    for (int i = 0; i < GOSSIP_KEY_LEN; i++)
        key[i] = (uint8_t)(i * 11 + 3);
    static const char label[] = "prod-eu";
    uint8_t ad[sizeof(label) - 1 + GOSSIP_ENVELOPE_HEADER] = {0}, c[GOSSIP_PACKET_MAX],
                                   plain[GOSSIP_PACKET_MAX], tag[GOSSIP_TAG_LEN],
                                   nonce[GOSSIP_NONCE_LEN] = {0};
    memcpy(ad, label, sizeof(label) - 1);
    size_t plain_len = packet - GOSSIP_ENVELOPE_OVERHEAD;
    memset(plain, 0x5a, plain_len);
    uint64_t acc = 0, t0 = bench_now_ns();
    for (int i = 0; i < iters; i++) {
        memcpy(nonce, &i, sizeof(i));
        if (crypto_aead_xchacha20poly1305_ietf_encrypt_detached(c, tag, NULL, plain, plain_len, ad,
                                                                sizeof(ad), NULL, nonce, key) ||
            crypto_aead_xchacha20poly1305_ietf_decrypt_detached(plain, NULL, c, plain_len, tag, ad,
                                                                sizeof(ad), nonce, key))
            abort();
        acc += plain[i % plain_len];
    }
    bench_sink(acc);
    bench_report(name, (double)(bench_now_ns() - t0) / iters, "ns/op");
}

/* Seal + open of XChaCha20-Poly1305 envelopes across datagram sizes, each
 * beside libsodium's AEAD: the keystream's lone 64-byte blocks showed as a
 * sawtooth in the second (200 bytes dearer than 300), not in the first. */
BENCH(gossip_envelope_sizes)
{
    static const size_t sizes[] = {100, 200, 300, 450, 600, 800, 1000, 1200, 1400};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char a[64], b[64];
        snprintf(a, sizeof(a), "gossip_envelope_at_%zu", sizes[i]);
        snprintf(b, sizeof(b), "libsodium_aead_at_%zu", sizes[i]);
        seal_open(a, sizes[i], 200000, GOSSIP_AEAD_XCHACHA20POLY1305);
        sodium_seal_open(b, sizes[i], 200000);
    }
}
