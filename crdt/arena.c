/*
 * crdt/arena.c: where the store's memory comes from.
 *
 * The store's working set is a million records, their table and their sets
 * and registers, read at random: on 4 KiB pages every entity an update
 * touches costs TLB misses, each a page walk (two-level under a hypervisor).
 * The store itself must not call the OS (sans-IO), so its owner hands it an
 * allocator (struct crdt_alloc, crdt/store.h) that maps big zeroed regions;
 * the daemon's maps 2 MiB-aligned regions advised for transparent huge pages
 * (node/hugemem.c), a test's or the simulator's is calloc.
 *
 * Parts:
 *  - regions: the entity slab and the table, mapped once at their full size
 *    (their pages are touched only as entities arrive);
 *  - pools: fixed-size blocks (HLL registers, exact set arrays, display
 *    keys) carved from 2 MiB chunks and recycled through a free list per
 *    pool, so a promoted set costs no malloc and its registers share a huge
 *    page with other sets' registers. A pool keeps its chunks until the
 *    store is deleted: its footprint is the high-water mark of its live
 *    blocks, which max_entities and the per-entity bounds already bound.
 *
 * A block fresh from a chunk is zero (the allocator's contract); a recycled
 * one is cleared only when the caller asks for zeroed memory.
 */
#include <stdlib.h>
#include <string.h>

#include "crdt/internal.h"

enum {
    /* One transparent huge page: a grown pool takes one page at a time. */
    POOL_CHUNK_MAX = 2 << 20,
    /* A pool's first chunk; each next one doubles up to POOL_CHUNK_MAX, so
     * the many small stores of a simulation or a test suite stay small. */
    POOL_CHUNK_MIN = 4 << 10,
    /* Blocks are whole cache lines, so no block shares a line with another
     * block a different entity writes. */
    POOL_ALIGN = 64,
    /* The smallest block: a free-list link plus room to be useful. */
    SMALL_MIN = 16,
    SMALL_MIN_LOG2 = 4,
};
_Static_assert(SMALL_MIN == 1 << SMALL_MIN_LOG2, "SMALL_MIN is 2^SMALL_MIN_LOG2");

/* calloc, whose big blocks are fresh mappings it need not clear (a slab is
 * touched only as entities arrive), aligned up to a line: calloc's 16 bytes
 * would leave records straddling one more line each. The block's start is
 * kept in the word below the region. */
static void *default_map(void *ctx, size_t size)
{
    (void)ctx;
    uint8_t *raw = calloc(1, size + POOL_ALIGN + sizeof(void *));
    if (!raw)
        return NULL;
    uintptr_t a = ((uintptr_t)raw + sizeof(void *) + POOL_ALIGN - 1) & ~(uintptr_t)(POOL_ALIGN - 1);
    uint8_t *p = raw + (a - (uintptr_t)raw);
    memcpy(p - sizeof(void *), &raw, sizeof(void *));
    return p;
}

static void default_unmap(void *ctx, void *p, size_t size)
{
    (void)ctx;
    (void)size;
    void *raw;
    memcpy(&raw, (uint8_t *)p - sizeof(void *), sizeof(void *));
    free(raw);
}

void crdt__mem_init(struct crdt__mem *m, const struct crdt_alloc *a)
{
    memset(m, 0, sizeof(*m));
    if (a && a->map && a->unmap) {
        m->a = *a;
    } else {
        m->a.map = default_map;
        m->a.unmap = default_unmap;
    }
    for (int c = 0; c < CRDT__SMALL_CLASSES; c++)
        crdt__pool_init(&m->small[c], (size_t)SMALL_MIN << c);
}

void *crdt__mem_map(struct crdt__mem *m, size_t size)
{
    return m->a.map(m->a.ctx, size);
}

void crdt__mem_unmap(struct crdt__mem *m, void *p, size_t size)
{
    if (p)
        m->a.unmap(m->a.ctx, p, size);
}

void crdt__mem_destroy(struct crdt__mem *m)
{
    for (size_t i = 0; i < m->nchunks; i++)
        crdt__mem_unmap(m, m->chunks[i].p, m->chunks[i].len);
    free(m->chunks);
    m->chunks = NULL;
    m->nchunks = m->capchunks = 0;
}

void crdt__pool_init(struct crdt__pool *p, size_t size)
{
    memset(p, 0, sizeof(*p));
    if (size < SMALL_MIN)
        size = SMALL_MIN;
    p->size = size < POOL_ALIGN ? size : (size + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
}

void *crdt__pool_get(struct crdt__mem *m, struct crdt__pool *p, bool zero)
{
    if (p->free) {
        void *b = p->free;
        memcpy(&p->free, b, sizeof(void *));
        if (zero)
            memset(b, 0, p->size);
        p->live++;
        return b;
    }
    if (p->left < p->size) {
        if (m->nchunks == m->capchunks) {
            size_t cap = m->capchunks ? m->capchunks * 2 : 16;
            struct crdt__chunk *c = realloc(m->chunks, cap * sizeof(*c));
            if (!c)
                return NULL;
            m->chunks = c;
            m->capchunks = cap;
        }
        size_t len = p->next_chunk ? p->next_chunk : POOL_CHUNK_MIN;
        while (len < p->size)
            len *= 2;
        uint8_t *c = crdt__mem_map(m, len);
        if (!c)
            return NULL;
        m->chunks[m->nchunks++] = (struct crdt__chunk){c, len};
        m->chunk_bytes += len;
        /* The tail of the previous chunk (under one block) is left unused. */
        p->cur = c;
        p->left = len;
        p->next_chunk = len < POOL_CHUNK_MAX ? len * 2 : len;
    }
    void *b = p->cur;
    p->cur += p->size;
    p->left -= p->size;
    p->live++;
    return b;
}

void crdt__pool_put(struct crdt__pool *p, void *b)
{
    if (!b)
        return;
    memcpy(b, &p->free, sizeof(void *));
    p->free = b;
    p->live--;
}

/* The small class that holds size bytes: SMALL_MIN << c (a set growing
 * to promotion asks five times, so no loop). */
static int small_class(size_t size)
{
    if (size <= SMALL_MIN)
        return 0;
    return (int)(64 - __builtin_clzll((unsigned long long)(size - 1))) - SMALL_MIN_LOG2;
}

void *crdt__small_get(struct crdt__mem *m, size_t size)
{
    int c = small_class(size);
    return c < CRDT__SMALL_CLASSES ? crdt__pool_get(m, &m->small[c], false) : malloc(size);
}

void crdt__small_put(struct crdt__mem *m, void *b, size_t size)
{
    int c = small_class(size);
    if (c < CRDT__SMALL_CLASSES)
        crdt__pool_put(&m->small[c], b);
    else
        free(b);
}

void *crdt__small_resize(struct crdt__mem *m, void *b, size_t old, size_t size)
{
    if (b && small_class(old) == small_class(size))
        return b;
    void *n = crdt__small_get(m, size);
    if (!n)
        return NULL;
    if (b) {
        memcpy(n, b, old < size ? old : size);
        crdt__small_put(m, b, old);
    }
    return n;
}
