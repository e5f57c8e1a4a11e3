/* Benchmarks of sim/: B(name) rows (see tests/bench/list.h). */
B(sim_fleet_100_membership)
B(sim_fleet_1000_membership)
BX(sim_fleet_10000_membership)     /* by name only: about 5.5 minutes, 14.4 GB */
BX(sim_fleet_10000_membership_aes) /* the same with gossip.cipher = aes-256-gcm */
B(sim_fleet_100_node_core)
BX(sim_fleet_1000_node_core)     /* by name only: about 45 s, 2.1 GB */
BX(sim_fleet_1000_node_core_aes) /* the same with gossip.cipher = aes-256-gcm */
