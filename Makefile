# switchboard's one entry point for humans and CI.
#   make demo      run the server on embedded defaults
#   make test      install what the suite needs, then lint, check gen/, run every test
#   make gen       regenerate gen/ from proto/ and the Socket.IO catalog, and build the console
#   make fuzz      run every fuzz target for 10 minutes (cargo-afl)
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_BIN := clients/node_modules/.bin
BUF := $(NODE_BIN)/buf

.PHONY: help demo deps services gen gen-check lint test bench fuzz

help:
	@sed -n 's/^#   //p' Makefile

demo:
	cargo run --release -- demo

## deps: Debian packages (PostgreSQL, Redis, Chromium), npm packages, grpcurl.
deps:
	.ci/deps

services: deps
	.ci/services start

gen: $(BUF)
	rm -rf gen/ts
	cargo run --quiet --bin switchboard-codegen -- gen
	$(BUF) generate
	node clients/web/console/build.mjs

## gen-check: fails when gen/ is not what `make gen` writes, or when its
## AsyncAPI document or JSON Schemas do not load in the standard tools
## (AsyncAPI's parser and Modelina, Ajv against the 2020-12 meta-schema).
gen-check: gen
	@if [ -n "$$(git status --porcelain -- gen)" ]; then \
	  git status --porcelain -- gen; \
	  echo "gen/ is stale: run 'make gen' and commit the result"; exit 1; \
	fi
	node clients/contract/check.mjs gen

lint: $(BUF)
	cargo fmt --all -- --check
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --no-default-features --lib --bins -- -D warnings
	scripts/import-graph --check
	$(BUF) lint
	$(NODE_BIN)/tsc -p clients/web
	$(NODE_BIN)/tsc -p clients/web/console
	$(NODE_BIN)/tsc -p clients/web/console/tsconfig.test.json

test: services lint gen-check
	source .ci/.state/env && cargo test --all-targets --no-fail-fast
	fuzz/run.sh 5

## fuzz: every fuzz target for 10 minutes (findings in fuzz/target/afl/).
fuzz: deps
	fuzz/run.sh 600

bench:
	cargo bench

$(BUF):
	.ci/deps
