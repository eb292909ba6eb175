# ticketd: the two commands a newcomer needs are `make run` and `make test` (README.md).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

JOBS      ?= $(shell nproc)
BIN       := build/release/src/ticketd
ASAN_DIR  := build/asan
TEST_DATABASE_URL ?= postgres://ticketd:ticketd@127.0.0.1:5555/ticketd_test
PYTHON    ?= /usr/bin/python3

.PHONY: help deps build build-bin build-asan services migrate run run-cluster test test-unit test-integration test-e2e \
        test-cpp check-includes check-openapi stop bench fuzz fmt lint clean

help:
	@echo "make run    install deps, build, start PostgreSQL/Redis/Kafka, migrate, seed the demo, serve on PORT (3000)"
	@echo "make test   the same set-up, then every test suite (unit, integration, e2e)"
	@echo "make stop   stop the local services     make bench   run the benchmarks"
	@echo "make build  release build               make fmt / lint   clang-format / clang-tidy"
	@echo "make test-unit / test-integration / test-e2e   one group of suites"
	@echo "make fuzz   libFuzzer targets of fuzz/ for FUZZ_SECONDS (60) each"

deps:
	@scripts/install-deps

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

# Only the server binary (what `run` and the end-to-end suite need).
build-bin: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target ticketd

build-asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)

services: deps
	@scripts/services start

migrate: build-bin services
	@$(BIN) migrate

# Development mode comes from the .env that scripts/dev-env writes when there is none: the binary
# itself defaults to production.
run: build-bin services migrate
	@scripts/dev-env
	@$(BIN) seed-demo
	@echo "ticketd: serving on port $${PORT:-3000} (Ctrl-C to stop)"
	@exec $(BIN) serve

# Every suite, on the real services. The C++ suites run in the ASan+UBSan build, and so does the
# end-to-end suite: it drives the sanitized server like a client would, so a memory error on any
# HTTP path fails the run (E2E_BIN=build/release/src/ticketd drives the release binary instead).
# Then each fuzz target of fuzz/ runs briefly (TEST_FUZZ_SECONDS; `make fuzz` for longer runs).
TEST_FUZZ_SECONDS ?= 10
test: build-asan services check-includes check-openapi lint
	@DATABASE_URL=$(TEST_DATABASE_URL) $(ASAN_DIR)/src/ticketd migrate
	@$(MAKE) --no-print-directory test-cpp test-e2e
	@FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) scripts/fuzz

# The C++ suites under the sanitizers; CTEST_ARGS narrows them (test-unit, test-integration).
CTEST_ARGS ?=
test-cpp:
	@cd $(ASAN_DIR) && TEST_DATABASE_URL=$(TEST_DATABASE_URL) \
	  TICKETD_SERVICES=$(CURDIR)/scripts/services \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j 2 $(CTEST_ARGS)

# Pure-logic suites only: no services needed.
test-unit: build-asan
	@$(MAKE) --no-print-directory test-cpp CTEST_ARGS="-L unit"

# The C++ suites against the real PostgreSQL, Redis and Kafka.
test-integration: build-asan services
	@DATABASE_URL=$(TEST_DATABASE_URL) $(ASAN_DIR)/src/ticketd migrate
	@$(MAKE) --no-print-directory test-cpp CTEST_ARGS="-L 'pgtest|redistest|kafkatest'"

E2E_BIN ?= $(ASAN_DIR)/src/ticketd

test-e2e:
	@TICKETD_BIN=$(CURDIR)/$(E2E_BIN) TEST_DATABASE_URL=$(TEST_DATABASE_URL) \
	  TICKETD_SERVICES=$(CURDIR)/scripts/services \
	  $(PYTHON) -m pytest -q tests/e2e

check-includes:
	@scripts/check-includes

check-openapi: deps
	@scripts/check-openapi

# Two instances behind HAProxy on :8080 (deploy/haproxy.cfg), as in production; `make stop` ends it.
run-cluster: build-bin services migrate
	@scripts/dev-env
	@$(BIN) seed-demo
	@TICKETD_BIN=$(CURDIR)/$(BIN) scripts/cluster start

stop:
	@scripts/cluster stop
	@scripts/services stop

bench: build services
	@DATABASE_URL=$(TEST_DATABASE_URL) $(BIN) migrate
	@bench/run
	@bench/auth
	@bench/seatmap
	@bench/reserve
	@bench/onsale
	@bench/flashsale
	@bench/ratelimit
	@bench/sse
	@bench/outbox
	@bench/purchase

# libFuzzer targets of fuzz/ (clang, ASan+UBSan), FUZZ_SECONDS (60) each: scripts/fuzz.
fuzz: deps
	@scripts/fuzz

fmt:
	@find src tests bench fuzz -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

# clang-tidy (.clang-tidy, warnings are errors) and clang-format over the sources: scripts/lint.
lint: build-asan
	@scripts/lint

clean:
	@rm -rf build
