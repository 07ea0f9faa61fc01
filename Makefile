# The two commands a newcomer needs: `make demo` and `make test`. Each installs what it needs first.
SHELL := /bin/bash
# The pinned Node 24 (installed by `make setup` into .tools/node) runs everything: npm, tsc, mocha, labs, benches.
export PATH := $(CURDIR)/.tools/node/bin:$(PATH)
.PHONY: setup build typecheck lint test test-unit demo bench image clean

setup:
	@scripts/setup.sh

## The production build: src/ compiled into dist/ (node dist/src/cli/main.js; bin/hawser runs it where src/ is absent).
build: setup
	rm -rf dist
	npx tsc -p tsconfig.build.json

typecheck: setup
	npx tsc -p tsconfig.json --noEmit

lint: setup
	npx eslint .

## Every test: typecheck, lint, then mocha (unit, adapter and lab tests; needs root for netns).
test: setup
	npx tsc -p tsconfig.json --noEmit
	npx eslint .
	npx tsx scripts/check-imports.ts
	npx mocha 'test/**/*.test.ts'

test-unit: setup
	npx mocha --grep @real --invert 'test/**/*.test.ts'

## Brings a two-cluster lab up, waits for the cables, prints `hawser show all` and a ping matrix, tears down.
demo: setup
	bin/hawser lab demo $(ARGS)

## The OCI image archive dist/image/hawser-<version>.oci.tar, built offline from Debian packages (image/README.md).
image: setup
	image/build.sh

bench: setup
	@for b in bench/*/run.ts; do echo "== $$b"; npx tsx $$b || exit 1; done

clean:
	rm -rf dist
