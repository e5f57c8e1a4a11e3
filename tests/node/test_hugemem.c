/* Tests of node/hugemem.c: the daemon's allocator for the evidence store. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uv.h>

#include "crdt/store.h"
#include "node/hugemem.h"
#include "tests/test.h"

TEST(node_hugemem_regions)
{
    (void)state;
    struct crdt_alloc a;
    ivtd_hugemem_alloc(&a);
    /* Big regions start on a huge page boundary, small ones on a page;
     * both come zeroed and writable to their last byte. */
    size_t sizes[] = {5u << 20, 100, 64u << 10, 2u << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t *p = a.map(a.ctx, sizes[i]);
        assert_non_null(p);
        uintptr_t align = sizes[i] >= (2u << 20) ? (2u << 20) : 4096;
        assert_int_equal((uintptr_t)p % align, 0);
        assert_int_equal(p[0] | p[sizes[i] / 2] | p[sizes[i] - 1], 0);
        memset(p, 0xab, sizes[i]);
        a.unmap(a.ctx, p, sizes[i]);
    }
}

TEST(node_hugemem_store)
{
    (void)state;
    struct crdt_config c;
    crdt_config_defaults(&c);
    c.origin.id[0] = 1;
    c.max_entities = 100000;
    c.distinct_exact_max = 2;
    ivtd_hugemem_alloc(&c.alloc);
    struct crdt_store *s;
    assert_int_equal(crdt_store_new(&s, &c, (ivt_ms)29000000 * 60000), 0);
    for (int i = 0; i < 50; i++) {
        struct crdt_update u = {.kind = CRDT_KIND_IP, .key = "10.0.0.1", .key_len = 8};
        u.add[0] = 1;
        u.item_mask = 1;
        u.item[0] = (uint64_t)i * 0x9e3779b97f4a7c15ULL;
        assert_int_equal(crdt_store_update(s, crdt_store_epoch(s), &u, 1), 0);
    }
    struct crdt_view v;
    assert_int_equal(crdt_store_get(s, &v, CRDT_KIND_IP, "10.0.0.1", 8), 0);
    assert_int_equal(v.fleet[0], 50);
    assert_true(v.distinct[0] >= 45 && v.distinct[0] <= 55);
    crdt_store_delete(s);
}

/* The daemon's allocator hands out 2 MiB chunks that a pool thread has
 * already faulted in (so no update clears a huge page), zeroed; other
 * sizes are mapped on the spot; with the reservoir empty a chunk is still
 * mapped at once; and a range asked for ahead is faulted in too. */
TEST(node_hugemem_reservoir_hands_out_populated_chunks)
{
    (void)state;
    const size_t chunk = 2u << 20, pg = (size_t)sysconf(_SC_PAGESIZE);
    /* Kernels before 5.14 have no MADV_POPULATE_WRITE: the reservoir then
     * holds ordinary chunks, and only the residency check is left out. */
    void *probe = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(probe != MAP_FAILED);
    bool populate = madvise(probe, pg, MADV_POPULATE_WRITE) == 0;
    munmap(probe, pg);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct ivtd_hugemem *h = ivtd_hugemem_new(&loop);
    assert_non_null(h);
    struct crdt_alloc a;
    ivtd_hugemem_reserve_alloc(&a, h);
    uint8_t *first = a.map(a.ctx, chunk); /* empty: mapped on the spot */
    assert_non_null(first);
    assert_int_equal(ivt_test_resident_pages(first, chunk), 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* the pool thread fills the reservoir */
    uint8_t *next = a.map(a.ctx, chunk);
    assert_non_null(next);
    assert_int_equal((uintptr_t)next % chunk, 0);
    if (populate)
        assert_int_equal(ivt_test_resident_pages(next, chunk), chunk / pg);
    assert_int_equal(next[0] | next[chunk / 2] | next[chunk - 1], 0);
    uint8_t *small = a.map(a.ctx, 64u << 10);
    assert_non_null(small);
    memset(small, 1, 64u << 10);
    a.unmap(a.ctx, small, 64u << 10);
    memset(next, 0xab, chunk);
    a.unmap(a.ctx, next, chunk);
    a.unmap(a.ctx, first, chunk);
    uv_run(&loop, UV_RUN_DEFAULT);
    /* A range the store will write next (the slab's front) is faulted in
     * the same way, from its first page on, and only once. */
    uint8_t *slab = a.map(a.ctx, 4 * chunk);
    assert_non_null(slab);
    ivtd_hugemem_ahead(h, slab + 100, chunk);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (populate) {
        assert_int_equal(ivt_test_resident_pages(slab, chunk), chunk / pg);
        assert_int_equal(ivt_test_resident_pages(slab + 2 * chunk, 2 * chunk), 0);
    }
    a.unmap(a.ctx, slab, 4 * chunk);
    ivtd_hugemem_stop(h);
    ivtd_hugemem_delete(h);
    assert_int_equal(uv_loop_close(&loop), 0);
}
