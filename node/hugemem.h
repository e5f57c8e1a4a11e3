/*
 * node/hugemem.h: the evidence store's memory on transparent huge pages.
 *
 * The store (crdt/) is sans-IO and asks its owner for big zeroed regions
 * (struct crdt_alloc, crdt/store.h). The daemon gives it this allocator:
 * anonymous mappings aligned to 2 MiB and advised MADV_HUGEPAGE, so that a
 * million records, their table and their registers sit on a few hundred
 * huge pages instead of a few hundred thousand 4 KiB ones, and a random
 * update costs a cache miss, not a page walk as well. With THP "never" the
 * advice is ignored and the regions are ordinary pages. Regions under one
 * huge page (the first chunks of a pool) are mapped without the advice:
 * rounding them up would turn a small store's few kilobytes into 2 MiB of
 * resident memory each.
 *
 * Shell code (it calls mmap); the simulator and tests run the store on its
 * default allocator.
 */
#ifndef IVT_NODE_HUGEMEM_H
#define IVT_NODE_HUGEMEM_H

#include <uv.h>

#include "crdt/store.h"

/* The allocator on its own (ctx NULL: it keeps no state): the benches'. */
void ivtd_hugemem_alloc(struct crdt_alloc *out);

/*
 * The daemon's: the same, with a reservoir of huge pages faulted in ahead.
 * The store's pools grow by one 2 MiB chunk at a time, and the first write
 * to a fresh huge page clears it inside the update that needed the block:
 * 0.3 ms on a quiet host, 7-9 ms when the hypervisor must also back the
 * page (perf of reads that took 6-9 ms at 100,000 scores/s: clear_page_rep
 * under do_huge_pmd_anonymous_page, from the copy into a new chunk). So
 * chunks come from a few regions that a libuv pool thread has already
 * populated (MADV_POPULATE_WRITE), and each one handed out starts the
 * next. Everything but the populating runs on the loop's thread; an
 * empty reservoir maps a chunk on the spot, as ivtd_hugemem_alloc does.
 */
struct ivtd_hugemem;

/* Returns NULL when out of memory. */
struct ivtd_hugemem *ivtd_hugemem_new(uv_loop_t *loop);

/* The allocator over h (h must outlive the store it maps for). */
void ivtd_hugemem_reserve_alloc(struct crdt_alloc *out, struct ivtd_hugemem *h);

/*
 * Faults in [at, at + len) the same way, off the loop: a range the store
 * will write next (the record slab's front, crdt_store_slab_ahead). Call
 * as often as convenient: one job runs at a time, and what is done is not
 * asked again. The range must lie in one mapping that starts and ends on
 * a page boundary.
 */
void ivtd_hugemem_ahead(struct ivtd_hugemem *h, void *at, size_t len);

/* No new populating jobs from now on (shutting down: the loop should run
 * dry, not fill the reservoir). */
void ivtd_hugemem_stop(struct ivtd_hugemem *h);

/* Unmaps what the reservoir holds. Call once the loop has run dry (no
 * populating job is then in flight). */
void ivtd_hugemem_delete(struct ivtd_hugemem *h);

#endif
