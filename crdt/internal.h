/*
 * crdt/internal.h: what the files of crdt/ share and nobody else sees.
 */
#ifndef IVT_CRDT_INTERNAL_H
#define IVT_CRDT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/mp.h"
#include "crdt/crdt.h"
#include "crdt/store.h"

/* Every crdt message starts [version, ...]: the format version. The
 * store's messages (deltas, repairs, snapshots) that hold a promoted
 * epoch's registers are at 2 since promoted counters number their event
 * ids as runs (crdt/hll.h); the others are at 1, as before, which they
 * equal byte for byte, so a node of format 1 still reads them. A store
 * reads 1 without its promoted epochs, whose registers come from the old
 * ids (joined with runs they would count events twice). Digests, hh and
 * lww are unchanged at 1. */
enum { CRDT_FORMAT_VERSION = 1, CRDT_STORE_VERSION = 2 };

/*
 * The store's readers: base/mp.h's inline ones (ivt_mp_get_*). A merge
 * reads some fifty values per entity record, twice (check, then apply), and
 * a call per value into the general readers was most of its instructions.
 */
static inline int crdt__rd_uint(const uint8_t **pos, const uint8_t *end, uint64_t *out)
{
    return ivt_mp_get_uint(pos, end, out);
}

static inline int crdt__rd_uint_max(const uint8_t **pos, const uint8_t *end, uint64_t max,
                                    uint64_t *out)
{
    const uint8_t *p = *pos;
    uint64_t v;
    if (crdt__rd_uint(&p, end, &v) || v > max)
        return IVT_EPROTO;
    *out = v;
    *pos = p;
    return 0;
}

static inline int crdt__rd_array(const uint8_t **pos, const uint8_t *end, uint32_t *n)
{
    return ivt_mp_get_array(pos, end, n);
}

static inline int crdt__rd_bin(const uint8_t **pos, const uint8_t *end, const uint8_t **b,
                               uint32_t *n)
{
    return ivt_mp_get_bin(pos, end, b, n);
}

/* Reads a uint that must fit in 32 bits. */
static inline int crdt__read_u32(const uint8_t **pos, const uint8_t *end, uint32_t *out)
{
    uint64_t v;
    int rc = crdt__rd_uint_max(pos, end, UINT32_MAX, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

/* Reads [1, ...]: the array header (which must have exactly n elements) and a
 * format version that must be 1. Returns 0, IVT_EPROTO or IVT_EVERSION. */
int crdt__read_header(const uint8_t **pos, const uint8_t *end, uint32_t n);

/* crdt__read_header for a version from lo to hi, stored in *version. */
int crdt__read_header_v(const uint8_t **pos, const uint8_t *end, uint32_t n, uint64_t lo,
                        uint64_t hi, uint64_t *version);

/* Copies a bin of at most max bytes into out (NUL-terminated), *len gets its
 * length. Returns 0 or IVT_EPROTO. */
int crdt__read_text(const uint8_t **pos, const uint8_t *end, char *out, size_t max, uint8_t *len);

/* Reads an origin bin of exactly CRDT_ORIGIN_BYTES. */
int crdt__read_origin(const uint8_t **pos, const uint8_t *end, struct crdt_origin *out);

/* ---- memory (crdt/arena.c) ---- */

/* A pool of fixed-size blocks carved from chunks the allocator maps. */
struct crdt__pool {
    size_t size;       /* block bytes: whole lines from 64 up */
    void *free;        /* recycled blocks, linked through their first word */
    uint8_t *cur;      /* the unused, still zero, tail of the newest chunk */
    size_t left;       /* its bytes */
    size_t next_chunk; /* bytes of the next chunk (doubling to 2 MiB) */
    uint64_t live;     /* blocks handed out and not put back */
};

struct crdt__chunk {
    void *p;
    size_t len;
};

/* Small classes 16, 32, .. 2048 bytes: exact set arrays (up to 256 items)
 * and display keys. Larger small requests go to malloc. */
enum { CRDT__SMALL_CLASSES = 8 };

struct crdt__mem {
    struct crdt_alloc a;
    struct crdt__chunk *chunks; /* every chunk, unmapped at the end */
    size_t nchunks, capchunks;
    uint64_t chunk_bytes;
    struct crdt__pool small[CRDT__SMALL_CLASSES];
};

/* a NULL, or its map or unmap NULL: calloc and free. */
void crdt__mem_init(struct crdt__mem *m, const struct crdt_alloc *a);
/* Unmaps every chunk (regions are the caller's to unmap). */
void crdt__mem_destroy(struct crdt__mem *m);
/* A zeroed region of size bytes aligned to 64, or NULL. */
void *crdt__mem_map(struct crdt__mem *m, size_t size);
void crdt__mem_unmap(struct crdt__mem *m, void *p, size_t size);

void crdt__pool_init(struct crdt__pool *p, size_t size);
/* A block (zeroed when zero is set), or NULL. */
void *crdt__pool_get(struct crdt__mem *m, struct crdt__pool *p, bool zero);
void crdt__pool_put(struct crdt__pool *p, void *b);

/* Blocks of at least size bytes from the small classes (not zeroed); put
 * and resize must be told the size the block was got with. */
void *crdt__small_get(struct crdt__mem *m, size_t size);
void crdt__small_put(struct crdt__mem *m, void *b, size_t size);
/* Like realloc (b may be NULL); on failure b is untouched. */
void *crdt__small_resize(struct crdt__mem *m, void *b, size_t old, size_t size);

struct crdt_store;
struct crdt_store_stats;

/* crdt_store_stats computed the slow way, by a walk over every record: what
 * the running totals must always equal (for tests). */
void crdt__store_recount(const struct crdt_store *s, struct crdt_store_stats *out);

/* crdt_store_digest computed the slow way: every record encoded afresh,
 * nothing cached (for tests). Returns 0 or IVT_EINVAL (wrong n). */
int crdt__store_digest_recount(struct crdt_store *s, uint64_t *out, size_t n);

/* Checks the expiry calendar: no live record holds evidence older than the
 * window, and each is filed under its key. Returns 0 or IVT_EINVAL. */
int crdt__store_check_expiry(const struct crdt_store *s);

/* Checks the histograms kept beside promoted registers (counter epochs and
 * dense sets): each is its registers' histogram, and each promoted epoch's
 * cached estimate is the registers' estimate. Returns 0 or IVT_EINVAL. */
int crdt__store_check_hist(const struct crdt_store *s);

#endif
