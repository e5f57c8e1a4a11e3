/* Benchmarks of node/: B(name) rows (see tests/bench/list.h). */
