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

.PHONY: all deps test check-deps sanitize demo scripts bench install uninstall clean ctest

all: check-deps $(BUILD)/strand $(BUILD)/strand.so $(BUILD)/libstrand.a $(BUILD)/libstrand.so $(CTEST_BIN)

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

$(BUILD)/strand: $(BUILD)/bindings/main.o $(BUILD)/libstrand.a
	$(CC) -o $@ $^ $(LDFLAGS) $(LUA_LIB) -lm -ldl -Wl,-E

$(BUILD)/strand.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDFLAGS)

$(BUILD)/libstrand.a: $(LIB_OBJ)
	rm -f $@; ar rcs $@ $^

$(BUILD)/libstrand.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libstrand.so.0 -o $@ $^ $(LDFLAGS) $(LUA_LIB)

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
	sh bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/lib/lua/5.4
	install -m 755 $(BUILD)/strand $(DESTDIR)$(PREFIX)/bin/strand
	install -m 644 bindings/strand.h $(DESTDIR)$(PREFIX)/include/strand.h
	install -m 644 $(BUILD)/libstrand.a $(DESTDIR)$(PREFIX)/lib/libstrand.a
	install -m 755 $(BUILD)/libstrand.so $(DESTDIR)$(PREFIX)/lib/libstrand.so.0
	ln -sf libstrand.so.0 $(DESTDIR)$(PREFIX)/lib/libstrand.so
	install -m 755 $(BUILD)/strand.so $(DESTDIR)$(PREFIX)/lib/lua/5.4/strand.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|0.1.0|g' strand.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/strand.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/strand $(DESTDIR)$(PREFIX)/include/strand.h \
	  $(DESTDIR)$(PREFIX)/lib/libstrand.a $(DESTDIR)$(PREFIX)/lib/libstrand.so \
	  $(DESTDIR)$(PREFIX)/lib/libstrand.so.0 $(DESTDIR)$(PREFIX)/lib/lua/5.4/strand.so \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/strand.pc

clean:
	rm -rf build build-asan build-tsan
