# make · make test · make lint · make bench   (see README.md)
BUN := node_modules/.bin/bun
SRC := $(shell find packages -name '*.ts' -not -name '*.test.ts' 2>/dev/null)

MAN := $(wildcard doc/man/*.md)

all: bin/qts build/man/.ok

node_modules/.ok: package.json package-lock.json
	npm ci --no-audit --no-fund
	@$(BUN) --version >/dev/null 2>&1 || node node_modules/bun/install.js
	@touch $@

bin/qts: node_modules/.ok scripts/build.ts scripts/multicall.ts $(SRC) $(MAN)
	$(BUN) scripts/build.ts

# man pages: doc/man/NAME.SECTION.md -> build/man/manSECTION/NAME.SECTION (scripts/man.ts)
build/man/.ok: node_modules/.ok scripts/man.ts $(MAN)
	$(BUN) scripts/man.ts
	@touch $@

test: all
	bash scripts/test.sh

lint: node_modules/.ok
	node_modules/.bin/tsc --noEmit -p .
	node_modules/.bin/biome check packages test scripts bench

bench: all
	bash bench/run.sh

clean:
	rm -rf bin build

.PHONY: all test lint bench clean

# make setup QMAIL=<dir> [SERVICE=<dir>] [SENDMAIL=1] [MANDIR=<dir>]: users, groups, the qmail home
# and the man pages (qmail's in QMAIL/man, the others in MANDIR, default /usr/local/share/man)
# (scripts/setup.ts); with SERVICE, the article's service directories there, each with a down
# file (scripts/services.ts; submission and smtps too, qmail-smtpd(8)); with SENDMAIL=1, /usr/sbin/sendmail -> QMAIL/bin/sendmail. Run as root.
setup: all
	$(BUN) scripts/setup.ts --home "$(or $(QMAIL),/var/qmail)" --man "$(or $(MANDIR),/usr/local/share/man)"
	$(if $(SERVICE),$(BUN) scripts/services.ts --home "$(or $(QMAIL),/var/qmail)" --service "$(SERVICE)" --down --keep --submission $(if $(SENDMAIL),--sendmail))

.PHONY: setup

# make start: the whole tree under ./var, svscan in the foreground, SMTP on 127.0.0.1:2525 (scripts/start.sh)
start: all
	bash scripts/start.sh

.PHONY: start
