# node/: the node core (sans-IO files say so in their first comment) and the ivtd shell.
# The shell's files that host the core (api.c, daemon.c, main.c) build once the
# core (node/core.c) and the gossip library (gossip/gossip.h) are in the tree.
IVTD_HOSTS_CORE := $(filter 2,$(words $(wildcard node/core.c gossip/gossip.h)))
node_SRCS := $(filter-out node/main.c $(if $(IVTD_HOSTS_CORE),,node/api.c node/daemon.c),$(wildcard node/*.c))
node_LIB := $(BUILD)/libnode.a
$(eval $(call module_lib,node))
ifneq ($(and $(wildcard node/main.c),$(IVTD_HOSTS_CORE)),)
$(eval $(call program,ivtd,node/main.c))
endif
