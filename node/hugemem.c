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

#include <stdbool.h>
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

/* ---- faulting in ahead, on a libuv pool thread -------------------------- */

enum {
    /* Chunks held ready: a store filling at 400,000 entities/s takes a few
     * per 10 ms across its pools; one job populates one chunk (~0.3 ms). */
    RESERVE = 8,
    PAGE = 4096 /* madvise's unit */
};

/* One range a pool thread populates (MADV_POPULATE_WRITE maps pages
 * without touching their bytes, so it never races the loop's writes; a
 * kernel before 5.14 fails it and the first writes fault as before). */
struct populate_job {
    uv_work_t work;
    struct ivtd_hugemem *h;
    uint8_t *at;
    size_t len;
    bool busy;
};

struct ivtd_hugemem {
    uv_loop_t *loop;
    bool stopping;        /* no new jobs: the daemon is shutting down */
    void *ready[RESERVE]; /* populated chunks, loop thread only */
    size_t n_ready;
    struct populate_job fill;  /* a chunk for the reservoir */
    struct populate_job ahead; /* the range ivtd_hugemem_ahead was given */
    uint8_t *ahead_to;         /* populated up to here within that range */
};

static void populate_work(uv_work_t *w)
{
    struct populate_job *j = w->data;
    madvise(j->at, j->len, MADV_POPULATE_WRITE);
}

/* Queues j over [at, at + len) with done to follow on the loop thread.
 * Returns false when it could not (j stays idle). */
static bool populate_start(struct populate_job *j, void *at, size_t len, uv_after_work_cb done)
{
    j->at = at;
    j->len = len;
    j->work.data = j;
    j->busy = uv_queue_work(j->h->loop, &j->work, populate_work, done) == 0;
    return j->busy;
}

static void refill(struct ivtd_hugemem *h);

static void fill_done(uv_work_t *w, int status)
{
    (void)status; /* the chunk is good populated or not */
    struct populate_job *j = w->data;
    struct ivtd_hugemem *h = j->h;
    j->busy = false;
    h->ready[h->n_ready++] = j->at;
    refill(h);
}

/* Starts populating one more chunk, if room and none is in flight. */
static void refill(struct ivtd_hugemem *h)
{
    if (h->stopping || h->fill.busy || h->n_ready >= RESERVE)
        return;
    void *c = huge_map(NULL, HUGE_PAGE);
    if (c && !populate_start(&h->fill, c, HUGE_PAGE, fill_done))
        huge_unmap(NULL, c, HUGE_PAGE);
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

static void ahead_done(uv_work_t *w, int status)
{
    struct populate_job *j = w->data;
    j->busy = false;
    if (status == 0)
        j->h->ahead_to = j->at + j->len;
}

void ivtd_hugemem_ahead(struct ivtd_hugemem *h, void *at, size_t len)
{
    if (h->stopping || h->ahead.busy || !len)
        return;
    /* Whole pages, inside the range's mapping (it starts and ends on one). */
    uintptr_t a = (uintptr_t)at & ~(uintptr_t)(PAGE - 1);
    uintptr_t e = ((uintptr_t)at + len + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
    /* Done up to ahead_to within this range, or nothing of it yet. */
    uintptr_t to = (uintptr_t)h->ahead_to;
    uintptr_t f = to >= a && to <= e ? to : a;
    if (f < e)
        populate_start(&h->ahead, (void *)f, (size_t)(e - f), ahead_done);
}

struct ivtd_hugemem *ivtd_hugemem_new(uv_loop_t *loop)
{
    struct ivtd_hugemem *h = calloc(1, sizeof(*h));
    if (h) {
        h->loop = loop;
        h->fill.h = h->ahead.h = h;
    }
    return h;
}

void ivtd_hugemem_reserve_alloc(struct crdt_alloc *out, struct ivtd_hugemem *h)
{
    out->map = reserve_map;
    out->unmap = huge_unmap;
    out->ctx = h;
}

void ivtd_hugemem_stop(struct ivtd_hugemem *h)
{
    if (h)
        h->stopping = true;
}

void ivtd_hugemem_delete(struct ivtd_hugemem *h)
{
    if (!h)
        return;
    while (h->n_ready)
        huge_unmap(NULL, h->ready[--h->n_ready], HUGE_PAGE);
    free(h);
}
