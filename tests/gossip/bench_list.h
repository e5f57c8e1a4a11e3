/* Benchmarks of gossip/: B(name) rows (see tests/bench/list.h). */
B(gossip_envelope_1200)
B(gossip_envelope_200)
B(gossip_crash_detection_100)
B(gossip_crash_detection_1000)
B(gossip_dissemination_1000)
B(gossip_idle_bytes)
B(gossip_member_bytes)
