/* Benchmarks of gossip/: B(name) rows (see tests/bench/list.h). */
