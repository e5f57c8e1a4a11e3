/*
 * Tests of the envelope's subkey memo (gossip/envelope.h): what a node relies
 * on is that the memo changes nothing on the wire. An envelope sealed with a
 * memo is byte for byte the one sealed without, and libsodium's own AEAD
 * opens it as envelope.h defines it (XChaCha20-Poly1305, or AES-256-GCM
 * under the HChaCha20 subkey with ivt's constant); a memo that saw one key
 * or one AEAD under a nonce prefix never lends its subkey to another; forgeries
 * still fail.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/err.h"
#include "base/rng.h"
#include "gossip/envelope.h"
#include "gossip/keyring.h"
#include "tests/test.h"

static const char LABEL[] = "prod-eu";

enum {
    SENDERS = 600,   /* nonce prefixes: more than the memo's slots, so slots are reused */
    PACKETS = 3000,  /* envelopes sealed and opened */
    PLAIN_MAX = 700, /* bytes of plaintext at most */
};

static void key_fill(uint8_t key[GOSSIP_KEY_LEN], uint8_t seed)
{
    for (int i = 0; i < GOSSIP_KEY_LEN; i++)
        key[i] = (uint8_t)(seed * 31 + i * 7 + 1);
}

/* A nonce as gossip builds them: a sender's fixed 16-byte prefix (id and
 * generation), then a counter. */
static void nonce_of(uint8_t nonce[GOSSIP_NONCE_LEN], uint32_t sender, uint64_t counter)
{
    memset(nonce, 0, GOSSIP_NONCE_LEN);
    for (int i = 0; i < 4; i++)
        nonce[i] = (uint8_t)(sender >> (8 * i));
    nonce[15] = 1;
    for (int i = 0; i < 8; i++)
        nonce[16 + i] = (uint8_t)(counter >> (56 - 8 * i));
}

/* The associated data of env as the envelope drawing defines it: label ||
 * header. Returns its length. */
static size_t ad_of(uint8_t ad[GOSSIP_LABEL_MAX + GOSSIP_ENVELOPE_HEADER], const char *label,
                    size_t label_len, const uint8_t *env)
{
    memcpy(ad, label, label_len);
    memcpy(ad + label_len, env, GOSSIP_ENVELOPE_HEADER);
    return label_len + GOSSIP_ENVELOPE_HEADER;
}

/* Opens env with libsodium directly, as the envelope drawing defines it:
 * AD = label || header; the version byte names the AEAD. */
static bool sodium_opens(const uint8_t *env, size_t len, const uint8_t key[GOSSIP_KEY_LEN],
                         const uint8_t *plain, size_t plain_len)
{
    uint8_t ad[GOSSIP_LABEL_MAX + GOSSIP_ENVELOPE_HEADER], out[PLAIN_MAX];
    size_t ad_len = ad_of(ad, LABEL, sizeof(LABEL) - 1, env);
    size_t n = len - GOSSIP_ENVELOPE_OVERHEAD;
    const uint8_t *c = env + GOSSIP_ENVELOPE_HEADER, *tag = c + n, *nonce = env + 5;
    int rc = -1;
    if (env[0] == GOSSIP_AEAD_XCHACHA20POLY1305) {
        rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(out, NULL, c, n, tag, ad, ad_len,
                                                                 nonce, key);
    } else if (env[0] == GOSSIP_AEAD_AES256GCM) {
        static const uint8_t kdf[16] = "ivt-aes256gcm-kd"; /* no NUL: 16 bytes */
        uint8_t sk[32], npub[12] = {0};
        crypto_core_hchacha20(sk, nonce, key, kdf);
        memcpy(npub + 4, nonce + 16, 8);
        rc = crypto_aead_aes256gcm_decrypt_detached(out, NULL, c, n, tag, ad, ad_len, npub, sk);
    }
    return rc == 0 && n == plain_len && memcmp(out, plain, n) == 0;
}

TEST(gossip_envelope_memo_changes_nothing_on_the_wire)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    uint8_t keys[2][GOSSIP_KEY_LEN];
    key_fill(keys[0], 1);
    key_fill(keys[1], 2);
    struct gossip_keyring kr;
    gossip_keyring_init(&kr);
    assert_int_equal(gossip_keyring_install(&kr, keys[0]), 0);
    assert_int_equal(gossip_keyring_install(&kr, keys[1]), 0);
    struct gossip_subkeys *seal_memo = gossip_subkeys_new(GOSSIP_SUBKEYS);
    struct gossip_subkeys *open_memo = gossip_subkeys_new(GOSSIP_SUBKEYS);
    /* One entry, as a large cluster's gossip keeps for its own seals: here
     * every sender's prefix takes it in turn. */
    struct gossip_subkeys *one = gossip_subkeys_new(1);
    assert_non_null(seal_memo);
    assert_non_null(open_memo);
    assert_non_null(one);
    assert_null(gossip_subkeys_new(0));
    assert_null(gossip_subkeys_new(3));
    /* AES-256-GCM where this CPU runs it (every machine ivt is tested on
     * does; the line below says so when one does not). */
    uint32_t aeads = gossip_aead_available(GOSSIP_AEAD_AES256GCM) ? 2 : 1;
    if (aeads == 1)
        print_message("no AES-NI here: XChaCha20-Poly1305 only\n");
    static uint8_t plain[PLAIN_MAX], a[PLAIN_MAX + GOSSIP_ENVELOPE_OVERHEAD],
        b[PLAIN_MAX + GOSSIP_ENVELOPE_OVERHEAD], c[PLAIN_MAX + GOSSIP_ENVELOPE_OVERHEAD],
        out[PLAIN_MAX];
    for (uint32_t i = 0; i < PACKETS; i++) {
        /* Now and then the primary key changes: the same senders' prefixes
         * then need the other key's subkeys. */
        int primary = (int)(i / 500) % 2;
        assert_int_equal(gossip_keyring_use(&kr, keys[primary]), 0);
        uint8_t nonce[GOSSIP_NONCE_LEN];
        nonce_of(nonce, (uint32_t)ivt_rng_below(&rng, SENDERS), i);
        size_t plain_len = (size_t)ivt_rng_below(&rng, PLAIN_MAX + 1);
        ivt_rng_bytes(&rng, plain, plain_len);
        /* Both AEADs under one prefix and one key, in one memo. */
        enum gossip_aead aead = (enum gossip_aead)(1 + ivt_rng_below(&rng, aeads));
        size_t la = 0, lb = 0, lo = 0;
        assert_int_equal(gossip_seal_memo(a, sizeof(a), &la, &kr, LABEL, sizeof(LABEL) - 1, nonce,
                                          plain, plain_len, aead, NULL),
                         0);
        assert_int_equal(a[0], aead);
        assert_int_equal(gossip_seal_memo(b, sizeof(b), &lb, &kr, LABEL, sizeof(LABEL) - 1, nonce,
                                          plain, plain_len, aead, seal_memo),
                         0);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
        size_t l1 = 0;
        assert_int_equal(gossip_seal_memo(c, sizeof(c), &l1, &kr, LABEL, sizeof(LABEL) - 1, nonce,
                                          plain, plain_len, aead, one),
                         0);
        assert_int_equal(la, l1);
        assert_memory_equal(a, c, la);
        assert_true(sodium_opens(b, lb, keys[primary], plain, plain_len));
        assert_int_equal(gossip_open_memo(out, sizeof(out), &lo, &kr, LABEL, sizeof(LABEL) - 1, b,
                                          lb, open_memo),
                         0);
        assert_int_equal(lo, plain_len);
        assert_memory_equal(out, plain, plain_len);
        /* A flipped bit anywhere past the version byte still fails. */
        size_t at = 1 + (size_t)ivt_rng_below(&rng, lb - 1);
        b[at] ^= (uint8_t)(1u << ivt_rng_below(&rng, 8));
        int rc = gossip_open_memo(out, sizeof(out), &lo, &kr, LABEL, sizeof(LABEL) - 1, b, lb,
                                  open_memo);
        assert_true(rc == IVT_EAUTH || rc == IVT_ENOENT);
    }
    /* A key removed and replaced: the memo's subkeys of the old one are not
     * used for the new one under the same prefix. */
    uint8_t fresh[GOSSIP_KEY_LEN];
    key_fill(fresh, 3);
    assert_int_equal(gossip_keyring_use(&kr, keys[0]), 0);
    assert_int_equal(gossip_keyring_remove(&kr, keys[1]), 0);
    assert_int_equal(gossip_keyring_install(&kr, fresh), 0);
    assert_int_equal(gossip_keyring_use(&kr, fresh), 0);
    for (uint32_t s = 0; s < SENDERS; s++) {
        uint8_t nonce[GOSSIP_NONCE_LEN];
        nonce_of(nonce, s, PACKETS + s);
        size_t la = 0, lb = 0;
        enum gossip_aead aead = (enum gossip_aead)(1 + s % aeads);
        assert_int_equal(gossip_seal_memo(a, sizeof(a), &la, &kr, LABEL, sizeof(LABEL) - 1, nonce,
                                          plain, 64, aead, NULL),
                         0);
        assert_int_equal(gossip_seal_memo(b, sizeof(b), &lb, &kr, LABEL, sizeof(LABEL) - 1, nonce,
                                          plain, 64, aead, seal_memo),
                         0);
        assert_memory_equal(a, b, la);
        assert_true(sodium_opens(b, lb, fresh, plain, 64));
    }
    gossip_subkeys_delete(seal_memo);
    gossip_subkeys_delete(open_memo);
    gossip_subkeys_delete(one);
    gossip_subkeys_delete(NULL);
    gossip_keyring_destroy(&kr);
}

/* envelope.c builds XChaCha20-Poly1305 from libsodium's stream and Poly1305
 * primitives for datagram-sized inputs and calls libsodium's AEAD for longer
 * ones. At every plaintext length from 0 to past both the largest datagram
 * and that switch, with every label length's padding of the associated data:
 * a seal is byte for byte libsodium's XChaCha20-Poly1305, in place or not;
 * an envelope libsodium sealed opens to its plaintext, in place or not; and a
 * flipped bit in the ciphertext or the tag fails without releasing any
 * plaintext. */
enum { WHOLE_MAX = 2400 };

TEST(gossip_envelope_xchacha_is_libsodiums_at_every_length)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    uint8_t key[GOSSIP_KEY_LEN], nonce[GOSSIP_NONCE_LEN];
    key_fill(key, 5);
    struct gossip_keyring kr;
    gossip_keyring_init(&kr);
    assert_int_equal(gossip_keyring_install(&kr, key), 0);
    static uint8_t plain[WHOLE_MAX], mine[WHOLE_MAX + GOSSIP_ENVELOPE_OVERHEAD],
        theirs[WHOLE_MAX + GOSSIP_ENVELOPE_OVERHEAD], out[WHOLE_MAX + GOSSIP_ENVELOPE_OVERHEAD],
        ad[GOSSIP_LABEL_MAX + GOSSIP_ENVELOPE_HEADER];
    char label[GOSSIP_LABEL_MAX];
    for (size_t len = 0; len <= WHOLE_MAX; len++) {
        size_t label_len = (size_t)ivt_rng_below(&rng, GOSSIP_LABEL_MAX + 1);
        for (size_t i = 0; i < label_len; i++)
            label[i] = (char)('a' + ivt_rng_below(&rng, 26));
        ivt_rng_bytes(&rng, nonce, sizeof(nonce));
        ivt_rng_bytes(&rng, plain, len);
        size_t n = 0, o = 0, whole = len + GOSSIP_ENVELOPE_OVERHEAD;
        /* Sealed from a separate buffer, and in place (plain already at its
         * place behind the header). */
        assert_int_equal(gossip_seal_memo(mine, sizeof(mine), &n, &kr, label, label_len, nonce,
                                          plain, len, GOSSIP_AEAD_XCHACHA20POLY1305, NULL),
                         0);
        assert_int_equal(n, whole);
        memcpy(out + GOSSIP_ENVELOPE_HEADER, plain, len);
        assert_int_equal(gossip_seal_memo(out, sizeof(out), &o, &kr, label, label_len, nonce,
                                          out + GOSSIP_ENVELOPE_HEADER, len,
                                          GOSSIP_AEAD_XCHACHA20POLY1305, NULL),
                         0);
        assert_memory_equal(out, mine, whole);
        /* libsodium's own seal of the same plaintext, nonce and AD. */
        memcpy(theirs, mine, GOSSIP_ENVELOPE_HEADER);
        size_t ad_len = ad_of(ad, label, label_len, theirs);
        assert_int_equal(crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
                             theirs + GOSSIP_ENVELOPE_HEADER, theirs + GOSSIP_ENVELOPE_HEADER + len,
                             NULL, plain, len, ad, ad_len, NULL, nonce, key),
                         0);
        assert_memory_equal(mine, theirs, whole);
        /* libsodium's envelope opens, into another buffer and in place. */
        assert_int_equal(gossip_open(out, sizeof(out), &o, &kr, label, label_len, theirs, whole),
                         0);
        assert_int_equal(o, len);
        assert_memory_equal(out, plain, len);
        memcpy(out, theirs, whole);
        assert_int_equal(gossip_open(out, sizeof(out), &o, &kr, label, label_len, out, whole), 0);
        assert_int_equal(o, len);
        assert_memory_equal(out, plain, len);
        /* One flipped bit in the ciphertext or the tag: refused, and not a
         * byte of plaintext in out (libsodium's AEAD, past the datagram
         * sizes, clears what it would have written; envelope.c's own leaves
         * out as it was). */
        size_t at = GOSSIP_ENVELOPE_HEADER + (size_t)ivt_rng_below(&rng, len + GOSSIP_TAG_LEN);
        theirs[at] ^= (uint8_t)(1u << ivt_rng_below(&rng, 8));
        memset(out, 0xa5, whole);
        assert_int_equal(gossip_open(out, sizeof(out), &o, &kr, label, label_len, theirs, whole),
                         IVT_EAUTH);
        for (size_t i = 0; i < whole; i++)
            assert_true(out[i] == 0xa5 || out[i] == 0);
    }
    gossip_keyring_destroy(&kr);
}
