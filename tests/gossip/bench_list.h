/* Benchmarks of gossip/: B(name) rows (see tests/bench/list.h). */
B(gossip_envelope_1200)
B(gossip_envelope_200)
