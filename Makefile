# chorus — one Makefile for the library, the commands, the tests and the benchmarks.
#
#   make [all]          library + commands in $(BUILD)/bin
#   make test           install missing Debian packages (deps), build, run the test suite
#   make asan           the same suite under AddressSanitizer + UBSan (in build-asan/)
#   make bench          benchmarks, side by side with their peers (bench/README.md)
#   make demo           synthesise the default data and run the main jobs on it
#   make install PREFIX=/usr/local
#   make clean
# Knobs: CUDA=0 (CPU-only even with nvcc), MPI=0 (one-process stub), CUDA_ARCH="80 90",
#        BUILD=dir, NATIVE=0 (portable -O2 without -march=native).
#
# Sources are discovered, not listed: every <dir>/*.c of the library folders goes into
# libchorus.a, except command mains, which are the files whose name has a dash
# (infer/feat-extract.c -> $(BUILD)/bin/feat-extract). Files named *_mpi.c build only with MPI,
# *_nompi.c only without; *.cu and *_cuda.c only with CUDA, *_nocuda.c only without.

CC        ?= gcc
BUILD     ?= build
CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(CUDA_HOME)/bin/nvcc
CUDA_ARCH ?= 80 90
PREFIX    ?= /usr/local
NATIVE    ?= 1
SAN       ?= 0
PYTHON    ?= /usr/bin/python3

ifeq ($(origin CC),default)
CC := gcc
endif

# ---- dependency probe (cached in $(BUILD)/config.mk; `make deps` or `make clean` re-probes)
CONFIG := $(BUILD)/config.mk
ifeq ($(filter clean deps,$(MAKECMDGOALS)),)
-include $(CONFIG)
endif
$(CONFIG): scripts/probe.sh
	@mkdir -p $(BUILD)
	@CC="$(CC)" NVCC="$(NVCC)" CUDA_HOME="$(CUDA_HOME)" sh scripts/probe.sh > $@.tmp && mv $@.tmp $@

USE_MPI  := $(if $(filter 0,$(MPI)),0,$(HAVE_MPI))
USE_CUDA := $(if $(filter 0,$(CUDA)),0,$(HAVE_CUDA))

# ---- flags
OPT_FLAGS := -O2
ifeq ($(NATIVE),1)
OPT_FLAGS += -march=native
endif
ifeq ($(SAN),1)
OPT_FLAGS := -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
endif
CFLAGS  ?=
# -Wno-psabi: GCC notes that passing 32/64-byte vector-extension types by value has another ABI
# without AVX (NATIVE=0, make asan); every such function here is static, so no ABI is crossed.
CFLAGS  += -std=c11 -D_GNU_SOURCE -g $(OPT_FLAGS) -fopenmp -Wall -Wextra -Werror -Wno-format-truncation -Wno-psabi -MMD -MP -I.
CFLAGS  += -DCHORUS_HAVE_MPI=$(USE_MPI) -DCHORUS_HAVE_CUDA=$(USE_CUDA)
LDLIBS  := -lsndfile -lfftw3f -lsoxr -lopenblas -lm -lpthread
ifeq ($(HAVE_ESPEAK),1)
CFLAGS  += -DCHORUS_HAVE_ESPEAK=1
LDLIBS  += -lespeak-ng
else
CFLAGS  += -DCHORUS_HAVE_ESPEAK=0
endif
LDFLAGS ?=
LDFLAGS += -fopenmp $(if $(filter 1,$(SAN)),-fsanitize=address$(comma)undefined)
comma := ,
ifeq ($(USE_MPI),1)
CFLAGS  += $(shell mpicc --showme:compile 2>/dev/null)
LDLIBS  += $(shell mpicc --showme:link 2>/dev/null)
endif
NVCCFLAGS := -O2 -std=c++17 -I. --compiler-options -Wall,-Wextra $(foreach a,$(CUDA_ARCH),-gencode arch=compute_$(a),code=sm_$(a))
ifeq ($(USE_CUDA),1)
CFLAGS  += -I$(CUDA_HOME)/include
LDLIBS  += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lcublas -lcudnn -lnccl -lstdc++
endif

# ---- sources
LIB_DIRS := common frontend models data scoring train infer
ALL_C    := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
ALL_C    := $(filter-out $(if $(filter 1,$(USE_MPI)),%_nompi.c,%_mpi.c),$(ALL_C))
ALL_C    := $(filter-out $(if $(filter 1,$(USE_CUDA)),%_nocuda.c,%_cuda.c),$(ALL_C))
CMD_C    := $(foreach f,$(ALL_C),$(if $(findstring -,$(notdir $(f))),$(f)))
LIB_C    := $(filter-out $(CMD_C),$(ALL_C))
LIB_CU   := $(if $(filter 1,$(USE_CUDA)),$(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.cu)))
LIB_OBJ  := $(LIB_C:%.c=$(BUILD)/obj/%.o) $(LIB_CU:%.cu=$(BUILD)/obj/%.cu.o)
LIB      := $(BUILD)/libchorus.a
CMDS     := $(foreach f,$(CMD_C),$(BUILD)/bin/$(basename $(notdir $(f))))
TEST_C   := $(wildcard tests/test_*.c)
TESTS    := $(TEST_C:tests/%.c=$(BUILD)/tests/%)
BENCH_C  := $(wildcard bench/*/bench_*.c bench/bench_*.c)
BENCHES  := $(foreach f,$(BENCH_C),$(BUILD)/bench/$(basename $(notdir $(f))))

.PHONY: all deps test check asan bench demo install clean config
.DEFAULT_GOAL := all
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc)
endif

all: $(LIB) $(CMDS)

config: $(CONFIG)
	@cat $(CONFIG) | sed 's/^/  /'
	@echo "  build: MPI=$(USE_MPI) CUDA=$(USE_CUDA) CUDA_ARCH=$(CUDA_ARCH) BUILD=$(BUILD)"

$(BUILD)/obj/%.o: %.c $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.cu.o: %.cu $(CONFIG)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/obj/infer/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@
$(BUILD)/bin/%: $(BUILD)/obj/train/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@
$(BUILD)/bin/%: $(BUILD)/obj/scoring/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@
$(BUILD)/bin/%: $(BUILD)/obj/data/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(LIB) $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -lcmocka -o $@

$(BUILD)/bench/%: $(BENCH_C) $(LIB) $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(filter %/$*.c,$(BENCH_C)) $(LIB) $(LDLIBS) -o $@

deps:
	@sh scripts/deps.sh
	@rm -f $(CONFIG)

# The test command of the README: installs what is missing, then builds and runs everything.
test: deps
	@$(MAKE) --no-print-directory check

check: all $(TESTS)
	@sh tests/run.sh $(BUILD)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 NATIVE=0 check

bench: all $(BENCHES)
	@sh bench/run.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib
	install -m 755 $(CMDS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/

clean:
	rm -rf build build-asan build-ci-* $(filter-out build build-asan,$(BUILD))

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
