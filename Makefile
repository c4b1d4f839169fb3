# ggaoed Makefile (GNU make). Run ./configure first: it writes config.mk with the directories.
#
#   make                 publish the static binary into build/publish/ (ggaoed + ggaoed.dbg)
#   make check           run the whole test suite (dotnet test; tests that need root skip otherwise)
#   make install         install into $(DESTDIR) + the configured directories
#   make uninstall       remove exactly what install put there (not an edited ggaoed.conf)
#   make clean           remove build/ (publish output, test artefacts, cached VM images)
#
# PUBLISHDIR=DIR makes install take an already published ggaoed from DIR instead of building one.

-include config.mk

DOTNET ?= dotnet
PUBLISHDIR ?= build/publish
BIN = $(PUBLISHDIR)/ggaoed
GENDIR = build/gen

MAN8 = man/ggaoed.8 man/ggaoectl.8
MAN5 = man/ggaoed.conf.5

INSTALL = install
DOTNET_ENV = DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

.PHONY: all publish check install uninstall clean configured

all: publish

configured:
	@if [ -z "$(sbindir)" ]; then \
		echo "config.mk is missing: run ./configure first (./configure --help for options)." >&2; \
		exit 1; \
	fi

# dotnet's own incremental build decides what to redo, so this always asks it.
# The .dbg symbol file stays here beside the binary; install never copies it.
publish: configured
	$(DOTNET_ENV) $(DOTNET) publish Ggaoed/Ggaoed.csproj -c Release -o $(PUBLISHDIR)

# install needs a binary but must not rebuild one (it often runs as root after a user's make).
$(BIN):
	$(MAKE) publish

check: configured
	$(DOTNET_ENV) $(DOTNET) test ggaoed.slnx

# The service files name the configured paths.
SUBST = sed -e 's|@sbindir@|$(sbindir)|g' \
	-e 's|@sysconfdir@|$(sysconfdir)|g' \
	-e 's|@localstatedir@|$(localstatedir)|g'

$(GENDIR)/ggaoed.service: packaging/ggaoed.service config.mk
	@mkdir -p $(GENDIR)
	$(SUBST) packaging/ggaoed.service >$@

$(GENDIR)/ggaoed.init: packaging/ggaoed.init config.mk
	@mkdir -p $(GENDIR)
	$(SUBST) packaging/ggaoed.init >$@

install: configured $(BIN) $(GENDIR)/ggaoed.service $(GENDIR)/ggaoed.init
	$(INSTALL) -d $(DESTDIR)$(sbindir)
	$(INSTALL) -m 0755 $(BIN) $(DESTDIR)$(sbindir)/ggaoed
	ln -sfn ggaoed $(DESTDIR)$(sbindir)/ggaoectl
	$(INSTALL) -d $(DESTDIR)$(mandir)/man8 $(DESTDIR)$(mandir)/man5
	$(INSTALL) -m 0644 $(MAN8) $(DESTDIR)$(mandir)/man8/
	$(INSTALL) -m 0644 $(MAN5) $(DESTDIR)$(mandir)/man5/
	$(INSTALL) -d $(DESTDIR)$(sysconfdir)
	$(INSTALL) -m 0644 ggaoed.conf.dist $(DESTDIR)$(sysconfdir)/ggaoed.conf.dist
	@if [ -e $(DESTDIR)$(sysconfdir)/ggaoed.conf ] || [ -L $(DESTDIR)$(sysconfdir)/ggaoed.conf ]; then \
		echo "keeping the existing $(DESTDIR)$(sysconfdir)/ggaoed.conf (compare it with ggaoed.conf.dist)"; \
	else \
		echo "$(INSTALL) -m 0644 ggaoed.conf.dist $(DESTDIR)$(sysconfdir)/ggaoed.conf"; \
		$(INSTALL) -m 0644 ggaoed.conf.dist $(DESTDIR)$(sysconfdir)/ggaoed.conf; \
	fi
	$(INSTALL) -d $(DESTDIR)$(systemdunitdir)
	$(INSTALL) -m 0644 $(GENDIR)/ggaoed.service $(DESTDIR)$(systemdunitdir)/ggaoed.service
	$(INSTALL) -d $(DESTDIR)$(initdir)
	$(INSTALL) -m 0755 $(GENDIR)/ggaoed.init $(DESTDIR)$(initdir)/ggaoed

# ggaoed.conf goes only when it is still byte for byte the copy install made of ggaoed.conf.dist,
# so an edited or pre-existing configuration survives. Directories are left in place: they may be
# shared (/usr/sbin, /etc).
uninstall: configured
	@conf=$(DESTDIR)$(sysconfdir)/ggaoed.conf; dist=$(DESTDIR)$(sysconfdir)/ggaoed.conf.dist; \
	if [ -f "$$conf" ] && [ -f "$$dist" ] && cmp -s "$$conf" "$$dist"; then \
		echo "rm -f $$conf"; rm -f "$$conf"; \
	elif [ -e "$$conf" ]; then \
		echo "keeping $$conf: it differs from ggaoed.conf.dist"; \
	fi
	rm -f $(DESTDIR)$(sbindir)/ggaoed $(DESTDIR)$(sbindir)/ggaoectl
	rm -f $(addprefix $(DESTDIR)$(mandir)/man8/,$(notdir $(MAN8)))
	rm -f $(addprefix $(DESTDIR)$(mandir)/man5/,$(notdir $(MAN5)))
	rm -f $(DESTDIR)$(sysconfdir)/ggaoed.conf.dist
	rm -f $(DESTDIR)$(systemdunitdir)/ggaoed.service
	rm -f $(DESTDIR)$(initdir)/ggaoed

clean:
	rm -rf build
