/*
 * base/mp.h: msgpack writing and bounded msgpack reading.
 *
 * Writing goes through msgpack-c's packer (msgpack_pack_*) into an ivt_mpw:
 * either a fixed caller buffer (a datagram of the packet size: no allocation
 * per message) or a growable one with a hard maximum. A write that would
 * pass the end marks the writer failed; the caller checks once at the end.
 *
 * Reading is a cursor over [*pos, end), in the manner of Tarantool's
 * mp_decode_*: each reader checks the bytes it needs, advances *pos only on
 * success and never reads past end. We do not use msgpack-c's unpacker to
 * read untrusted input because it allocates, from the zone, as many objects
 * as an array or map header declares before those bytes have arrived: five
 * hostile bytes could ask for gigabytes. Here a header that declares more
 * elements than bytes remain is rejected at once (each element takes at
 * least one byte), so no decoder can be made to size anything beyond its
 * input.
 */
#ifndef IVT_BASE_MP_H
#define IVT_BASE_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <msgpack/pack.h>

#include "base/err.h"

/* ---- writing ---------------------------------------------------------- */

struct ivt_mpw {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* growable writers stop here; fixed ones have max == cap */
    int err;    /* first error: IVT_ENOSPC (fixed), IVT_ETOOBIG, IVT_ENOMEM */
    bool owned; /* data is ours to realloc and free */
    msgpack_packer pk;
};

/* A writer over a caller buffer of cap bytes. Never allocates. */
void ivt_mpw_init_fixed(struct ivt_mpw *w, void *buf, size_t cap);

/* A heap writer that grows up to max bytes. Free with ivt_mpw_destroy. */
void ivt_mpw_init_dyn(struct ivt_mpw *w, size_t max);
void ivt_mpw_destroy(struct ivt_mpw *w);

/* Forgets what was written (keeps the buffer). */
void ivt_mpw_reset(struct ivt_mpw *w);

/* Appends raw bytes (an already encoded msgpack value). */
void ivt_mpw_raw(struct ivt_mpw *w, const void *p, size_t n);

/* Returns 0 if every write so far fit, or the first negative error. */
static inline int ivt_mpw_error(const struct ivt_mpw *w)
{
    return w->err;
}

/* Thin wrappers, so callers need not touch w->pk. */
void ivt_mpw_uint(struct ivt_mpw *w, uint64_t v);
void ivt_mpw_int(struct ivt_mpw *w, int64_t v);
void ivt_mpw_double(struct ivt_mpw *w, double v);
void ivt_mpw_bool(struct ivt_mpw *w, bool v);
void ivt_mpw_nil(struct ivt_mpw *w);
void ivt_mpw_array(struct ivt_mpw *w, uint32_t n);
void ivt_mpw_map(struct ivt_mpw *w, uint32_t n);
void ivt_mpw_bin(struct ivt_mpw *w, const void *p, size_t n);
void ivt_mpw_str(struct ivt_mpw *w, const char *p, size_t n);
void ivt_mpw_cstr(struct ivt_mpw *w, const char *s);

/* ---- writing through a cursor ------------------------------------------ */

/*
 * For encoders of many small values (a store's records, a value a call):
 * reserve room for a bound on what follows, write it with the ivt_mp_put_*
 * below, each returning the position after what it wrote, then commit. The
 * bytes are those the ivt_mpw_* wrappers write (msgpack's shortest form),
 * without a call through the packer and a bounds check per value.
 */

/* Most bytes an ivt_mp_put_uint, an array header, a bin or str header take. */
enum { IVT_MP_UINT_MAX = 9, IVT_MP_ARRAY_MAX = 5, IVT_MP_BIN_HEAD_MAX = 5 };

uint8_t *ivt__mpw_reserve_slow(struct ivt_mpw *w, size_t n);

/* Where to write at least n more bytes, or NULL when w cannot hold them (its
 * error is set as a write of n bytes sets it, or was set before). A fixed
 * writer fails when the bound does not fit, even if what is then written
 * would have. Nothing counts as written until ivt_mpw_commit. */
static inline uint8_t *ivt_mpw_reserve(struct ivt_mpw *w, size_t n)
{
    if (!w->err && n <= w->cap - w->len)
        return w->data + w->len;
    return ivt__mpw_reserve_slow(w, n);
}

/* Everything up to end (a cursor from ivt_mpw_reserve, advanced) is written. */
static inline void ivt_mpw_commit(struct ivt_mpw *w, uint8_t *end)
{
    w->len = (size_t)(end - w->data);
}

/* v big-endian in the n bytes at p (msgpack's byte order). */
static inline void ivt__mp_put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* n in the 16-bit form tagged t16 or the 32-bit form tagged t16 + 1 (as
 * uint, array and bin headers have them), whichever holds it. */
static inline uint8_t *ivt__mp_put_len(uint8_t *p, uint8_t t16, uint32_t n)
{
    if (n < 0x10000) {
        p[0] = t16;
        ivt__mp_put_be(p + 1, n, 2);
        return p + 3;
    }
    p[0] = (uint8_t)(t16 + 1);
    ivt__mp_put_be(p + 1, n, 4);
    return p + 5;
}

static inline uint8_t *ivt_mp_put_uint(uint8_t *p, uint64_t v)
{
    if (v < 0x80) {
        *p = (uint8_t)v;
        return p + 1;
    }
    if (v < 0x100) {
        p[0] = 0xcc;
        p[1] = (uint8_t)v;
        return p + 2;
    }
    if (v < 0x100000000ULL)
        return ivt__mp_put_len(p, 0xcd, (uint32_t)v);
    p[0] = 0xcf;
    ivt__mp_put_be(p + 1, v, 8);
    return p + 9;
}

static inline uint8_t *ivt_mp_put_array(uint8_t *p, uint32_t n)
{
    if (n < 16) {
        *p = (uint8_t)(0x90 | n);
        return p + 1;
    }
    return ivt__mp_put_len(p, 0xdc, n);
}

/* An array header in the 32-bit form whatever n: 5 bytes a writer can
 * reserve before it knows the count, and overwrite with the count later. */
static inline uint8_t *ivt_mp_put_array32(uint8_t *p, uint32_t n)
{
    p[0] = 0xdd;
    ivt__mp_put_be(p + 1, n, 4);
    return p + 5;
}

/* A bin header for n bytes (n < 2^32); its body is the caller's to write. */
static inline uint8_t *ivt_mp_put_bin_head(uint8_t *p, uint32_t n)
{
    if (n < 0x100) {
        p[0] = 0xc4;
        p[1] = (uint8_t)n;
        return p + 2;
    }
    return ivt__mp_put_len(p, 0xc5, n);
}

/* A bin of the n bytes at b (n < 2^32). */
static inline uint8_t *ivt_mp_put_bin(uint8_t *p, const void *b, uint32_t n)
{
    p = ivt_mp_put_bin_head(p, n);
    if (n)
        memcpy(p, b, n);
    return p + n;
}

/* ---- reading ---------------------------------------------------------- */

enum ivt_mp_type {
    IVT_MP_NONE = 0, /* end of input or a byte that starts no valid value */
    IVT_MP_NIL,
    IVT_MP_BOOL,
    IVT_MP_UINT,
    IVT_MP_INT, /* negative integers */
    IVT_MP_FLOAT,
    IVT_MP_STR,
    IVT_MP_BIN,
    IVT_MP_ARRAY,
    IVT_MP_MAP,
    IVT_MP_EXT
};

/* The type of the next value, without consuming it. */
enum ivt_mp_type ivt_mp_peek(const uint8_t *pos, const uint8_t *end);

/*
 * Each reader returns 0 and advances *pos on success, or IVT_EPROTO (wrong
 * type, truncated, a count larger than the bytes left) and leaves *pos.
 */
int ivt_mp_read_nil(const uint8_t **pos, const uint8_t *end);
int ivt_mp_read_bool(const uint8_t **pos, const uint8_t *end, bool *out);
int ivt_mp_read_uint(const uint8_t **pos, const uint8_t *end, uint64_t *out);
/* The big-endian (msgpack's order) 64-bit value at p[0, 8), in one load
 * where the byte order is known: a store message is mostly 64-bit hashes,
 * and a loop of eight shifts each was 1% of a simulated node's work. */
static inline uint64_t ivt_mp_be64(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return __builtin_bswap64(v);
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
#else
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
#endif
}
int ivt_mp_read_int(const uint8_t **pos, const uint8_t *end, int64_t *out);
/* Accepts float32, float64 and integers. */
int ivt_mp_read_double(const uint8_t **pos, const uint8_t *end, double *out);
int ivt_mp_read_array(const uint8_t **pos, const uint8_t *end, uint32_t *n);
int ivt_mp_read_map(const uint8_t **pos, const uint8_t *end, uint32_t *n);
/* Zero-copy views into the input. */
int ivt_mp_read_str(const uint8_t **pos, const uint8_t *end, const char **p, uint32_t *n);
int ivt_mp_read_bin(const uint8_t **pos, const uint8_t *end, const uint8_t **p, uint32_t *n);
/* A bin of exactly n bytes, copied out. */
int ivt_mp_read_bin_exact(const uint8_t **pos, const uint8_t *end, void *out, uint32_t n);

/*
 * The readers' commonest forms, inline (a fixint or a 1-8 byte uint, a
 * fixarray, a bin8 or bin16): decoding a gossip message or a store record
 * is mostly these, and the general path (a header struct, a switch over
 * every type) was a twentieth of a simulated node's instructions. Each
 * returns 0 or IVT_EPROTO exactly as the general reader would for the same
 * input, or IVT_MP_OTHER (nothing consumed) for any other form. The
 * ivt_mp_read_* functions take these first; ivt_mp_get_* are the same
 * readers inline, for a decoder's hot loop (the store's merge).
 */
enum { IVT_MP_OTHER = 1 };

static inline int ivt_mp_uint_fast(const uint8_t **pos, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pos;
    if (p >= end)
        return IVT_MP_OTHER;
    uint8_t b = p[0];
    if (b <= 0x7f) {
        *out = b;
        *pos = p + 1;
        return 0;
    }
    if (b < 0xcc || b > 0xcf)
        return IVT_MP_OTHER;
    size_t n = (size_t)1 << (b - 0xcc);
    if ((size_t)(end - p) < 1 + n)
        return IVT_EPROTO;
    uint64_t v = 0;
    if (n == 8)
        v = ivt_mp_be64(p + 1);
    else
        for (size_t i = 1; i <= n; i++)
            v = v << 8 | p[i];
    *out = v;
    *pos = p + 1 + n;
    return 0;
}

static inline int ivt_mp_array_fast(const uint8_t **pos, const uint8_t *end, uint32_t *n)
{
    const uint8_t *p = *pos;
    if (p >= end || (p[0] & 0xf0) != 0x90)
        return IVT_MP_OTHER;
    uint32_t c = p[0] & 0x0f;
    if (c > (size_t)(end - p) - 1)
        return IVT_EPROTO; /* every element takes at least a byte */
    *n = c;
    *pos = p + 1;
    return 0;
}

static inline int ivt_mp_bin_fast(const uint8_t **pos, const uint8_t *end, const uint8_t **b,
                                  uint32_t *n)
{
    const uint8_t *p = *pos;
    size_t head;
    uint32_t len;
    if (end - p >= 2 && p[0] == 0xc4) {
        head = 2;
        len = p[1];
    } else if (end - p >= 3 && p[0] == 0xc5) {
        head = 3;
        len = (uint32_t)p[1] << 8 | p[2];
    } else {
        return IVT_MP_OTHER;
    }
    if (len > (size_t)(end - p) - head)
        return IVT_EPROTO;
    *b = p + head;
    *n = len;
    *pos = p + head + len;
    return 0;
}

static inline int ivt_mp_get_uint(const uint8_t **pos, const uint8_t *end, uint64_t *out)
{
    int rc = ivt_mp_uint_fast(pos, end, out);
    return rc == IVT_MP_OTHER ? ivt_mp_read_uint(pos, end, out) : rc;
}

static inline int ivt_mp_get_array(const uint8_t **pos, const uint8_t *end, uint32_t *n)
{
    int rc = ivt_mp_array_fast(pos, end, n);
    return rc == IVT_MP_OTHER ? ivt_mp_read_array(pos, end, n) : rc;
}

static inline int ivt_mp_get_bin(const uint8_t **pos, const uint8_t *end, const uint8_t **b,
                                 uint32_t *n)
{
    int rc = ivt_mp_bin_fast(pos, end, b, n);
    return rc == IVT_MP_OTHER ? ivt_mp_read_bin(pos, end, b, n) : rc;
}

/* A uint that must fit in max (inclusive). */
int ivt_mp_read_uint_max(const uint8_t **pos, const uint8_t *end, uint64_t max, uint64_t *out);

/* Skips one whole value, however nested (iterative: no recursion to blow). */
int ivt_mp_skip(const uint8_t **pos, const uint8_t *end);

/*
 * For stream framing: the length of the complete value at the start of
 * [p, p + n). Returns the length (> 0), or IVT_EAGAIN when the bytes so far
 * are a valid prefix of a longer value, or IVT_EPROTO when they can never be
 * a valid value.
 */
long ivt_mp_value_len(const uint8_t *p, size_t n);

/* True when the string view equals the C string s. */
bool ivt_mp_str_eq(const char *p, uint32_t n, const char *s);

#endif
