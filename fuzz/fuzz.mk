# libFuzzer harnesses, included by the top-level Makefile (see fuzz/README).
#
#   make fuzz-build    build/fuzz/<name> for every harness
#   make fuzz-smoke    each harness for FUZZ_SMOKE_SECONDS (CI)
#   make fuzz          each harness for FUZZ_SECONDS
#   make fuzz-<name>   one harness for FUZZ_SECONDS
#
# A harness is fuzz/<name>.c with LLVMFuzzerTestOneInput(), a seed corpus
# in fuzz/corpus/<name>/ and optionally a dictionary fuzz/<name>.dict.
# Adding one is one line below:
#   worker side:  $(eval $(call tt_fuzz,NAME,SOURCES,LIBS))
#   module side:  $(eval $(call tt_fuzz_ngx,NAME,SOURCES,LIBS))
# SOURCES are the files under test, compiled into the harness with the
# fuzzer's instrumentation.  tt_fuzz_ngx compiles against the nginx tree
# that scripts/build-module.sh configures (headers and
# objs/ngx_auto_config.h) and links fuzz/ngx_stubs*.c: nginx-dev has the
# headers but not the core's sources, so the core functions module code
# calls (pools, logging, string helpers) are stand-ins there; a harness
# that needs another one adds it to that file.
#
# Every variable is FUZZ_ prefixed.  Findings are written to
# build/fuzz/findings/<name>/ (crash-*, leak-*, timeout-*); a smoke or a
# long run fails when the harness found one.

FUZZ_BUILD    ?= build/fuzz
FUZZ_CC       ?= clang
FUZZ_CFLAGS   ?= -g -O1 -fno-omit-frame-pointer \
                 -fsanitize=fuzzer,address,undefined \
                 -fno-sanitize-recover=undefined
FUZZ_WORKER_INCS := -Isrc/common -Isrc/worker
FUZZ_NGX      ?= build/nginx-src
# libpq's header: module headers include it (as config finds it)
FUZZ_PQ_INC   := $(or $(shell pg_config --includedir 2>/dev/null),\
                      /usr/include/postgresql)
FUZZ_NGX_INCS := -I$(FUZZ_NGX)/src/core -I$(FUZZ_NGX)/src/event \
                 -I$(FUZZ_NGX)/src/event/modules -I$(FUZZ_NGX)/src/os/unix \
                 -I$(FUZZ_NGX)/src/http -I$(FUZZ_NGX)/src/http/modules \
                 -I$(FUZZ_NGX)/src/http/v2 \
                 -I$(FUZZ_NGX)/objs -Isrc -Isrc/common \
                 -I$(FUZZ_PQ_INC)
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_SECONDS  ?= 600
FUZZ_ARGS     ?=
FUZZ_NAMES    :=

# $(call tt_fuzz_rule,NAME,SOURCES,INCLUDES,LIBS,PREREQUISITES)
define tt_fuzz_rule
FUZZ_NAMES += $(1)

$(FUZZ_BUILD)/$(1): fuzz/$(1).c $(2) $(5) fuzz/fuzz.mk
	@mkdir -p $$(dir $$@)
	$$(FUZZ_CC) $$(FUZZ_CFLAGS) $(3) -o $$@ fuzz/$(1).c $(2) $(4)

.PHONY: fuzz-$(1)
fuzz-$(1): $(FUZZ_BUILD)/$(1)
	@fuzz/run.sh $(FUZZ_BUILD)/$(1) $$(FUZZ_SECONDS) $$(FUZZ_ARGS)
endef

tt_fuzz = $(call tt_fuzz_rule,$(1),$(2),$(FUZZ_WORKER_INCS),$(3),\
            $(wildcard src/worker/*.h src/common/*.h))
FUZZ_NGX_STUBS := fuzz/ngx_stubs.c fuzz/ngx_stubs_string.c fuzz/ngx_stubs_http.c
tt_fuzz_ngx = $(call tt_fuzz_rule,$(1),$(2) $(FUZZ_NGX_STUBS),\
                $(FUZZ_NGX_INCS) -Ifuzz,$(3),\
                $(FUZZ_NGX)/objs/ngx_auto_config.h fuzz/ngx_stubs.h \
                $(wildcard src/*.h))


# --- the harnesses: one line each ------------------------------------------

FUZZ_TIME  := src/common/tt_time.c src/worker/tz.c
FUZZ_PARSE := src/worker/parse.c src/common/tt_json.c $(FUZZ_TIME)
FUZZ_M     := src/ngx_http_tracktik
FUZZ_SIGNATURE := $(FUZZ_M)_signature.c $(FUZZ_M)_hmac.c $(FUZZ_M)_util.c
FUZZ_SESSION   := $(FUZZ_M)_session.c $(FUZZ_M)_hmac.c
FUZZ_PORTAL    := $(FUZZ_M)_portal.c $(FUZZ_M)_portal_call.c \
                  $(FUZZ_M)_portal_origin.c \
                  $(FUZZ_M)_json.c $(FUZZ_M)_util.c $(FUZZ_SESSION)
# module_args's second file: its route model and stand-ins
FUZZ_PORTAL    += fuzz/module_args_routes.c

$(eval $(call tt_fuzz,worker_parse,$(FUZZ_PARSE),-lyajl))
$(eval $(call tt_fuzz,worker_rules,src/worker/rules.c src/worker/rules_parse.c $(FUZZ_PARSE),-lyajl))
$(eval $(call tt_fuzz,tt_time,$(FUZZ_TIME)))
$(eval $(call tt_fuzz_ngx,module_hmac,src/ngx_http_tracktik_hmac.c,-lcrypto))
$(eval $(call tt_fuzz_ngx,module_json,$(FUZZ_M)_json.c,-lyajl))
$(eval $(call tt_fuzz_ngx,module_signature,$(FUZZ_SIGNATURE),-lcrypto))
$(eval $(call tt_fuzz_ngx,module_cookie,$(FUZZ_SESSION),-lcrypto))
$(eval $(call tt_fuzz_ngx,module_args,$(FUZZ_PORTAL),-lcrypto -lpq -lyajl))

# the export readers (import_read.h) and the importer's row check behind
# them; fuzz/worker_import.c is their shared part
FUZZ_IMPORT := fuzz/worker_import.c src/worker/import_read.c \
               src/worker/import_map.c src/worker/import_row.c \
               src/worker/import_text.c src/worker/billing.c \
               src/worker/rules.c src/worker/rules_parse.c $(FUZZ_PARSE)
$(eval $(call tt_fuzz,worker_csv,src/worker/import_csv.c $(FUZZ_IMPORT),-lcsv -lyajl -lm))
$(eval $(call tt_fuzz,worker_xlsx,src/worker/import_xlsx.c $(FUZZ_IMPORT),-lzip -lexpat -lyajl -lm))

# ---------------------------------------------------------------------------


# the nginx tree the module harnesses compile against
$(FUZZ_NGX)/objs/ngx_auto_config.h:
	@scripts/build-module.sh

.PHONY: fuzz-build fuzz-smoke fuzz

fuzz-build: $(addprefix $(FUZZ_BUILD)/,$(FUZZ_NAMES))

fuzz-smoke: fuzz-build
	@fuzz/run.sh --all $(FUZZ_SMOKE_SECONDS) $(FUZZ_ARGS) -- \
	    $(addprefix $(FUZZ_BUILD)/,$(FUZZ_NAMES))

fuzz: fuzz-build
	@fuzz/run.sh --all $(FUZZ_SECONDS) $(FUZZ_ARGS) -- \
	    $(addprefix $(FUZZ_BUILD)/,$(FUZZ_NAMES))
