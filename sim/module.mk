# sim/: ivtsim, the deterministic fleet simulator (never libuv).
sim_SRCS := $(filter-out sim/main.c,$(wildcard sim/*.c))
sim_LIB := $(BUILD)/libsim.a
$(eval $(call module_lib,sim))
ifneq ($(wildcard sim/main.c),)
$(eval $(call program,ivtsim,sim/main.c))
endif

# Every scenario with its checks, and the determinism check on two.
.PHONY: sim-test
sim-test: all
	bash tests/cluster/sim_scenarios.sh
