# SPDX-License-Identifier: MIT
# Port builds, included by the Makefile: cairn and the tests that apply to
# it built with another C library (musl) or for another architecture
# (AArch64), each into build/PORT/ and lib/PORT/ (README, "musl and
# AArch64"). make test runs them through tests/run.sh; .ci/run installs
# the compilers and the emulator.
#
#   make musl      lib/musl/libcairn.so.0 and lib/musl/libcairn.a (musl-gcc)
#   make aarch64   lib/aarch64/... (aarch64-linux-gnu-gcc; run with qemu-aarch64)
#   make test T=musl/unit/slab        one test of a port (aarch64/..., and
#                                     aarch64-16k/..., aarch64-64k/...,
#                                     x86_64-16k/..., x86_64-64k/... with
#                                     16 and 64 KiB pages)
#
# A port's test is build/PORT/tests/DIR/NAME, a script that runs the
# program build/PORT/bin/DIR/NAME (through the emulator for AArch64) with
# CAIRN_LIB naming that port's library. The unit tests link the port's
# objects (statically on musl: musl_UNIT_LINK below); the api, death and
# stress tests link lib/PORT/libcairn.so.0, as the native ones link
# lib/libcairn.so.0.

MUSL_CC ?= musl-gcc
AARCH64_CC ?= aarch64-linux-gnu-gcc
AARCH64_SYSROOT ?= /usr/aarch64-linux-gnu
QEMU_AARCH64 ?= qemu-aarch64

musl_CC := $(MUSL_CC)
musl_OBJCOPY := objcopy
musl_RUN :=
aarch64_CC := $(AARCH64_CC)
aarch64_OBJCOPY := aarch64-linux-gnu-objcopy
aarch64_RUN := $(QEMU_AARCH64) -L $(AARCH64_SYSROOT)
# The unit tests link the port's objects into a static program on musl (no
# C library but musl's), into a dynamic one for AArch64 as the native ones.
musl_UNIT_LINK := -static
aarch64_UNIT_LINK :=

PORTS := musl aarch64

# What the port's C library lacks of glibc's, found by compiling a probe
# with its compiler, once (build/PORT/features: the -D flags for
# src/api/mallinfo.c, src/prof/leak.c and src/prof/unwind.c, see PORTING.md).
build/%/features:
	@mkdir -p $(dir $@)
	@{ printf '#include <malloc.h>\nstruct mallinfo2 m;\n' | \
		$($*_CC) -x c -fsyntax-only - 2>/dev/null || echo -DCAIRN_NO_MALLINFO; \
	   printf '#define _GNU_SOURCE\n#include <dlfcn.h>\nint (*f)(void *, Dl_info *, void **, int) = dladdr1;\n' | \
		$($*_CC) -x c -fsyntax-only - 2>/dev/null || echo -DCAIRN_NO_DLADDR1; \
	   printf '#define _GNU_SOURCE\n#include <dlfcn.h>\nstruct dl_find_object d;\n' | \
		$($*_CC) -x c -fsyntax-only - 2>/dev/null || echo -DCAIRN_NO_DL_FIND_OBJECT; } > $@.tmp
	@mv $@.tmp $@
.SECONDARY: $(PORTS:%=build/%/features)

# The tests each port runs (README, "musl and AArch64", says why each of
# the others is left out). Everywhere: the C++ tests (no libstdc++ for
# musl; the native runs cover the operators), and stress/fault (it needs
# the fault-injection build, native only).
PORT_ALL_C := $(filter-out stress/fault,$(patsubst tests/%.c,%,\
	$(wildcard tests/api/*.c tests/death/*.c tests/stress/*.c)))
PORT_ALL_UNIT := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/*.c))
# musl: not api/mallinfo and api/exports (glibc's mallinfo2 and glibc's
# export list), unit/prof_dump (it wraps the C library's malloc through
# dlsym(RTLD_NEXT), which a static program has not), unit/prof_unwind (its
# dlopen case needs a dynamic program; the musl unit tests are static),
# stress/leader_exit and
# stress/fork_signal (they hang inside musl 1.2.3 itself: a child forked
# from a thread whose leader leaves with pthread_exit never ends, and fork
# from a signal handler while threads run waits forever on musl's own
# locks; no thread is in cairn), and, for time, the long stress runs of
# the allocator's own logic, which the native runs cover (MUSL_LONG).
MUSL_GLIBC_ONLY := api/mallinfo api/exports unit/prof_dump unit/prof_unwind
MUSL_HANGS := stress/leader_exit stress/fork_signal
MUSL_LONG := stress/fuzz stress/load stress/threads stress/idle_return stress/rlimit_parked \
	stress/purge_race stress/fork_background api/huge_reuse
musl_UNIT := $(filter-out $(MUSL_GLIBC_ONLY:unit/%=%),$(PORT_ALL_UNIT))
musl_C := $(filter-out $(MUSL_GLIBC_ONLY) $(MUSL_HANGS) $(MUSL_LONG),$(PORT_ALL_C))
# AArch64, under qemu-user: not the tests that run another program (the
# death tests, and those that re-run themselves or preload cairn into
# children: qemu-user cannot exec an AArch64 program without binfmt_misc),
# nor those that measure the process's memory or address space
# or threads (api/arenas, api/cross, api/mallctl, api/stats_true, api/thp,
# stress/thread_churn, the rlimit tests: under qemu these are qemu's own),
# and the other stress tests, for time. Of the unit tests, not prof_paths
# (it re-runs itself with tcache:false) and prof_unwind (it dlopens
# libz.so.1, which the cross sysroot lacks, and compares x86-64's cached
# frame rules with libgcc's, while AArch64 uses libgcc's alone).
aarch64_UNIT := $(filter-out prof_paths prof_unwind,$(PORT_ALL_UNIT))
aarch64_C := api/align api/allocx api/basic api/cairn_names api/calloc api/errno api/heap_api \
	api/mallctl_stats api/mallctl_thread api/mallinfo api/realloc api/stats api/usable \
	stress/producer_consumer

PORT_SRC := $(SRC)
# The index of the unwind tables (PT_GNU_EH_FRAME), which the profiler's
# unwinder finds frames through: gcc leaves it out of static programs, and
# musl-gcc's link spec out of every link.
PORT_LDFLAGS := -Wl,--eh-frame-hdr
# A function the C library does not declare is an error, not an int.
PORT_TEST_CFLAGS := -include tests/port/glibc_names.h -Werror=implicit-function-declaration \
	-Werror=int-conversion

# port_script PORT NAME: writes build/PORT/tests/NAME, which runs the
# program build/PORT/bin/NAME.
port_script = printf '\043!/bin/sh\nexport CAIRN_LIB=$(CURDIR)/lib/$(1)/libcairn.so.$(SOMAJOR)\nexec $($(1)_RUN) $(CURDIR)/build/$(1)/bin/$(2) "$$@"\n' > build/$(1)/tests/$(2) && chmod +x build/$(1)/tests/$(2)

define port_rules
$(1)_OBJ := $$(PORT_SRC:%.c=build/$(1)/obj/%.o)
$(1)_DLOPEN_OBJ := $$(PORT_SRC:%.c=build/$(1)/obj-dlopen/%.o)
# Header dependencies of both builds (-MMD in ALLOC_CFLAGS): a changed
# header rebuilds the dlopen variant's objects too, which otherwise kept
# the old layout of a changed struct beside a library built with the new.
-include $$(wildcard $$($(1)_OBJ:.o=.d) $$($(1)_DLOPEN_OBJ:.o=.d))

build/$(1)/obj/%.o: %.c build/$(1)/features | $$(GEN)
	@mkdir -p $$(dir $$@)
	$$($(1)_CC) $$(ALLOC_CFLAGS) $$$$(cat build/$(1)/features) -c -o $$@ $$<

lib/$(1)/libcairn.so.$$(SOMAJOR): $$($(1)_OBJ) src/api/exports.map
	@mkdir -p $$(dir $$@)
	$$($(1)_CC) $$(LIB_LDFLAGS) $$(PORT_LDFLAGS) -o $$@ $$($(1)_OBJ) -lpthread

lib/$(1)/libcairn.so: lib/$(1)/libcairn.so.$$(SOMAJOR)
	ln -sf libcairn.so.$$(SOMAJOR) $$@

build/$(1)/cairn-static.o: $$($(1)_OBJ)
	$$($(1)_CC) -r -nostdlib -o $$@.tmp $$($(1)_OBJ)
	$$($(1)_OBJCOPY) --localize-hidden $$@.tmp $$@ && rm -f $$@.tmp

lib/$(1)/libcairn.a: build/$(1)/cairn-static.o
	rm -f $$@ && ar rcs $$@ $$<

build/$(1)/libcairn-internal.a: $$($(1)_OBJ)
	rm -f $$@ && ar rcs $$@ $$($(1)_OBJ)

# The variant safe to dlopen (no initial-exec TLS, which musl's loader
# refuses in a dlopened object), for stress/dlopen_variant.
build/$(1)/obj-dlopen/%.o: %.c build/$(1)/features | $$(GEN)
	@mkdir -p $$(dir $$@)
	$$($(1)_CC) $$(ALLOC_CFLAGS) $$$$(cat build/$(1)/features) -DCAIRN_TLS_PTHREAD=1 -c -o $$@ $$<

lib/$(1)/libcairn-dlopen.so: $$($(1)_DLOPEN_OBJ) src/api/exports.map
	$$($(1)_CC) $$(LIB_LDFLAGS:libcairn.so.$$(SOMAJOR)=libcairn-dlopen.so) $$(PORT_LDFLAGS) -o $$@ \
		$$(filter %.o,$$^) -lpthread

.PHONY: $(1)
$(1): lib/$(1)/libcairn.so lib/$(1)/libcairn.a

# Each rule builds the program and writes its script: one target, so that
# make never takes the program for an intermediate file and deletes it.
build/$(1)/tests/unit/%: tests/unit/%.c build/$(1)/libcairn-internal.a $$(TEST_H) \
		tests/port/glibc_names.h
	@mkdir -p $$(dir $$@) $$(dir build/$(1)/bin/unit/$$*)
	$$($(1)_CC) $$(TEST_CFLAGS) $$(PORT_TEST_CFLAGS) -Isrc -Ibuild/gen $$($(1)_UNIT_LINK) $$(PORT_LDFLAGS) \
		-o build/$(1)/bin/unit/$$* $$< build/$(1)/libcairn-internal.a
	$$(call port_script,$(1),unit/$$*)

build/$(1)/tests/%: tests/%.c lib/$(1)/libcairn.so $$(wildcard tests/*.h) tests/port/glibc_names.h
	@mkdir -p $$(dir $$@) $$(dir build/$(1)/bin/$$*)
	$$($(1)_CC) $$(TEST_CFLAGS) $$(PORT_TEST_CFLAGS) $$(PORT_LDFLAGS) -o build/$(1)/bin/$$* $$< \
		-Llib/$(1) -lcairn -Wl,-rpath,$$(CURDIR)/lib/$(1)
	$$(call port_script,$(1),$$*)

$(1)_T := $$(addprefix build/$(1)/tests/unit/,$$($(1)_UNIT)) $$(addprefix build/$(1)/tests/,$$($(1)_C))
# What some tests load: stress/bootstrap preloads the helper found beside
# it, stress/dlopen_variant opens the variant beside the library.
build/$(1)/bin/helpers/%.so: tests/helpers/%.c
	@mkdir -p $$(dir $$@)
	$$($(1)_CC) $$(TEST_CFLAGS) -shared -fPIC -o $$@ $$<
build/$(1)/tests/stress/bootstrap: build/$(1)/bin/helpers/early.so
build/$(1)/tests/stress/dlopen_variant: lib/$(1)/libcairn-dlopen.so
endef
$(foreach p,$(PORTS),$(eval $(call port_rules,$(p))))

# AArch64 with 16 KiB and 64 KiB pages: qemu-aarch64 -p gives the program
# that page size (sysconf, AT_PAGESZ) and drops only ranges aligned to it
# (madvise), so cairn's page-size-dependent code (purging rounded inward to
# whole OS pages, valloc, huge mappings, the page map's windows, metadata)
# runs as on such a kernel. build/aarch64-16k/tests/NAME runs
# build/aarch64/bin/NAME so: the unit tests and the api tests of alignment,
# sizes and statistics.
AARCH64_PAGES := 16k 64k
aarch64_PAGE_T := $(addprefix unit/,$(aarch64_UNIT)) api/align api/basic api/calloc api/usable \
	api/stats api/mallctl_stats
define page_rules
build/aarch64-$(1)/tests/%: build/aarch64/tests/%
	@mkdir -p $$(dir $$@)
	printf '\043!/bin/sh\nexport CAIRN_LIB=$$(CURDIR)/lib/aarch64/libcairn.so.$$(SOMAJOR)\nexec $$(aarch64_RUN) -p $(2) $$(CURDIR)/build/aarch64/bin/$$* "$$$$@"\n' > $$@
	chmod +x $$@
aarch64_PAGES_T += $$(addprefix build/aarch64-$(1)/tests/,$$(aarch64_PAGE_T))
endef
$(eval $(call page_rules,16k,16384))
$(eval $(call page_rules,64k,65536))

# x86-64, where qemu-user gives no other page size: build/pages/ holds
# cairn built with CAIRN_PAGE_SIZE_HOOK, whose os_init takes the page size
# from CAIRN_TEST_PAGE_SIZE (a test build only: the libraries have no such
# hook). The same tests as above run on it natively with 16 and 64 KiB:
# build/x86_64-16k/tests/NAME (unit tests linked with its objects, api
# tests run on its libcairn.so.0 through LD_LIBRARY_PATH).
PAGES_OBJ := $(SRC:%.c=build/pages/obj/%.o)
-include $(wildcard $(PAGES_OBJ:.o=.d))
build/pages/obj/%.o: %.c | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALLOC_CFLAGS) -DCAIRN_PAGE_SIZE_HOOK=1 -c -o $@ $<
build/pages/libcairn-internal.a: $(PAGES_OBJ)
	rm -f $@ && ar rcs $@ $(PAGES_OBJ)
build/pages/libcairn.so.$(SOMAJOR): $(PAGES_OBJ) src/api/exports.map
	$(CC) $(LIB_LDFLAGS) -o $@ $(PAGES_OBJ) -lpthread

# Not api/usable: it expects huge blocks rounded to the kernel's page size,
# which the hook leaves as it is.
x86_64_PAGE_T := $(filter-out api/usable,$(aarch64_PAGE_T))
define x86_page_rules
build/x86_64-$(1)/tests/unit/%: tests/unit/%.c build/pages/libcairn-internal.a $$(TEST_H)
	@mkdir -p $$(dir $$@) $$(dir build/x86_64-$(1)/bin/unit/$$*)
	$$(CC) $$(TEST_CFLAGS) -Isrc -Ibuild/gen -o build/x86_64-$(1)/bin/unit/$$* $$< \
		build/pages/libcairn-internal.a -ldl
	printf '\043!/bin/sh\nexport CAIRN_TEST_PAGE_SIZE=$(2)\nexec $$(CURDIR)/build/x86_64-$(1)/bin/unit/$$* "$$$$@"\n' > $$@
	chmod +x $$@
build/x86_64-$(1)/tests/api/%: build/tests/api/% build/pages/libcairn.so.$$(SOMAJOR)
	@mkdir -p $$(dir $$@)
	printf '\043!/bin/sh\nexport CAIRN_TEST_PAGE_SIZE=$(2) LD_LIBRARY_PATH=$$(CURDIR)/build/pages CAIRN_LIB=$$(CURDIR)/build/pages/libcairn.so.$$(SOMAJOR)\nexec $$(CURDIR)/$$< "$$$$@"\n' > $$@
	chmod +x $$@
x86_64_PAGES_T += $$(addprefix build/x86_64-$(1)/tests/,$$(x86_64_PAGE_T))
endef
$(eval $(call x86_page_rules,16k,16384))
$(eval $(call x86_page_rules,64k,65536))

PORT_T := $(foreach p,$(PORTS),$($(p)_T)) $(aarch64_PAGES_T) $(x86_64_PAGES_T)
