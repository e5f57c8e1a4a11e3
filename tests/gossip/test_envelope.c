/*
 * Tests of the gossip security layer: keyring, envelope, replay window.
 *
 * What a node relies on: a packet opens only with the right key and label and
 * untouched bytes; nothing is read past the end of a short packet; rotation
 * keeps a fleet talking at every step; the replay window accepts exactly the
 * pairs a plain "set of everything seen" model accepts.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/err.h"
#include "base/rng.h"
#include "gossip/envelope.h"
#include "gossip/keyring.h"
#include "gossip/replay.h"
#include "tests/test.h"

static const char LABEL[] = "prod-eu";

/* The host's duty (gossip/keyring.h): libsodium initialised once. */
static void crypto_setup(void)
{
    assert_true(sodium_init() >= 0);
}

/* The AEADs this host runs, in version order (AES-256-GCM needs AES-NI). */
static size_t aeads(enum gossip_aead out[2])
{
    size_t n = 0;
    out[n++] = GOSSIP_AEAD_XCHACHA20POLY1305;
    if (gossip_aead_available(GOSSIP_AEAD_AES256GCM))
        out[n++] = GOSSIP_AEAD_AES256GCM;
    return n;
}

static void key_fill(uint8_t key[GOSSIP_KEY_LEN], uint8_t seed)
{
    for (int i = 0; i < GOSSIP_KEY_LEN; i++)
        key[i] = (uint8_t)(seed * 31 + i * 7 + 1);
}

static void ring_with(struct gossip_keyring *kr, uint8_t seed)
{
    uint8_t key[GOSSIP_KEY_LEN];
    key_fill(key, seed);
    gossip_keyring_init(kr);
    assert_int_equal(gossip_keyring_install(kr, key), 0);
}

/* Seals plain_len bytes of a recognisable payload; returns the length. */
static size_t seal_payload_aead(uint8_t *out, size_t cap, const struct gossip_keyring *kr,
                                const char *label, struct ivt_rng *rng, size_t plain_len,
                                enum gossip_aead aead)
{
    uint8_t nonce[GOSSIP_NONCE_LEN], *plain = malloc(plain_len ? plain_len : 1);
    assert_non_null(plain);
    ivt_rng_bytes(rng, nonce, sizeof(nonce));
    for (size_t i = 0; i < plain_len; i++)
        plain[i] = (uint8_t)(i * 13 + 5);
    size_t len = 0;
    assert_int_equal(gossip_seal_memo(out, cap, &len, kr, label, label ? strlen(label) : 0, nonce,
                                      plain, plain_len, aead, NULL),
                     0);
    assert_int_equal(len, plain_len + GOSSIP_ENVELOPE_OVERHEAD);
    free(plain);
    return len;
}

static size_t seal_payload(uint8_t *out, size_t cap, const struct gossip_keyring *kr,
                           const char *label, struct ivt_rng *rng, size_t plain_len)
{
    return seal_payload_aead(out, cap, kr, label, rng, plain_len, GOSSIP_AEAD_XCHACHA20POLY1305);
}

static int open_label(const struct gossip_keyring *kr, const char *label, const uint8_t *in,
                      size_t len)
{
    uint8_t out[2048];
    size_t n = 0;
    return gossip_open(out, sizeof(out), &n, kr, label, label ? strlen(label) : 0, in, len);
}

/* A keyring with one key, a seeded generator, and one sealed packet of
 * plain_len bytes under LABEL: the start of most envelope tests. */
struct sealed {
    struct gossip_keyring kr;
    struct ivt_rng rng;
    uint8_t env[256];
    size_t len;
};

static void sealed_init_aead(struct sealed *f, uint8_t key_seed, size_t plain_len,
                             enum gossip_aead aead)
{
    crypto_setup();
    ring_with(&f->kr, key_seed);
    ivt_rng_seed(&f->rng, ivt_test_seed());
    f->len = seal_payload_aead(f->env, sizeof(f->env), &f->kr, LABEL, &f->rng, plain_len, aead);
}

static void sealed_init(struct sealed *f, uint8_t key_seed, size_t plain_len)
{
    sealed_init_aead(f, key_seed, plain_len, GOSSIP_AEAD_XCHACHA20POLY1305);
}

TEST(gossip_envelope_round_trip)
{
    (void)state;
    crypto_setup();
    struct gossip_keyring kr;
    ring_with(&kr, 1);
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    static const size_t sizes[] = {0, 1, 15, 16, 17, 63, 64, 65, 200, 1155};
    enum gossip_aead aead[2];
    size_t na = aeads(aead);
    for (size_t s = 0; s < na * (sizeof(sizes) / sizeof(sizes[0])); s++) {
        enum gossip_aead a = aead[s % na];
        uint8_t env[1200], plain[1200], out[1200];
        size_t n = sizes[s / na], len = 0, got = 0;
        uint8_t nonce[GOSSIP_NONCE_LEN];
        ivt_rng_bytes(&rng, plain, n);
        ivt_rng_bytes(&rng, nonce, sizeof(nonce));
        assert_int_equal(gossip_seal_memo(env, sizeof(env), &len, &kr, LABEL, strlen(LABEL), nonce,
                                          plain, n, a, NULL),
                         0);
        assert_int_equal(len, n + GOSSIP_ENVELOPE_OVERHEAD);
        /* The header is as drawn: version (the AEAD), big-endian key id, nonce. */
        assert_int_equal(env[0], a);
        uint32_t id = 0;
        assert_int_equal(gossip_envelope_key_id(&id, env, len), 0);
        assert_int_equal(id, gossip_keyring_primary(&kr)->id);
        assert_int_equal(env[1], (uint8_t)(id >> 24));
        assert_memory_equal(env + 5, nonce, sizeof(nonce));
        /* The plaintext does not appear in the clear. */
        if (n >= 16)
            assert_memory_not_equal(env + GOSSIP_ENVELOPE_HEADER, plain, n);
        assert_int_equal(gossip_open(out, n, &got, &kr, LABEL, strlen(LABEL), env, len), 0);
        assert_int_equal(got, n);
        assert_memory_equal(out, plain, n);
    }
    gossip_keyring_destroy(&kr);
}

TEST(gossip_envelope_every_bit_flip_rejected)
{
    (void)state;
    enum gossip_aead aead[2];
    size_t na = aeads(aead);
    for (size_t a = 0; a < na; a++) {
        struct sealed f;
        sealed_init_aead(&f, 2, 64, aead[a]);
        assert_int_equal(open_label(&f.kr, LABEL, f.env, f.len), 0);
        for (size_t byte = 0; byte < f.len; byte++) {
            for (int bit = 0; bit < 8; bit++) {
                f.env[byte] ^= (uint8_t)(1u << bit);
                /* A version byte flipped to the other AEAD's is a forgery. */
                int want = byte == 0  ? (gossip_aead_available(f.env[0]) ? IVT_EAUTH : IVT_EVERSION)
                           : byte < 5 ? IVT_ENOENT
                                      : IVT_EAUTH;
                assert_int_equal(open_label(&f.kr, LABEL, f.env, f.len), want);
                f.env[byte] ^= (uint8_t)(1u << bit);
            }
        }
        assert_int_equal(open_label(&f.kr, LABEL, f.env, f.len), 0);
    }
}

TEST(gossip_envelope_wrong_label_rejected)
{
    (void)state;
    struct sealed f;
    sealed_init(&f, 3, 40);
    /* Same key, another cluster: a prefix, an extension, a case change, none. */
    assert_int_equal(open_label(&f.kr, "prod", f.env, f.len), IVT_EAUTH);
    assert_int_equal(open_label(&f.kr, "prod-eu1", f.env, f.len), IVT_EAUTH);
    assert_int_equal(open_label(&f.kr, "Prod-eu", f.env, f.len), IVT_EAUTH);
    assert_int_equal(open_label(&f.kr, NULL, f.env, f.len), IVT_EAUTH);
    assert_int_equal(open_label(&f.kr, LABEL, f.env, f.len), 0);

    /* No label at all is a label like any other (NULL and "" agree). */
    f.len = seal_payload(f.env, sizeof(f.env), &f.kr, NULL, &f.rng, 40);
    assert_int_equal(open_label(&f.kr, "", f.env, f.len), 0);
    assert_int_equal(open_label(&f.kr, LABEL, f.env, f.len), IVT_EAUTH);

    /* The label bound holds on both sides. */
    char big[GOSSIP_LABEL_MAX + 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    uint8_t out[256], nonce[GOSSIP_NONCE_LEN] = {0};
    size_t n;
    assert_int_equal(gossip_seal(out, sizeof(out), &n, &f.kr, big, GOSSIP_LABEL_MAX + 1, nonce,
                                 (const uint8_t *)"x", 1),
                     IVT_EINVAL);
    assert_int_equal(
        gossip_open(out, sizeof(out), &n, &f.kr, big, GOSSIP_LABEL_MAX + 1, f.env, f.len),
        IVT_EINVAL);
    assert_int_equal(gossip_seal(out, sizeof(out), &n, &f.kr, big, GOSSIP_LABEL_MAX, nonce,
                                 (const uint8_t *)"x", 1),
                     0);
    assert_int_equal(gossip_open(out, sizeof(out), &n, &f.kr, big, GOSSIP_LABEL_MAX, out,
                                 1 + GOSSIP_ENVELOPE_OVERHEAD),
                     0);
}

TEST(gossip_envelope_unknown_key_id)
{
    (void)state;
    struct sealed f;
    sealed_init(&f, 4, 10);
    struct gossip_keyring b;
    ring_with(&b, 5);
    assert_int_equal(open_label(&b, LABEL, f.env, f.len), IVT_ENOENT);
    /* A packet claiming b's key id but sealed with a's key fails the tag. */
    uint32_t id = gossip_keyring_primary(&b)->id;
    f.env[1] = (uint8_t)(id >> 24);
    f.env[2] = (uint8_t)(id >> 16);
    f.env[3] = (uint8_t)(id >> 8);
    f.env[4] = (uint8_t)id;
    assert_int_equal(open_label(&b, LABEL, f.env, f.len), IVT_EAUTH);
    struct gossip_keyring empty;
    gossip_keyring_init(&empty);
    assert_int_equal(open_label(&empty, LABEL, f.env, f.len), IVT_ENOENT);
}

TEST(gossip_envelope_truncated_every_length)
{
    (void)state;
    struct sealed f;
    sealed_init(&f, 6, 100);
    for (size_t len = 0; len <= f.len + 1; len++) {
        /* Exact-size heap copy: under ASan one byte read past the end aborts. */
        uint8_t *in = malloc(len ? len : 1);
        assert_non_null(in);
        memcpy(in, f.env, len <= f.len ? len : f.len);
        if (len > f.len)
            in[f.len] = 0;
        uint8_t out[256];
        size_t n = 0;
        int rc =
            gossip_open(out, sizeof(out), &n, &f.kr, LABEL, strlen(LABEL), len ? in : NULL, len);
        int want = len == f.len ? 0 : len < GOSSIP_ENVELOPE_OVERHEAD ? IVT_EPROTO : IVT_EAUTH;
        assert_int_equal(rc, want);
        uint32_t id;
        rc = gossip_envelope_key_id(&id, len ? in : NULL, len);
        assert_int_equal(rc, len < GOSSIP_ENVELOPE_HEADER ? IVT_EPROTO : 0);
        free(in);
    }
    /* A version we do not speak is named as such even when short. */
    uint8_t v3[3] = {3, 0, 0};
    assert_int_equal(open_label(&f.kr, LABEL, v3, sizeof(v3)), IVT_EVERSION);
    /* The other AEAD's byte on an XChaCha20 envelope: the header is AD, so
     * it fails as a forgery (or as an AEAD this host cannot run). */
    f.env[0] = GOSSIP_AEAD_AES256GCM;
    assert_int_equal(open_label(&f.kr, LABEL, f.env, f.len),
                     gossip_aead_available(GOSSIP_AEAD_AES256GCM) ? IVT_EAUTH : IVT_EVERSION);
    f.env[0] = 0;
    assert_int_equal(open_label(&f.kr, LABEL, f.env, f.len), IVT_EVERSION);
}

TEST(gossip_envelope_in_place)
{
    (void)state;
    crypto_setup();
    struct gossip_keyring kr;
    ring_with(&kr, 7);
    uint8_t nonce[GOSSIP_NONCE_LEN] = {9};
    uint8_t plain[300], buf[400], ref[400];
    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (uint8_t)(i ^ 0x5a);
    size_t ref_len = 0, len = 0, n = 0;
    assert_int_equal(gossip_seal(ref, sizeof(ref), &ref_len, &kr, LABEL, strlen(LABEL), nonce,
                                 plain, sizeof(plain)),
                     0);

    /* The intended layout: plaintext built right behind the header. */
    memcpy(buf + GOSSIP_ENVELOPE_HEADER, plain, sizeof(plain));
    assert_int_equal(gossip_seal(buf, sizeof(buf), &len, &kr, LABEL, strlen(LABEL), nonce,
                                 buf + GOSSIP_ENVELOPE_HEADER, sizeof(plain)),
                     0);
    assert_memory_equal(buf, ref, ref_len);

    /* plain == out, and plain a little behind out: both moved first. */
    for (size_t shift = 0; shift <= 60; shift += 30) {
        memcpy(buf + shift, plain, sizeof(plain));
        assert_int_equal(gossip_seal(buf, sizeof(buf), &len, &kr, LABEL, strlen(LABEL), nonce,
                                     buf + shift, sizeof(plain)),
                         0);
        assert_memory_equal(buf, ref, ref_len);
    }

    /* out == in: the plaintext ends up at the start of the buffer. */
    assert_int_equal(
        gossip_open(buf, ref_len - GOSSIP_TAG_LEN, &n, &kr, LABEL, strlen(LABEL), buf, ref_len), 0);
    assert_int_equal(n, sizeof(plain));
    assert_memory_equal(buf, plain, n);
    /* ... and needs room to decrypt where the ciphertext lies first. */
    memcpy(buf, ref, ref_len);
    assert_int_equal(
        gossip_open(buf, ref_len - GOSSIP_TAG_LEN - 1, &n, &kr, LABEL, strlen(LABEL), buf, ref_len),
        IVT_ENOSPC);
    /* Any other overlap is refused rather than silently corrupted. */
    assert_int_equal(
        gossip_open(buf + 1, sizeof(buf) - 1, &n, &kr, LABEL, strlen(LABEL), buf, ref_len),
        IVT_EINVAL);
    assert_int_equal(
        gossip_open(buf, sizeof(buf), &n, &kr, LABEL, strlen(LABEL), buf + 1, ref_len - 1),
        IVT_EINVAL);
    /* A tampered packet opened in place fails like any other, and leaves
     * no plaintext where it was opened, under either AEAD. */
    enum gossip_aead aead[2];
    size_t na = aeads(aead);
    for (size_t a = 0; a < na; a++) {
        assert_int_equal(gossip_seal_memo(buf, sizeof(buf), &len, &kr, LABEL, strlen(LABEL), nonce,
                                          plain, sizeof(plain), aead[a], NULL),
                         0);
        buf[len - 1] ^= 1;
        assert_int_equal(gossip_open(buf, sizeof(buf), &n, &kr, LABEL, strlen(LABEL), buf, len),
                         IVT_EAUTH);
        assert_memory_not_equal(buf, plain, sizeof(plain));
        assert_memory_not_equal(buf + GOSSIP_ENVELOPE_HEADER, plain, sizeof(plain));
    }
}

TEST(gossip_envelope_no_space)
{
    (void)state;
    crypto_setup();
    struct gossip_keyring kr;
    ring_with(&kr, 8);
    uint8_t nonce[GOSSIP_NONCE_LEN] = {0}, plain[100] = {1}, env[200], out[200];
    size_t len = 0, n = 0;
    assert_int_equal(gossip_seal(env, 100 + GOSSIP_ENVELOPE_OVERHEAD - 1, &len, &kr, LABEL,
                                 strlen(LABEL), nonce, plain, 100),
                     IVT_ENOSPC);
    assert_int_equal(gossip_seal(env, 3, &len, &kr, LABEL, strlen(LABEL), nonce, plain, 0),
                     IVT_ENOSPC);
    /* A length that would wrap the sum is still too big. */
    assert_int_equal(
        gossip_seal(env, sizeof(env), &len, &kr, LABEL, strlen(LABEL), nonce, plain, SIZE_MAX - 8),
        IVT_ENOSPC);
    assert_int_equal(gossip_seal(env, 100 + GOSSIP_ENVELOPE_OVERHEAD, &len, &kr, LABEL,
                                 strlen(LABEL), nonce, plain, 100),
                     0);
    assert_int_equal(gossip_open(out, 99, &n, &kr, LABEL, strlen(LABEL), env, len), IVT_ENOSPC);
    assert_int_equal(gossip_open(out, 100, &n, &kr, LABEL, strlen(LABEL), env, len), 0);

    struct gossip_keyring empty;
    gossip_keyring_init(&empty);
    assert_int_equal(
        gossip_seal(env, sizeof(env), &len, &empty, LABEL, strlen(LABEL), nonce, plain, 100),
        IVT_ENOENT);
}

TEST(gossip_keyring_install_use_remove)
{
    (void)state;
    crypto_setup();
    struct gossip_keyring kr;
    gossip_keyring_init(&kr);
    uint8_t keys[GOSSIP_KEYRING_MAX + 1][GOSSIP_KEY_LEN];
    for (int i = 0; i <= GOSSIP_KEYRING_MAX; i++)
        key_fill(keys[i], (uint8_t)(100 + i));
    assert_null(gossip_keyring_primary(&kr));
    assert_int_equal(gossip_keyring_use(&kr, keys[0]), IVT_ENOENT);
    assert_int_equal(gossip_keyring_remove(&kr, keys[0]), IVT_ENOENT);
    for (int i = 0; i < GOSSIP_KEYRING_MAX; i++)
        assert_int_equal(gossip_keyring_install(&kr, keys[i]), 0);
    assert_int_equal(gossip_keyring_install(&kr, keys[3]), IVT_EEXIST);
    assert_int_equal(gossip_keyring_install(&kr, keys[GOSSIP_KEYRING_MAX]), IVT_ELIMIT);
    assert_int_equal(gossip_keyring_count(&kr), GOSSIP_KEYRING_MAX);

    /* The first installed is the primary until another is used. */
    assert_memory_equal(gossip_keyring_primary(&kr)->key, keys[0], GOSSIP_KEY_LEN);
    assert_int_equal(gossip_keyring_use(&kr, keys[5]), 0);
    assert_int_equal(gossip_keyring_remove(&kr, keys[5]), IVT_EINVAL);
    assert_int_equal(gossip_keyring_remove(&kr, keys[0]), 0);
    assert_int_equal(gossip_keyring_remove(&kr, keys[0]), IVT_ENOENT);
    assert_int_equal(gossip_keyring_remove(&kr, keys[2]), 0);
    /* Removing keys before it keeps the primary the same key. */
    assert_memory_equal(gossip_keyring_primary(&kr)->key, keys[5], GOSSIP_KEY_LEN);
    assert_int_equal(gossip_keyring_count(&kr), GOSSIP_KEYRING_MAX - 2);
    assert_int_equal(gossip_keyring_install(&kr, keys[GOSSIP_KEYRING_MAX]), 0);

    /* The listing: install order, ids only, one primary. */
    struct gossip_key_info info[GOSSIP_KEYRING_MAX];
    size_t n = gossip_keyring_list(&kr, info, GOSSIP_KEYRING_MAX);
    assert_int_equal(n, GOSSIP_KEYRING_MAX - 1);
    static const int order[] = {1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, GOSSIP_KEYRING_MAX};
    size_t primaries = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(info[i].id, gossip_key_id(keys[order[i]]));
        assert_non_null(gossip_keyring_find(&kr, info[i].id));
        primaries += info[i].primary;
        assert_int_equal(info[i].primary, order[i] == 5);
    }
    assert_int_equal(primaries, 1);
    assert_int_equal(gossip_keyring_list(&kr, info, 2), 2);
    assert_null(gossip_keyring_find(&kr, gossip_key_id(keys[0])));

    char hex[GOSSIP_KEY_ID_HEX];
    gossip_key_id_format(hex, 0x0012abcd);
    assert_string_equal(hex, "0012abcd");
    gossip_keyring_destroy(&kr);
}

/* Whether the 32 key bytes appear anywhere in the keyring's memory. */
static bool ring_holds(const struct gossip_keyring *kr, const uint8_t key[GOSSIP_KEY_LEN])
{
    const uint8_t *p = (const uint8_t *)kr;
    for (size_t i = 0; i + GOSSIP_KEY_LEN <= sizeof(*kr); i++)
        if (memcmp(p + i, key, GOSSIP_KEY_LEN) == 0)
            return true;
    return false;
}

TEST(gossip_keyring_zeroes_keys)
{
    (void)state;
    crypto_setup();
    struct gossip_keyring kr;
    gossip_keyring_init(&kr);
    uint8_t a[GOSSIP_KEY_LEN], b[GOSSIP_KEY_LEN], c[GOSSIP_KEY_LEN];
    key_fill(a, 40);
    key_fill(b, 41);
    key_fill(c, 42);
    assert_int_equal(gossip_keyring_install(&kr, a), 0);
    assert_int_equal(gossip_keyring_install(&kr, b), 0);
    assert_int_equal(gossip_keyring_install(&kr, c), 0);
    /* Removing from the middle and the end: no copy survives anywhere. */
    assert_int_equal(gossip_keyring_remove(&kr, b), 0);
    assert_false(ring_holds(&kr, b));
    assert_int_equal(gossip_keyring_remove(&kr, c), 0);
    assert_false(ring_holds(&kr, c));
    assert_true(ring_holds(&kr, a));
    gossip_keyring_destroy(&kr);
    static const struct gossip_keyring zero;
    assert_memory_equal(&kr, &zero, sizeof(kr));
    assert_int_equal(gossip_keyring_count(&kr), 0);
}

TEST(gossip_keyring_id_collision_refused)
{
    (void)state;
    crypto_setup();
    /* Birthday search for two keys with one id: ~82,000 keys on average for
     * 32-bit ids. Slots hold index + 1 of the key whose id hashed there. */
    enum { SLOTS = 1 << 20, MAX_KEYS = 1 << 19 };
    uint32_t *slot = calloc(SLOTS, sizeof(*slot));
    uint32_t *ids = calloc(MAX_KEYS, sizeof(*ids));
    assert_non_null(slot);
    assert_non_null(ids);
    uint8_t k1[GOSSIP_KEY_LEN] = {0}, k2[GOSSIP_KEY_LEN] = {0};
    uint32_t first = 0, second = 0;
    for (uint32_t i = 0; i < MAX_KEYS && !second; i++) {
        memcpy(k1, &i, sizeof(i));
        ids[i] = gossip_key_id(k1);
        for (uint32_t h = ids[i] & (SLOTS - 1);; h = (h + 1) & (SLOTS - 1)) {
            if (!slot[h]) {
                slot[h] = i + 1;
                break;
            }
            if (ids[slot[h] - 1] == ids[i]) {
                first = slot[h] - 1;
                second = i;
                break;
            }
        }
    }
    assert_true(second > 0);
    memset(k1, 0, sizeof(k1));
    memcpy(k1, &first, sizeof(first));
    memcpy(k2, &second, sizeof(second));
    assert_memory_not_equal(k1, k2, GOSSIP_KEY_LEN);
    assert_int_equal(gossip_key_id(k1), gossip_key_id(k2));
    struct gossip_keyring kr;
    gossip_keyring_init(&kr);
    assert_int_equal(gossip_keyring_install(&kr, k1), 0);
    assert_int_equal(gossip_keyring_install(&kr, k2), IVT_EEXIST);
    assert_int_equal(gossip_keyring_count(&kr), 1);
    free(slot);
    free(ids);
}

/* Two nodes of one cluster run the operator's rotation step by step; at
 * every step each opens what the other seals. */
TEST(gossip_keyring_rotation)
{
    (void)state;
    crypto_setup();
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    uint8_t old_key[GOSSIP_KEY_LEN], new_key[GOSSIP_KEY_LEN];
    key_fill(old_key, 50);
    key_fill(new_key, 51);
    struct gossip_keyring a, b;
    gossip_keyring_init(&a);
    gossip_keyring_init(&b);
    assert_int_equal(gossip_keyring_install(&a, old_key), 0);
    assert_int_equal(gossip_keyring_install(&b, old_key), 0);
    uint8_t from_old[256], from_a[256], from_b[256];
    size_t old_len = seal_payload(from_old, sizeof(from_old), &a, LABEL, &rng, 80);

    /* 1. install everywhere: a node with the new key still sends with the old. */
    assert_int_equal(gossip_keyring_install(&a, new_key), 0);
    size_t la = seal_payload(from_a, sizeof(from_a), &a, LABEL, &rng, 80);
    assert_int_equal(open_label(&b, LABEL, from_a, la), 0);
    assert_int_equal(gossip_keyring_install(&b, new_key), 0);
    assert_int_equal(gossip_keyring_count(&b), 2);

    /* 2. use everywhere: a sends with the new key, b (not switched yet) opens
     * it because it has it installed, and a still opens b's old-key packets. */
    assert_int_equal(gossip_keyring_use(&a, new_key), 0);
    la = seal_payload(from_a, sizeof(from_a), &a, LABEL, &rng, 80);
    uint32_t id = 0;
    assert_int_equal(gossip_envelope_key_id(&id, from_a, la), 0);
    assert_int_equal(id, gossip_key_id(new_key));
    assert_int_equal(open_label(&b, LABEL, from_a, la), 0);
    size_t lb = seal_payload(from_b, sizeof(from_b), &b, LABEL, &rng, 80);
    assert_int_equal(open_label(&a, LABEL, from_b, lb), 0);
    assert_int_equal(gossip_keyring_use(&b, new_key), 0);

    /* 3. remove the old key everywhere: old-key packets are now unknown. */
    assert_int_equal(gossip_keyring_remove(&a, old_key), 0);
    assert_int_equal(gossip_keyring_remove(&b, old_key), 0);
    assert_int_equal(open_label(&a, LABEL, from_old, old_len), IVT_ENOENT);
    assert_int_equal(open_label(&b, LABEL, from_b, lb), IVT_ENOENT);
    lb = seal_payload(from_b, sizeof(from_b), &b, LABEL, &rng, 80);
    assert_int_equal(open_label(&a, LABEL, from_b, lb), 0);

    /* Skipping step 1 on a node: it cannot open the new key's packets. */
    struct gossip_keyring late;
    ring_with(&late, 50);
    assert_int_equal(open_label(&late, LABEL, from_b, lb), IVT_ENOENT);
    gossip_keyring_destroy(&a);
    gossip_keyring_destroy(&b);
}

TEST(gossip_keyring_base64)
{
    (void)state;
    crypto_setup();
    /* A key in the form Consul's `consul keygen` prints (32 bytes). */
    static const char consul[] = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";
    uint8_t key[GOSSIP_KEY_LEN], again[GOSSIP_KEY_LEN];
    assert_int_equal(gossip_key_decode_base64(key, consul, strlen(consul)), 0);
    assert_int_equal(key[0], 0xa5);
    assert_int_equal(key[31], 0x9b);
    char text[GOSSIP_KEY_BASE64_LEN];
    assert_int_equal(gossip_key_encode_base64(text, sizeof(text), key), 0);
    assert_string_equal(text, consul);
    assert_int_equal(gossip_key_encode_base64(text, sizeof(text) - 1, key), IVT_ENOSPC);

    /* Random keys round-trip. */
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    for (int i = 0; i < 200; i++) {
        ivt_rng_bytes(&rng, key, sizeof(key));
        assert_int_equal(gossip_key_encode_base64(text, sizeof(text), key), 0);
        assert_int_equal(strlen(text), GOSSIP_KEY_BASE64_LEN - 1);
        assert_int_equal(gossip_key_decode_base64(again, text, strlen(text)), 0);
        assert_memory_equal(again, key, sizeof(key));
    }

    /* Everything that is not exactly one padded 32-byte key, and out is left
     * alone on failure. */
    static const char *const bad[] = {
        "",
        "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s",      /* padding missing */
        "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s==",    /* extra padding */
        "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=\n",   /* trailing newline */
        " pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=",    /* leading space */
        "pUqJrVyVRj5jsiYEkM_tFQYfWyJIv4s3XkvDwy7Cu5s=",     /* URL-safe alphabet */
        "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5!=",     /* not base64 */
        "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5t=",     /* non-zero trailing bits */
        "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu==",      /* 31 bytes */
        "pUqJrVyVRj5jsiYEkM/tFQ==",                         /* a 16-byte AES-128 key */
        "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s5s5s=", /* 35 bytes */
    };
    uint8_t keep[GOSSIP_KEY_LEN];
    memset(keep, 0xee, sizeof(keep));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(key, keep, sizeof(key));
        assert_int_equal(gossip_key_decode_base64(key, bad[i], strlen(bad[i])), IVT_EINVAL);
        assert_memory_equal(key, keep, sizeof(key));
    }
    /* len, not a NUL, ends the string: an embedded NUL is a bad character. */
    char nul[sizeof(consul)];
    memcpy(nul, consul, sizeof(consul));
    nul[10] = 0;
    assert_int_equal(gossip_key_decode_base64(key, nul, strlen(consul)), IVT_EINVAL);
    assert_int_equal(gossip_key_decode_base64(key, consul, strlen(consul) - 1), IVT_EINVAL);
    assert_int_equal(gossip_key_decode_base64(key, NULL, 0), IVT_EINVAL);
}

/* Field by field: the struct has padding after gen. */
static void assert_same_window(const struct gossip_replay *a, const struct gossip_replay *b)
{
    assert_int_equal(a->gen, b->gen);
    assert_int_equal(a->top, b->top);
    assert_int_equal(a->mask, b->mask);
}

TEST(gossip_replay_window_edges)
{
    (void)state;
    struct gossip_replay w;
    gossip_replay_init(&w);
    /* A fresh window takes anything, counter 0 of generation 0 included. */
    assert_int_equal(gossip_replay_check(&w, 0, 0), 0);
    gossip_replay_commit(&w, 3, 1000);
    struct gossip_replay copy = w;
    assert_int_equal(gossip_replay_check(&w, 3, 1000), IVT_EREPLAY);
    assert_same_window(&copy, &w); /* check is pure */
    assert_int_equal(gossip_replay_check(&w, 3, 1001), 0);
    assert_int_equal(gossip_replay_check(&w, 3, 1000 - 63), 0);
    assert_int_equal(gossip_replay_check(&w, 3, 1000 - 64), IVT_EREPLAY);
    assert_int_equal(gossip_replay_check(&w, 2, UINT64_MAX), IVT_EREPLAY);
    /* Out of order inside the window: each accepted once. */
    gossip_replay_commit(&w, 3, 990);
    assert_int_equal(gossip_replay_check(&w, 3, 990), IVT_EREPLAY);
    assert_int_equal(gossip_replay_check(&w, 3, 991), 0);
    /* Sliding: 1000 + 63 keeps 1000 in the window, 1000 + 64 drops it. */
    gossip_replay_commit(&w, 3, 1063);
    assert_int_equal(gossip_replay_check(&w, 3, 1000), IVT_EREPLAY);
    assert_int_equal(gossip_replay_check(&w, 3, 1001), 0);
    assert_int_equal(gossip_replay_check(&w, 3, 999), IVT_EREPLAY);
    /* A far jump forgets everything below the new top - 63. */
    gossip_replay_commit(&w, 3, UINT64_MAX);
    assert_int_equal(gossip_replay_check(&w, 3, UINT64_MAX), IVT_EREPLAY);
    assert_int_equal(gossip_replay_check(&w, 3, UINT64_MAX - 63), 0);
    assert_int_equal(gossip_replay_check(&w, 3, UINT64_MAX - 64), IVT_EREPLAY);
    /* A restart (newer generation) starts over at a low counter. */
    gossip_replay_commit(&w, 4, 0);
    assert_int_equal(gossip_replay_check(&w, 4, 0), IVT_EREPLAY);
    assert_int_equal(gossip_replay_check(&w, 4, 1), 0);
    assert_int_equal(gossip_replay_check(&w, 3, 5), IVT_EREPLAY);
    /* Committing a rejected pair changes nothing. */
    copy = w;
    gossip_replay_commit(&w, 3, 7);
    gossip_replay_commit(&w, 4, 0);
    assert_same_window(&copy, &w);
}

/* The reference: every committed pair of the newest generation, kept in a
 * plain array, and the rule in words: newer generation new, older old; in
 * the same generation, seen is old, more than 63 below the highest is old. */
struct model {
    bool any;
    uint32_t gen;
    uint64_t top;
    uint64_t *seen;
    size_t n, cap;
};

static bool model_accepts(const struct model *m, uint32_t gen, uint64_t c)
{
    if (!m->any || gen > m->gen)
        return true;
    if (gen < m->gen)
        return false;
    for (size_t i = 0; i < m->n; i++)
        if (m->seen[i] == c)
            return false;
    return c > m->top || m->top - c < 64;
}

static void model_commit(struct model *m, uint32_t gen, uint64_t c)
{
    if (!model_accepts(m, gen, c))
        return;
    if (!m->any || gen > m->gen) {
        m->any = true;
        m->gen = gen;
        m->top = c;
        m->n = 0;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->seen = realloc(m->seen, m->cap * sizeof(*m->seen));
        assert_non_null(m->seen);
    }
    m->seen[m->n++] = c;
    if (c > m->top)
        m->top = c;
}

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

TEST(gossip_replay_matches_model)
{
    (void)state;
    enum { RUNS = 8, STEPS = 4000 };
    for (int run = 0; run < RUNS; run++) {
        struct ivt_rng rng;
        ivt_rng_seed(&rng, ivt_mix64(ivt_test_seed() + (uint64_t)run));
        struct gossip_replay w;
        gossip_replay_init(&w);
        struct model m = {0};
        /* The sender: generation and next counter; one run starts near the
         * top of the counter space to cover the saturated end. */
        uint32_t gen = (uint32_t)ivt_rng_below(&rng, 3);
        uint64_t next = run == RUNS - 1 ? UINT64_MAX - 3000 : 0;
        for (int step = 0; step < STEPS; step++) {
            uint32_t g = gen;
            uint64_t c;
            uint64_t r = ivt_rng_below(&rng, 100);
            if (r < 55) { /* the next packet, sometimes after a lost run */
                c = next;
                next =
                    sat_add(next, 1 + (ivt_rng_below(&rng, 10) == 0 ? ivt_rng_below(&rng, 70) : 0));
            } else if (r < 80) { /* a duplicate or a late packet */
                c = sat_sub(next, 1 + ivt_rng_below(&rng, 80));
            } else if (r < 90) { /* anything near the front */
                c = sat_add(sat_sub(next, 200), ivt_rng_below(&rng, 400));
            } else if (r < 93) { /* a far jump */
                c = sat_add(next, 60 + ivt_rng_below(&rng, 1000));
                next = sat_add(c, 1);
            } else if (r < 95) { /* restart: a newer generation from 0 */
                gen += 1 + (uint32_t)ivt_rng_below(&rng, 2);
                g = gen;
                next = run == RUNS - 1 ? UINT64_MAX - 3000 : 0;
                c = next;
            } else { /* a packet from an earlier generation */
                uint32_t back = 1 + (uint32_t)ivt_rng_below(&rng, 2);
                g = gen >= back ? gen - back : gen;
                c = ivt_rng_below(&rng, 100);
            }
            struct gossip_replay before = w;
            int rc = gossip_replay_check(&w, g, c);
            assert_same_window(&before, &w);
            bool want = model_accepts(&m, g, c);
            if ((rc == 0) != want)
                fail_msg("run %d step %d: (%u, %llu) %s, model %s (IVT_TEST_SEED=0x%llx)", run,
                         step, (unsigned)g, (unsigned long long)c, rc ? "rejected" : "accepted",
                         want ? "accepts" : "rejects", (unsigned long long)ivt_test_seed());
            /* One in ten accepted claims fails authentication and is never
             * committed; one in ten rejected ones is committed anyway, which
             * must change nothing. */
            bool auth = ivt_rng_below(&rng, 10) != 0;
            if ((rc == 0 && auth) || (rc != 0 && !auth)) {
                gossip_replay_commit(&w, g, c);
                model_commit(&m, g, c);
                if (rc != 0)
                    assert_same_window(&before, &w);
            }
        }
        free(m.seen);
    }
}
