# base/: shared primitives (errors, time type, seeded RNG, bounded msgpack).
base_SRCS := $(wildcard base/*.c)
base_LIB := $(BUILD)/libbase.a
$(eval $(call module_lib,base))
