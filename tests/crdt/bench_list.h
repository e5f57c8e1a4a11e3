/* Benchmarks of crdt/: B(name) rows (see tests/bench/list.h). */
B(crdt_hll_add)
B(crdt_store_event)
B(crdt_store_merge_delta)
B(crdt_store_walks_1m)
B(crdt_store_growth_1m)
B(crdt_store_flush_full_journal)
B(crdt_store_tick_1m)
B(crdt_machine_random_line)
