/* Benchmarks of sim/: B(name) rows (see tests/bench/list.h). */
