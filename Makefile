# cairn: GNU make at the top. `make` builds the libraries, `make test` runs
# every test, `make bench` runs the benchmarks, `make install PREFIX=...`.

CC      ?= cc
CXX     ?= c++
PREFIX  ?= /usr/local
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
	-fno-tree-slp-vectorize -fexceptions -Iinclude -Isrc -Ibuild/gen
LIB_LDFLAGS  := -shared -Wl,-soname,libcairn.so.$(SOMAJOR) \
	-Wl,--version-script=src/api/exports.map -Wl,-z,now

SRC := $(wildcard src/os/*.c src/core/*.c src/control/*.c src/api/*.c)
OBJ := $(SRC:%.c=build/obj/%.o)
DLOPEN_OBJ := $(SRC:%.c=build/obj-dlopen/%.o)
GEN := build/gen/sizeclass_table.h

.PHONY: all test bench install clean format format-check dlopen fuzz fuzz-lib
all: lib/libcairn.so lib/libcairn.a lib/libcairn-dlopen.so

$(GEN): tools/gen_sizeclass.c src/core/sizeclass_params.h
	@mkdir -p $(dir $@) build/tools
	$(CC) -O1 -Isrc -o build/tools/gen_sizeclass $<
	build/tools/gen_sizeclass > $@.tmp && mv $@.tmp $@

build/obj/%.o: %.c $(GEN) $(wildcard src/*/*.h include/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALLOC_CFLAGS) -c -o $@ $<

# The variant that is safe to dlopen: no static TLS at all, the thread heap
# is found through a pthread key (a little slower on the fast path).
build/obj-dlopen/%.o: %.c $(GEN) $(wildcard src/*/*.h include/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALLOC_CFLAGS) -DCAIRN_TLS_PTHREAD=1 -c -o $@ $<

lib/libcairn.so.$(SOMAJOR): $(OBJ) src/api/exports.map
	@mkdir -p lib
	$(CC) $(LIB_LDFLAGS) -o $@ $(OBJ) -lpthread

lib/libcairn.so: lib/libcairn.so.$(SOMAJOR)
	ln -sf libcairn.so.$(SOMAJOR) $@

lib/libcairn-dlopen.so: $(DLOPEN_OBJ) src/api/exports.map
	@mkdir -p lib
	$(CC) $(LIB_LDFLAGS:libcairn.so.$(SOMAJOR)=libcairn-dlopen.so) -o $@ $(DLOPEN_OBJ) -lpthread

lib/libcairn.a: $(OBJ)
	@mkdir -p lib
	rm -f $@ && ar rcs $@ $(OBJ)

dlopen: lib/libcairn-dlopen.so

# ---------------------------------------------------------------- tests
# Every file under tests/ is a test, found by folder:
#   unit/*.c         white-box tests of the internals, linked with libcairn.a
#   api/ death/ stress/ *.c *.cc   linked with -lcairn (the shared library)
#   programs/*.sh    real programs run with cairn preloaded
TEST_CFLAGS  := -std=gnu11 -O1 -g -Wall -Wextra -Wno-unused-parameter \
	-fno-builtin -Iinclude -Itests -pthread
TEST_CXXFLAGS := -std=gnu++17 -O1 -g -Wall -Wextra -Wno-unused-parameter \
	-fno-builtin -Iinclude -Itests -pthread
TEST_LINK := -Llib -lcairn -Wl,-rpath,$(CURDIR)/lib -ldl

UNIT_T   := $(patsubst tests/%.c,build/tests/%,$(wildcard tests/unit/*.c))
C_T      := $(patsubst tests/%.c,build/tests/%,$(wildcard tests/api/*.c tests/death/*.c tests/stress/*.c))
CXX_T    := $(patsubst tests/%.cc,build/tests/%,$(wildcard tests/api/*.cc tests/death/*.cc tests/stress/*.cc))
HELPERS  := $(patsubst tests/helpers/%.c,build/tests/helpers/%.so,$(wildcard tests/helpers/*.c))
SCRIPT_T := $(wildcard tests/programs/*.sh)
FUZZ_SCRIPTS := $(wildcard tests/fuzz/*.sh)

build/tests/unit/%: tests/unit/%.c lib/libcairn.a tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -Isrc -Ibuild/gen -o $@ $< lib/libcairn.a -ldl

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

build/fuzz/obj/%.o: %.c $(GEN) $(wildcard src/*/*.h include/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out -fno-tree-slp-vectorize,$(ALLOC_CFLAGS)) -Wno-unknown-warning-option \
		-fsanitize=fuzzer-no-link \
		-c -o $@ $<

build/fuzz/ops: tests/fuzz/ops.c tests/fuzz/model.h $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter -fno-builtin -Iinclude -Itests \
		-fsanitize=fuzzer -pthread -o $@ $< $(FUZZ_OBJ) -ldl

build/fuzz/conf: tests/fuzz/conf.c src/control/conf.c src/core/util.c $(GEN) \
		$(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=gnu11 -O1 -g $(WARN) -Iinclude -Isrc -Ibuild/gen \
		 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o $@ tests/fuzz/conf.c src/control/conf.c src/core/util.c

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

test: all $(UNIT_T) $(C_T) $(CXX_T) $(HELPERS) $(if $(LIBFUZZER),$(FUZZ_T))
	@tests/run.sh $(UNIT_T) $(C_T) $(CXX_T) $(SCRIPT_T) $(FUZZ_SCRIPTS)

# ---------------------------------------------------------------- bench
bench: all
	@$(MAKE) --no-print-directory -C bench run ROOT=$(CURDIR) QUICK=$(QUICK)

# ---------------------------------------------------------------- install
install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 lib/libcairn.so.$(SOMAJOR) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libcairn.so.$(SOMAJOR) $(DESTDIR)$(PREFIX)/lib/libcairn.so
	install -m 755 lib/libcairn-dlopen.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 lib/libcairn.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/cairn.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
		cairn.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cairn.pc

format:
	clang-format -i $(wildcard src/*/*.c src/*/*.h include/*.h tools/*.c)

format-check:
	clang-format --dry-run -Werror $(wildcard src/*/*.c src/*/*.h include/*.h tools/*.c)

clean:
	rm -rf build lib
