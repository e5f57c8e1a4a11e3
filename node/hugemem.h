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

#include "crdt/store.h"

/* The allocator the daemon's store uses (ctx NULL: it keeps no state). */
void ivtd_hugemem_alloc(struct crdt_alloc *out);

#endif
