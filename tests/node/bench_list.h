/* Benchmarks of node/: B(name) rows (see tests/bench/list.h). */
B(node_core_request_path)
B(node_rules_crawler)
B(node_rules_hosting)
B(node_detect)
B(node_api_handlers)
B(node_hugemem_first_touch)
