# streetwatch: two-command setup.
#   make test   install what is missing (scripts/setup.sh), build, run all tests
#   make demo   install what is missing, release build, run the demo
# Everything the project needs lands in .deps/ (see scripts/README.md).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Same environment as scripts/test.sh (ORT library, assets, Python, cargo on PATH).
ENV := . scripts/env.sh &&

.PHONY: help setup setup-aarch64 build release aarch64 deb demo test bench bench-quick bench-micro fmt lint clean-deps

help:
	@echo "make setup       install Debian packages, venv, ONNX Runtime and test assets into .deps/ (idempotent)"
	@echo "make build       setup + cargo build --locked (debug)"
	@echo "make release     setup + cargo build --release --locked"
	@echo "make aarch64     setup + cross-compile the release binary for aarch64 (scripts/cross-aarch64.sh)"
	@echo "make deb         setup + both release builds + target/deb/streetwatch_*_{amd64,arm64}.deb"
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

# setup + the aarch64 cross toolchain, aarch64 ONNX Runtime and arm64 sysroot (~730 MB)
setup-aarch64:
	scripts/setup.sh --aarch64

build: setup
	$(ENV) cargo build --locked

release: setup
	$(ENV) cargo build --release --locked

# target/aarch64-unknown-linux-gnu/release/streetwatch; run it here with
# scripts/aarch64/qemu.sh target/aarch64-unknown-linux-gnu/release/streetwatch --version
aarch64: setup-aarch64
	scripts/cross-aarch64.sh

# Both packages from release builds: target/deb/streetwatch_<version>-1_{amd64,arm64}.deb
deb: release aarch64
	scripts/package-deb.sh --arch amd64
	scripts/package-deb.sh --arch arm64

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
