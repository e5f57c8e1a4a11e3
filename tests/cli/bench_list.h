/* Benchmarks of cli/: B(name) rows (see tests/bench/list.h). */
