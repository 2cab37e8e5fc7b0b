# streetwatch: two-command setup.
#   make test   install what is missing (scripts/setup.sh), build, run all tests
#   make demo   install what is missing, release build, run the demo
# Everything the project needs lands in .deps/ (see scripts/README.md).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Same environment as scripts/test.sh (ORT library, assets, Python, cargo on PATH).
ENV := . scripts/env.sh &&

.PHONY: help setup build release demo test bench bench-quick bench-micro fmt lint clean-deps

help:
	@echo "make setup       install Debian packages, venv, ONNX Runtime and test assets into .deps/ (idempotent)"
	@echo "make build       setup + cargo build --locked (debug)"
	@echo "make release     setup + cargo build --release --locked"
	@echo "make demo        setup + release build + ./target/release/streetwatch demo (extra args: DEMO_ARGS=...)"
	@echo "make test        setup + scripts/test.sh (build, cargo test, scripts/checks/*.sh)"
	@echo "make bench       release build + streetwatch bench --daemon: daemon vs Python/OpenCV peer side by side, capacity per mode (~20 min; extra args: BENCH_ARGS=...)"
	@echo "make bench-quick the same, 5 fps side by side only, capacity checked at each goal (~6 min)"
	@echo "make bench-micro setup + cargo bench --locked (criterion micro-benches)"
	@echo "make fmt         cargo fmt"
	@echo "make lint        cargo fmt --check + cargo clippy --all-targets -- -D warnings"
	@echo "make clean-deps  remove .deps/ (the next setup starts from scratch)"

setup:
	scripts/setup.sh

build: setup
	$(ENV) cargo build --locked

release: setup
	$(ENV) cargo build --release --locked

demo: release
	$(ENV) ./target/release/streetwatch demo $(DEMO_ARGS)

test: setup
	scripts/test.sh

# Tables on stdout and in target/bench/bench-daemon.{md,json}; see docs/performance.md.
bench: release
	$(ENV) ./target/release/streetwatch bench --daemon $(BENCH_ARGS)

bench-quick: release
	$(ENV) ./target/release/streetwatch bench --daemon --quick $(BENCH_ARGS)

bench-micro: setup
	$(ENV) cargo bench --locked

fmt:
	$(ENV) cargo fmt --all

lint:
	$(ENV) cargo fmt --all -- --check
	$(ENV) cargo clippy --locked --all-targets -- -D warnings

clean-deps:
	rm -rf .deps
