# tlog-rs: build and install. PREFIX and DESTDIR aware; `make install` never
# overwrites existing configuration in /etc/tlog-rs.
#
#   make                    cargo build --release
#   make install            install (as root), DESTDIR=/stage for packaging
#   make uninstall          remove what install put in place (config kept
#                           if changed; see below)

PREFIX      ?= /usr
SYSCONFDIR  ?= /etc
DESTDIR     ?=
CARGO       ?= cargo
MULTIARCH   ?= $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null)
# PAM and NSS modules go where libpam and glibc look: /lib/<multiarch>
# (= /usr/lib/<multiarch> on merged-/usr systems).
LIBDIR      ?= /lib/$(MULTIARCH)
PAMDIR      ?= $(LIBDIR)/security
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
CONFDIR     ?= $(SYSCONFDIR)/tlog-rs
# systemd units of `tlog-rs sync` (hosts) and `tlog-rs index` / `purge`
# (central host); installed, not enabled.
UNITDIR     ?= /lib/systemd/system
TARGET      ?= target/release
# The account tlog-rs-rec-session is set-uid to (docs/deployment.md, "The
# recorder account"), and the file writer's directory: owned by it, set-gid
# to the group that may read recordings.
RECORDER_USER ?= tlog-rs
LOGDIR      ?= /var/log/tlog-rs
LOG_GROUP   ?= adm
# The central side: `tlog-rs web` runs as WEB_USER; its login helper is
# set-uid root and executable by WEB_USER's group only (docs/web.md,
# "Privileges"); the index in STATEDIR is shared with that group.
WEB_USER    ?= tlog-rs-web
STATEDIR    ?= /var/lib/tlog-rs
PAMCONFDIR  ?= $(SYSCONFDIR)/pam.d
# The modules are loaded into other processes: install them stripped (their
# line tables are only for our own debugging; a distribution's packaging
# keeps them as a debug package with STRIP=true).
STRIP       ?= strip

BINARIES    := tlog-rs tlog-rs-rec tlog-rs-rec-session tlog-rs-web-auth
MAN1        := man/tlog-rs.1
MAN5        := man/tlog-rs-policy.toml.5 man/tlog-rs-central.toml.5
MAN8        := man/pam_tlog.8 man/nss_tlog.8 man/tlog-rs-rec-session.8 man/tlog-rs-index.8 man/tlog-rs-search.8 man/tlog-rs-purge.8 man/tlog-rs-hold.8
CONFIGS     := policy.toml rec-session.conf
UNITS       := $(addprefix packaging/systemd/,tlog-rs-sync.service tlog-rs-sync.timer \
               tlog-rs-index.service tlog-rs-index.timer tlog-rs-purge.service tlog-rs-purge.timer \
               tlog-rs-web.service tlog-rs-snapshot.service tlog-rs-snapshot.path)

.PHONY: all build install uninstall check-multiarch

all: build

build:
	$(CARGO) build --release --workspace

check-multiarch:
	@test -n "$(MULTIARCH)" || { echo "cannot determine the multiarch triplet; set MULTIARCH=" >&2; exit 1; }

install: check-multiarch
	@for f in $(BINARIES) libpam_tlog.so libnss_tlog.so libnss_tlog_fallback.so; do \
	    test -f $(TARGET)/$$f || { echo "$(TARGET)/$$f missing: run 'make' first" >&2; exit 1; }; done
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PAMDIR) $(DESTDIR)$(LIBDIR)
	for b in $(BINARIES); do install -m 0755 $(TARGET)/$$b $(DESTDIR)$(BINDIR)/$$b; done
	@# The session recorder runs as its own account, out of the recorded
	@# user's reach. A staged (DESTDIR) install leaves that to the package's
	@# postinst: never a set-uid binary owned by root.
	@if [ -z "$(DESTDIR)" ]; then \
	    getent passwd $(RECORDER_USER) >/dev/null || \
	        useradd --system --user-group --no-create-home --home-dir /nonexistent \
	            --shell /usr/sbin/nologin --comment "tlog-rs session recorder" $(RECORDER_USER); \
	    chown $(RECORDER_USER):root $(BINDIR)/tlog-rs-rec-session; \
	    chmod 4755 $(BINDIR)/tlog-rs-rec-session; \
	    install -d -m 2750 -o $(RECORDER_USER) -g $(LOG_GROUP) $(LOGDIR); \
	    echo "tlog-rs-rec-session is set-uid $(RECORDER_USER); file writer directory $(LOGDIR)"; \
	else \
	    echo "DESTDIR install: create the $(RECORDER_USER) account, then chown $(RECORDER_USER):root and chmod 4755 $(BINDIR)/tlog-rs-rec-session, and create $(LOGDIR) ($(RECORDER_USER):$(LOG_GROUP) 2750) in the package's postinst"; \
	fi
	@# The web UI's account, its set-uid login helper and the shared index
	@# directory; a staged install leaves them to the postinst, as above.
	@if [ -z "$(DESTDIR)" ]; then \
	    getent passwd $(WEB_USER) >/dev/null || \
	        useradd --system --user-group --no-create-home --home-dir /nonexistent \
	            --shell /usr/sbin/nologin --comment "tlog-rs web UI" $(WEB_USER); \
	    chown root:$(WEB_USER) $(BINDIR)/tlog-rs-web-auth; \
	    chmod 4750 $(BINDIR)/tlog-rs-web-auth; \
	    install -d -m 2770 -o root -g $(WEB_USER) $(STATEDIR); \
	    echo "tlog-rs-web-auth is set-uid root for $(WEB_USER); index directory $(STATEDIR)"; \
	else \
	    echo "DESTDIR install: create the $(WEB_USER) account, then chown root:$(WEB_USER) and chmod 4750 $(BINDIR)/tlog-rs-web-auth, and create $(STATEDIR) (root:$(WEB_USER) 2770) in the package's postinst"; \
	fi
	install -m 0644 -s --strip-program=$(STRIP) $(TARGET)/libpam_tlog.so $(DESTDIR)$(PAMDIR)/pam_tlog.so
	install -m 0644 -s --strip-program=$(STRIP) $(TARGET)/libnss_tlog.so $(DESTDIR)$(LIBDIR)/libnss_tlog.so.2
	@# What libnss_tlog.so.2 loads, from tlog-rs/ next to itself, when the
	@# policy snapshot does not answer (it holds the policy parsers).
	install -d $(DESTDIR)$(LIBDIR)/tlog-rs
	install -m 0644 -s --strip-program=$(STRIP) $(TARGET)/libnss_tlog_fallback.so $(DESTDIR)$(LIBDIR)/tlog-rs/libnss_tlog_fallback.so
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	install -d $(DESTDIR)$(UNITDIR)
	install -m 0644 $(UNITS) $(DESTDIR)$(UNITDIR)/
	install -d -m 0755 $(DESTDIR)$(CONFDIR) $(DESTDIR)$(PAMCONFDIR)
	@# The web UI's PAM service, unless the admin has one.
	test -e $(DESTDIR)$(PAMCONFDIR)/tlog-rs-web || install -m 0644 web/pam.d/tlog-rs-web $(DESTDIR)$(PAMCONFDIR)/tlog-rs-web
	@# Never overwrite an admin's configuration; ship the example next to it.
	for c in $(CONFIGS); do \
	    if [ -e $(DESTDIR)$(CONFDIR)/$$c ]; then \
	        install -m 0644 etc/tlog-rs/$$c $(DESTDIR)$(CONFDIR)/$$c.example; \
	        echo "kept existing $(CONFDIR)/$$c (example installed as $$c.example)"; \
	    else \
	        install -m 0644 etc/tlog-rs/$$c $(DESTDIR)$(CONFDIR)/$$c; \
	    fi; \
	done
	@if [ -z "$(DESTDIR)" ] && command -v ldconfig >/dev/null; then ldconfig; fi

uninstall: check-multiarch
	for b in $(BINARIES); do rm -f $(DESTDIR)$(BINDIR)/$$b; done
	rm -f $(DESTDIR)$(PAMDIR)/pam_tlog.so $(DESTDIR)$(LIBDIR)/libnss_tlog.so.2
	rm -f $(DESTDIR)$(LIBDIR)/tlog-rs/libnss_tlog_fallback.so
	-rmdir $(DESTDIR)$(LIBDIR)/tlog-rs 2>/dev/null
	for m in $(notdir $(MAN1)); do rm -f $(DESTDIR)$(MANDIR)/man1/$$m; done
	for m in $(notdir $(MAN5)); do rm -f $(DESTDIR)$(MANDIR)/man5/$$m; done
	for m in $(notdir $(MAN8)); do rm -f $(DESTDIR)$(MANDIR)/man8/$$m; done
	for u in $(notdir $(UNITS)); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done
	@# Configuration: remove only files identical to the shipped examples.
	for c in $(CONFIGS); do \
	    rm -f $(DESTDIR)$(CONFDIR)/$$c.example; \
	    if cmp -s etc/tlog-rs/$$c $(DESTDIR)$(CONFDIR)/$$c; then rm -f $(DESTDIR)$(CONFDIR)/$$c; \
	    elif [ -e $(DESTDIR)$(CONFDIR)/$$c ]; then echo "kept modified $(CONFDIR)/$$c"; fi; \
	done
	-rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null
	if cmp -s web/pam.d/tlog-rs-web $(DESTDIR)$(PAMCONFDIR)/tlog-rs-web; then rm -f $(DESTDIR)$(PAMCONFDIR)/tlog-rs-web; fi
	@# Recordings and the recorder account stay: they are evidence, and a
	@# system account is never removed (Debian policy).
	-rmdir $(DESTDIR)$(LOGDIR) 2>/dev/null
	@if [ -z "$(DESTDIR)" ] && command -v ldconfig >/dev/null; then ldconfig; fi
