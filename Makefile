# Makefile for personalize (PGXS)
#
# Standard PGXS targets, against the PostgreSQL that $(PG_CONFIG) names:
#
#   make                 build the library and the install script
#   make install         install both
#   make installcheck    run pg_regress, the isolation specs, pgTAP (when
#                        pg_prove and pgTAP are installed) and the Perl TAP
#                        tests against the installed extension: all but the
#                        TAP tests use the running server that PGHOST/PGPORT
#                        name, which need not preload the library; TAP tests
#                        start servers of their own (not as root)
#
# One-command targets, which install what is missing (as root on Debian) and
# start throwaway servers of their own (see README "Development"):
#
#   make test            build, install, run every test (also pgTAP)
#   make test-citus      build, install, run the Citus suite (test/citus) on a
#                        throwaway coordinator and two workers (needs Citus)
#   make bench-citus     the Citus benchmark (test/citus/bench), likewise
#   make demo            build, install, run the narrated demo
#   make bench           run the benchmarks under test/bench/ (SCALE=... to size)
#   make matrix          build, install and test against each PostgreSQL in
#                        PG_CONFIGS="/path/a/pg_config /path/b/pg_config"
#
# The version lives once, in personalize.control.

EXTENSION = personalize
EXTVERSION := $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = $(EXTENSION)
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))

# The install script of the current version is built from one source file
# per feature, in this order (a feature's tables, functions, grants and
# pg_dump registrations sit together in its file).
SQL_SOURCES = $(addprefix sql/src/,base-header.sql monthday.sql review-categories.sql \
	consent-purposes.sql consent.sql match-intent.sql subjects.sql review-classify.sql \
	views.sql match.sql review-proxies.sql retention.sql worker.sql privilege.sql \
	ledgers.sql partners.sql review.sql base-citus.sql base-upgrades.sql base-footer.sql)
DATA_built = build/$(EXTENSION)--$(EXTVERSION).sql
# Released install scripts (frozen: never edited once released) and upgrade
# scripts.  A released version's built script must equal its frozen copy
# (test/package-check).
DATA = $(filter-out sql/$(EXTENSION)--$(EXTVERSION).sql,$(sort $(wildcard sql/$(EXTENSION)--*.sql)))

# pg_regress tests (sql/<name>.sql, expected/<name>.out: PGXS's layout), in
# order; each is named after the feature it tests (src/<feature>/).  One
# line each: test/run-tests reads these two lines.
REGRESS = base_upgrade monthday consent consent_lawful_basis match_intent subjects base_subject_keys review_classify views privilege ledgers partners review_proxies retention match match_overlay base_security base_drop privilege_persons subjects_view_rule base_null_args
# isolation specs (test/isolation/specs, test/isolation/expected)
ISOLATION = monthday_unique consent_withdraw consent_purpose_tree ledgers_chain consent_objection privilege_grants views_consent subjects_forget_grant retention_purge match_catalog match_overlay match_consent
ISOLATION_OPTS = --inputdir=test/isolation
# Perl TAP tests (test/t); each starts its own server
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl
PROVE_FLAGS = -I test/t

PG_CONFIG ?= pg_config
export PG_CONFIG
# Our own code builds warning-free under -Wall -Wextra (-Werror in `make
# test`); PostgreSQL's headers are not written for -Wextra, so they are
# included as system headers.
PG_CPPFLAGS = -I$(srcdir)/src -DPERSONALIZE_VERSION='"$(EXTVERSION)"' -isystem $(includedir_server) -isystem $(includedir_internal)
PG_CFLAGS = -Wall -Wextra $(if $(WERROR),-Werror)
# src/base/pseudonym.c hashes through OpenSSL when PostgreSQL was built with it
# (USE_OPENSSL), as pgcrypto does
SHLIB_LINK += $(filter -lcrypto, $(LIBS))

EXTRA_CLEAN = build tmp_check results regression.diffs regression.out output_iso log

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
# the files that compile in PERSONALIZE_VERSION: rebuilt when it changes
src/base/extension.o src/personalize.o src/worker/worker.o: $(EXTENSION).control
# PGXS tracks no header dependencies: a changed header (a struct, an inline
# function) rebuilds every object, rather than leave one compiled against
# the old definition.
$(OBJS): $(wildcard src/*/*.h)
else
# Without pg_config only the self-installing targets below work.
all:
	@echo "pg_config not found: run 'make test' or 'make demo' (they install" \
	      "what is missing), or set PG_CONFIG=/path/to/pg_config" >&2; exit 1
endif

build/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_SOURCES)
	@mkdir -p build
	@{ echo "/* $(EXTENSION)--$(EXTVERSION).sql: install script of the $(EXTENSION) extension, built from $(SQL_SOURCES) */"; \
	   for f in $^; do echo; cat $$f; done; } > $@

# pgTAP against the running server, as part of installcheck
.PHONY: installcheck-pgtap
installcheck: installcheck-pgtap
installcheck-pgtap:
	@if command -v pg_prove >/dev/null 2>&1 && \
	    psql -XAtc "SELECT 1 FROM pg_available_extensions WHERE name = 'pgtap'" 2>/dev/null | grep -q 1; then \
		echo "+++ pgtap install-check +++" && \
		psql -Xq -c 'SET client_min_messages = warning' -c 'DROP DATABASE IF EXISTS pgtap_regression' -c 'CREATE DATABASE pgtap_regression' && \
		psql -Xq -d pgtap_regression -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION personalize' && \
		pg_prove -d pgtap_regression test/pgtap/*.sql && \
		psql -Xq -c 'DROP DATABASE pgtap_regression'; \
	else \
		echo "pgTAP tests skipped: pg_prove or the pgtap extension is not installed"; \
	fi

.PHONY: test test-citus bench-citus demo bench matrix prereqs quiet-install

# Install build and test dependencies when they are missing (as root), or say
# exactly what to install (as any other user).
prereqs:
	@bash tools/prereqs

# Build and install, printing a line rather than every compiler command
# (warnings and errors still show).
quiet-install:
	@echo "building personalize $(EXTVERSION) against $$($(PG_CONFIG) --version)"
	@$(MAKE) --no-print-directory -s $(if $(WERROR),WERROR=1) all
	@bash tools/as-root $(MAKE) --no-print-directory -s install >/dev/null

test: prereqs
	@$(MAKE) --no-print-directory WERROR=1 quiet-install
	@REGRESS="$(REGRESS)" ISOLATION="$(ISOLATION)" bash test/run-tests

# the Citus suite (test/citus), on a throwaway coordinator and two workers;
# needs Citus in the PostgreSQL that $(PG_CONFIG) names
test-citus: prereqs
	@$(MAKE) --no-print-directory WERROR=1 quiet-install
	@bash test/citus/run

# the Citus benchmark (test/citus/bench): a consent filter over a
# distributed table, against the same query unfiltered
bench-citus: prereqs
	@$(MAKE) --no-print-directory quiet-install
	@bash test/citus/bench

demo: prereqs
	@$(MAKE) --no-print-directory quiet-install
	@bash demo/run-demo

bench: prereqs
	@$(MAKE) --no-print-directory quiet-install
	@bash test/bench/run-bench

PG_CONFIGS ?= $(PG_CONFIG)
matrix: prereqs
	@bash tools/matrix $(PG_CONFIGS)
