# closeloop — Makefile
#
#   make demo      install missing Debian packages, build, run the demo
#   make check     install missing Debian packages, build, run every test
#   make bench     benchmark (10,000 items, 20 repositories; ITEMS=100000
#                  for 100,000, its ledger and issues loaded in bulk), then
#                  the report, webhook, discovery and paced benches
#   make bench-paced   a first sync of 10,000 items under GitHub's real
#                  limits, stopped after PACED_S (600) s, with the daemon's
#                  estimate of the whole
#   make bench-report  the dashboard views and the quarterly report over a
#                  generated ledger of ITEMS (or REPORT_ITEMS; default 1,000,000)
#   make conformance   check the GitHub connector's requests against
#                      GitHub's published OpenAPI description
#   make install   PREFIX=/usr/local DESTDIR=
#   make SANITIZE=address,undefined check
#   make fuzz      libFuzzer targets (clang, ASan+UBSan), FUZZ_SECONDS each
#   make soak      the model-based test, SCENARIOS=10000 scenarios

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
SHAREDIR ?= $(PREFIX)/share/closeloop
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system

VERSION := 0.1.0
PKGS    := libuv libcurl libpq json-c libconfig md4c yaml-0.1 libsystemd openssl
TEST_PKGS := cmocka

CC      ?= cc
# sanitized objects live apart, so a plain build never links against them
ifneq ($(SANITIZE),)
B       := build/san
else
B       := build
endif

# Project flags first, the user's CFLAGS appended (Redis habit).
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wformat=2 -Wstrict-prototypes
ifeq ($(CI),true)
WARN    += -Werror
endif
OPT     ?= -O2 -g
SAN_FLAGS :=
ifneq ($(SANITIZE),)
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
OPT     := -O1 -g
# Every report fails the run: ASan stops at the first error, LeakSanitizer
# checks at exit, UBSan stops at the first runtime error instead of
# printing it and going on (its default).  Each exits with status 1: a
# leak found by the LeakSanitizer inside ASan exits with ASan's exitcode
# (1; 23 is the exit status of the stand-alone -fsanitize=leak only), and
# UBSan's halt_on_error exits 1 too.  The unit binaries
# print the report and die; the integration and model-based harnesses
# (tests/integration/harness.py) send the binary's reports to files under
# build/work and fail the test during which one appeared.  The
# suppressions are libconfig's own scanner leaks on refused files
# (tests/fuzz/lsan.supp says which), their path quoted: the runtime's
# option parser ends a value at a space or a colon unless it is quoted.
# Options set in the environment win.
ASAN_OPTIONS  ?= detect_leaks=1:halt_on_error=1
UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1
LSAN_OPTIONS  ?= suppressions='$(CURDIR)/tests/fuzz/lsan.supp':print_suppressions=0
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_CFLAGS = $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS  = $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)
ALL_CFLAGS = -std=gnu11 $(WARN) $(OPT) $(SAN_FLAGS) -MMD -MP -D_GNU_SOURCE \
             -DCLOSELOOP_VERSION='"$(VERSION)"' -Idaemon $(addprefix -I,$(SUBSYS)) -Iconnectors -I$(B)/gen \
             $(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SAN_FLAGS) $(LDFLAGS)
LIBS    = $(PKG_LIBS) -lhttp_parser -lm

ITEMS   ?= 10000
REPORT_ITEMS ?= 1000000

MIGRATIONS := $(sort $(wildcard sql/[0-9]*.sql))
# one folder per subsystem under daemon/ (README "Layout"); each is on the
# include path, as nginx puts src/core, src/event, ... on its own
SUBSYS  := $(patsubst %/,%,$(sort $(dir $(wildcard daemon/*/*.c))))
LIB_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c daemon/*/*.c)) $(wildcard connectors/*.c)
LIB_OBJ := $(patsubst %.c,$(B)/%.o,$(LIB_SRC)) $(B)/gen/migrations.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))

.PHONY: all deps demo check unit integration mbt soak bench bench-hooks bench-discover bench-report bench-paced conformance install clean man deb deb-test fuzz fuzz-bin

all: $(B)/closeloop

deps:
	@sh tests/install-deps.sh

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/gen/migrations.c: $(MIGRATIONS) daemon/ledger/gen-migrations.sh
	@mkdir -p $(dir $@)
	sh daemon/ledger/gen-migrations.sh $@ $(MIGRATIONS)

$(B)/gen/migrations.o: $(B)/gen/migrations.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libcloseloop.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/closeloop: $(B)/daemon/main.o $(B)/libcloseloop.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/test_%: tests/unit/test_%.c $(B)/libcloseloop.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -DFIXTURES='"tests/fixtures"' -o $@ $< \
		$(ALL_LDFLAGS) $(B)/libcloseloop.a $(LIBS) $(TEST_LIBS)

# test_pace steps the wall clock its pacer sees (its own ts_now_ms)
$(B)/tests/test_pace: TEST_LIBS += -Wl,--wrap=ts_now_ms

unit: $(UNIT_BIN)
	@sh tests/with-pg.sh sh tests/run-unit.sh $(UNIT_BIN)

integration: $(B)/closeloop $(B)/tests/test_jira
	@python3 tests/sim/test_github_sim.py
	@sh tests/sim/recorded/install.sh build/sim-recorded
	@python3 tests/sim/test_github_recorded.py build/sim-recorded/node_modules
	@JIRA_TEST_BIN="$(CURDIR)/$(B)/tests/test_jira" python3 tests/sim/test_jira_sim.py
	@python3 tests/sim/test_servicenow_sim.py
	@CLOSELOOP_BIN="$(CURDIR)/$(B)/closeloop" python3 tests/integration/run.py

check: deps
	@$(MAKE) --no-print-directory all unit
	@python3 tests/callgraph.py $(B)/daemon/reconcile >/dev/null
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory mbt

# the model-based randomized test of reconcile (tests/mbt/run.py): a short
# batch in `make check` (7 GitHub batches of 10 scenarios, then one each of
# Jira, ServiceNow and items linked across all three), the long one in
# `make soak SCENARIOS=10000` (the four kinds in turn); the body-block
# edits (block deleted or copied) and the repository renamed are in the
# soak only (--ops all)
# JOBS=N: N workers, each with its own PostgreSQL cluster on PGPORT_MBT+k
# (or MBT_PORTS=p1,p2,...), simulators and daemons; same per-seed results
MBT_SCENARIOS ?= 100
MBT_SEED ?= 1
SCENARIOS ?= 10000
mbt: $(B)/closeloop
	@python3 tests/mbt/test_model.py
	@CLOSELOOP_BIN="$(CURDIR)/$(B)/closeloop" python3 tests/mbt/run.py --scenarios $(MBT_SCENARIOS) --seed $(MBT_SEED) --small --ops core \
		--trackers github:7,jira,servicenow,multi

soak: deps
	@$(MAKE) --no-print-directory all
	@CLOSELOOP_BIN="$(CURDIR)/$(B)/closeloop" python3 tests/mbt/run.py --scenarios $(SCENARIOS) --seed $(MBT_SEED) --ops all --strict --progress \
		--trackers github,jira,servicenow,multi --jobs $(or $(JOBS),1)

demo: deps
	@$(MAKE) --no-print-directory all
	@sh examples/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@BENCH_ITEMS=$(ITEMS) python3 tests/bench/bench.py
	@sh tests/bench/report_bench.sh $(or $(ITEMS),$(REPORT_ITEMS))
	@python3 tests/bench/hook_bench.py
	@python3 tests/bench/discover_bench.py
	@$(MAKE) --no-print-directory bench-paced

# a first sync of PACED_ITEMS (10,000) under GitHub's real limits, in real
# time, stopped after PACED_S seconds: the creates seen, their spacing, and
# the daemon's own estimate of the whole sync (tests/bench/paced_first_sync.py)
PACED_ITEMS ?= 10000
PACED_S ?= 600
bench-paced: deps
	@$(MAKE) --no-print-directory all
	@BENCH_ITEMS=$(PACED_ITEMS) BENCH_MAX_S=$(PACED_S) python3 tests/bench/paced_first_sync.py

# discovery over 10,000 candidate tickets in GitHub, Jira and ServiceNow alone
# (tests/bench/discover_bench.py: BENCH_DISCOVER=github,jira,servicenow,
# servicenow-related, BENCH_DISCOVER_TICKETS, BENCH_DISCOVER_TARGETS)
bench-discover: deps
	@$(MAKE) --no-print-directory all
	@python3 tests/bench/discover_bench.py

# the webhook figures alone (tests/bench/hook_bench.py: BENCH_HOOK_EDITS, ...)
bench-hooks: deps
	@$(MAKE) --no-print-directory all
	@python3 tests/bench/hook_bench.py

bench-report: deps
	@$(MAKE) --no-print-directory all
	@sh tests/bench/report_bench.sh $(or $(ITEMS),$(REPORT_ITEMS))

conformance: deps
	@$(MAKE) --no-print-directory all
	@sh tests/conformance/run.sh

# libFuzzer targets: not part of `check` (they need clang, which
# `tests/install-deps.sh fuzz` installs); every library object is rebuilt
# with clang's coverage instrumentation under build/fuzz
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  := $(patsubst tests/fuzz/%.c,build/fuzz/tests/%,$(FUZZ_SRC))
FUZZ_TIME ?= 60
FUZZ_SECONDS ?= $(FUZZ_TIME)

fuzz:
	@sh tests/install-deps.sh fuzz
	@$(MAKE) --no-print-directory CC=clang SANITIZE=fuzzer-no-link,address,undefined \
		B=build/fuzz fuzz-bin
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

fuzz-bin: $(FUZZ_BIN)

build/fuzz/tests/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(B)/libcloseloop.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(ALL_LDFLAGS) -fsanitize=fuzzer $(B)/libcloseloop.a $(LIBS)

# manual pages: closeloop(8) from the binary's own subcommand and option
# tables, closeloop.conf(5) from docs/configuration.md (checked against the
# option table by tests/unit/test_config.c)
MANDIR ?= $(PREFIX)/share/man
man: $(B)/man/closeloop.8

$(B)/man/closeloop.8: $(B)/closeloop docs/man/gen-man.py docs/configuration.md
	python3 docs/man/gen-man.py $(B)/closeloop $(B)/man

install: $(B)/closeloop $(B)/man/closeloop.8
	install -d "$(DESTDIR)$(MANDIR)/man8" "$(DESTDIR)$(MANDIR)/man5"
	install -m 0644 $(B)/man/closeloop.8 "$(DESTDIR)$(MANDIR)/man8/closeloop.8"
	install -m 0644 $(B)/man/closeloop.conf.5 "$(DESTDIR)$(MANDIR)/man5/closeloop.conf.5"
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(SHAREDIR)/sql" "$(DESTDIR)$(SHAREDIR)/examples" "$(DESTDIR)$(SYSTEMDDIR)"
	install -m 0755 $(B)/closeloop "$(DESTDIR)$(BINDIR)/closeloop"
	install -m 0644 sql/*.sql "$(DESTDIR)$(SHAREDIR)/sql/"
	install -m 0644 examples/closeloop.conf examples/directory.conf "$(DESTDIR)$(SHAREDIR)/examples/"
	sed 's|/usr/local/bin/closeloop|$(BINDIR)/closeloop|g; s|/usr/local/share/doc/closeloop|$(PREFIX)/share/doc/closeloop|g' \
		systemd/closeloop.service > "$(DESTDIR)$(SYSTEMDDIR)/closeloop.service"
	chmod 0644 "$(DESTDIR)$(SYSTEMDDIR)/closeloop.service"
	install -d "$(DESTDIR)$(PREFIX)/share/doc/closeloop"
	install -m 0644 README.md docs/*.md "$(DESTDIR)$(PREFIX)/share/doc/closeloop/"
	install -d "$(DESTDIR)$(PREFIX)/lib/sysusers.d" "$(DESTDIR)$(PREFIX)/lib/tmpfiles.d"
	install -m 0644 systemd/closeloop.sysusers "$(DESTDIR)$(PREFIX)/lib/sysusers.d/closeloop.conf"
	install -m 0644 systemd/closeloop.tmpfiles "$(DESTDIR)$(PREFIX)/lib/tmpfiles.d/closeloop.conf"

# Debian package, built with dpkg-buildpackage from a copy of the tracked
# files under build/deb (the .deb lands there, not in the parent folder),
# then checked with lintian.  Not part of `make check` (it is slow);
# tests/deb-test.sh installs it and runs it against a throwaway cluster.
deb:
	@sh tests/install-deps.sh deb
	rm -rf build/deb && mkdir -p build/deb/closeloop-$(VERSION)
	git ls-files -z | tar --null -T - -cf - | tar -xf - -C build/deb/closeloop-$(VERSION)
	cd build/deb/closeloop-$(VERSION) && dpkg-buildpackage -us -uc -b
	lintian --info --display-info build/deb/closeloop_$(VERSION)_*.changes

deb-test: deb
	@sh tests/deb-test.sh

clean:
	rm -rf $(B)

-include $(shell find $(B) -path build/deb -prune -o -name '*.d' -type f -print 2>/dev/null)
