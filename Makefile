# strand — build, test, sanitize, bench, install.
#
#   make          build/strand, build/strand.so, build/libstrand.{a,so}
#   make demo     run a seed program with strand
#   make test     C tests of runtime/ + busted specs, ending "N passed, N failed"
#   make sanitize the suite under ASan+UBSan, then under TSan
#   make bench    strand beside Python 3's stdlib
#   make install PREFIX=/usr/local DESTDIR=

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
BIN_DIR      ?= $(PREFIX)/bin
LIB_DIR      ?= $(PREFIX)/lib
INCLUDE_DIR  ?= $(PREFIX)/include
LUA_CMOD_DIR ?= $(PREFIX)/lib/lua/5.4
LUA_LMOD_DIR ?= $(PREFIX)/share/lua/5.4
MAN1_DIR     ?= $(PREFIX)/share/man/man1
LUA_INC ?= /usr/include/lua5.4
LUA_LIB ?= -llua5.4
OPT     ?= -O2 -g
SANFLAGS ?=
CFLAGS  += $(OPT) -std=c11 -D_GNU_SOURCE -fPIC -pthread -Wall -Wextra \
           -I$(LUA_INC) -Iruntime -Ibindings $(SANFLAGS)
LDFLAGS += -pthread $(SANFLAGS)
DEBS    = lua5.4 liblua5.4-dev lua-busted python3 pkg-config luarocks clang libclang-rt-14-dev

RUNTIME_SRC  = $(wildcard runtime/*.c)
BINDINGS_SRC = $(filter-out bindings/main.c,$(wildcard bindings/*.c))
RUNTIME_OBJ  = $(RUNTIME_SRC:%.c=$(BUILD)/%.o)
BINDINGS_OBJ = $(BINDINGS_SRC:%.c=$(BUILD)/%.o)
LIB_OBJ      = $(RUNTIME_OBJ) $(BINDINGS_OBJ)
CTEST_SRC    = $(wildcard spec/c/test_*.c)
CTEST_BIN    = $(CTEST_SRC:spec/c/%.c=$(BUILD)/ctest/%)
HEADERS      = $(wildcard runtime/*.h bindings/*.h)
# C programs on the public API (strand.h + libstrand.a + Lua), not runtime only
EMBED_BIN    = $(BUILD)/examples/host $(BUILD)/ctest/test_embed

.PHONY: all deps test check-deps sanitize demo scripts bench install uninstall clean ctest

all: check-deps $(BUILD)/strand $(BUILD)/strand.so $(BUILD)/libstrand.a $(BUILD)/libstrand.so $(CTEST_BIN) \
     $(EMBED_BIN)

# Installs what is missing from Debian when run as root; otherwise prints the command.
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    (apt-get install -y -q $$missing || (apt-get update -q && apt-get install -y -q $$missing)) >/dev/null; \
	  else echo "run: sudo apt-get install -y$$missing"; exit 1; fi; \
	fi

check-deps:
	@test -f $(LUA_INC)/lua.h || $(MAKE) --no-print-directory deps

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# -z now: symbols are bound once at start, so a forked worker does not copy
# the pages of lazy binding on its first calls (~5% of a process start here)
$(BUILD)/strand: $(BUILD)/bindings/main.o $(BUILD)/libstrand.a
	$(CC) -o $@ $^ $(LDFLAGS) $(LUA_LIB) -lm -ldl -Wl,-E -Wl,-z,now

$(BUILD)/strand.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDFLAGS)

$(BUILD)/libstrand.a: $(LIB_OBJ)
	rm -f $@; ar rcs $@ $^

$(BUILD)/libstrand.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libstrand.so.0 -o $@ $^ $(LDFLAGS) $(LUA_LIB)

$(BUILD)/examples/host: examples/host.c $(BUILD)/libstrand.a bindings/strand.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libstrand.a $(LDFLAGS) $(LUA_LIB) -lm -ldl

$(BUILD)/ctest/test_embed: spec/c/embed.c $(BUILD)/libstrand.a bindings/strand.h spec/c/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libstrand.a $(LDFLAGS) $(LUA_LIB) -lm -ldl

$(BUILD)/ctest/%: spec/c/%.c $(RUNTIME_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(RUNTIME_OBJ) $(LDFLAGS)

test: deps all
	@BUILD=$(BUILD) sh spec/run.sh

ctest: all
	@BUILD=$(BUILD) ONLY=c sh spec/run.sh

# Each sanitizer gets its own build tree; the whole suite runs under both.
sanitize: deps
	$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" CC=clang all
	BUILD=build-asan SANITIZER=asan sh spec/run.sh
	$(MAKE) --no-print-directory BUILD=build-tsan OPT="-O1 -g" SANFLAGS="-fsanitize=thread" CC=clang all
	BUILD=build-tsan SANITIZER=tsan sh spec/run.sh

demo: deps all
	$(BUILD)/strand scripts/list_add_remove.lua

scripts: deps all
	@for s in scripts/*.lua; do echo "== $$s"; $(BUILD)/strand $$s || exit 1; done

bench: deps all
	bash bench/run.sh

# a directory under PREFIX written as ${prefix}/..., as .pc files do
under_prefix = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
VERSION = $(shell sed -n 's/^\#define STRAND_VERSION "\(.*\)"/\1/p' bindings/strand.h)

# The command, the Lua modules where lua5.4 looks (strand.so, strand/busted.lua),
# the header, the libraries, strand.pc for pkg-config and the man page.
install: all
	install -d $(DESTDIR)$(BIN_DIR) $(DESTDIR)$(INCLUDE_DIR) $(DESTDIR)$(LIB_DIR)/pkgconfig \
	  $(DESTDIR)$(LUA_CMOD_DIR) $(DESTDIR)$(LUA_LMOD_DIR)/strand $(DESTDIR)$(MAN1_DIR)
	install -m 755 $(BUILD)/strand $(DESTDIR)$(BIN_DIR)/strand
	install -m 644 bindings/strand.h $(DESTDIR)$(INCLUDE_DIR)/strand.h
	install -m 644 $(BUILD)/libstrand.a $(DESTDIR)$(LIB_DIR)/libstrand.a
	install -m 755 $(BUILD)/libstrand.so $(DESTDIR)$(LIB_DIR)/libstrand.so.0
	ln -sf libstrand.so.0 $(DESTDIR)$(LIB_DIR)/libstrand.so
	install -m 755 $(BUILD)/strand.so $(DESTDIR)$(LUA_CMOD_DIR)/strand.so
	install -m 644 lua/strand/busted.lua $(DESTDIR)$(LUA_LMOD_DIR)/strand/busted.lua
	install -m 644 docs/strand.1 $(DESTDIR)$(MAN1_DIR)/strand.1
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(call under_prefix,$(LIB_DIR))|g' \
	  -e 's|@INCLUDEDIR@|$(call under_prefix,$(INCLUDE_DIR))|g' -e 's|@VERSION@|$(VERSION)|g' \
	  strand.pc.in > $(DESTDIR)$(LIB_DIR)/pkgconfig/strand.pc

uninstall:
	rm -f $(DESTDIR)$(BIN_DIR)/strand $(DESTDIR)$(INCLUDE_DIR)/strand.h \
	  $(DESTDIR)$(LIB_DIR)/libstrand.a $(DESTDIR)$(LIB_DIR)/libstrand.so \
	  $(DESTDIR)$(LIB_DIR)/libstrand.so.0 $(DESTDIR)$(LUA_CMOD_DIR)/strand.so \
	  $(DESTDIR)$(LUA_LMOD_DIR)/strand/busted.lua $(DESTDIR)$(MAN1_DIR)/strand.1 \
	  $(DESTDIR)$(LIB_DIR)/pkgconfig/strand.pc
	-rmdir $(DESTDIR)$(LUA_LMOD_DIR)/strand 2>/dev/null

clean:
	rm -rf build build-asan build-tsan
