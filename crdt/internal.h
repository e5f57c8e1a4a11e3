/*
 * crdt/internal.h: what the files of crdt/ share and nobody else sees.
 */
#ifndef IVT_CRDT_INTERNAL_H
#define IVT_CRDT_INTERNAL_H

#include <stdint.h>

#include "base/mp.h"
#include "crdt/crdt.h"

/* Every crdt message starts [1, ...]: the format version. */
enum { CRDT_FORMAT_VERSION = 1 };

/* Reads a uint that must fit in 32 bits. */
static inline int crdt__read_u32(const uint8_t **pos, const uint8_t *end, uint32_t *out)
{
    uint64_t v;
    int rc = ivt_mp_read_uint_max(pos, end, UINT32_MAX, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

/* Reads [1, ...]: the array header (which must have exactly n elements) and a
 * format version that must be 1. Returns 0, IVT_EPROTO or IVT_EVERSION. */
int crdt__read_header(const uint8_t **pos, const uint8_t *end, uint32_t n);

/* Copies a bin of at most max bytes into out (NUL-terminated), *len gets its
 * length. Returns 0 or IVT_EPROTO. */
int crdt__read_text(const uint8_t **pos, const uint8_t *end, char *out, size_t max, uint8_t *len);

/* Reads an origin bin of exactly CRDT_ORIGIN_BYTES. */
int crdt__read_origin(const uint8_t **pos, const uint8_t *end, struct crdt_origin *out);

#endif
