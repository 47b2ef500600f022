# The README's two commands: `make demo` and `make test`. Both do all set-up first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CLI := node dist/src/cli/main.js

.PHONY: deps build lint typecheck unit e2e test demo bench clean

deps:
	./scripts/install-deps.sh

build: deps
	npm run --silent build

lint: deps
	npm run --silent lint

typecheck: deps
	npm run --silent typecheck

unit: build
	npm run --silent test:unit

e2e: build
	npm run --silent test:e2e

# The whole suite: lint, typecheck, unit, end-to-end with the real Kamailio and SIPp.
test: lint typecheck unit e2e

# Main job: the full live call cutover simulation on the native lab (started and stopped by `sim`).
demo: build
	./scripts/demo.sh

bench: build
	./scripts/bench.sh

clean:
	rm -rf dist .lab
