# tracktik-worker build fragment, included by the top-level Makefile.
#
#   make worker          build/tracktik-worker
#   make worker-tests    build/tests/worker_* (cmocka unit tests)
#
# Standalone: make -f src/worker/worker.mk worker worker-tests
# Every variable here is WORKER_ prefixed so the fragment cannot clash with
# the module's build.
#
# Another build of the same sources (the sanitizer build, `make asan`):
#   WORKER_BUILD=build/asan            where objects and binaries go
#   WORKER_EXTRA_CFLAGS, WORKER_EXTRA_LDFLAGS   added to compile and link

WORKER_BUILD         ?= build
WORKER_EXTRA_CFLAGS  ?=
WORKER_EXTRA_LDFLAGS ?=

WORKER_CC      ?= cc
WORKER_CFLAGS  := -Wall -Wextra -O2 -g -std=gnu11 \
                  -I$(shell pg_config --includedir) -Isrc/common -Isrc/worker
WORKER_LIBS    := -L$(shell pg_config --libdir) -lpq -lyajl -lcurl -lm
WORKER_LIBS    += -lcrypto
WORKER_LIBS    += -lcsv -lzip -lexpat
WORKER_OBJDIR  := $(WORKER_BUILD)/worker

WORKER_COMMON  := src/common/tt_time.c src/common/tt_json.c
WORKER_STAGES  := src/worker/log.c src/worker/db.c src/worker/tz.c \
                  src/worker/parse.c src/worker/rules.c \
                  src/worker/rules_parse.c \
                  src/worker/claim.c src/worker/ledger.c \
                  src/worker/billing.c src/worker/process.c \
                  src/worker/run.c src/worker/contracts.c \
                  src/worker/jobs.c src/worker/migrate.c \
                  src/worker/users.c \
                  src/worker/api.c src/worker/oauth.c \
                  src/worker/ratelimit.c src/worker/billing_sync.c \
                  src/worker/billing_refs.c \
                  src/worker/channel.c src/worker/lookup.c \
                  src/worker/enrich.c src/worker/photos.c \
                  src/worker/pull.c \
                  src/worker/chain.c src/worker/billing_view.c \
                  src/worker/notify_rules.c src/worker/notify_send.c \
                  src/worker/notify_mail.c src/worker/notify_run.c
WORKER_STAGES  += src/worker/schema.c
WORKER_STAGES  += src/worker/subscriptions.c
# import: Operation Reports / Data Lab exports (doc/import.md)
WORKER_STAGES  += src/worker/import.c src/worker/import_read.c \
                  src/worker/import_csv.c src/worker/import_xlsx.c \
                  src/worker/import_map.c src/worker/import_row.c \
                  src/worker/import_text.c
# audit: the ledger against TrackTik or an export (doc/audit.md)
WORKER_STAGES  += src/worker/audit.c src/worker/audit_out.c
WORKER_STAGES  += src/worker/audit_stage.c
WORKER_STAGES  += src/worker/archive.c src/worker/archive_write.c \
                  src/worker/archive_queue.c
# the SQL directory as migrate reads it
WORKER_STAGES  += src/worker/migrate_files.c
# the bodies of API requests and answers
WORKER_STAGES  += src/worker/api_body.c
# a notification rule file's recipients and their secrets
WORKER_STAGES  += src/worker/notify_recipients.c
# the command layer: main.c and one cmd_*.c per command (the only code
# that prints to stdout or reads stdin); not linked into the unit tests
WORKER_CMDS    := src/worker/main.c $(sort $(wildcard src/worker/cmd_*.c))
WORKER_HEADERS := $(wildcard src/worker/*.h) $(wildcard src/common/*.h)

WORKER_LIBS    += -lzip -lxlsxwriter -lcrypto
WORKER_CFLAGS  += $(WORKER_EXTRA_CFLAGS)
WORKER_LIBS    += $(WORKER_EXTRA_LDFLAGS)

WORKER_LIB_OBJS := $(patsubst src/%.c,$(WORKER_OBJDIR)/%.o,\
                   $(WORKER_COMMON) $(WORKER_STAGES))
WORKER_MAIN_OBJ := $(patsubst src/%.c,$(WORKER_OBJDIR)/%.o,$(WORKER_CMDS))

WORKER_TESTS   := build/tests/worker_time build/tests/worker_parse \
                  build/tests/worker_rules build/tests/worker_backoff \
                  build/tests/worker_api build/tests/worker_cmd_line \
                  build/tests/worker_json
WORKER_TESTS   += build/tests/worker_notify
WORKER_TESTS   += build/tests/worker_import

# the list above names the default build/; the same binaries under
# $(WORKER_BUILD)
WORKER_TESTS   := $(patsubst build/%,$(WORKER_BUILD)/%,$(WORKER_TESTS))

.PHONY: worker worker-tests

worker: $(WORKER_BUILD)/tracktik-worker

worker-tests: $(WORKER_TESTS)

$(WORKER_OBJDIR)/%.o: src/%.c $(WORKER_HEADERS) src/worker/worker.mk
	@mkdir -p $(dir $@)
	$(WORKER_CC) $(WORKER_CFLAGS) -c -o $@ $<

$(WORKER_BUILD)/tracktik-worker: $(WORKER_LIB_OBJS) $(WORKER_MAIN_OBJ)
	@mkdir -p $(dir $@)
	$(WORKER_CC) -o $@ $^ $(WORKER_LIBS)

$(WORKER_BUILD)/tests/worker_%: src/worker/tests/test_%.c $(WORKER_LIB_OBJS) \
                      $(WORKER_HEADERS)
	@mkdir -p $(dir $@)
	$(WORKER_CC) $(WORKER_CFLAGS) -o $@ $< $(WORKER_LIB_OBJS) \
	    $(WORKER_LIBS) -lcmocka

# the command line parser: the library and the files it needs of the
# command layer
WORKER_CMD_LINE_OBJS := $(WORKER_OBJDIR)/worker/cmd_line.o \
                        $(WORKER_OBJDIR)/worker/cmd_io.o
# the usage text the parser prints
WORKER_CMD_LINE_OBJS += $(WORKER_OBJDIR)/worker/cmd_usage.o

$(WORKER_BUILD)/tests/worker_cmd_line: src/worker/tests/test_cmd_line.c \
                             $(WORKER_LIB_OBJS) $(WORKER_CMD_LINE_OBJS) \
                             $(WORKER_HEADERS)
	@mkdir -p $(dir $@)
	$(WORKER_CC) $(WORKER_CFLAGS) -o $@ $< $(WORKER_CMD_LINE_OBJS) \
	    $(WORKER_LIB_OBJS) $(WORKER_LIBS) -lcmocka
