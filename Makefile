# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# rpd: in-kernel connection balancing for SO_REUSEPORT groups.
#
#   make            build everything into build/
#   make deps       install the Debian packages the build, demo and tests need
#   make demo       deps + build + a short balancing demo in a private netns
#   make test       deps + build + every selftest, here, under ASan+UBSan
#                   and in test-kmod's VM; each fuzz target for seconds
#   make fuzz       deps + each fuzz target for FUZZ_SECONDS (300)
#   make test-kmod  deps + static build + module + every selftest in a VM
#                   (QEMU/TCG) on Debian 12's kernel
#   make test-nginx deps + build + rpd attached to a real nginx (also in test)
#   make install    PREFIX=/usr/local DESTDIR=
#   V=1             show full commands; SANITIZE=1 builds with ASan+UBSan
#   STATIC=1        link statically (BUILD=build/static, as test-kmod does)

VERSION		:= 0.1.0
SOVERSION	:= 0

BUILD		?= build
OBJ		:= $(BUILD)/obj
PREFIX		?= /usr/local
LIBDIR		?= $(PREFIX)/lib
INCLUDEDIR	?= $(PREFIX)/include
BINDIR		?= $(PREFIX)/sbin
DESTDIR		?=

CC		?= cc
CLANG		?= clang
BPFTOOL		?= $(firstword $(wildcard /usr/sbin/bpftool) bpftool)
PKG_CONFIG	?= pkg-config

ifeq ($(V),1)
  Q =
  msg =
else
  Q = @
  msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
  MAKEFLAGS += --no-print-directory
endif

.DELETE_ON_ERROR:
.DEFAULT_GOAL := all

MULTIARCH	:= $(shell $(CC) -print-multiarch 2>/dev/null)
LIBBPF_CFLAGS	:= $(shell $(PKG_CONFIG) --cflags libbpf 2>/dev/null)
LIBBPF_LIBS	:= $(or $(shell $(PKG_CONFIG) --libs libbpf 2>/dev/null),-lbpf) -lelf -lz

BPF_CFLAGS	:= -g -O2 -target bpf -mcpu=v3 -Wall -Werror \
		   -I$(BUILD) -Ibpf $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH))

CFLAGS		?= -O2 -g
override CFLAGS	+= -std=gnu11 -D_GNU_SOURCE -DRPD_VERSION='"$(VERSION)"' -Wall -Wextra -Werror \
		   -Wno-missing-field-initializers \
		   -Ibpf -Ikmod -Iuserspace/common -Iuserspace/lib -I$(BUILD) \
		   $(LIBBPF_CFLAGS)
LDFLAGS		?=
LDLIBS		:= $(LIBBPF_LIBS) -lm

ifeq ($(SANITIZE),1)
  override CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer \
		      -fno-sanitize-recover=undefined
  override LDFLAGS += -fsanitize=address,undefined
endif

# STATIC=1 links every program and selftest with -static, for a VM whose
# initramfs has no shared libraries.  librpd.so is not built then: -static
# cannot link a shared object.  Static glibc warns at link time that
# getpwnam() and initgroups() need its NSS modules at run time; that is a
# linker warning, which -Werror (a compiler flag) leaves alone.
ifeq ($(STATIC),1)
  ifeq ($(SANITIZE),1)
    $(error rpd: STATIC=1 and SANITIZE=1 cannot be combined: ASan needs a dynamic link)
  endif
  override LDFLAGS += -static
endif

# --- BPF -------------------------------------------------------------------
BPF_OBJ		:= $(BUILD)/bpf/rpd.bpf.o
SKEL		:= $(BUILD)/rpd.skel.h

$(BPF_OBJ): bpf/rpd.bpf.c bpf/rpd_abi.h | $(BUILD)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(SKEL): $(BPF_OBJ)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name rpd > $@

# --- shared userspace code ---------------------------------------------------
COMMON_SRC	:= $(wildcard userspace/common/*.c)
COMMON_OBJ	:= $(COMMON_SRC:userspace/common/%.c=$(OBJ)/common/%.o)
COMMON_PIC	:= $(COMMON_SRC:userspace/common/%.c=$(OBJ)/common/%.pic.o)

# --- librpd ------------------------------------------------------------------
LIB_SRC		:= $(wildcard userspace/lib/*.c)
LIB_OBJ		:= $(LIB_SRC:userspace/lib/%.c=$(OBJ)/lib/%.o)
LIB_PIC		:= $(LIB_SRC:userspace/lib/%.c=$(OBJ)/lib/%.pic.o)
LIB_A		:= $(BUILD)/librpd.a
LIB_SO		:= $(BUILD)/librpd.so.$(VERSION)
LIB_PC		:= $(BUILD)/librpd.pc

$(LIB_A): $(LIB_OBJ) $(COMMON_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIB_SO): $(LIB_PIC) $(COMMON_PIC) userspace/lib/librpd.map
	$(call msg,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,librpd.so.$(SOVERSION) \
		-Wl,--version-script=userspace/lib/librpd.map $(LDFLAGS) \
		-o $@ $(LIB_PIC) $(COMMON_PIC) $(LDLIBS)
	$(Q)ln -sf librpd.so.$(VERSION) $(BUILD)/librpd.so.$(SOVERSION)
	$(Q)ln -sf librpd.so.$(SOVERSION) $(BUILD)/librpd.so

$(LIB_PC): userspace/lib/librpd.pc.in Makefile | $(BUILD)
	$(call msg,GEN,$@)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# --- programs ------------------------------------------------------------------
RPDCTL_SRC	:= $(wildcard userspace/rpdctl/*.c)
RPDCTL_OBJ	:= $(RPDCTL_SRC:userspace/rpdctl/%.c=$(OBJ)/rpdctl/%.o)
RPDCTL		:= $(BUILD)/rpdctl

EXAMPLE_SRC	:= $(wildcard userspace/examples/*.c)
EXAMPLES	:= $(EXAMPLE_SRC:userspace/examples/%.c=$(BUILD)/%)

$(RPDCTL_OBJ): $(SKEL)

$(RPDCTL): $(RPDCTL_OBJ) $(LIB_A)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(EXAMPLES): $(BUILD)/%: $(OBJ)/examples/%.o $(LIB_A)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# --- selftests -----------------------------------------------------------------
# The kselftest harness comes from Debian's linux-source-6.1, never vendored.
KSRC_TAR	?= $(firstword $(wildcard /usr/src/linux-source-6.1.tar.*))
HARNESS		:= $(BUILD)/kselftest/kselftest_harness.h

$(HARNESS): | $(BUILD)/kselftest
	$(call msg,EXTRACT,$@)
	$(Q)test -n "$(KSRC_TAR)" || { echo "rpd: no /usr/src/linux-source-6.1.tar.*: run 'make deps'" >&2; exit 1; }
	$(Q)tar -xf $(KSRC_TAR) -C $(BUILD)/kselftest --strip-components=4 \
		--wildcards '*/tools/testing/selftests/kselftest_harness.h' \
		'*/tools/testing/selftests/kselftest.h'
	$(Q)touch $@

TEST_SRC	:= $(wildcard selftests/test_*.c)
TEST_LIB_SRC	:= $(filter-out $(TEST_SRC),$(wildcard selftests/*.c))
TEST_LIB_OBJ	:= $(TEST_LIB_SRC:selftests/%.c=$(OBJ)/selftests/%.o)
TESTS		:= $(TEST_SRC:selftests/%.c=$(BUILD)/selftests/%)

# The harness's EXPECT_*() compare across types by design.
$(OBJ)/selftests/%.o: selftests/%.c $(HARNESS) | $(OBJ)/selftests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Wno-sign-compare -Wno-unused-parameter -I$(BUILD)/kselftest -Iselftests \
		-MMD -MP -c $< -o $@

$(BUILD)/selftests/test_%: $(OBJ)/selftests/test_%.o $(TEST_LIB_OBJ) $(LIB_A) | $(BUILD)/selftests
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests of the kernel module: built with the others, run only in the VM
# (make test-kmod), since they insmod it.
KTEST_SRC	:= $(wildcard selftests/kmod/test_*.c)
KTESTS		:= $(KTEST_SRC:selftests/kmod/%.c=$(BUILD)/selftests/kmod/%)

$(OBJ)/selftests/kmod/%.o: selftests/kmod/%.c $(HARNESS) | $(OBJ)/selftests
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Wno-sign-compare -Wno-unused-parameter -I$(BUILD)/kselftest -Iselftests \
		-MMD -MP -c $< -o $@

$(BUILD)/selftests/kmod/test_%: $(OBJ)/selftests/kmod/test_%.o $(TEST_LIB_OBJ) $(LIB_A) | $(BUILD)/selftests
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lpthread

# --- kernel module -------------------------------------------------------------
# Built against KDIR; without headers for the running kernel (this one may
# have no module support at all), against Debian 12's linux-headers-amd64,
# the kernel the VM tests boot.
KVER_DEB	= $(shell selftests/vm/kver.sh)
KDIR		?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
			       /usr/src/linux-headers-$(KVER_DEB))
KMOD		:= $(BUILD)/kmod/rpd_epoll_fifo.ko
KMOD_SRC	:= Kbuild $(wildcard kmod/*.[ch])

# kbuild writes its objects next to the sources: give it a copy under
# $(BUILD)/kmod, laid out as the tree (Kbuild at the top, kmod/ below).
$(KMOD): $(KMOD_SRC)
	$(call msg,KBUILD,$@ [$(KDIR)])
	$(Q)test -d "$(KDIR)" || { echo "rpd: kmod: no kernel headers at '$(KDIR)': run 'make deps' or set KDIR" >&2; exit 1; }
	$(Q)mkdir -p $(BUILD)/kmod/kmod
	$(Q)cp Kbuild $(BUILD)/kmod/Kbuild
	$(Q)cp $(wildcard kmod/*.[ch]) $(BUILD)/kmod/kmod/
	$(Q)$(MAKE) -C $(KDIR) M=$(abspath $(BUILD)/kmod) W=1 CONFIG_DEBUG_INFO_BTF_MODULES= \
		$(if $(filter 1,$(V)),V=1) KCFLAGS=-Werror modules $(if $(filter 1,$(V)),,>/dev/null)

kmod: $(KMOD)

# checkpatch.pl from Debian's linux-source-6.1, like the harness.
CHECKPATCH	:= $(BUILD)/kselftest/checkpatch/scripts/checkpatch.pl

$(CHECKPATCH): | $(BUILD)/kselftest
	$(call msg,EXTRACT,$@)
	$(Q)test -n "$(KSRC_TAR)" || { echo "rpd: no /usr/src/linux-source-6.1.tar.*: run 'make deps'" >&2; exit 1; }
	$(Q)mkdir -p $(BUILD)/kselftest/checkpatch
	$(Q)tar -xf $(KSRC_TAR) -C $(BUILD)/kselftest/checkpatch --strip-components=1 \
		--wildcards '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'
	$(Q)touch $@

checkpatch: $(CHECKPATCH)
	$(Q)perl $(CHECKPATCH) --strict --no-tree --quiet -f $(wildcard kmod/*.[ch])

# --- rpd-bench -----------------------------------------------------------------
# Every accept-balancing model side by side; 'make bench' runs each scenario
# and plots it under $(BUILD)/bench (scripts/bench.sh).
BENCH_SRC	:= $(wildcard userspace/bench/*.c)
BENCH_OBJ	:= $(BENCH_SRC:userspace/bench/%.c=$(OBJ)/bench/%.o)
BENCH		:= $(BUILD)/rpd-bench

# -Ikmod: the shared-epoll-fifo model speaks the module's ioctl
$(BENCH_OBJ): override CFLAGS += -Ikmod -pthread

$(BENCH): $(filter-out $(OBJ)/bench/stress.o,$(BENCH_OBJ)) $(LIB_A)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

# rpd-stress: faults under rpd-bench's client, against rpd-httpd
STRESS		:= $(BUILD)/rpd-stress
STRESS_OBJ	:= $(addprefix $(OBJ)/bench/,stress.o load.o stats.o sandbox.o)

$(STRESS): $(STRESS_OBJ) $(LIB_A)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

all: $(BENCH) $(STRESS)

# Every scenario at full length (about 3 minutes); the table and the
# "stress: ..." line, non-zero exit on any failure. make test runs
# rpd-stress --quick.
.PHONY: stress
stress: deps
	$(Q)$(MAKE) all
	$(Q)$(STRESS)

.PHONY: bench
bench: deps
	$(Q)$(MAKE) all
	$(Q)scripts/bench.sh $(BUILD)

# --- fuzz targets ----------------------------------------------------------------
# libFuzzer (clang -fsanitize=fuzzer) with ASan and UBSan, over rpdctl's
# command line, the address and name parsers, and stats' formatting. Each
# target's inputs live in selftests/fuzz/corpus/NAME: seeds, and every
# input that once crashed it, kept as a regression case. 'make fuzz' runs
# each for FUZZ_SECONDS (300); 'make test' replays the corpus and fuzzes
# each for a few seconds (selftests/fuzz/run.sh).
FUZZ		:= $(BUILD)/fuzz
FUZZ_SRC	:= $(wildcard selftests/fuzz/fuzz_*.c)
FUZZERS		:= $(FUZZ_SRC:selftests/fuzz/%.c=$(FUZZ)/%)
FUZZ_SECONDS	?= 300
FUZZ_SAN	:= -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		   -fno-omit-frame-pointer
FUZZ_CFLAGS	= $(filter-out -fsanitize=%,$(CFLAGS)) $(FUZZ_SAN) -Iuserspace/rpdctl -Iselftests
# rpdctl whole, its main() renamed so the command-line target can call it
FUZZ_LIB_SRC	:= $(RPDCTL_SRC) $(COMMON_SRC) $(LIB_SRC) selftests/json.c
FUZZ_LIB_OBJ	:= $(patsubst %.c,$(FUZZ)/obj/%.o,$(FUZZ_LIB_SRC))

$(FUZZ)/obj/%.o: %.c $(SKEL)
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Dmain=rpdctl_main -MMD -MP -c $< -o $@

$(FUZZ)/fuzz_%: selftests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ)
	$(call msg,FUZZER,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) $(LDLIBS)

.PHONY: fuzzers fuzz
fuzzers: $(FUZZERS)

fuzz: deps
	$(Q)$(MAKE) fuzzers
	$(Q)selftests/fuzz/run.sh $(BUILD) $(FUZZ_SECONDS)

# --- generic rules -------------------------------------------------------------
$(OBJ)/%.o: userspace/%.c | $(BUILD)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(OBJ)/%.pic.o: userspace/%.c | $(BUILD)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -MMD -MP -c $< -o $@

$(BUILD) $(BUILD)/bpf $(BUILD)/kselftest $(BUILD)/selftests $(OBJ)/selftests:
	$(Q)mkdir -p $@

-include $(wildcard $(OBJ)/*/*.d $(OBJ)/*/*/*.d $(FUZZ)/obj/*/*.d $(FUZZ)/obj/*/*/*.d)

# --- top-level targets ---------------------------------------------------------
.PHONY: all deps demo test install uninstall clean help kmod checkpatch

all: $(BPF_OBJ) $(SKEL) $(LIB_A) $(if $(filter 1,$(STATIC)),,$(LIB_SO)) $(LIB_PC) $(RPDCTL) \
     $(EXAMPLES) $(TESTS) $(KTESTS)

# Debian 12 packages for the build, the demo and the tests; only the missing
# ones are installed.
DEPS_PKGS	:= make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev \
		   pkg-config iproute2 linux-source-6.1 xz-utils \
		   linux-headers-amd64 qemu-system-x86 busybox-static cpio \
		   gnuplot-nox libclang-rt-14-dev nginx wrk

deps:
	$(Q)missing=$$(for p in $(DEPS_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "  DEPS     installing:" $$missing; \
		if [ "$$(id -u)" != 0 ]; then echo "rpd: 'make deps' needs root to install:" $$missing >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

demo: deps
	$(Q)$(MAKE) all
	$(Q)scripts/demo.sh $(BUILD)

# The VM (selftests/vm/vm.sh) boots the kernel of linux-headers-amd64 and
# runs the static tree $(BUILD)/static and the module $(BUILD)/kmod/*.ko;
# the module is built against those headers, whatever this machine runs.
VM_KDIR		= /usr/src/linux-headers-$(shell selftests/vm/kver.sh)

.PHONY: test-kmod vm-build

vm-build:
	$(Q)$(MAKE) STATIC=1 BUILD=$(BUILD)/static all
	$(Q)$(MAKE) kmod KDIR=$(VM_KDIR)

# Seconds each fuzz target runs in 'make test' (after replaying its corpus).
FUZZ_TEST_SECONDS ?= 5

# 'make test': every selftest here, again from a SANITIZE=1 tree
# ($(BUILD)/asan), each fuzz target briefly, then every selftest in the VM.
# 'make test SANITIZE=1' builds the tree itself with the sanitizers and runs
# it here only: the VM needs a static link, which ASan cannot have.
ifeq ($(SANITIZE),1)
test: deps
	$(Q)$(MAKE) all fuzzers
	$(Q)selftests/run.sh --fuzz $(FUZZ_TEST_SECONDS) $(BUILD)
else
test: deps
	$(Q)$(MAKE) all fuzzers
	$(Q)$(MAKE) SANITIZE=1 BUILD=$(BUILD)/asan all
	$(Q)$(MAKE) checkpatch
	$(Q)$(MAKE) vm-build
	$(Q)selftests/run.sh --vm --asan $(BUILD)/asan --fuzz $(FUZZ_TEST_SECONDS) $(BUILD)
endif

test-kmod: deps
	$(Q)$(MAKE) vm-build
	$(Q)selftests/vm/vm.sh $(BUILD)

# rpd attached to Debian's nginx (worker_processes 4, reuseport): balance
# of long-lived connections, and a reload under load with no failure. Part
# of 'make test' (host run); the VM has no nginx and skips it.
.PHONY: test-nginx
test-nginx: deps
	$(Q)$(MAKE) all
	$(Q)selftests/run.sh $(BUILD) test_nginx test_attach

install: $(LIB_A) $(LIB_SO) $(LIB_PC) $(RPDCTL)
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	$(Q)install -m 0755 $(RPDCTL) $(DESTDIR)$(BINDIR)/rpdctl
	$(Q)install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/librpd.a
	$(Q)install -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/librpd.so.$(VERSION)
	$(Q)ln -sf librpd.so.$(VERSION) $(DESTDIR)$(LIBDIR)/librpd.so.$(SOVERSION)
	$(Q)ln -sf librpd.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/librpd.so
	$(Q)install -m 0644 userspace/lib/rpd.h $(DESTDIR)$(INCLUDEDIR)/rpd.h
	$(Q)install -m 0644 $(LIB_PC) $(DESTDIR)$(LIBDIR)/pkgconfig/librpd.pc

uninstall:
	$(Q)rm -f $(DESTDIR)$(BINDIR)/rpdctl $(DESTDIR)$(LIBDIR)/librpd.a \
		$(DESTDIR)$(LIBDIR)/librpd.so* $(DESTDIR)$(INCLUDEDIR)/rpd.h \
		$(DESTDIR)$(LIBDIR)/pkgconfig/librpd.pc

clean:
	$(call msg,CLEAN,$(BUILD))
	$(Q)rm -rf $(BUILD)

help:
	@sed -n '3,/^$$/p' Makefile | sed -e '/^$$/d' -e 's/^# \{0,1\}//'
