/*
 * crdt/common.c: origins and the keyed hash every evidence type shares.
 *
 * SipHash-2-4 comes from libsodium (crypto_shorthash): a PRF, so nobody
 * without the cluster secret can choose keys that collide in the entity map
 * or aim items at HyperLogLog registers. It is a pure function, not an OS
 * call.
 */
#include "crdt/crdt.h"

#include <string.h>

#include <sodium.h>

#include "base/err.h"
#include "crdt/internal.h"

void crdt_origin_pack(uint8_t out[CRDT_ORIGIN_BYTES], const struct crdt_origin *o)
{
    memcpy(out, o->id, 16);
    out[16] = (uint8_t)(o->gen >> 24);
    out[17] = (uint8_t)(o->gen >> 16);
    out[18] = (uint8_t)(o->gen >> 8);
    out[19] = (uint8_t)o->gen;
}

void crdt_origin_unpack(struct crdt_origin *out, const uint8_t in[CRDT_ORIGIN_BYTES])
{
    memcpy(out->id, in, 16);
    out->gen = (uint32_t)in[16] << 24 | (uint32_t)in[17] << 16 | (uint32_t)in[18] << 8 | in[19];
}

int crdt_origin_cmp(const struct crdt_origin *a, const struct crdt_origin *b)
{
    int c = memcmp(a->id, b->id, 16);
    if (c)
        return c;
    return a->gen < b->gen ? -1 : a->gen > b->gen;
}

uint64_t crdt_siphash(const uint8_t key[16], const void *data, size_t len)
{
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, data, len, key);
    uint64_t h;
    memcpy(&h, out, sizeof(h));
    return h;
}

int crdt__read_header_v(const uint8_t **pos, const uint8_t *end, uint32_t n, uint64_t lo,
                        uint64_t hi, uint64_t *version)
{
    const uint8_t *p = *pos;
    uint32_t got;
    if (ivt_mp_read_array(&p, end, &got) || got < 1 || ivt_mp_read_uint(&p, end, version))
        return IVT_EPROTO;
    if (*version < lo || *version > hi)
        return IVT_EVERSION;
    if (got != n)
        return IVT_EPROTO;
    *pos = p;
    return 0;
}

int crdt__read_header(const uint8_t **pos, const uint8_t *end, uint32_t n)
{
    uint64_t version;
    return crdt__read_header_v(pos, end, n, CRDT_FORMAT_VERSION, CRDT_FORMAT_VERSION, &version);
}

int crdt__read_text(const uint8_t **pos, const uint8_t *end, char *out, size_t max, uint8_t *len)
{
    const uint8_t *p = *pos, *b;
    uint32_t n;
    if (ivt_mp_read_bin(&p, end, &b, &n) || n > max)
        return IVT_EPROTO;
    memcpy(out, b, n);
    out[n] = 0;
    *len = (uint8_t)n;
    *pos = p;
    return 0;
}

int crdt__read_origin(const uint8_t **pos, const uint8_t *end, struct crdt_origin *out)
{
    uint8_t b[CRDT_ORIGIN_BYTES];
    if (ivt_mp_read_bin_exact(pos, end, b, CRDT_ORIGIN_BYTES))
        return IVT_EPROTO;
    crdt_origin_unpack(out, b);
    return 0;
}
