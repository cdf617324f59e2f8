# SPDX-License-Identifier: MIT
# cairn: GNU make at the top. `make` builds the libraries and the cairn
# command (bin/cairn), `make test` runs every test, `make bench` runs the
# benchmarks, `make install` installs (DESTDIR, PREFIX, LIBDIR, INCLUDEDIR,
# BINDIR, MANDIR, BASHCOMPDIR, CMDDIR; see Installing in README.md), `make
# uninstall` removes what it installed. The user's
# CPPFLAGS and CFLAGS reach the compile lines of the installed libraries
# (after cairn's own flags, so they may override OPT), LDFLAGS their link lines.

CC      ?= cc
CXX     ?= c++
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/cairn
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# The cairn command's modules and options table: beside the library they
# describe (LIBDIR is per architecture where there are several).
CMDDIR  ?= $(LIBDIR)/cairn
PYTHON  ?= /usr/bin/python3
VERSION := 0.1.0
SOMAJOR := 0

OPT     ?= -O2
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-missing-field-initializers
# Flags that matter for an allocator: no builtin assumptions about malloc,
# initial-exec TLS (the general-dynamic model calls malloc on first access),
# hidden symbols with the public API exported explicitly.
ALLOC_CFLAGS := -std=gnu11 $(OPT) -g $(WARN) -fPIC -fvisibility=hidden \
	-ftls-model=initial-exec -fno-builtin-malloc -fno-builtin-free \
	-fno-builtin-calloc -fno-builtin-realloc -fno-strict-aliasing \
	-fno-tree-slp-vectorize -fexceptions -Iinclude -Isrc -Ibuild/gen -MMD -MP
LIB_LDFLAGS  := -shared -Wl,-soname,libcairn.so.$(SOMAJOR) \
	-Wl,--version-script=src/api/exports.map -Wl,-z,now

SRC := $(wildcard src/os/*.c src/core/*.c src/prof/*.c src/control/*.c src/api/*.c)
OBJ := $(SRC:%.c=build/obj/%.o)
DLOPEN_OBJ := $(SRC:%.c=build/obj-dlopen/%.o)
GEN := build/gen/sizeclass_table.h

.PHONY: all test bench install uninstall man clean format format-check dlopen prefixed fuzz fuzz-lib \
	fault soak \
	readme-options readme-stats cmd
all: lib/libcairn.so lib/libcairn.a lib/libcairn-dlopen.so prefixed cmd

$(GEN): tools/gen_sizeclass.c src/core/sizeclass_params.h
	@mkdir -p $(dir $@) build/tools
	$(CC) -O1 -Isrc -o build/tools/gen_sizeclass $<
	build/tools/gen_sizeclass > $@.tmp && mv $@.tmp $@

# Header dependencies: every compile writes its object's .d beside it
# (-MMD -MP in ALLOC_CFLAGS), read back here, so a changed header rebuilds
# the objects that include it and no others. An object without its .d (never
# built, or built before the .d files) is rebuilt through the empty rule.
# The generated header is an order-only prerequisite: made before the first
# compile, and a change of it rebuilds its includers through their .d.
# A new folder of objects compiled with ALLOC_CFLAGS goes into DEP_DIRS.
DEP_DIRS := obj obj-dlopen obj-prefixed fuzz/obj fault/obj asan/obj tsan/obj ubsan/obj ubsan/obj-dlopen \
	ubsan/fault/obj
DEPS := $(foreach d,$(DEP_DIRS),$(SRC:%.c=build/$(d)/%.d))
$(DEPS): ;
-include $(wildcard $(DEPS))

build/obj/%.o: %.c build/obj/%.d | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALLOC_CFLAGS) $(CFLAGS) -c -o $@ $<

# The variant that is safe to dlopen: no static TLS at all, the thread heap
# is found through a pthread key (a little slower on the fast path).
build/obj-dlopen/%.o: %.c build/obj-dlopen/%.d | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALLOC_CFLAGS) $(CFLAGS) -DCAIRN_TLS_PTHREAD=1 -c -o $@ $<

lib/libcairn.so.$(SOMAJOR): $(OBJ) src/api/exports.map
	@mkdir -p lib
	$(CC) $(CFLAGS) $(LIB_LDFLAGS) $(LDFLAGS) -o $@ $(OBJ) -lpthread

lib/libcairn.so: lib/libcairn.so.$(SOMAJOR)
	ln -sf libcairn.so.$(SOMAJOR) $@

lib/libcairn-dlopen.so: $(DLOPEN_OBJ) src/api/exports.map
	@mkdir -p lib
	$(CC) $(CFLAGS) $(LIB_LDFLAGS:libcairn.so.$(SOMAJOR)=libcairn-dlopen.so) $(LDFLAGS) -o $@ \
		$(DLOPEN_OBJ) -lpthread

# The installed static archive holds one object: cairn's objects linked
# together (ld -r), their hidden symbols then made local, so that only the
# public API of exports.map stays global and no internal name (heap_init,
# os_init ...) can clash with a program's own. The white-box unit tests need
# the internals: they link build/libcairn-internal.a, the plain objects.
build/cairn-static.o: $(OBJ)
	$(CC) -r -nostdlib -o $@.tmp $(OBJ)
	objcopy --localize-hidden $@.tmp $@ && rm -f $@.tmp

lib/libcairn.a: build/cairn-static.o
	@mkdir -p lib
	rm -f $@ && ar rcs $@ build/cairn-static.o

build/libcairn-internal.a: $(OBJ)
	rm -f $@ && ar rcs $@ $(OBJ)

dlopen: lib/libcairn-dlopen.so

# The prefixed library (README, "Using cairn beside the system allocator"):
# the api layer built with CAIRN_PREFIXED, which defines no malloc, free,
# operator new or other name of the system's allocator (the C++ operators and
# glibc's statistics calls are left out altogether), only cairn_ names, and
# exports exactly those of exports-prefixed.map. Its archive is made as
# libcairn.a is.
PREFIXED_SRC := $(filter-out src/api/cxx.c src/api/mallinfo.c,$(SRC))
PREFIXED_OBJ := $(PREFIXED_SRC:%.c=build/obj-prefixed/%.o)
PREFIXED_LDFLAGS := -shared -Wl,-soname,libcairn-prefixed.so.$(SOMAJOR) \
	-Wl,--version-script=src/api/exports-prefixed.map -Wl,-z,now

build/obj-prefixed/%.o: %.c build/obj-prefixed/%.d | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALLOC_CFLAGS) $(CFLAGS) -DCAIRN_PREFIXED=1 -c -o $@ $<

lib/libcairn-prefixed.so.$(SOMAJOR): $(PREFIXED_OBJ) src/api/exports-prefixed.map
	@mkdir -p lib
	$(CC) $(CFLAGS) $(PREFIXED_LDFLAGS) $(LDFLAGS) -o $@ $(PREFIXED_OBJ) -lpthread

lib/libcairn-prefixed.so: lib/libcairn-prefixed.so.$(SOMAJOR)
	ln -sf libcairn-prefixed.so.$(SOMAJOR) $@

build/cairn-prefixed-static.o: $(PREFIXED_OBJ)
	$(CC) -r -nostdlib -o $@.tmp $(PREFIXED_OBJ)
	objcopy --localize-hidden $@.tmp $@ && rm -f $@.tmp

lib/libcairn-prefixed.a: build/cairn-prefixed-static.o
	@mkdir -p lib
	rm -f $@ && ar rcs $@ build/cairn-prefixed-static.o

prefixed: lib/libcairn-prefixed.so lib/libcairn-prefixed.a

# The cairn command (tools/cairn/, README "The cairn command"): bin/cairn
# runs tools/cairn/cairn.py from build/cairn/, where every tools/cairn/*.py
# is copied beside options.tsv, the options table generated from
# src/control/options.def, and preloads lib/libcairn.so.0. make install
# writes another bin/cairn with the installed paths (below).
CMD_PY := $(wildcard tools/cairn/*.py)
CMD_FILES := $(CMD_PY:tools/%=build/%) build/cairn/options.tsv build/cairn/completion.bash
# cmd_launcher MODULEDIR LIBRARY: tools/cairn/cairn.in with them filled in.
cmd_launcher = sed -e 's|@PYTHON@|$(PYTHON)|' -e 's|@MODULEDIR@|$(1)|' -e 's|@LIBRARY@|$(2)|' \
	-e 's|@VERSION@|$(VERSION)|' tools/cairn/cairn.in

build/tools/gen_options_tsv: tools/gen_options_tsv.c tools/options_walk.h src/control/options.def src/control/conf.h \
		src/core/sizeclass_params.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O1 -Wall -Wextra -Isrc -o $@ $<

build/cairn/options.tsv: build/tools/gen_options_tsv
	@mkdir -p $(dir $@)
	build/tools/gen_options_tsv > $@.tmp && mv $@.tmp $@

build/cairn/%: tools/cairn/%
	@mkdir -p $(dir $@)
	cp $< $@

bin/cairn: tools/cairn/cairn.in $(CMD_FILES)
	@mkdir -p $(dir $@)
	$(call cmd_launcher,$(CURDIR)/build/cairn,$(CURDIR)/lib/libcairn.so.$(SOMAJOR)) > $@.tmp
	chmod 755 $@.tmp && mv $@.tmp $@

cmd: bin/cairn

# README.md's options table, rewritten from src/control/options.def
# (tests/tree/options.sh checks that it is).
readme-options:
	tools/readme-options.sh

# README.md's statistics table, rewritten from src/core/stats.def
# (tests/tree/stats.sh checks that it is).
readme-stats:
	tools/readme-stats.sh

# README.md's jemalloc table, rewritten from tools/jemalloc-names.tsv
# (tests/link/jemalloc_names.sh checks it and cairn's answers).
readme-jemalloc:
	tools/readme-jemalloc.sh

# ---------------------------------------------------------------- tests
# Every file under tests/ is a test, found by folder:
#   unit/*.c         white-box tests of the internals, linked with
#                    build/libcairn-internal.a (every symbol global)
#   api/ death/ stress/ *.c *.cc   linked with -lcairn (the shared library)
#   programs/*.sh    real programs run with cairn preloaded
#   link/*.sh        the installed libraries' symbols, static linking
#   tree/*.sh        checks of the source tree itself
#   port/*.sh        the musl and AArch64 builds (port.mk builds and runs
#                    the other tests on them)
TEST_CFLAGS  := -std=gnu11 -O1 -g -Wall -Wextra -Wno-unused-parameter \
	-fno-builtin -Iinclude -Itests -pthread
TEST_CXXFLAGS := -std=gnu++17 -O1 -g -Wall -Wextra -Wno-unused-parameter \
	-fno-builtin -Iinclude -Itests -pthread
TEST_LINK := -Llib -lcairn -Wl,-rpath,$(CURDIR)/lib -ldl

UNIT_T   := $(patsubst tests/%.c,build/tests/%,$(wildcard tests/unit/*.c))
C_T      := $(patsubst tests/%.c,build/tests/%,$(wildcard tests/api/*.c tests/death/*.c tests/stress/*.c))
CXX_T    := $(patsubst tests/%.cc,build/tests/%,$(wildcard tests/api/*.cc tests/death/*.cc tests/stress/*.cc))
HELPERS  := $(patsubst tests/helpers/%.c,build/tests/helpers/%.so,$(wildcard tests/helpers/*.c))
SCRIPT_T := $(wildcard tests/programs/*.sh tests/tree/*.sh tests/link/*.sh tests/port/*.sh)
FUZZ_SCRIPTS := $(wildcard tests/fuzz/*.sh)
TEST_H   := $(wildcard tests/*.h)

build/tests/unit/%: tests/unit/%.c build/libcairn-internal.a $(TEST_H)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -Isrc -Ibuild/gen -o $@ $< build/libcairn-internal.a -ldl

build/tests/%: tests/%.c lib/libcairn.so $(wildcard tests/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(TEST_LINK)

build/tests/%: tests/%.cc lib/libcairn.so $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CXX) $(TEST_CXXFLAGS) -o $@ $< $(TEST_LINK)

build/tests/helpers/%.so: tests/helpers/%.c
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -shared -fPIC -o $@ $<

# ---------------------------------------------------------------- fuzzers
# libFuzzer targets, built with clang where it has the libFuzzer runtime
# (tests/fuzz/*.sh run them in `make test`, and say so where it has not):
#   build/fuzz/conf  the MALLOC_CONF parser, with ASan and UBSan
#   build/fuzz/ops   operation sequences on cairn, itself built with coverage
FUZZ_CC  ?= clang
FUZZ_T   := build/fuzz/conf build/fuzz/ops
FUZZ_OBJ := $(SRC:%.c=build/fuzz/obj/%.o)
ifneq ($(filter test fuzz-lib build/fuzz/%,$(MAKECMDGOALS)),)
FUZZ_RTDIR := $(shell $(FUZZ_CC) -print-runtime-dir 2>/dev/null)
LIBFUZZER  := $(if $(FUZZ_RTDIR),$(wildcard $(FUZZ_RTDIR)/libclang_rt.fuzzer-x86_64.a \
	$(FUZZ_RTDIR)/libclang_rt.fuzzer.a))
endif

build/fuzz/obj/%.o: %.c build/fuzz/obj/%.d | $(GEN)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out -fno-tree-slp-vectorize,$(ALLOC_CFLAGS)) -Wno-unknown-warning-option \
		-fsanitize=fuzzer-no-link \
		-c -o $@ $<

build/fuzz/ops: tests/fuzz/ops.c tests/fuzz/model.h tests/rng.h $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter -fno-builtin -Iinclude -Itests \
		-fsanitize=fuzzer -pthread -o $@ $< $(FUZZ_OBJ) -ldl

build/fuzz/conf: tests/fuzz/conf.c src/control/conf.c src/control/conf_read.c src/control/conf_jemalloc.c src/core/util.c $(GEN) \
		$(wildcard src/*/*.h src/*/*.def)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=gnu11 -O1 -g $(WARN) -Iinclude -Isrc -Ibuild/gen \
		 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o $@ tests/fuzz/conf.c src/control/conf.c src/control/conf_read.c \
		src/control/conf_jemalloc.c src/core/util.c

FUZZ_SECONDS ?= 60
# The random-operation fuzzer for FUZZ_SECONDS (or FUZZ_OPS operations), round
# the MALLOC_CONF settings with fresh seeds (FUZZ_SEED: the first), stopping at
# the first failure with the command that repeats it.
fuzz: all build/tests/stress/fuzz
	build/tests/stress/fuzz $(if $(FUZZ_OPS),--total $(FUZZ_OPS),--seconds $(FUZZ_SECONDS)) \
		$(if $(FUZZ_SEED),--base $(FUZZ_SEED))

# The libFuzzer targets, FUZZ_SECONDS each, keeping their corpora under
# build/fuzz/corpus; a crash is saved as build/fuzz/crash-*.
fuzz-lib: $(FUZZ_T)
	@for t in $(notdir $(FUZZ_T)); do \
		mkdir -p build/fuzz/corpus/$$t; \
		echo "libFuzzer $$t for $(FUZZ_SECONDS) s"; \
		FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/$$t.sh build/fuzz/corpus/$$t || exit 1; \
	done

SOAK_SECONDS ?= 60
# tests/stress/load.c for SOAK_SECONDS a scenario (make test runs it for 9 s and 6 s): 64
# threads with cross-thread frees, then thread churn, fork under both; RSS must level off.
soak: all build/tests/stress/load
	build/tests/stress/load --seconds $(SOAK_SECONDS)

# make test JOBS=N runs N tests at a time (tests/run.sh -j N; the tests
# tagged "run.sh: alone" after the others, one at a time); the default is one.
RUN_JOBS := $(if $(JOBS),-j $(JOBS))

# make test T='unit/slab api/align': those tests alone, built first, through
# tests/run.sh. A name is a test's path under tests/ without .c or .cc
# (a script's with or without .sh); asan/, tsan/ or ubsan/ before it names
# its sanitizer run (asan/unit/slab, ubsan/stress/fault), musl/, aarch64/,
# aarch64-16k/ … x86_64-64k/ its port build's (musl/api/basic, port.mk). TEST_CASE=NAME
# runs one case of a program (tests/check.h).
t_path = $(or $(wildcard tests/$(1).sh),$(if $(filter asan/% tsan/% ubsan/% musl/% aarch64/% aarch64-16k/% aarch64-64k/% x86_64-16k/% x86_64-64k/%,$(1)),build/$(firstword \
	$(subst /, ,$(1)))/tests/$(patsubst $(firstword $(subst /, ,$(1)))/%,%,$(1))),$(if \
	$(wildcard tests/$(1).c tests/$(1).cc),build/tests/$(1)),$(error make test T=$(1): no \
	tests/$(1).c, .cc or .sh))
T_RUN = $(foreach t,$(patsubst tests/%,%,$(basename $(patsubst build/tests/%,%,$(T)))),\
	$(call t_path,$(t)))
T_NEEDS = all $(HELPERS) $(filter-out %.sh,$(T_RUN)) \
	$(if $(filter %/stress/fault,$(T_RUN)),fault) \
	$(if $(filter build/ubsan/%,$(T_RUN)),$(UBSAN_LIBS)) \
	$(if $(LIBFUZZER),$(patsubst tests/fuzz/%.sh,build/fuzz/%,$(filter tests/fuzz/%,$(T_RUN))))

# The musl and AArch64 builds and their tests (PORT_T).
include port.mk

ifeq ($(strip $(T)),)
# The fuzzers' short runs and the sanitizer runs (below) come last in the
# same list.
test: all fault $(UNIT_T) $(C_T) $(CXX_T) $(HELPERS) $(if $(LIBFUZZER),$(FUZZ_T)) $(PORT_T)
	@$(SAN_ENV) tests/run.sh $(RUN_JOBS) $(UNIT_T) $(C_T) $(CXX_T) $(SCRIPT_T) \
		$(FUZZ_SCRIPTS) $(ASAN_T) $(TSAN_T) $(UBSAN_T) $(PORT_T)
endif

# ---------------------------------------------------------------- fault injection
# build/fault/libcairn.so.0: cairn with -DCAIRN_FAULT_INJECTION, whose
# mapping calls fail on the schedule in CAIRN_FAULT (src/os/os_linux.c);
# tests/stress/fault.c runs itself on it through LD_LIBRARY_PATH.
FAULT_OBJ := $(SRC:%.c=build/fault/obj/%.o)

build/fault/obj/%.o: %.c build/fault/obj/%.d | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALLOC_CFLAGS) -DCAIRN_FAULT_INJECTION=1 -c -o $@ $<

build/fault/exports.map: src/api/exports.map
	@mkdir -p $(dir $@)
	sed 's/^global:/global:\n\tcairn_fault_count;/' $< > $@

build/fault/libcairn.so.$(SOMAJOR): $(FAULT_OBJ) build/fault/exports.map
	$(CC) $(LIB_LDFLAGS:src/api/exports.map=build/fault/exports.map) -o $@ $(FAULT_OBJ) -lpthread

fault: build/fault/libcairn.so.$(SOMAJOR)

# ---------------------------------------------------------------- sanitizers
# The unit tests again, with cairn's objects and the tests built with
# AddressSanitizer and UndefinedBehaviorSanitizer (make test-asan), and with
# ThreadSanitizer (make test-tsan). The sanitizer runtime brings its own
# malloc, so cairn's exported allocation functions are renamed (objcopy) in
# the archive and in the test objects: a unit test's malloc(48) is still
# cairn's, while libc and the sanitizer allocate from the sanitizer's heap.
# The C++ operators (src/api/cxx.c) are left out; no unit test uses them.
# ASan sees cairn's globals, stacks, metadata accesses out of bounds of a
# global or stack object, and its calls into libc; the blocks cairn carves
# from its own mappings are not poisoned, so an overflow from one block into
# the next is not seen there (the death tests and the fuzzer cover that).
# TSan works with cairn's own locks: they are C11 atomics with acquire and
# release order (the futex only sleeps), which TSan follows; every unit test
# runs under it, cairn's purging thread running beside each one.
#
# make test-ubsan builds the whole shared library with UBSan alone (it
# replaces no allocator) into build/ubsan/libcairn.so.0, with the dlopen
# variant beside it, and runs the api, death and stress tests, unchanged,
# on it through LD_LIBRARY_PATH (their RUNPATH names lib/; LD_LIBRARY_PATH
# comes first); stress/fault runs on a UBSan build with fault injection.
SAN_RENAME := malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign \
	valloc pvalloc malloc_usable_size free_sized free_aligned_sized cfree malloc_trim \
	__libc_malloc __libc_free __libc_calloc __libc_realloc __libc_memalign __libc_valloc \
	__libc_pvalloc __posix_memalign
SAN_SRC  := $(filter-out src/api/cxx.c,$(SRC))
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
UBSAN_FLAGS := -fsanitize=undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
ASAN_T := $(patsubst tests/%.c,build/asan/tests/%,$(wildcard tests/unit/*.c))
# Not unit/fork_pagemap under TSan: it forks from a signal handler while
# another thread holds cairn's locks, and the child re-initialises them,
# which TSan cannot follow (it reports the fork as unsafe in a handler and
# the next lock of a re-initialised mutex as a double lock).
TSAN_T := $(patsubst tests/%.c,build/tsan/tests/%,$(filter-out tests/unit/fork_pagemap.c,\
	$(wildcard tests/unit/*.c)))
# Not stress/load on the UBSan library: it measures RSS and fork latency
# under 64 threads, which the instrumentation slows below its floors, and
# the fuzzer's run there covers the same code paths.
UBSAN_T := $(patsubst build/tests/%,build/ubsan/tests/%,$(filter-out build/tests/stress/load,\
	$(C_T) $(CXX_T)))

build/san/rename.syms: Makefile
	@mkdir -p $(dir $@)
	printf '%s\n' $(foreach s,$(SAN_RENAME),"$(s) cairn_san_$(s)") > $@

build/asan/obj/%.o: %.c build/asan/obj/%.d | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALLOC_CFLAGS) $(ASAN_FLAGS) -c -o $@ $<

build/tsan/obj/%.o: %.c build/tsan/obj/%.d | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALLOC_CFLAGS) $(TSAN_FLAGS) -c -o $@ $<

build/ubsan/obj/%.o: %.c build/ubsan/obj/%.d | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALLOC_CFLAGS) $(UBSAN_FLAGS) -c -o $@ $<

build/%san/libcairn.a: build/san/rename.syms
	@mkdir -p $(dir $@)
	rm -f $@.tmp && ar rcs $@.tmp $(filter %.o,$^)
	objcopy --redefine-syms=build/san/rename.syms $@.tmp $@ && rm -f $@.tmp
build/asan/libcairn.a: $(SAN_SRC:%.c=build/asan/obj/%.o)
build/tsan/libcairn.a: $(SAN_SRC:%.c=build/tsan/obj/%.o)

build/asan/tests/unit/%: tests/unit/%.c build/asan/libcairn.a $(TEST_H) build/san/rename.syms
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(ASAN_FLAGS) -Isrc -Ibuild/gen -c -o $@.o $<
	objcopy --redefine-syms=build/san/rename.syms $@.o
	$(CC) $(ASAN_FLAGS) -pthread -o $@ $@.o build/asan/libcairn.a -ldl

build/tsan/tests/unit/%: tests/unit/%.c build/tsan/libcairn.a $(TEST_H) build/san/rename.syms
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(TSAN_FLAGS) -Isrc -Ibuild/gen -c -o $@.o $<
	objcopy --redefine-syms=build/san/rename.syms $@.o
	$(CC) $(TSAN_FLAGS) -pthread -o $@ $@.o build/tsan/libcairn.a -ldl

build/ubsan/libcairn.so.$(SOMAJOR): $(SRC:%.c=build/ubsan/obj/%.o) src/api/exports.map
	$(CC) $(UBSAN_FLAGS) $(LIB_LDFLAGS) -o $@ $(filter %.o,$^) -lpthread

build/ubsan/obj-dlopen/%.o: %.c build/ubsan/obj-dlopen/%.d | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALLOC_CFLAGS) $(UBSAN_FLAGS) -DCAIRN_TLS_PTHREAD=1 -c -o $@ $<

build/ubsan/libcairn-dlopen.so: $(SRC:%.c=build/ubsan/obj-dlopen/%.o) src/api/exports.map
	$(CC) $(UBSAN_FLAGS) $(LIB_LDFLAGS:libcairn.so.$(SOMAJOR)=libcairn-dlopen.so) -o $@ \
		$(filter %.o,$^) -lpthread

# The failure paths, which ordinary runs rarely take, under UBSan.
build/ubsan/fault/obj/%.o: %.c build/ubsan/fault/obj/%.d | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALLOC_CFLAGS) $(UBSAN_FLAGS) -DCAIRN_FAULT_INJECTION=1 -c -o $@ $<

build/ubsan/fault/libcairn.so.$(SOMAJOR): $(SRC:%.c=build/ubsan/fault/obj/%.o) build/fault/exports.map
	$(CC) $(UBSAN_FLAGS) $(LIB_LDFLAGS:src/api/exports.map=build/fault/exports.map) -o $@ \
		$(filter %.o,$^) -lpthread

# The api, death and stress tests run as they are, on the UBSan library.
build/ubsan/tests/%: build/tests/%
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\nexport LD_LIBRARY_PATH=$(CURDIR)/build/ubsan CAIRN_LIB=$(CURDIR)/build/ubsan/libcairn.so.$(SOMAJOR) CAIRN_FAULT_DIR=$(CURDIR)/build/ubsan/fault\nexec $(CURDIR)/$< "$$@"\n' > $@
	chmod +x $@

# A report fails the test: UBSan and ASan stop at the first one (the
# flags above), TSan's is made to.
SAN_ENV := ASAN_OPTIONS=detect_leaks=1 TSAN_OPTIONS=halt_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
UBSAN_LIBS := build/ubsan/libcairn.so.$(SOMAJOR) build/ubsan/libcairn-dlopen.so \
	build/ubsan/fault/libcairn.so.$(SOMAJOR)

.PHONY: test-asan test-tsan test-ubsan
ifeq ($(strip $(T)),)
test: $(ASAN_T) $(TSAN_T) $(UBSAN_LIBS) $(UBSAN_T)
else
# make test T=... (above): here, where every variable it needs is set.
test: $(T_NEEDS)
	@$(SAN_ENV) tests/run.sh $(RUN_JOBS) $(T_RUN)
endif

test-asan: $(ASAN_T)
	@$(SAN_ENV) tests/run.sh $(RUN_JOBS) $(ASAN_T)

test-tsan: $(TSAN_T)
	@$(SAN_ENV) tests/run.sh $(RUN_JOBS) $(TSAN_T)

test-ubsan: fault $(UBSAN_LIBS) $(C_T) $(CXX_T) $(HELPERS) $(UBSAN_T)
	@$(SAN_ENV) tests/run.sh $(RUN_JOBS) $(UBSAN_T)

# ---------------------------------------------------------------- bench
bench: all
	@$(MAKE) --no-print-directory -C bench run ROOT=$(CURDIR) QUICK=$(QUICK)

# ---------------------------------------------------------------- install
# make install [DESTDIR=...] [PREFIX=/usr/local] [LIBDIR=...] [INCLUDEDIR=...]
# [BINDIR=...] [MANDIR=...] [BASHCOMPDIR=...] [CMDDIR=...]: the libraries,
# the headers, cairn.pc, the CMake package (cairnConfig.cmake: cairn::cairn,
# cairn::static), the man pages cairn(3) and cairn(1), the cairn command
# (BINDIR/cairn, its modules in CMDDIR) and its bash completion. The
# command has LIBDIR's libcairn.so.0 and CMDDIR written into it (without
# DESTDIR: the paths the package will have once installed). The
# pkg-config and CMake files are made for the directories given here; the
# CMake files find the others relative to where they are installed, so a
# staged tree (DESTDIR) works as it is. tests/link/install.sh checks all of
# it and make uninstall with the same variables.
INSTALL_FILES := $(LIBDIR)/libcairn.so.$(SOMAJOR) $(LIBDIR)/libcairn.so \
	$(LIBDIR)/libcairn-dlopen.so $(LIBDIR)/libcairn.a $(LIBDIR)/libcairn-prefixed.so.$(SOMAJOR) \
	$(LIBDIR)/libcairn-prefixed.so $(LIBDIR)/libcairn-prefixed.a $(INCLUDEDIR)/cairn.h \
	$(INCLUDEDIR)/cairn/jemalloc.h $(PKGCONFIGDIR)/cairn.pc $(PKGCONFIGDIR)/cairn-prefixed.pc \
	$(CMAKEDIR)/cairnConfig.cmake \
	$(CMAKEDIR)/cairnConfigVersion.cmake $(MANDIR)/man3/cairn.3 $(MANDIR)/man1/cairn.1 \
	$(BINDIR)/cairn $(addprefix $(CMDDIR)/,$(notdir $(CMD_FILES))) $(BASHCOMPDIR)/cairn

# A folder as cairn.pc writes it: ${prefix}/... when it is under PREFIX
# (pkg-config --define-prefix can then move it), else as given.
under_prefix = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

# The man page: man/cairn.3.in with its OPTIONS section generated from
# src/control/options.def (tools/gen_options_man.c).
build/tools/gen_options_man: tools/gen_options_man.c tools/options_walk.h src/control/options.def src/control/conf.h \
		src/core/sizeclass_params.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O1 -Wall -Wextra -Isrc -o $@ $<

build/man/cairn.3: man/cairn.3.in build/tools/gen_options_man
	@mkdir -p $(dir $@)
	build/tools/gen_options_man > $@.options
	sed -e '/^@OPTIONS@$$/{r $@.options' -e 'd}' -e 's/@VERSION@/$(VERSION)/g' $< > $@.tmp
	rm -f $@.options && mv $@.tmp $@

build/man/cairn.1: man/cairn.1.in
	@mkdir -p $(dir $@)
	sed -e 's/@VERSION@/$(VERSION)/g' $< > $@.tmp && mv $@.tmp $@

man: build/man/cairn.3 build/man/cairn.1

install: all man
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/cairn $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(BINDIR) $(DESTDIR)$(CMDDIR) $(DESTDIR)$(BASHCOMPDIR) build/install
	install -m 755 lib/libcairn.so.$(SOMAJOR) lib/libcairn-dlopen.so $(DESTDIR)$(LIBDIR)/
	ln -sf libcairn.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libcairn.so
	install -m 644 lib/libcairn.a $(DESTDIR)$(LIBDIR)/
	install -m 755 lib/libcairn-prefixed.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/
	ln -sf libcairn-prefixed.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libcairn-prefixed.so
	install -m 644 lib/libcairn-prefixed.a $(DESTDIR)$(LIBDIR)/
	install -m 644 include/cairn.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 include/cairn/jemalloc.h $(DESTDIR)$(INCLUDEDIR)/cairn/
	for pc in cairn cairn-prefixed; do \
		sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(call under_prefix,$(LIBDIR))|g' \
			-e 's|@INCLUDEDIR@|$(call under_prefix,$(INCLUDEDIR))|g' \
			-e 's|@VERSION@|$(VERSION)|g' $$pc.pc.in > build/install/$$pc.pc || exit 1; \
	done
	sed -e "s|@LIBDIR_FROM_CMAKEDIR@|$$(realpath -m --relative-to=$(CMAKEDIR) $(LIBDIR))|g" \
		-e "s|@INCLUDEDIR_FROM_CMAKEDIR@|$$(realpath -m --relative-to=$(CMAKEDIR) $(INCLUDEDIR))|g" \
		-e 's|@SOMAJOR@|$(SOMAJOR)|g' cmake/cairnConfig.cmake.in > build/install/cairnConfig.cmake
	sed -e 's|@VERSION@|$(VERSION)|g' cmake/cairnConfigVersion.cmake.in \
		> build/install/cairnConfigVersion.cmake
	install -m 644 build/install/cairn.pc build/install/cairn-prefixed.pc $(DESTDIR)$(PKGCONFIGDIR)/
	install -m 644 build/install/cairnConfig.cmake build/install/cairnConfigVersion.cmake \
		$(DESTDIR)$(CMAKEDIR)/
	install -m 644 build/man/cairn.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 644 build/man/cairn.1 $(DESTDIR)$(MANDIR)/man1/
	$(call cmd_launcher,$(CMDDIR),$(LIBDIR)/libcairn.so.$(SOMAJOR)) > build/install/cairn
	install -m 755 build/install/cairn $(DESTDIR)$(BINDIR)/
	install -m 644 $(CMD_FILES) $(DESTDIR)$(CMDDIR)/
	install -m 644 tools/cairn/completion.bash $(DESTDIR)$(BASHCOMPDIR)/cairn

# Removes the files make install put there and the folders that are
# cairn's own (include/cairn, cmake/cairn, CMDDIR) once empty; shared folders
# stay. Python may have left its byte code in CMDDIR when something other
# than bin/cairn imported the modules: that is cairn's too.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALL_FILES))
	rm -rf $(DESTDIR)$(CMDDIR)/__pycache__
	rmdir $(DESTDIR)$(INCLUDEDIR)/cairn $(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(CMDDIR) 2>/dev/null || true

format:
	clang-format -i $(wildcard src/*/*.c src/*/*.h include/*.h tools/*.c)

format-check:
	clang-format --dry-run -Werror $(wildcard src/*/*.c src/*/*.h include/*.h tools/*.c)

clean:
	rm -rf build lib bin
