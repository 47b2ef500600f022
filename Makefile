# The README's two commands: `make demo` and `make test`. Both do all set-up first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CLI := node dist/src/cli/main.js
# Offline copies of the real services (FreeSWITCH trees, FusionPBX sources) when shared/ is beside the
# repository; without them `make real-services` builds from upstream. Override: PBX_CUTOVER_VENDOR=dir.
PBX_CUTOVER_VENDOR ?= $(if $(wildcard ../shared/vendor/SHA256SUMS),$(abspath ../shared/vendor),)
export PBX_CUTOVER_VENDOR

.PHONY: deps docker-deps real-services build lint typecheck unit e2e test test-targets test-real test-docker test-all demo bench clean

deps:
	./scripts/install-deps.sh

# FreeSWITCH 1.10.3 / 1.10.12 and FusionPBX 5.3.0 / 5.5.7 into the cache (PBX_CUTOVER_REAL_SERVICES), only what is missing.
real-services:
	./scripts/install-real-services.sh

build: deps
	npm run --silent build

lint: deps
	npm run --silent lint

typecheck: deps
	npm run --silent typecheck

unit: build
	npm run --silent test:unit

e2e: build real-services
	npm run --silent test:e2e

# The suite: lint, typecheck, unit, end-to-end with the real Kamailio and SIPp on the native lab.
test: lint typecheck unit e2e

# The production-target tier: Kamailio nodes the tool did not start (127.0.1.x, their own sshd, TLS,
# PostgreSQL), single and in fleets.
test-targets: build real-services
	npm run --silent test:e2e-targets

# The real-services tier: end-to-end on real FreeSWITCH 1.10.3 / 1.10.12 and FusionPBX 5.3.0 / 5.5.7.
test-real: build real-services
	npm run --silent test:e2e-real

# Every tier, as CI runs them.
test-all: test test-targets test-real test-docker

# The Docker real-services lab on a real Docker engine (Debian's docker.io; dockerd is started and
# stopped by the tests when none runs): images built here and cached, lab up/status/down, the faults.
docker-deps:
	./scripts/install-docker-deps.sh

test-docker: build real-services docker-deps
	node --test --test-reporter=spec --test-concurrency=1 dist/test/e2e-docker

# Main job: the full live call cutover simulation on the native lab (started and stopped by `sim`).
demo: build real-services
	./scripts/demo.sh

bench: build
	./scripts/bench.sh

clean:
	rm -rf dist .lab
