/* Tests of node/hugemem.c: the daemon's allocator for the evidence store. */
#include <stdint.h>
#include <string.h>

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
