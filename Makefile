# ngx_http_tracktik: build, run and test.
#
#   make            build everything into build/ (module, worker, unit tests)
#   make test       deps + build + PostgreSQL + every suite (what CI runs)
#   make run        deps + build + start PostgreSQL, nginx, worker, simulator
#   make stop       stop what `make run` started
#   make bench      the `make run` set-up, then bench/run.sh
#   make sim        the TrackTik simulator in the foreground
#   make clean      remove build output and test server roots
#   make install    module, load file, worker, SQL, portal, examples
#                   (PREFIX=/usr/local, DESTDIR; debian/ uses PREFIX=/usr)
#
#   make asan       module, worker and unit tests built with AddressSanitizer
#                   and UndefinedBehaviorSanitizer into build/asan/
#   make test-asan  every suite against that build (scripts/test-asan.sh);
#                   fails on any sanitizer report
#   make fuzz-smoke each libFuzzer harness (fuzz/) for FUZZ_SMOKE_SECONDS
#   make fuzz       each harness for FUZZ_SECONDS (see fuzz/README)
#
# Makefile fragments: src/worker/worker.mk must define the targets `worker`
# and `worker-tests`; any fragment may append targets to TT_ALL.  They can
# rely on BUILD, CC, CFLAGS, PKG_CONFIG below.

BUILD      := build
CC         ?= cc
CFLAGS     ?= -O2 -g
CFLAGS     += -Wall -Wextra
PKG_CONFIG ?= pkg-config
JOBS       ?= 2
TT_ALL     :=

export JOBS

.PHONY: all module test run stop bench sim clean distclean deps pg-start \
        pg-stop asan test-asan

# The sanitizer build: the same sources, the same configuration, these
# flags on top (the module's objects and .so, the worker, its unit tests).
# clang, because its runtime holds ASan and UBSan together: preloaded into
# nginx it reads its options before nginx rewrites its environment, so
# UBSan's reports go to log_path too (gcc's separate libubsan reads them
# only at the first report, when they are gone, and writes to stderr).
# The module links the shared runtime (the one scripts/test-asan.sh
# preloads), found through its rpath.
ASAN_BUILD   := $(BUILD)/asan
ASAN_CC      ?= clang
ASAN_FLAGS   ?= -fsanitize=address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=undefined
ASAN_RUNTIME  = $(dir $(shell $(ASAN_CC) \
                  -print-file-name=libclang_rt.asan-x86_64.so 2>/dev/null))
ASAN_SO_FLAGS = $(ASAN_FLAGS) -shared-libasan -Wl,-rpath,$(ASAN_RUNTIME)

all: module worker worker-tests

-include src/worker/worker.mk
-include fuzz/fuzz.mk

ifeq ($(wildcard src/worker/worker.mk),)
.PHONY: worker worker-tests
worker worker-tests:
	@echo "make: src/worker/worker.mk not there yet: $@ skipped"
endif

all: $(TT_ALL) node_modules/.package-lock.json

module:
	@scripts/build-module.sh

# npm packages of the portal's browser test (t/browser/), exactly as
# package-lock.json pins them; no browser download, the test drives
# Debian's chromium.  Without npm, t/browser/portal.t reports it.
node_modules/.package-lock.json: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	     npm ci --no-audit --no-fund --ignore-scripts && touch $@; \
	 else echo "make: npm not installed: browser test packages skipped"; fi

asan:
	@TT_BUILD_DIR=$(CURDIR)/$(ASAN_BUILD) TT_CC=$(ASAN_CC) \
	 TT_EXTRA_CFLAGS="$(ASAN_FLAGS)" TT_EXTRA_LDFLAGS="$(ASAN_SO_FLAGS)" \
	 scripts/build-module.sh
	@$(MAKE) --no-print-directory WORKER_BUILD=$(ASAN_BUILD) \
	    WORKER_CC=$(ASAN_CC) \
	    WORKER_EXTRA_CFLAGS="$(ASAN_FLAGS)" \
	    WORKER_EXTRA_LDFLAGS="$(ASAN_FLAGS)" worker worker-tests

test-asan:
	@scripts/test-asan.sh

deps:
	@scripts/deps.sh

test:
	@scripts/test.sh

run:
	@scripts/run.sh

stop:
	@scripts/stop.sh

# the same set-up as `make run` minus the worker and the simulator, which
# would compete with what is measured (bench/run.sh starts PostgreSQL)
bench:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@bench/run.sh

sim:
	@if [ -f sim/tracktik_sim.py ]; then exec python3 sim/tracktik_sim.py; \
	 else echo "make: sim/tracktik_sim.py not there yet"; fi

pg-start:
	@scripts/pg.sh start

pg-stop:
	@scripts/pg.sh stop

clean:
	rm -rf $(BUILD) t/servroot t/servroot_* .run/servroot

distclean: clean
	-scripts/stop.sh
	-scripts/pg.sh destroy

# make install [PREFIX=/usr/local] [DESTDIR=]: the module, its load file,
# the worker, the SQL, the portal's static files and example configs, for
# a proxy host that runs nothing from a checkout (debian/rules calls it
# with PREFIX=/usr).  The installed worker is a build of its own under
# build/install, compiled with -DTT_SQL_DIR so that `migrate` finds the
# installed SQL; the checkout's build/tracktik-worker keeps using sql/.
# TT_EXTRA_CFLAGS and TT_EXTRA_LDFLAGS (Debian's hardening flags) go to
# the module (scripts/build-module.sh) and to that worker build.
PREFIX            ?= /usr/local
DESTDIR           ?=
BINDIR            ?= $(PREFIX)/bin
TT_DATADIR        ?= $(PREFIX)/share/tracktik
SYSCONFDIR        ?= /etc
NGINX_MODULES_DIR ?= $(PREFIX)/lib/nginx/modules
NGINX_MODULES_AVAILABLE ?= $(PREFIX)/share/nginx/modules-available
INSTALL_BUILD     := $(BUILD)/install
INSTALL_FLAGS      = $(TT_EXTRA_CFLAGS) -DTT_SQL_DIR=\"$(TT_DATADIR)/sql\" \
                     -DTT_MAPPING_DIR=\"$(TT_DATADIR)/import-mappings\"

.PHONY: install install-worker-build

install-worker-build:
	@mkdir -p $(INSTALL_BUILD)
	@echo '$(INSTALL_FLAGS) | $(TT_EXTRA_LDFLAGS)' >$(INSTALL_BUILD)/flags.new
	@cmp -s $(INSTALL_BUILD)/flags.new $(INSTALL_BUILD)/flags \
	 || rm -rf $(INSTALL_BUILD)/worker $(INSTALL_BUILD)/tracktik-worker
	@mv $(INSTALL_BUILD)/flags.new $(INSTALL_BUILD)/flags
	@$(MAKE) --no-print-directory -j$(JOBS) WORKER_BUILD=$(INSTALL_BUILD) \
	    WORKER_EXTRA_CFLAGS='$(INSTALL_FLAGS)' \
	    WORKER_EXTRA_LDFLAGS='$(TT_EXTRA_LDFLAGS)' worker

install: module install-worker-build
	install -d $(DESTDIR)$(NGINX_MODULES_DIR) \
	    $(DESTDIR)$(NGINX_MODULES_AVAILABLE) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(TT_DATADIR)/sql/migrations \
	    $(DESTDIR)$(TT_DATADIR)/sql/functions \
	    $(DESTDIR)$(TT_DATADIR)/portal/assets $(DESTDIR)$(SYSCONFDIR)/tracktik
	install -m 644 $(BUILD)/ngx_http_tracktik_module.so \
	    $(DESTDIR)$(NGINX_MODULES_DIR)/
	echo 'load_module $(NGINX_MODULES_DIR)/ngx_http_tracktik_module.so;' \
	    >$(DESTDIR)$(NGINX_MODULES_AVAILABLE)/mod-http-tracktik.conf
	install -m 755 $(INSTALL_BUILD)/tracktik-worker $(DESTDIR)$(BINDIR)/
	install -m 644 sql/README $(DESTDIR)$(TT_DATADIR)/sql/
	install -m 644 sql/migrations/*.sql $(DESTDIR)$(TT_DATADIR)/sql/migrations/
	install -m 644 sql/functions/*.sql $(DESTDIR)$(TT_DATADIR)/sql/functions/
	install -m 644 portal/*.html $(DESTDIR)$(TT_DATADIR)/portal/
	install -m 644 portal/assets/* $(DESTDIR)$(TT_DATADIR)/portal/assets/
	install -m 644 conf/contracts.example.json conf/worker.env.example \
	    conf/billing.env.example conf/notify.env.example \
	    conf/notify.example.json conf/prometheus-alerts.example.yml \
	    $(DESTDIR)$(SYSCONFDIR)/tracktik/
	install -d $(DESTDIR)$(TT_DATADIR)/import-mappings
	install -m 644 conf/import-mappings/*.json \
	    $(DESTDIR)$(TT_DATADIR)/import-mappings/
	sed -e 's|@DATADIR@|$(TT_DATADIR)|g' \
	    -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' conf/nginx-site.example.conf.in \
	    >$(DESTDIR)$(SYSCONFDIR)/tracktik/nginx-site.example.conf
	chmod 644 $(DESTDIR)$(SYSCONFDIR)/tracktik/nginx-site.example.conf
