/* Benchmarks of node/: B(name) rows (see tests/bench/list.h). */
B(node_core_request_path)
