# node/: the node core (sans-IO files say so in their first comment) and the ivtd shell.
node_SRCS := $(filter-out node/main.c,$(wildcard node/*.c))
node_LIB := $(BUILD)/libnode.a
$(eval $(call module_lib,node))
ifneq ($(wildcard node/main.c),)
$(eval $(call program,ivtd,node/main.c))
endif
# The API load generator (docs/benchmarks.md): a client of the API, not a test.
$(eval $(call program,ivt-loadgen,tests/loadgen.c))
# The do-nothing API server under the daemon figures (tests/floor.c).
$(eval $(call program,ivt-floor,tests/floor.c))
