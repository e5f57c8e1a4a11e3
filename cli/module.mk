# cli/: ivtctl.
cli_SRCS := $(filter-out cli/main.c,$(wildcard cli/*.c))
cli_LIB := $(BUILD)/libcli.a
$(eval $(call module_lib,cli))
ifneq ($(wildcard cli/main.c),)
$(eval $(call program,ivtctl,cli/main.c))
endif
