# crdt/: sans-IO library (see .ci/layering).
crdt_SRCS := $(wildcard crdt/*.c)
crdt_LIB := $(BUILD)/libcrdt.a
$(eval $(call module_lib,crdt))
