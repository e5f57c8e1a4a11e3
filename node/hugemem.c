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
