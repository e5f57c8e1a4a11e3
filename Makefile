# ivt: one non-recursive Makefile. Each module adds itself in <module>/module.mk.
#
#   make              build everything into bin/ (installs build deps if missing)
#   make test         every test CI runs: unit, ASan+UBSan, valgrind, layering, format, fuzz
#                     smoke, cluster
#   make asan         the unit suite under ASan + UBSan (clang)
#   make valgrind     the unit suite under valgrind (make test skips its slowest there)
#   make fuzz         libFuzzer targets, FUZZ_SECONDS each (default 10)
#   make bench        benchmarks, printed as "BENCH name value unit"
#   make release      the shipped build, into build/release/bin: -O3, link-time and
#                     profile-guided optimization (trained by sim/train.sh)
#   make demo         a local three-node cluster with traffic (the README's first command)
#   make format       clang-format in place; make format-check checks only
#   make deps         install build and test dependencies with apt-get
#
# -Werror is on when CI is set in the environment.

BUILD ?= build
BIN ?= bin
FUZZ_SECONDS ?= 10

PKGS := libuv msgpack libsodium libconfig cmocka jansson libpcre2-8 libhs
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
ifneq ($(CI),)
WARN += -Werror
endif
OPT ?= -O2 -g
SANFLAGS ?=
ALL_CFLAGS := -std=c11 $(OPT) $(WARN) -D_DEFAULT_SOURCE -I. $(PKG_CFLAGS) -MMD -MP $(SANFLAGS) $(CFLAGS)
ALL_LDFLAGS := $(SANFLAGS) $(LDFLAGS)
LDLIBS := $(PKG_LIBS) -lm -lpthread

MODULES := base crdt gossip node sim cli
LIBS_ALL :=
PROGS :=

# $(call module_lib,NAME): NAME_SRCS -> $(BUILD)/libNAME.a
define module_lib
ifneq ($$(strip $$($(1)_SRCS)),)
$(1)_OBJS := $$(patsubst %.c,$$(BUILD)/%.o,$$($(1)_SRCS))
$$($(1)_LIB): $$($(1)_OBJS)
	@mkdir -p $$(@D)
	@rm -f $$@
	$$(AR) rcs $$@ $$^
LIBS_ALL += $$($(1)_LIB)
endif
endef

# $(call program,NAME,SRCS): a binary in $(BIN) linked with every module library
define program
$(1)_OBJS := $$(patsubst %.c,$$(BUILD)/%.o,$(2))
$$(BIN)/$(1): $$($(1)_OBJS) $$(LIBS_ALL)
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$($(1)_OBJS) -Wl,--start-group $$(LIBS_ALL) -Wl,--end-group $$(LDLIBS)
PROGS += $$(BIN)/$(1)
endef

include $(wildcard $(addsuffix /module.mk,$(MODULES)))

TEST_SRCS := tests/runner.c $(filter-out tests/fuzz/% tests/bench/% $(wildcard tests/*/bench_*.c),$(wildcard tests/*/*.c))
BENCH_SRCS := tests/bench/bench.c $(wildcard tests/*/bench_*.c)
$(eval $(call program,ivt-test,$(TEST_SRCS)))
$(eval $(call program,ivt-bench,$(BENCH_SRCS)))
# A module's program is declared while later modules' libraries are not yet
# known, so the link prerequisites are completed here, once all are.
$(PROGS): $(LIBS_ALL)

.DEFAULT_GOAL := all
.PHONY: all deps test unit asan valgrind valgrind-test fuzz fuzz-build fuzz-run bench demo format format-check \
        layering clean cluster-tests cluster-asan release release-check

# Objects wait for deps, so that `make -j` on a fresh machine does not
# compile against headers apt-get is still installing.
ifeq ($(NODEPS),)
all: deps
DEPS_FIRST := deps
endif
all: $(PROGS)

deps:
	@sh .ci/deps

$(BUILD)/%.o: %.c | $(DEPS_FIRST)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

unit: all
	IVT_ROOT=$(CURDIR) $(BIN)/ivt-test

layering:
	@sh .ci/layering

format:
	@clang-format -i $$(git ls-files --cached --others --exclude-standard '*.c' '*.h')

format-check:
	@clang-format --dry-run -Werror $$(git ls-files --cached --others --exclude-standard '*.c' '*.h') && echo "format: ok"

asan:
	$(MAKE) NODEPS=1 CC=clang BUILD=build/asan BIN=build/asan/bin \
	    SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    OPT="-O1 -g" build/asan/bin/ivt-test
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    IVT_ROOT=$(CURDIR) build/asan/bin/ivt-test

VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	    --child-silent-after-fork=yes

valgrind: all
	IVT_ROOT=$(CURDIR) $(VALGRIND) $(BIN)/ivt-test $(VALGRIND_TESTS)

# What make test runs under valgrind: the unit suite but its slowest tests
# there (about half of the suite's time, most of it third-party code or
# paths the rest already take): the simulated hour of 10 % loss, and the
# tests that compile the crawler pattern set with Hyperscan and PCRE2. valgrind is what
# sees a read of uninitialised memory, which ASan does not.
VALGRIND_SKIP := -e '^gossip_cluster_loss_10pct_no_false_dead$$' -e '^node_rules_crawler_'
valgrind-test: all
	IVT_ROOT=$(CURDIR) $(VALGRIND) $(BIN)/ivt-test $$($(BIN)/ivt-test --list | grep -v $(VALGRIND_SKIP))

FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := build/fuzz/bin

# README.md lists every target by the input it reads: a new one unlisted
# fails here rather than drift out of the documentation.
fuzz:
	@for t in $(FUZZ_TARGETS); do grep -q "\`$$t\`" README.md || \
	    { echo "fuzz: README.md does not list $$t"; exit 1; }; done
	$(MAKE) NODEPS=1 CC=clang BUILD=build/fuzz BIN=$(FUZZ_BIN) \
	    SANFLAGS="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all" \
	    OPT="-O1 -g" fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	    mkdir -p build/fuzz/corpus/$$t tests/fuzz/corpus/$$t; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	    $(FUZZ_BIN)/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	        -artifact_prefix=build/fuzz/$$t- \
	        build/fuzz/corpus/$$t tests/fuzz/corpus/$$t 2>build/fuzz/$$t.log \
	        || { tail -40 build/fuzz/$$t.log; exit 1; }; \
	    grep -E '^#[0-9]+.*DONE' build/fuzz/$$t.log | tail -1; \
	done

fuzz-build: $(addprefix $(FUZZ_BIN)/,$(FUZZ_TARGETS))

$(FUZZ_BIN)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $< -Wl,--start-group $(LIBS_ALL) -Wl,--end-group $(LDLIBS)

demo: all
	bash node/demo.sh

bench: all
	IVT_ROOT=$(CURDIR) $(BIN)/ivt-bench $(BENCHES)

CLUSTER_TESTS := $(sort $(wildcard tests/cluster/test_*.sh))
cluster-tests: all
	@set -e; for t in $(CLUSTER_TESTS); do echo "cluster: $$t"; bash $$t; done

# The daemon's cluster scripts again with ivtd built under ASan, UBSan and
# LeakSanitizer: real sockets, hostile API input, kill -9 and restarts on
# the instrumented binary. A sanitizer report fails the run even where the
# script itself would pass (a daemon killed -9 exits without a status).
SAN_LOGS := build/asan/cluster-logs
DAEMON_CLUSTER_TESTS := $(filter-out tests/cluster/test_sim_%,$(CLUSTER_TESTS))
cluster-asan: all
	$(MAKE) NODEPS=1 CC=clang BUILD=build/asan BIN=build/asan/bin \
	    SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    OPT="-O1 -g" build/asan/bin/ivtd
	@rm -rf $(SAN_LOGS); mkdir -p $(SAN_LOGS); set -e; for t in $(DAEMON_CLUSTER_TESTS); do \
	    echo "cluster (asan ivtd): $$t"; \
	    IVTD=$(CURDIR)/build/asan/bin/ivtd \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(CURDIR)/$(SAN_LOGS)/asan \
	    UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/$(SAN_LOGS)/ubsan bash $$t || \
	    { cat $(SAN_LOGS)/* 2>/dev/null; exit 1; }; done
	@if [ -n "$$(ls $(SAN_LOGS))" ]; then cat $(SAN_LOGS)/*; \
	    echo "cluster-asan: sanitizer reports above"; exit 1; fi

# The release build: what an operator ships and what docs/benchmarks.md's
# simulator figures are measured on. GCC at -O3 with link-time optimization
# (gcc-ar keeps the libraries' LTO objects), then profile-guided: an
# instrumented ivtsim runs sim/train.sh, which writes a .gcda profile beside
# each object, and the objects are compiled again with it. The node core,
# gossip and crdt code ivtd runs is the simulator's, so the daemon gets the
# same profile; its own shell (libuv, RPC) has none and is compiled as
# without (-fprofile-partial-training). Against the default -O2 build: 6.5 %
# less CPU at 1,000 nodes side by side, 8-14 % at 10,000 (docs/benchmarks.md,
# "Session 19").
REL := build/release
REL_PROGS := ivtd ivtctl ivtsim ivt-bench
REL_OPT := -O3 -g -flto=auto
REL_MAKE = $(MAKE) NODEPS=1 CC=gcc AR=gcc-ar BUILD=$(REL) BIN=$(REL)/bin
release: | $(DEPS_FIRST)
	rm -rf $(REL)
	+$(REL_MAKE) OPT="$(REL_OPT) -fprofile-generate -fprofile-update=single" \
	    LDFLAGS="$(REL_OPT) -fprofile-generate" $(REL)/bin/ivtsim
	IVT_ROOT=$(CURDIR) bash sim/train.sh $(REL)/bin/ivtsim
	find $(REL) -name '*.o' -delete
	rm -rf $(REL)/bin $(REL)/*.a
	+$(REL_MAKE) OPT="$(REL_OPT) -fprofile-use -fprofile-partial-training -Wno-missing-profile" \
	    LDFLAGS="$(REL_OPT) -fprofile-use" $(addprefix $(REL)/bin/,$(REL_PROGS))

# The release ivtsim runs the same events as the default build's, to the
# byte: an optimisation that changed a trace would be undefined behaviour
# (or floating-point contraction) showing through. The release ivtd runs a
# cluster script: gossip, evidence, snapshots, kill -9 and restarts.
release-check: all release
	bash tests/release_check.sh $(REL)/bin/ivtsim
	IVTD=$(CURDIR)/$(REL)/bin/ivtd bash tests/cluster/test_evidence.sh

test: all layering format-check unit asan valgrind-test cluster-tests cluster-asan release-check
	$(MAKE) NODEPS=1 fuzz FUZZ_SECONDS=$(or $(TEST_FUZZ_SECONDS),5)
	@echo "make test: all passed"

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
.SECONDARY:
