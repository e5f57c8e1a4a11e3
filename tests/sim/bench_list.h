/* Benchmarks of sim/: B(name) rows (see tests/bench/list.h). */
B(sim_fleet_100_membership)
B(sim_fleet_1000_membership)
BX(sim_fleet_10000_membership) /* by name only: about 7 minutes, 14.5 GB */
B(sim_fleet_100_node_core)
BX(sim_fleet_1000_node_core) /* by name only: about 45 s, 2.1 GB */
