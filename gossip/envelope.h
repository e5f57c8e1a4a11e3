/*
 * gossip/envelope.h: the authenticated encryption around every gossip packet.
 *
 * Every datagram (and every push-pull stream frame) is one envelope:
 *
 *   0        1                    5                             29
 *   +--------+--------------------+-----------------------------+-------------------+---------+
 *   | ver    | key id (u32, BE)   | nonce (24 bytes)            | ciphertext (n)    | tag(16) |
 *   +--------+--------------------+-----------------------------+-------------------+---------+
 *   \______________ header: GOSSIP_ENVELOPE_HEADER (29) _______/ \______ AEAD _________/
 *
 *   associated data = cluster label (label_len bytes, no separator) || header (29 bytes)
 *   envelope length = n + GOSSIP_ENVELOPE_OVERHEAD (45)
 *
 * The version byte names the AEAD; both have this one layout:
 *   1  XChaCha20-Poly1305 IETF (libsodium's), on every host;
 *   2  AES-256-GCM under a per-sender subkey, on hosts whose CPU has AES-NI
 *      and PCLMUL (libsodium's only AES-GCM); a seal and an open there
 *      cost 0.7-0.77 of XChaCha20's (docs/benchmarks.md, envelope). Its
 *      12-byte nonce cannot hold the tuple below, so the tuple's first 16
 *      bytes pick the subkey, HChaCha20(key, nonce[0, 16)) with the 16-byte
 *      constant "ivt-aes256gcm-kd" instead of ChaCha's (a PRF of its own: no
 *      subkey serves both AEADs), and the 12-byte nonce is 0^4 ||
 *      nonce[16, 24), the sender's counter.
 * A node seals with the one its configuration names and opens either (the
 * second only where the CPU runs it), so a fleet changes AEAD in two rolling
 * restarts: every node able to open both, then every node sealing the new.
 *
 * The nonce comes in as an argument; gossip.c makes it from the sender's
 * (id, generation, counter), unique fleet-wide because the generation is
 * persisted and raised before every start. A random draw would depend on every node's seed being
 * distinct and the whole fleet shares one key. The 24-byte nonce holds that tuple whole (12 bytes
 * of id, 4 of generation, 8 of counter).
 *
 * The header is associated data, so flipping the version or key id fails
 * authentication like flipping the ciphertext does. The cluster label is
 * associated data too, but not sent: two clusters with different labels
 * cannot read or inject into each other even if they share a key, which is
 * what stops the silent cross-cluster merges memberlist users hit. The header
 * is fixed-length and last, so label || header cannot be split two ways.
 *
 * Replay is not this file's business: the plaintext carries the sender's
 * (generation, counter) and gossip/replay.h keeps the window.
 *
 * The host must have called sodium_init() (see gossip/keyring.h).
 */
#ifndef IVT_GOSSIP_ENVELOPE_H
#define IVT_GOSSIP_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/keyring.h"

/* An envelope's AEAD, which is its version byte. */
enum gossip_aead {
    GOSSIP_AEAD_XCHACHA20POLY1305 = 1,
    GOSSIP_AEAD_AES256GCM = 2,
};

/* Whether this host can seal and open envelopes of aead (AES-256-GCM needs
 * AES-NI and PCLMUL). Calls sodium_init() first, which detects them. */
bool gossip_aead_available(enum gossip_aead aead);
/* "xchacha20-poly1305", "aes-256-gcm": the names configuration files use;
 * "?" for anything else. */
const char *gossip_aead_name(enum gossip_aead aead);
/* The AEAD named s (as gossip_aead_name spells it), or 0 when s names none. */
enum gossip_aead gossip_aead_parse(const char *s);

enum {
    GOSSIP_ENVELOPE_VERSION = GOSSIP_AEAD_XCHACHA20POLY1305, /* what gossip_seal writes */
    GOSSIP_NONCE_LEN = 24, /* XChaCha20 nonce: random per packet is safe */
    GOSSIP_TAG_LEN = 16,   /* Poly1305 or GCM tag */
    GOSSIP_ENVELOPE_HEADER = 1 + 4 + 24,
    GOSSIP_ENVELOPE_OVERHEAD = 1 + 4 + 24 + 16,
    GOSSIP_LABEL_MAX = 255 /* memberlist's bound on a cluster label */
};

/*
 * Seals plain[0, plain_len) with the keyring's primary key into
 * out[0, plain_len + GOSSIP_ENVELOPE_OVERHEAD) and sets *out_len to that.
 * label may be NULL when label_len is 0.
 *
 * plain may overlap out in any way. The cheapest is to build the plaintext at
 * out + GOSSIP_ENVELOPE_HEADER (encrypted where it lies, no copy); any other
 * overlap costs one memmove.
 *
 * Returns 0 on success, or one of these negative codes: IVT_ENOENT (the
 * keyring is empty), IVT_EINVAL (label_len > GOSSIP_LABEL_MAX),
 * IVT_ENOSPC (cap < plain_len + GOSSIP_ENVELOPE_OVERHEAD).
 */
int gossip_seal(uint8_t *out, size_t cap, size_t *out_len, const struct gossip_keyring *kr,
                const char *label, size_t label_len, const uint8_t nonce[GOSSIP_NONCE_LEN],
                const uint8_t *plain, size_t plain_len);

/*
 * Authenticates and decrypts the envelope in[0, in_len) into out and sets
 * *out_len to the plaintext length (in_len - GOSSIP_ENVELOPE_OVERHEAD). Never
 * reads outside in[0, in_len). Nothing is written to out unless the header
 * parses and a key is found; after IVT_EAUTH the bytes of out (and of in,
 * when out == in) are unspecified: use nothing from them.
 *
 * out may equal in (the plaintext then starts at in[0]; cap counts from out
 * and must be at least in_len - GOSSIP_TAG_LEN, room for decrypting in place
 * before the move) or not overlap it at all; other overlaps are IVT_EINVAL.
 *
 * Returns 0 on success, or one of these negative codes, checked in this
 * order: IVT_EINVAL (label_len > GOSSIP_LABEL_MAX, or out partly overlaps in),
 * IVT_EPROTO (empty), IVT_EVERSION (a first byte that is no gossip_aead:
 * checked before the length, since another version may have another
 * header), IVT_EPROTO (shorter than GOSSIP_ENVELOPE_OVERHEAD), IVT_EVERSION
 * (an AEAD this host cannot run), IVT_ENOENT (no installed key
 * has this key id), IVT_ENOSPC (out too small), IVT_EAUTH (the tag does not
 * verify: tampered, wrong key, or another cluster's label).
 */
int gossip_open(uint8_t *out, size_t cap, size_t *out_len, const struct gossip_keyring *kr,
                const char *label, size_t label_len, const uint8_t *in, size_t in_len);

/*
 * XChaCha20-Poly1305 is HChaCha20(key, nonce[0, 16)) -> subkey, then
 * ChaCha20-Poly1305 (IETF) under the subkey with the nonce 0^4 ||
 * nonce[16, 24). Our nonces start with the sender's id and generation
 * (gossip/gossip.c), so every datagram one sender seals under one key
 * derives the same subkey. A memo of recent derivations, keyed by the
 * nonce's first 16 bytes and the key itself, makes that derivation once per
 * (sender, generation, key) instead of once per datagram: the envelope on
 * the wire is byte for byte the same. AES-256-GCM's subkeys (the header
 * above) are derived and kept the same way, as entries of their own.
 *
 * Direct-mapped by the nonce prefix; an entry holds copies of the key and
 * its subkey (secret as the keyring is: zero it with sodium_memzero when
 * done, as gossip_delete does). A memo of one entry serves a sender's own
 * seals, whose prefix never changes: a cluster too large for a memo of its
 * senders keeps that one.
 */
enum { GOSSIP_SUBKEYS = 256 }; /* entries: a hundred-member cluster's senders, with room */

struct gossip_subkey {
    uint8_t prefix[16];
    uint8_t key[GOSSIP_KEY_LEN];
    uint8_t subkey[GOSSIP_KEY_LEN];
    uint8_t aead; /* 0: unused; else the gossip_aead the subkey is for */
};

struct gossip_subkeys {
    uint32_t mask; /* entries - 1 */
    struct gossip_subkey e[];
};

/* A zeroed memo of `entries` (a power of two, at least 1) on the heap, or
 * NULL when out of memory or entries is not a power of two. */
struct gossip_subkeys *gossip_subkeys_new(uint32_t entries);
/* Zeroes and frees m (NULL: nothing to do). */
void gossip_subkeys_delete(struct gossip_subkeys *m);

/* gossip_seal with the AEAD aead and a subkey memo (NULL: none): the same
 * results and codes, and IVT_EINVAL when aead is no gossip_aead or this
 * host cannot run it (gossip_aead_available). */
int gossip_seal_memo(uint8_t *out, size_t cap, size_t *out_len, const struct gossip_keyring *kr,
                     const char *label, size_t label_len, const uint8_t nonce[GOSSIP_NONCE_LEN],
                     const uint8_t *plain, size_t plain_len, enum gossip_aead aead,
                     struct gossip_subkeys *memo);
/* gossip_open with a subkey memo (NULL: none); the same results, the same
 * codes. */
int gossip_open_memo(uint8_t *out, size_t cap, size_t *out_len, const struct gossip_keyring *kr,
                     const char *label, size_t label_len, const uint8_t *in, size_t in_len,
                     struct gossip_subkeys *memo);

/*
 * Reads the key id of an envelope without opening it, for per-key counters
 * (operators remove an old key once nothing arrives under its id). Returns
 * 0 on success, or one of these negative codes: IVT_EPROTO (empty, or
 * shorter than a header), IVT_EVERSION.
 */
int gossip_envelope_key_id(uint32_t *id, const uint8_t *in, size_t in_len);

#endif
