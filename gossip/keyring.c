/*
 * gossip/keyring.c: install / use / remove / list of gossip keys, key ids,
 * and the base64 form operators handle.
 *
 * Parts: the key id (a keyed BLAKE2b, see keyring.h for why 4 bytes and how
 * collisions are refused); the slot array (install order kept, so `ivtctl
 * keys list` does not reshuffle between calls; removal closes the gap and
 * zeroes the freed tail slot); and the base64 codec over libsodium's.
 *
 * Departure from memberlist's keyring: memberlist receives by trying every
 * key in turn (AES-GCM has no key hint). Here each key has an id, the
 * envelope names the key it was sealed with, and gossip_keyring_find() is a
 * scan of at most 16 ids, so a packet costs one AEAD open whatever the ring
 * holds. Keys are compared with sodium_memcmp (constant time): the scan itself
 * leaks which slot matched, which is harmless, but never how much of a key
 * matched.
 */
#include "gossip/keyring.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "base/err.h"

/* Domain separation for the key id hash; bumping it changes every id. */
static const char KEY_ID_CONTEXT[] = "ivt gossip key id v1";

/* BLAKE2b output for the id: the smallest libsodium allows; we keep 4 bytes. */
enum { KEY_ID_HASH_LEN = 16 };

_Static_assert(KEY_ID_HASH_LEN >= crypto_generichash_BYTES_MIN, "BLAKE2b output too short");
_Static_assert(sizeof(KEY_ID_CONTEXT) - 1 >= crypto_generichash_KEYBYTES_MIN,
               "BLAKE2b key too short");
_Static_assert(GOSSIP_KEY_BASE64_LEN ==
                   sodium_base64_ENCODED_LEN(GOSSIP_KEY_LEN, sodium_base64_VARIANT_ORIGINAL),
               "GOSSIP_KEY_BASE64_LEN must fit the encoded key and its NUL");

uint32_t gossip_key_id(const uint8_t key[GOSSIP_KEY_LEN])
{
    uint8_t h[KEY_ID_HASH_LEN];
    crypto_generichash(h, sizeof(h), key, GOSSIP_KEY_LEN, (const uint8_t *)KEY_ID_CONTEXT,
                       sizeof(KEY_ID_CONTEXT) - 1);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

void gossip_key_id_format(char out[GOSSIP_KEY_ID_HEX], uint32_t id)
{
    snprintf(out, GOSSIP_KEY_ID_HEX, "%08x", (unsigned)id);
}

void gossip_keyring_init(struct gossip_keyring *kr)
{
    memset(kr, 0, sizeof(*kr));
}

void gossip_keyring_destroy(struct gossip_keyring *kr)
{
    sodium_memzero(kr, sizeof(*kr));
}

/* Slot index of the key, or -1. */
static int slot_of(const struct gossip_keyring *kr, const uint8_t key[GOSSIP_KEY_LEN])
{
    for (size_t i = 0; i < kr->count; i++)
        if (sodium_memcmp(kr->slots[i].key, key, GOSSIP_KEY_LEN) == 0)
            return (int)i;
    return -1;
}

int gossip_keyring_install(struct gossip_keyring *kr, const uint8_t key[GOSSIP_KEY_LEN])
{
    uint32_t id = gossip_key_id(key);
    /* The same key has the same id, so one lookup by id covers both the
     * duplicate and the (2^-32) collision of two different keys. */
    if (gossip_keyring_find(kr, id))
        return IVT_EEXIST;
    if (kr->count == GOSSIP_KEYRING_MAX)
        return IVT_ELIMIT;
    struct gossip_key *k = &kr->slots[kr->count];
    memcpy(k->key, key, GOSSIP_KEY_LEN);
    k->id = id;
    if (kr->count == 0)
        kr->primary = 0;
    kr->count++;
    kr->version++;
    return 0;
}

int gossip_keyring_use(struct gossip_keyring *kr, const uint8_t key[GOSSIP_KEY_LEN])
{
    int i = slot_of(kr, key);
    if (i < 0)
        return IVT_ENOENT;
    kr->primary = (size_t)i;
    kr->version++;
    return 0;
}

int gossip_keyring_remove(struct gossip_keyring *kr, const uint8_t key[GOSSIP_KEY_LEN])
{
    int found = slot_of(kr, key);
    if (found < 0)
        return IVT_ENOENT;
    size_t i = (size_t)found;
    /* Removing the primary would leave nothing to send with; the operator
     * must `use` the new key first (memberlist refuses the same way). */
    if (i == kr->primary)
        return IVT_EINVAL;
    memmove(&kr->slots[i], &kr->slots[i + 1], (kr->count - i - 1) * sizeof(kr->slots[0]));
    kr->count--;
    /* The last slot now holds a stale copy (or the removed key itself). */
    sodium_memzero(&kr->slots[kr->count], sizeof(kr->slots[0]));
    if (kr->primary > i)
        kr->primary--;
    kr->version++;
    return 0;
}

size_t gossip_keyring_count(const struct gossip_keyring *kr)
{
    return kr->count;
}

size_t gossip_keyring_list(const struct gossip_keyring *kr, struct gossip_key_info *out, size_t max)
{
    size_t n = kr->count < max ? kr->count : max;
    for (size_t i = 0; i < n; i++) {
        out[i].id = kr->slots[i].id;
        out[i].primary = i == kr->primary;
    }
    return n;
}

const struct gossip_key *gossip_keyring_find(const struct gossip_keyring *kr, uint32_t id)
{
    for (size_t i = 0; i < kr->count; i++)
        if (kr->slots[i].id == id)
            return &kr->slots[i];
    return NULL;
}

const struct gossip_key *gossip_keyring_primary(const struct gossip_keyring *kr)
{
    return kr->count ? &kr->slots[kr->primary] : NULL;
}

int gossip_key_decode_base64(uint8_t out[GOSSIP_KEY_LEN], const char *s, size_t len)
{
    /* Padded base64 of 32 bytes is always 44 characters; checking first
     * also keeps a NULL s with len 0 away from pointer arithmetic. */
    if (len != GOSSIP_KEY_BASE64_LEN - 1)
        return IVT_EINVAL;
    uint8_t tmp[GOSSIP_KEY_LEN];
    size_t bin_len = 0;
    const char *end = NULL;
    int rc = sodium_base642bin(tmp, sizeof(tmp), s, len, NULL, &bin_len, &end,
                               sodium_base64_VARIANT_ORIGINAL);
    /* end short of s + len: libsodium stopped at a character it could not
     * use and reported success for the prefix; a key is the whole string. */
    int ok = rc == 0 && end == s + len && bin_len == GOSSIP_KEY_LEN;
    if (ok)
        memcpy(out, tmp, GOSSIP_KEY_LEN);
    sodium_memzero(tmp, sizeof(tmp));
    return ok ? 0 : IVT_EINVAL;
}

int gossip_key_encode_base64(char *out, size_t cap, const uint8_t key[GOSSIP_KEY_LEN])
{
    /* libsodium aborts the process on a short buffer; refuse it here. */
    if (cap < GOSSIP_KEY_BASE64_LEN)
        return IVT_ENOSPC;
    sodium_bin2base64(out, cap, key, GOSSIP_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
    return 0;
}
