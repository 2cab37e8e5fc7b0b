# shellcheck shell=bash
# Sourced by scripts/setup.sh, scripts/test.sh and the Makefile: one place for
# the .deps/ layout and the environment the Rust code and tests read.
# Pre-set STREETWATCH_* values are kept, so a developer can point elsewhere.

SW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SW_DEPS="$SW_ROOT/.deps"
SW_ORT_VERSION="1.31.1"

export STREETWATCH_ORT_LIB="${STREETWATCH_ORT_LIB:-$SW_DEPS/onnxruntime/libonnxruntime.so.$SW_ORT_VERSION}"
export STREETWATCH_ASSETS="${STREETWATCH_ASSETS:-$SW_DEPS}"
export STREETWATCH_PYTHON="${STREETWATCH_PYTHON:-$SW_DEPS/venv/bin/python}"

# rustup installs cargo in ~/.cargo/bin, which a non-login shell may lack.
if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
