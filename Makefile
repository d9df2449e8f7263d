# rollbot — one Makefile (STYLE.md rule 13). Targets:
#   make            build the bot, the fake Slack, the test programs
#   make test       install what is missing, build, run every test (also under ASan+UBSan)
#   make asan       build everything with AddressSanitizer + UBSan into build-asan/
#   make demo       a scripted incident, then one the watcher proposes, against the fake Slack
#   make bench      ack latency, throughput and memory under load, and the failover
#                   time of two replicas (not part of `make test`)
#   make install    install the bot to $(PREFIX)/bin
#   make check-src  banned functions and formatting rules

PKGS    := libwebsockets libuv libcurl jansson yaml-0.1 libpq
BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
OPT     ?= -O2
SAN     ?=

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
CFLAGS  := -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) $(PKG_CFLAGS) -I. $(EXTRA_CFLAGS)
LDFLAGS := $(EXTRA_LDFLAGS)
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

CMD_SRC  := $(wildcard commands/*.c)
BOT_SRC  := $(filter-out bot/main.c,$(wildcard bot/*.c))
CMD_OBJ  := $(CMD_SRC:%.c=$(BUILD)/obj/%.o)
BOT_OBJ  := $(BOT_SRC:%.c=$(BUILD)/obj/%.o)
GEN_OBJ  := $(BUILD)/obj/gen/embedded.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/%)
EMBED_IN := $(sort $(wildcard sql/*.sql)) $(sort $(wildcard templates/*.mustache))

PROGS := $(BUILD)/rollbot $(BUILD)/fake_slack $(BUILD)/harness $(BUILD)/certs/ca.pem

.PHONY: all test asan demo bench install check-src deps unit clean
all: $(PROGS) $(UNIT_BIN)

$(BUILD)/obj/%.o: %.c $(wildcard commands/*.h bot/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# SQL migrations and default templates are compiled into the binary, so a
# deployed rollbot needs no data files beside it.
$(BUILD)/embed: tools/embed.c
	@mkdir -p $(BUILD)
	$(CC) -std=c11 -O1 -Wall -Wextra -Werror $< -o $@
$(BUILD)/gen/embedded.c: $(BUILD)/embed $(EMBED_IN)
	@mkdir -p $(dir $@)
	$(BUILD)/embed $@ $(EMBED_IN)
$(BUILD)/obj/gen/embedded.o: $(BUILD)/gen/embedded.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/rollbot: $(BUILD)/obj/bot/main.o $(BOT_OBJ) $(CMD_OBJ) $(GEN_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(PKG_LIBS) -lm

$(BUILD)/fake_slack: $(BUILD)/obj/tests/fake_slack.o $(BUILD)/obj/tests/fake_metrics.o \
		     $(BUILD)/obj/commands/rb.o
	$(CC) $(LDFLAGS) $^ -o $@ $(PKG_LIBS)

$(BUILD)/harness: $(BUILD)/obj/tests/harness.o $(BUILD)/obj/commands/rb.o
	$(CC) $(LDFLAGS) $^ -o $@ $(PKG_LIBS)

# A throwaway CA and certificates for the TLS scenarios (wss:// and https://).
$(BUILD)/certs/ca.pem: tests/certs.sh
	@tests/certs.sh $(BUILD)/certs

$(BUILD)/test_%: $(BUILD)/obj/tests/unit/test_%.o $(BOT_OBJ) $(CMD_OBJ) $(GEN_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(PKG_LIBS) $(CMOCKA_LIBS) -lm

deps:
	@tools/deps.sh

unit: deps
	@$(MAKE) --no-print-directory all
	@tests/run.sh --unit-only $(BUILD)

test: deps
	@tools/checksrc.sh
	@tools/lint-docker.sh
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 OPT=-O1 all
	@tests/run.sh build build-asan

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 OPT=-O1 all

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/demo.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory all
	@tests/bench.sh $(BUILD)
	@tests/bench-failover.sh $(BUILD)

check-src:
	@tools/checksrc.sh
	@tools/lint-docker.sh

install: $(BUILD)/rollbot
	install -D -m 0755 $(BUILD)/rollbot $(DESTDIR)$(PREFIX)/bin/rollbot

clean:
	rm -rf build build-asan
