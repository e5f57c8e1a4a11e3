/*
 * base/mp.c: msgpack writer (over msgpack-c's packer) and bounded cursor
 * reader. See base/mp.h for why reading does not use msgpack-c's unpacker.
 *
 * Format reference: the msgpack spec, with the first byte deciding the type
 * and the size of the header that follows.
 */
#include "base/mp.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* ---- writing ---------------------------------------------------------- */

/* Growable writers start here: enough for most control replies. */
enum { MPW_INITIAL_CAP = 256 };

/* Room for len more bytes after w->len, growing a heap writer up to its
 * maximum. Returns 0, or -1 with w->err set (or already set). */
static int mpw_room(struct ivt_mpw *w, size_t len)
{
    if (w->err)
        return -1;
    if (len > w->cap - w->len) {
        if (!w->owned) {
            w->err = IVT_ENOSPC;
            return -1;
        }
        if (len > w->max - w->len) {
            w->err = IVT_ETOOBIG;
            return -1;
        }
        /* Never past max, from the first allocation on: a writer whose
         * max is below MPW_INITIAL_CAP held that much. */
        size_t want = w->cap ? w->cap : MPW_INITIAL_CAP < w->max ? MPW_INITIAL_CAP : w->max;
        while (want - w->len < len)
            want = want > w->max / 2 ? w->max : want * 2;
        uint8_t *p = realloc(w->data, want);
        if (!p) {
            w->err = IVT_ENOMEM;
            return -1;
        }
        w->data = p;
        w->cap = want;
    }
    return 0;
}

static int mpw_write(void *data, const char *buf, size_t len)
{
    struct ivt_mpw *w = data;
    if (mpw_room(w, len))
        return -1;
    memcpy(w->data + w->len, buf, len);
    w->len += len;
    return 0;
}

uint8_t *ivt__mpw_reserve_slow(struct ivt_mpw *w, size_t n)
{
    return mpw_room(w, n) ? NULL : w->data + w->len;
}

void ivt_mpw_init_fixed(struct ivt_mpw *w, void *buf, size_t cap)
{
    memset(w, 0, sizeof(*w));
    w->data = buf;
    w->cap = cap;
    w->max = cap;
    msgpack_packer_init(&w->pk, w, mpw_write);
}

void ivt_mpw_init_dyn(struct ivt_mpw *w, size_t max)
{
    memset(w, 0, sizeof(*w));
    w->max = max;
    w->owned = true;
    msgpack_packer_init(&w->pk, w, mpw_write);
}

void ivt_mpw_destroy(struct ivt_mpw *w)
{
    if (w->owned)
        free(w->data);
    w->data = 0;
    w->len = w->cap = 0;
}

void ivt_mpw_reset(struct ivt_mpw *w)
{
    w->len = 0;
    w->err = 0;
}

void ivt_mpw_raw(struct ivt_mpw *w, const void *p, size_t n)
{
    if (n)
        mpw_write(w, p, n);
}

void ivt_mpw_uint(struct ivt_mpw *w, uint64_t v)
{
    msgpack_pack_uint64(&w->pk, v);
}

void ivt_mpw_int(struct ivt_mpw *w, int64_t v)
{
    msgpack_pack_int64(&w->pk, v);
}

void ivt_mpw_double(struct ivt_mpw *w, double v)
{
    msgpack_pack_double(&w->pk, v);
}

void ivt_mpw_bool(struct ivt_mpw *w, bool v)
{
    if (v)
        msgpack_pack_true(&w->pk);
    else
        msgpack_pack_false(&w->pk);
}

void ivt_mpw_nil(struct ivt_mpw *w)
{
    msgpack_pack_nil(&w->pk);
}

void ivt_mpw_array(struct ivt_mpw *w, uint32_t n)
{
    msgpack_pack_array(&w->pk, n);
}

void ivt_mpw_map(struct ivt_mpw *w, uint32_t n)
{
    msgpack_pack_map(&w->pk, n);
}

void ivt_mpw_bin(struct ivt_mpw *w, const void *p, size_t n)
{
    msgpack_pack_bin(&w->pk, n);
    msgpack_pack_bin_body(&w->pk, p, n);
}

void ivt_mpw_str(struct ivt_mpw *w, const char *p, size_t n)
{
    msgpack_pack_str(&w->pk, n);
    msgpack_pack_str_body(&w->pk, p, n);
}

void ivt_mpw_cstr(struct ivt_mpw *w, const char *s)
{
    ivt_mpw_str(w, s, strlen(s));
}

/* ---- reading ---------------------------------------------------------- */

static inline uint64_t be_read(const uint8_t *p, int n)
{
    if (n == 8)
        return ivt_mp_be64(p);
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/*
 * The header of the value at p: its type, how many header bytes, the
 * payload length in bytes (str, bin, ext, fixed-size scalars) or the element
 * count (array; map counts pairs). Returns 0, IVT_EAGAIN when the header is
 * cut short, IVT_EPROTO for a byte that starts no value (0xc1).
 */
struct mp_head {
    enum ivt_mp_type type;
    uint8_t hlen;     /* header bytes, including the first */
    uint64_t payload; /* bytes after the header (str/bin/ext/scalars) */
    uint64_t count;   /* elements (array) or pairs (map) */
    uint64_t u;       /* integer value for uint/int/bool */
};

static int mp_head(const uint8_t *p, const uint8_t *end, struct mp_head *h)
{
    if (p >= end)
        return IVT_EAGAIN;
    uint8_t b = p[0];
    size_t avail = (size_t)(end - p);
    memset(h, 0, sizeof(*h));
    h->hlen = 1;
    if (b <= 0x7f) {
        h->type = IVT_MP_UINT;
        h->u = b;
        return 0;
    }
    if (b >= 0xe0) {
        h->type = IVT_MP_INT;
        h->u = (uint64_t)(int64_t)(int8_t)b;
        return 0;
    }
    if ((b & 0xf0) == 0x80) {
        h->type = IVT_MP_MAP;
        h->count = b & 0x0f;
        return 0;
    }
    if ((b & 0xf0) == 0x90) {
        h->type = IVT_MP_ARRAY;
        h->count = b & 0x0f;
        return 0;
    }
    if ((b & 0xe0) == 0xa0) {
        h->type = IVT_MP_STR;
        h->payload = b & 0x1f;
        return 0;
    }
    int n = 0; /* size of the length/value field after the first byte */
    switch (b) {
    case 0xc0: h->type = IVT_MP_NIL; return 0;
    case 0xc2:
    case 0xc3:
        h->type = IVT_MP_BOOL;
        h->u = b == 0xc3;
        return 0;
    case 0xc4:
        h->type = IVT_MP_BIN;
        n = 1;
        break;
    case 0xc5:
        h->type = IVT_MP_BIN;
        n = 2;
        break;
    case 0xc6:
        h->type = IVT_MP_BIN;
        n = 4;
        break;
    case 0xc7:
        h->type = IVT_MP_EXT;
        n = 1;
        break;
    case 0xc8:
        h->type = IVT_MP_EXT;
        n = 2;
        break;
    case 0xc9:
        h->type = IVT_MP_EXT;
        n = 4;
        break;
    case 0xca:
        h->type = IVT_MP_FLOAT;
        h->payload = 4;
        return 0;
    case 0xcb:
        h->type = IVT_MP_FLOAT;
        h->payload = 8;
        return 0;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        h->type = IVT_MP_UINT;
        n = 1 << (b - 0xcc);
        if (avail < (size_t)1 + n)
            return IVT_EAGAIN;
        h->u = be_read(p + 1, n);
        h->hlen = (uint8_t)(1 + n);
        return 0;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        n = 1 << (b - 0xd0);
        if (avail < (size_t)1 + n)
            return IVT_EAGAIN;
        uint64_t raw = be_read(p + 1, n);
        int shift = 64 - 8 * n;
        int64_t v = shift ? (int64_t)(raw << shift) >> shift : (int64_t)raw;
        h->type = v < 0 ? IVT_MP_INT : IVT_MP_UINT;
        h->u = (uint64_t)v;
        h->hlen = (uint8_t)(1 + n);
        return 0;
    }
    case 0xd4:
        h->type = IVT_MP_EXT;
        h->payload = 1 + 1;
        return 0;
    case 0xd5:
        h->type = IVT_MP_EXT;
        h->payload = 1 + 2;
        return 0;
    case 0xd6:
        h->type = IVT_MP_EXT;
        h->payload = 1 + 4;
        return 0;
    case 0xd7:
        h->type = IVT_MP_EXT;
        h->payload = 1 + 8;
        return 0;
    case 0xd8:
        h->type = IVT_MP_EXT;
        h->payload = 1 + 16;
        return 0;
    case 0xd9:
        h->type = IVT_MP_STR;
        n = 1;
        break;
    case 0xda:
        h->type = IVT_MP_STR;
        n = 2;
        break;
    case 0xdb:
        h->type = IVT_MP_STR;
        n = 4;
        break;
    case 0xdc:
        h->type = IVT_MP_ARRAY;
        n = 2;
        break;
    case 0xdd:
        h->type = IVT_MP_ARRAY;
        n = 4;
        break;
    case 0xde:
        h->type = IVT_MP_MAP;
        n = 2;
        break;
    case 0xdf:
        h->type = IVT_MP_MAP;
        n = 4;
        break;
    default: return IVT_EPROTO; /* 0xc1: never used */
    }
    if (avail < (size_t)1 + n)
        return IVT_EAGAIN;
    uint64_t len = be_read(p + 1, n);
    h->hlen = (uint8_t)(1 + n);
    if (h->type == IVT_MP_ARRAY || h->type == IVT_MP_MAP)
        h->count = len;
    else if (h->type == IVT_MP_EXT)
        h->payload = len + 1; /* the type byte */
    else
        h->payload = len;
    return 0;
}

enum ivt_mp_type ivt_mp_peek(const uint8_t *pos, const uint8_t *end)
{
    struct mp_head h;
    return mp_head(pos, end, &h) ? IVT_MP_NONE : h.type;
}

/* Reads a header of the wanted type whose payload is wholly in the input. */
static int mp_take(const uint8_t **pos, const uint8_t *end, enum ivt_mp_type want,
                   struct mp_head *h)
{
    if (mp_head(*pos, end, h) || h->type != want)
        return IVT_EPROTO;
    size_t left = (size_t)(end - *pos) - h->hlen;
    if (h->payload > left)
        return IVT_EPROTO;
    /* Every element takes at least one byte: a count past the bytes left
     * is a lie we refuse before anyone sizes anything by it. */
    if (h->type == IVT_MP_ARRAY && h->count > left)
        return IVT_EPROTO;
    if (h->type == IVT_MP_MAP && h->count > left / 2)
        return IVT_EPROTO;
    return 0;
}

int ivt_mp_read_nil(const uint8_t **pos, const uint8_t *end)
{
    struct mp_head h;
    if (mp_take(pos, end, IVT_MP_NIL, &h))
        return IVT_EPROTO;
    *pos += h.hlen;
    return 0;
}

int ivt_mp_read_bool(const uint8_t **pos, const uint8_t *end, bool *out)
{
    struct mp_head h;
    if (mp_take(pos, end, IVT_MP_BOOL, &h))
        return IVT_EPROTO;
    *out = h.u != 0;
    *pos += h.hlen;
    return 0;
}

int ivt_mp_read_uint(const uint8_t **pos, const uint8_t *end, uint64_t *out)
{
    int rc = ivt_mp_uint_fast(pos, end, out);
    if (rc != IVT_MP_OTHER)
        return rc;
    struct mp_head h;
    if (mp_take(pos, end, IVT_MP_UINT, &h))
        return IVT_EPROTO;
    *out = h.u;
    *pos += h.hlen;
    return 0;
}

int ivt_mp_read_uint_max(const uint8_t **pos, const uint8_t *end, uint64_t max, uint64_t *out)
{
    const uint8_t *p = *pos;
    uint64_t v;
    if (ivt_mp_read_uint(&p, end, &v) || v > max)
        return IVT_EPROTO;
    *out = v;
    *pos = p;
    return 0;
}

int ivt_mp_read_int(const uint8_t **pos, const uint8_t *end, int64_t *out)
{
    struct mp_head h;
    if (mp_head(*pos, end, &h))
        return IVT_EPROTO;
    if (h.type == IVT_MP_UINT) {
        if (h.u > (uint64_t)INT64_MAX)
            return IVT_EPROTO;
    } else if (h.type != IVT_MP_INT) {
        return IVT_EPROTO;
    }
    *out = (int64_t)h.u;
    *pos += h.hlen;
    return 0;
}

int ivt_mp_read_double(const uint8_t **pos, const uint8_t *end, double *out)
{
    struct mp_head h;
    if (mp_head(*pos, end, &h))
        return IVT_EPROTO;
    if (h.type == IVT_MP_UINT) {
        *out = (double)h.u;
    } else if (h.type == IVT_MP_INT) {
        *out = (double)(int64_t)h.u;
    } else if (h.type == IVT_MP_FLOAT) {
        if ((size_t)(end - *pos) < h.hlen + h.payload)
            return IVT_EPROTO;
        uint64_t raw = be_read(*pos + 1, (int)h.payload);
        if (h.payload == 4) {
            uint32_t r32 = (uint32_t)raw;
            float f;
            memcpy(&f, &r32, 4);
            *out = f;
        } else {
            memcpy(out, &raw, 8);
        }
        *pos += h.hlen + h.payload;
        return 0;
    } else {
        return IVT_EPROTO;
    }
    *pos += h.hlen;
    return 0;
}

int ivt_mp_read_array(const uint8_t **pos, const uint8_t *end, uint32_t *n)
{
    int rc = ivt_mp_array_fast(pos, end, n);
    if (rc != IVT_MP_OTHER)
        return rc;
    struct mp_head h;
    if (mp_take(pos, end, IVT_MP_ARRAY, &h))
        return IVT_EPROTO;
    *n = (uint32_t)h.count;
    *pos += h.hlen;
    return 0;
}

int ivt_mp_read_map(const uint8_t **pos, const uint8_t *end, uint32_t *n)
{
    struct mp_head h;
    if (mp_take(pos, end, IVT_MP_MAP, &h))
        return IVT_EPROTO;
    *n = (uint32_t)h.count;
    *pos += h.hlen;
    return 0;
}

int ivt_mp_read_str(const uint8_t **pos, const uint8_t *end, const char **p, uint32_t *n)
{
    struct mp_head h;
    if (mp_take(pos, end, IVT_MP_STR, &h))
        return IVT_EPROTO;
    *p = (const char *)*pos + h.hlen;
    *n = (uint32_t)h.payload;
    *pos += h.hlen + h.payload;
    return 0;
}

int ivt_mp_read_bin(const uint8_t **pos, const uint8_t *end, const uint8_t **p, uint32_t *n)
{
    int rc = ivt_mp_bin_fast(pos, end, p, n);
    if (rc != IVT_MP_OTHER)
        return rc;
    struct mp_head h;
    if (mp_take(pos, end, IVT_MP_BIN, &h))
        return IVT_EPROTO;
    *p = *pos + h.hlen;
    *n = (uint32_t)h.payload;
    *pos += h.hlen + h.payload;
    return 0;
}

int ivt_mp_read_bin_exact(const uint8_t **pos, const uint8_t *end, void *out, uint32_t n)
{
    const uint8_t *p = *pos, *b;
    uint32_t len;
    if (ivt_mp_read_bin(&p, end, &b, &len) || len != n)
        return IVT_EPROTO;
    memcpy(out, b, n);
    *pos = p;
    return 0;
}

/*
 * Walks one value. Nesting needs no stack: every array adds its count, and
 * every map twice its count, to the number of values still to walk. Returns
 * the bytes walked, IVT_EAGAIN if the input ends inside the value, or
 * IVT_EPROTO.
 */
static long mp_walk(const uint8_t *start, const uint8_t *end)
{
    const uint8_t *p = start;
    uint64_t pending = 1;
    while (pending) {
        struct mp_head h;
        int rc = mp_head(p, end, &h);
        if (rc)
            return rc;
        pending--;
        size_t left = (size_t)(end - p) - h.hlen;
        if (h.type == IVT_MP_ARRAY || h.type == IVT_MP_MAP) {
            uint64_t add = h.type == IVT_MP_MAP ? h.count * 2 : h.count;
            pending += add;
            /* pending values each need a byte; more than the input can hold
             * is only "incomplete" for a stream, never valid for a datagram,
             * and we cap the walk so a hostile count cannot spin us. */
            if (pending > (uint64_t)LONG_MAX)
                return IVT_EPROTO;
        } else if (h.payload > left) {
            return IVT_EAGAIN;
        }
        p += h.hlen + h.payload;
        if (pending > (size_t)(end - p))
            return IVT_EAGAIN;
    }
    return (long)(p - start);
}

int ivt_mp_skip(const uint8_t **pos, const uint8_t *end)
{
    long n = mp_walk(*pos, end);
    if (n <= 0)
        return IVT_EPROTO;
    *pos += n;
    return 0;
}

long ivt_mp_value_len(const uint8_t *p, size_t n)
{
    return mp_walk(p, p + n);
}

bool ivt_mp_str_eq(const char *p, uint32_t n, const char *s)
{
    size_t l = strlen(s);
    return l == n && memcmp(p, s, n) == 0;
}
