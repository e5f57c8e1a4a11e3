/* Benchmarks of sim/: B(name) rows (see tests/bench/list.h). */
B(sim_fleet_100_membership)
B(sim_fleet_1000_membership)
B(sim_fleet_10000_membership)
B(sim_fleet_100_node_core)
