# gossip/: sans-IO library (see .ci/layering).
gossip_SRCS := $(wildcard gossip/*.c)
gossip_LIB := $(BUILD)/libgossip.a
$(eval $(call module_lib,gossip))
