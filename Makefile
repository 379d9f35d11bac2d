# Makefile for personalize (PGXS)
#
#   make                 build against the PostgreSQL that $(PG_CONFIG) names
#   make install         install into that PostgreSQL
#   make test            install missing packages, build, install, run every test
#   make demo            install missing packages, build, install, run the demo
#   make bench           run the benchmarks under test/bench/ (SCALE=... to size)
#
# The version lives once, in personalize.control.

EXTENSION = personalize
EXTVERSION := $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = $(EXTENSION)
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# Every install and upgrade script; sql/ also holds pg_regress inputs, which
# are not installed.
DATA = $(sort $(wildcard sql/$(EXTENSION)--*.sql))

# pg_regress tests, in order.  The test runner (test/run-tests) runs them on
# a temporary instance that preloads the library; see README "Development".
REGRESS = upgrade monthday consent intent subject classify views proxies retention match
ISOLATION = monthday_unique consent_withdraw consent_view purge_concurrency match_catalog match_consent

PG_CONFIG ?= pg_config
export PG_CONFIG
# Our own code builds warning-free under -Wall -Wextra (-Werror in `make
# test`); PostgreSQL's headers are not written for -Wextra, so they are
# included as system headers.
PG_CPPFLAGS = -I$(srcdir)/src -DPERSONALIZE_VERSION='"$(EXTVERSION)"' -isystem $(includedir_server) -isystem $(includedir_internal)
PG_CFLAGS = -Wall -Wextra $(if $(WERROR),-Werror)

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else
# Without pg_config only the self-installing targets below work.
all:
	@echo "pg_config not found: run 'make test' or 'make demo' (they install" \
	      "what is missing), or set PG_CONFIG=/path/to/pg_config" >&2; exit 1
endif

.PHONY: test demo bench prereqs

# Install build and test dependencies when they are missing (as root), or say
# exactly what to install (as any other user).
prereqs:
	@bash tools/prereqs

test: prereqs
	$(MAKE) --no-print-directory WERROR=1 all
	bash tools/as-root $(MAKE) --no-print-directory install
	REGRESS="$(REGRESS)" ISOLATION="$(ISOLATION)" bash test/run-tests

demo: prereqs
	$(MAKE) --no-print-directory all
	bash tools/as-root $(MAKE) --no-print-directory install
	bash demo/run-demo

bench: prereqs
	$(MAKE) --no-print-directory all
	bash tools/as-root $(MAKE) --no-print-directory install
	bash test/bench/run-bench

EXTRA_CLEAN = tmp_check results regression.diffs regression.out output_iso log
