/*
 * gossip/keyring.h: the symmetric keys a node seals and opens gossip with.
 *
 * A keyring holds up to GOSSIP_KEYRING_MAX 32-byte keys in a fixed array
 * inside the struct (no heap, so a simulator with 10,000 nodes pays no
 * allocation per node and the keys live in exactly one place to zero). One
 * key is the primary: gossip_seal() always uses it. gossip_open() accepts any
 * installed key, picked by the 4-byte key id carried in the envelope header,
 * so receiving never tries keys one after another.
 *
 * Rotation across a live cluster is three fleet-wide steps (docs/security.md):
 * install the new key everywhere, use it everywhere, remove the old one
 * everywhere. Between the steps every node still opens what any other node
 * seals.
 *
 * Key ids. id = first 4 bytes (big-endian) of BLAKE2b-128 of the key, keyed
 * with the fixed context string "ivt gossip key id v1" (domain separation:
 * the id is useless as a hash of the key for anything else). Four bytes of a
 * hash reveal nothing usable about a 256-bit key. Two different keys share an
 * id with probability 2^-32 per pair; rather than fall back to trial
 * decryption, gossip_keyring_install() refuses a key whose id collides with an
 * installed one (IVT_EEXIST, the same code as installing the key twice). The
 * operator generates another key; that is all collision handling needs.
 *
 * Keys never leave this module except through gossip_key_encode_base64(),
 * which a host calls only to print a key it has just generated. Listing
 * (`ivtctl keys list`) shows ids, never keys. Removal and destroy zero the
 * key bytes with sodium_memzero().
 *
 * libsodium: the host calls sodium_init() once at start, before any gossip_
 * function (the daemon, the simulator and the tests do). gossip/ never calls
 * it itself: it keeps no global state of its own.
 */
#ifndef IVT_GOSSIP_KEYRING_H
#define IVT_GOSSIP_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    GOSSIP_KEY_LEN = 32,       /* XChaCha20-Poly1305 key size */
    GOSSIP_KEYRING_MAX = 16,   /* old + new during a rotation, with room for mistakes */
    GOSSIP_KEY_ID_LEN = 4,     /* bytes of key id on the wire */
    GOSSIP_KEY_ID_HEX = 9,     /* "%08x" of an id plus its NUL */
    GOSSIP_KEY_BASE64_LEN = 45 /* standard base64 of 32 bytes (44 chars) plus NUL */
};

struct gossip_key {
    uint8_t key[GOSSIP_KEY_LEN];
    uint32_t id;
};

/* Installed keys are slots [0, count), in install order; primary indexes the
 * one gossip_seal() uses (meaningless while count == 0). */
struct gossip_keyring {
    struct gossip_key slots[GOSSIP_KEYRING_MAX];
    size_t count;
    size_t primary;
    /* Bumped by every change (install, use, remove): a holder that derives
     * something from the keyring (the node's fingerprint tag, every tick)
     * redoes it only when this moved. */
    uint64_t version;
};

/* What `ivtctl keys list` shows of a key. */
struct gossip_key_info {
    uint32_t id;
    bool primary;
};

/* An empty keyring (no primary: gossip_seal() fails with IVT_ENOENT). */
void gossip_keyring_init(struct gossip_keyring *kr);

/* Zeroes every byte of the keyring, keys included; it is then empty. */
void gossip_keyring_destroy(struct gossip_keyring *kr);

/*
 * Adds a key; the first key installed into an empty keyring becomes the
 * primary. Returns 0 on success, or one of these negative codes:
 * IVT_EEXIST (the key, or another key with the same id, is installed),
 * IVT_ELIMIT (GOSSIP_KEYRING_MAX keys are installed).
 */
int gossip_keyring_install(struct gossip_keyring *kr, const uint8_t key[GOSSIP_KEY_LEN]);

/*
 * Makes an installed key the primary. Returns 0 on success (also when it
 * already is), or one of these negative codes: IVT_ENOENT (not installed).
 */
int gossip_keyring_use(struct gossip_keyring *kr, const uint8_t key[GOSSIP_KEY_LEN]);

/*
 * Removes a key and zeroes its bytes. Returns 0 on success, or one of these
 * negative codes: IVT_EINVAL (it is the primary: use another key first),
 * IVT_ENOENT (not installed).
 */
int gossip_keyring_remove(struct gossip_keyring *kr, const uint8_t key[GOSSIP_KEY_LEN]);

size_t gossip_keyring_count(const struct gossip_keyring *kr);

/* Fills out with up to max entries in install order; returns how many. */
size_t gossip_keyring_list(const struct gossip_keyring *kr, struct gossip_key_info *out,
                           size_t max);

/* The installed key with this id, or NULL. For gossip_open(). */
const struct gossip_key *gossip_keyring_find(const struct gossip_keyring *kr, uint32_t id);

/* The primary key, or NULL when the keyring is empty. For gossip_seal(). */
const struct gossip_key *gossip_keyring_primary(const struct gossip_keyring *kr);

/* The id of a key (see the essay above). */
uint32_t gossip_key_id(const uint8_t key[GOSSIP_KEY_LEN]);

/* Writes an id as 8 lowercase hex digits and a NUL: the one way ids are
 * shown in ivtctl, logs and metrics. */
void gossip_key_id_format(char out[GOSSIP_KEY_ID_HEX], uint32_t id);

/*
 * Decodes a key from standard base64 with padding (the form of Consul's
 * `encrypt` and of `ivtctl keys generate`: 44 characters). s need not be
 * NUL-terminated; exactly len bytes are read, no whitespace is skipped.
 * Returns 0 on success, or one of these negative codes: IVT_EINVAL (a
 * character outside the standard alphabet, bad padding, or a length that does
 * not decode to exactly 32 bytes). On failure out is left unchanged.
 */
int gossip_key_decode_base64(uint8_t out[GOSSIP_KEY_LEN], const char *s, size_t len);

/*
 * Encodes a key as standard base64 with padding, NUL-terminated (44
 * characters). Returns 0 on success, or one of these negative codes:
 * IVT_ENOSPC (cap < GOSSIP_KEY_BASE64_LEN).
 */
int gossip_key_encode_base64(char *out, size_t cap, const uint8_t key[GOSSIP_KEY_LEN]);

#endif
