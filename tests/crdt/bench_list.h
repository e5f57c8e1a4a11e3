/* Benchmarks of crdt/: B(name) rows (see tests/bench/list.h). */
