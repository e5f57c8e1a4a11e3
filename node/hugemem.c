/*
 * node/hugemem.c: anonymous mappings for the evidence store, on
 * transparent huge pages where they are big enough (see node/hugemem.h).
 *
 * A huge-page-sized region is mapped one huge page larger than asked, and
 * the unaligned head and tail are unmapped again: mmap only promises 4 KiB
 * alignment, and a region that does not start on a 2 MiB boundary loses
 * its first and last partial huge page. MAP_NORESERVE: the slab is sized
 * for max_entities and mostly untouched at start; it must not count
 * against overcommit as if written.
 */
#include "node/hugemem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

enum {
    /* x86-64's transparent huge page (PMD size). */
    HUGE_PAGE = 2 << 20,
};

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

static size_t mapped_len(size_t size)
{
    return size >= HUGE_PAGE ? round_up(size, HUGE_PAGE) : round_up(size, 4096);
}

static void *huge_map(void *ctx, size_t size)
{
    (void)ctx;
    size_t len = mapped_len(size);
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    if (len < HUGE_PAGE) {
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    uint8_t *raw = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uint8_t *p = raw + (a - (uintptr_t)raw);
    size_t head = (size_t)(p - raw), tail = HUGE_PAGE - head;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap(p + len, tail);
    /* Advice only: without THP the region still works, on small pages. */
    madvise(p, len, MADV_HUGEPAGE);
    return p;
}

static void huge_unmap(void *ctx, void *p, size_t size)
{
    (void)ctx;
    munmap(p, mapped_len(size));
}

void ivtd_hugemem_alloc(struct crdt_alloc *out)
{
    out->map = huge_map;
    out->unmap = huge_unmap;
    out->ctx = NULL;
}

/* ---- the reservoir ------------------------------------------------------- */

enum {
    /* Chunks held ready: a store filling at 400,000 entities/s takes a few
     * per 10 ms across its pools; one job populates one chunk (~0.3 ms). */
    RESERVE = 8
};

struct ivtd_hugemem {
    uv_loop_t *loop;
    void *ready[RESERVE]; /* populated chunks, loop thread only */
    size_t n_ready;
    uv_work_t work;
    void *filling; /* the chunk a job populates; NULL: none in flight */
};

static void fill_work(uv_work_t *w)
{
    struct ivtd_hugemem *h = w->data;
    /* Failing (a kernel before 5.14) leaves an ordinary chunk. */
    madvise(h->filling, HUGE_PAGE, MADV_POPULATE_WRITE);
}

static void refill(struct ivtd_hugemem *h);

static void fill_done(uv_work_t *w, int status)
{
    (void)status; /* the chunk is good populated or not */
    struct ivtd_hugemem *h = w->data;
    h->ready[h->n_ready++] = h->filling;
    h->filling = NULL;
    refill(h);
}

/* Starts populating one more chunk, if room and none is in flight. */
static void refill(struct ivtd_hugemem *h)
{
    if (h->filling || h->n_ready >= RESERVE)
        return;
    void *c = huge_map(NULL, HUGE_PAGE);
    if (!c)
        return;
    h->filling = c;
    h->work.data = h;
    if (uv_queue_work(h->loop, &h->work, fill_work, fill_done) != 0) {
        huge_unmap(NULL, c, HUGE_PAGE);
        h->filling = NULL;
    }
}

static void *reserve_map(void *ctx, size_t size)
{
    struct ivtd_hugemem *h = ctx;
    void *p = NULL;
    if (mapped_len(size) == HUGE_PAGE && h->n_ready)
        p = h->ready[--h->n_ready];
    else
        p = huge_map(NULL, size);
    refill(h);
    return p;
}

struct ivtd_hugemem *ivtd_hugemem_new(uv_loop_t *loop)
{
    struct ivtd_hugemem *h = calloc(1, sizeof(*h));
    if (h)
        h->loop = loop;
    return h;
}

void ivtd_hugemem_reserve_alloc(struct crdt_alloc *out, struct ivtd_hugemem *h)
{
    out->map = reserve_map;
    out->unmap = huge_unmap;
    out->ctx = h;
}

void ivtd_hugemem_delete(struct ivtd_hugemem *h)
{
    if (!h)
        return;
    while (h->n_ready)
        huge_unmap(NULL, h->ready[--h->n_ready], HUGE_PAGE);
    free(h);
}
