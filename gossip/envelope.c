/*
 * gossip/envelope.c: sealing and opening the AEAD envelope drawn in
 * gossip/envelope.h.
 *
 * Parts: building the associated data (label || header) on the stack, seal
 * (header written, plaintext encrypted in place behind it, tag appended) and
 * open (header parsed and the key picked by id before any crypto, tag checked
 * before a byte of plaintext is released).
 *
 * Departures from memberlist's security.go: XChaCha20-Poly1305 with a 24-byte
 * nonce by default instead of AES-GCM with 12 (no AES-NI is assumed), and
 * AES-256-GCM under a per-sender subkey where the operator chooses it; a key
 * id in the header instead of trying every key; the label bound into the
 * AEAD as associated data only, not sent in a clear-text label header (both
 * ends know it, and a packet from another cluster fails the tag either way);
 * no unencrypted mode on the wire (the verify_incoming/outgoing rollout flags
 * belong to the caller).
 *
 * Both directions write ciphertext and tag into the caller's buffer where the
 * drawing puts them, with no scratch copy of the payload (a datagram's
 * ChaCha20 keystream is made on the stack: see chacha_seal). Every length is
 * checked against cap and in_len before libsodium sees a pointer, because
 * libsodium trusts the lengths it is given.
 *
 * The XChaCha20 construction is spelled out (HChaCha20 subkey, then the IETF
 * ChaCha20-Poly1305 AEAD), as libsodium's own xchacha functions do it, so
 * that the subkey can come from a memo (envelope.h): the per-packet
 * HChaCha20 was a twentieth of a simulated node's CPU, and it is a pure
 * function of the key and the nonce's first 16 bytes, which are the same
 * for every datagram of one sender.
 */
#include "gossip/envelope.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/err.h"
#include "base/rng.h"

_Static_assert(GOSSIP_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(GOSSIP_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(GOSSIP_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(crypto_core_hchacha20_INPUTBYTES == 16 && crypto_core_hchacha20_OUTPUTBYTES == 32 &&
                   crypto_core_hchacha20_KEYBYTES == GOSSIP_KEY_LEN,
               "HChaCha20 sizes");
_Static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12 &&
                   crypto_aead_chacha20poly1305_ietf_ABYTES == GOSSIP_TAG_LEN &&
                   crypto_aead_chacha20poly1305_ietf_KEYBYTES == GOSSIP_KEY_LEN,
               "ChaCha20-Poly1305 IETF sizes");
_Static_assert(crypto_aead_aes256gcm_NPUBBYTES == 12 &&
                   crypto_aead_aes256gcm_ABYTES == GOSSIP_TAG_LEN &&
                   crypto_aead_aes256gcm_KEYBYTES == GOSSIP_KEY_LEN,
               "AES-256-GCM sizes");
_Static_assert(GOSSIP_SUBKEYS > 0 && (GOSSIP_SUBKEYS & (GOSSIP_SUBKEYS - 1)) == 0,
               "GOSSIP_SUBKEYS is a power of two");
_Static_assert(GOSSIP_ENVELOPE_OVERHEAD == GOSSIP_ENVELOPE_HEADER + GOSSIP_TAG_LEN, "overhead");

/* Offsets into the header, as drawn in envelope.h. */
enum { OFF_VERSION = 0, OFF_KEY_ID = 1, OFF_NONCE = 1 + GOSSIP_KEY_ID_LEN };

/* label || header in one buffer, because libsodium takes one AD pointer. */
struct ad {
    uint8_t buf[GOSSIP_LABEL_MAX + GOSSIP_ENVELOPE_HEADER];
    size_t len;
};

static void ad_build(struct ad *ad, const char *label, size_t label_len,
                     const uint8_t header[GOSSIP_ENVELOPE_HEADER])
{
    if (label_len)
        memcpy(ad->buf, label, label_len);
    memcpy(ad->buf + label_len, header, GOSSIP_ENVELOPE_HEADER);
    ad->len = label_len + GOSSIP_ENVELOPE_HEADER;
}

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Whether two keys are equal, compared whole (not by id: a memo slot may
 * be reused by another key, and ids are only 32 bits) and without a branch
 * on their bytes. sodium_memcmp does the same a byte at a time, and was a
 * third of what the memo saved. */
static bool same_key(const uint8_t *a, const uint8_t *b)
{
    uint64_t d = 0;
    for (int i = 0; i < GOSSIP_KEY_LEN; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        d |= x ^ y;
    }
    return d == 0;
}

/* HChaCha20's constant for AES-256-GCM subkeys: 16 bytes, no NUL. Any
 * constant other than ChaCha's makes HChaCha20 another PRF, so an
 * AES-256-GCM subkey is never an XChaCha20 subkey of the same key and nonce
 * prefix (envelope.h). */
static const uint8_t AES_KDF_CONSTANT[16] = {'i', 'v', 't', '-', 'a', 'e', 's', '2',
                                             '5', '6', 'g', 'c', 'm', '-', 'k', 'd'};

/* The 12-byte nonce both AEADs take under a subkey: 0^4 || nonce[16, 24). */
static void short_nonce(uint8_t npub[12], const uint8_t nonce[GOSSIP_NONCE_LEN])
{
    memset(npub, 0, 4);
    memcpy(npub + 4, nonce + 16, GOSSIP_NONCE_LEN - 16);
}

/* ChaCha20-Poly1305 IETF (RFC 8439), byte for byte what libsodium's
 * crypto_aead_chacha20poly1305_ietf_*_detached compute, from its stream and
 * one-time-auth primitives, for envelopes up to KS_MAX bytes of keystream.
 *
 * Why: libsodium 1.0.18 makes the keystream 512 bytes (AVX2) or 256 bytes
 * (SSE) at a time and the rest one 64-byte block at a time, at several times
 * the cost per byte, and the AEAD makes its Poly1305 key in a call of its
 * own, one more lone block. A datagram (at most GOSSIP_PACKET_MAX) left
 * one to four lone blocks, and those were a tenth of a 1,000-node
 * simulation's CPU (docs/benchmarks.md, "Session 18"). Here block 0 (the
 * Poly1305 key) and the message's blocks come from one call, rounded up to
 * a multiple of KS_ROUND: the few bytes of keystream thrown away cost less
 * than the lone blocks did.
 *
 * Longer inputs (push-pull frames) take libsodium's AEAD, where the lone
 * blocks are a small part of the whole. */
enum { KS_ROUND = 256, KS_MAX = 2048, KS_BLOCK0 = 64 };

static size_t ks_len(size_t len)
{
    return (KS_BLOCK0 + len + KS_ROUND - 1) / KS_ROUND * KS_ROUND;
}

static bool ks_fits(size_t len)
{
    return len <= KS_MAX - KS_BLOCK0;
}

/* dst = src ^ ks over n bytes, eight at a time. dst may equal src (in place)
 * but may not otherwise overlap it. */
static void xor_stream(uint8_t *dst, const uint8_t *src, const uint8_t *ks, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t a, b;
        memcpy(&a, src + i, 8);
        memcpy(&b, ks + i, 8);
        a ^= b;
        memcpy(dst + i, &a, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ ks[i];
}

/* The RFC 8439 tag of ciphertext c under Poly1305 key pk. */
static void chacha_tag(uint8_t tag[GOSSIP_TAG_LEN], const uint8_t pk[32], const uint8_t *ad,
                       size_t ad_len, const uint8_t *c, size_t len)
{
    static const uint8_t zeros[16];
    uint8_t lens[16];
    uint64_t a = ad_len, m = len;
    for (int i = 0; i < 8; i++) {
        lens[i] = (uint8_t)(a >> (8 * i));
        lens[8 + i] = (uint8_t)(m >> (8 * i));
    }
    crypto_onetimeauth_poly1305_state st;
    crypto_onetimeauth_poly1305_init(&st, pk);
    crypto_onetimeauth_poly1305_update(&st, ad, ad_len);
    crypto_onetimeauth_poly1305_update(&st, zeros, (16 - ad_len % 16) % 16);
    crypto_onetimeauth_poly1305_update(&st, c, len);
    crypto_onetimeauth_poly1305_update(&st, zeros, (16 - len % 16) % 16);
    crypto_onetimeauth_poly1305_update(&st, lens, sizeof(lens));
    crypto_onetimeauth_poly1305_final(&st, tag);
}

/* Encrypts m (len bytes) into c (c == m allowed) and writes the tag. */
static void chacha_seal(uint8_t *c, uint8_t tag[GOSSIP_TAG_LEN], const uint8_t *m, size_t len,
                        const uint8_t *ad, size_t ad_len, const uint8_t npub[12],
                        const uint8_t key[GOSSIP_KEY_LEN])
{
    if (!ks_fits(len)) {
        crypto_aead_chacha20poly1305_ietf_encrypt_detached(c, tag, NULL, m, len, ad, ad_len, NULL,
                                                           npub, key);
        return;
    }
    uint8_t ks[KS_MAX];
    size_t n = ks_len(len);
    crypto_stream_chacha20_ietf(ks, n, npub, key);
    xor_stream(c, m, ks + KS_BLOCK0, len);
    chacha_tag(tag, ks, ad, ad_len, c, len);
    sodium_memzero(ks, n);
}

/* Checks the tag of c (len bytes), then decrypts it into m (m == c allowed).
 * Returns 0, or -1 when the tag is wrong, with no plaintext in m: untouched
 * here, zeroed by libsodium's AEAD past KS_MAX. */
static int chacha_open(uint8_t *m, const uint8_t *c, size_t len, const uint8_t tag[GOSSIP_TAG_LEN],
                       const uint8_t *ad, size_t ad_len, const uint8_t npub[12],
                       const uint8_t key[GOSSIP_KEY_LEN])
{
    if (!ks_fits(len))
        return crypto_aead_chacha20poly1305_ietf_decrypt_detached(m, NULL, c, len, tag, ad, ad_len,
                                                                  npub, key);
    uint8_t ks[KS_MAX], want[GOSSIP_TAG_LEN];
    size_t n = ks_len(len);
    crypto_stream_chacha20_ietf(ks, n, npub, key);
    chacha_tag(want, ks, ad, ad_len, c, len);
    int rc = crypto_verify_16(want, tag);
    if (rc == 0)
        xor_stream(m, c, ks + KS_BLOCK0, len);
    sodium_memzero(ks, n);
    sodium_memzero(want, sizeof(want));
    return rc;
}

/* The subkey of key k for nonce under aead, as envelope.h derives it: the
 * XChaCha20 one is what crypto_aead_xchacha20poly1305_ietf_* derive. From
 * memo when it holds this (prefix, key, aead); tmp holds it otherwise (no
 * memo). Returns the subkey. */
static const uint8_t *subkey(uint8_t tmp[GOSSIP_KEY_LEN], const struct gossip_key *k,
                             const uint8_t nonce[GOSSIP_NONCE_LEN], enum gossip_aead aead,
                             struct gossip_subkeys *memo)
{
    const uint8_t *c = aead == GOSSIP_AEAD_AES256GCM ? AES_KDF_CONSTANT : NULL;
    if (!memo) {
        crypto_core_hchacha20(tmp, nonce, k->key, c);
        return tmp;
    }
    uint64_t a, b;
    memcpy(&a, nonce, 8);
    memcpy(&b, nonce + 8, 8);
    struct gossip_subkey *e = &memo->e[ivt_mix64(a ^ ivt_mix64(b ^ (uint64_t)aead)) & memo->mask];
    if (e->aead != aead || memcmp(e->prefix, nonce, 16) || !same_key(e->key, k->key)) {
        crypto_core_hchacha20(e->subkey, nonce, k->key, c);
        memcpy(e->prefix, nonce, 16);
        memcpy(e->key, k->key, GOSSIP_KEY_LEN);
        e->aead = (uint8_t)aead;
    }
    return e->subkey;
}

/* gossip_aead_available once libsodium is initialised: what every seal and
 * open asks. */
static bool runs(enum gossip_aead aead)
{
    switch (aead) {
    case GOSSIP_AEAD_XCHACHA20POLY1305: return true;
    case GOSSIP_AEAD_AES256GCM: return crypto_aead_aes256gcm_is_available() == 1;
    }
    return false;
}

bool gossip_aead_available(enum gossip_aead aead)
{
    /* libsodium detects AES-NI in sodium_init: before it, AES-256-GCM looks
     * absent. Configuration is checked before anything else may have
     * called it (ivtd parses its file first), so this initialises it;
     * after the first call that is a flag test under a lock. */
    return sodium_init() >= 0 && runs(aead);
}

static const char *const AEAD_NAMES[] = {
    [GOSSIP_AEAD_XCHACHA20POLY1305] = "xchacha20-poly1305",
    [GOSSIP_AEAD_AES256GCM] = "aes-256-gcm",
};

const char *gossip_aead_name(enum gossip_aead aead)
{
    return (unsigned)aead < sizeof(AEAD_NAMES) / sizeof(AEAD_NAMES[0]) && AEAD_NAMES[aead]
               ? AEAD_NAMES[aead]
               : "?";
}

enum gossip_aead gossip_aead_parse(const char *s)
{
    for (unsigned i = 0; i < sizeof(AEAD_NAMES) / sizeof(AEAD_NAMES[0]); i++)
        if (AEAD_NAMES[i] && s && strcmp(s, AEAD_NAMES[i]) == 0)
            return (enum gossip_aead)i;
    return 0;
}

struct gossip_subkeys *gossip_subkeys_new(uint32_t entries)
{
    if (!entries || (entries & (entries - 1)))
        return NULL;
    struct gossip_subkeys *m =
        calloc(1, sizeof(struct gossip_subkeys) + (size_t)entries * sizeof(struct gossip_subkey));
    if (m)
        m->mask = entries - 1;
    return m;
}

void gossip_subkeys_delete(struct gossip_subkeys *m)
{
    if (!m)
        return;
    sodium_memzero(m, sizeof(*m) + ((size_t)m->mask + 1) * sizeof(m->e[0]));
    free(m);
}

/* Whether [a, a + alen) and [b, b + blen) share a byte. Compared as integers
 * because relational operators on pointers into different objects are
 * undefined in C. */
static int overlaps(const void *a, size_t alen, const void *b, size_t blen)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return alen && blen && x < y + blen && y < x + alen;
}

int gossip_seal(uint8_t *out, size_t cap, size_t *out_len, const struct gossip_keyring *kr,
                const char *label, size_t label_len, const uint8_t nonce[GOSSIP_NONCE_LEN],
                const uint8_t *plain, size_t plain_len)
{
    return gossip_seal_memo(out, cap, out_len, kr, label, label_len, nonce, plain, plain_len,
                            GOSSIP_AEAD_XCHACHA20POLY1305, NULL);
}

int gossip_seal_memo(uint8_t *out, size_t cap, size_t *out_len, const struct gossip_keyring *kr,
                     const char *label, size_t label_len, const uint8_t nonce[GOSSIP_NONCE_LEN],
                     const uint8_t *plain, size_t plain_len, enum gossip_aead aead,
                     struct gossip_subkeys *memo)
{
    if (label_len > GOSSIP_LABEL_MAX || !runs(aead))
        return IVT_EINVAL;
    const struct gossip_key *k = gossip_keyring_primary(kr);
    if (!k)
        return IVT_ENOENT;
    /* Written as a subtraction so a huge plain_len cannot wrap the sum. */
    if (cap < GOSSIP_ENVELOPE_OVERHEAD || plain_len > cap - GOSSIP_ENVELOPE_OVERHEAD)
        return IVT_ENOSPC;

    /* Header and AD are complete before out is touched: nonce and label may
     * live inside out (or inside plain, which may live inside out). */
    uint8_t header[GOSSIP_ENVELOPE_HEADER];
    header[OFF_VERSION] = (uint8_t)aead;
    store_be32(header + OFF_KEY_ID, k->id);
    memcpy(header + OFF_NONCE, nonce, GOSSIP_NONCE_LEN);
    struct ad ad;
    ad_build(&ad, label, label_len, header);

    uint8_t *body = out + GOSSIP_ENVELOPE_HEADER;
    /* memmove first: it is correct for any overlap of plain and out, and a
     * no-op for the intended layout plain == body. libsodium then encrypts
     * in place, which it supports only for exactly equal pointers. */
    if (plain_len && plain != body)
        memmove(body, plain, plain_len);
    memcpy(out, header, GOSSIP_ENVELOPE_HEADER);
    uint8_t npub[12], tmp[GOSSIP_KEY_LEN];
    short_nonce(npub, header + OFF_NONCE);
    const uint8_t *sk = subkey(tmp, k, header + OFF_NONCE, aead, memo);
    if (aead == GOSSIP_AEAD_AES256GCM) {
        /* The expanded key is made per packet (bin/ivt-bench's envelope
         * rows include it): a memo of expanded keys would be 512 bytes an
         * entry, 128 kB for a memo of GOSSIP_SUBKEYS. */
        crypto_aead_aes256gcm_state st;
        crypto_aead_aes256gcm_beforenm(&st, sk);
        crypto_aead_aes256gcm_encrypt_detached_afternm(body, body + plain_len, NULL, body,
                                                       plain_len, ad.buf, ad.len, NULL, npub, &st);
        sodium_memzero(&st, sizeof(st));
    } else {
        chacha_seal(body, body + plain_len, body, plain_len, ad.buf, ad.len, npub, sk);
    }
    if (!memo)
        sodium_memzero(tmp, sizeof(tmp));
    *out_len = plain_len + GOSSIP_ENVELOPE_OVERHEAD;
    return 0;
}

int gossip_envelope_key_id(uint32_t *id, const uint8_t *in, size_t in_len)
{
    if (in_len == 0)
        return IVT_EPROTO;
    /* Version before length: a later version may have another header size. */
    if (in[OFF_VERSION] != GOSSIP_AEAD_XCHACHA20POLY1305 &&
        in[OFF_VERSION] != GOSSIP_AEAD_AES256GCM)
        return IVT_EVERSION;
    if (in_len < GOSSIP_ENVELOPE_HEADER)
        return IVT_EPROTO;
    *id = load_be32(in + OFF_KEY_ID);
    return 0;
}

int gossip_open(uint8_t *out, size_t cap, size_t *out_len, const struct gossip_keyring *kr,
                const char *label, size_t label_len, const uint8_t *in, size_t in_len)
{
    return gossip_open_memo(out, cap, out_len, kr, label, label_len, in, in_len, NULL);
}

int gossip_open_memo(uint8_t *out, size_t cap, size_t *out_len, const struct gossip_keyring *kr,
                     const char *label, size_t label_len, const uint8_t *in, size_t in_len,
                     struct gossip_subkeys *memo)
{
    if (label_len > GOSSIP_LABEL_MAX)
        return IVT_EINVAL;
    int in_place = (const uint8_t *)out == in;
    if (!in_place && overlaps(out, cap, in, in_len))
        return IVT_EINVAL;

    uint32_t id = 0;
    int rc = gossip_envelope_key_id(&id, in, in_len);
    if (rc)
        return rc;
    /* A header alone is not an envelope: the tag must follow. */
    if (in_len < GOSSIP_ENVELOPE_OVERHEAD)
        return IVT_EPROTO;
    enum gossip_aead aead = (enum gossip_aead)in[OFF_VERSION];
    if (!runs(aead))
        return IVT_EVERSION;
    const struct gossip_key *k = gossip_keyring_find(kr, id);
    if (!k)
        return IVT_ENOENT;
    size_t n = in_len - GOSSIP_ENVELOPE_OVERHEAD;
    /* In place, libsodium writes the plaintext over the ciphertext at
     * out + header before we move it down, so out must cover that much. */
    size_t need = in_place ? in_len - GOSSIP_TAG_LEN : n;
    if (cap < need)
        return IVT_ENOSPC;

    struct ad ad;
    ad_build(&ad, label, label_len, in);
    const uint8_t *body = in + GOSSIP_ENVELOPE_HEADER;
    /* The subkey and IETF nonce are taken from in before anything is
     * written (in may be overwritten below). */
    uint8_t npub[12], tmp[GOSSIP_KEY_LEN];
    short_nonce(npub, in + OFF_NONCE);
    const uint8_t *sk = subkey(tmp, k, in + OFF_NONCE, aead, memo);
    uint8_t *dst = in_place ? out + GOSSIP_ENVELOPE_HEADER : out;
    /* Both detached decrypts check the tag before they release plaintext
     * (AES-256-GCM's zeroes what it wrote when the tag fails), so a forged
     * packet never reaches out as plaintext. */
    if (aead == GOSSIP_AEAD_AES256GCM) {
        crypto_aead_aes256gcm_state st;
        crypto_aead_aes256gcm_beforenm(&st, sk);
        rc = crypto_aead_aes256gcm_decrypt_detached_afternm(dst, NULL, body, n, body + n, ad.buf,
                                                            ad.len, npub, &st);
        sodium_memzero(&st, sizeof(st));
    } else {
        rc = chacha_open(dst, body, n, body + n, ad.buf, ad.len, npub, sk);
    }
    if (!memo)
        sodium_memzero(tmp, sizeof(tmp));
    if (rc != 0)
        return IVT_EAUTH;
    if (in_place && n)
        memmove(out, dst, n);
    *out_len = n;
    return 0;
}
