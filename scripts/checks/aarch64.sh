#!/usr/bin/env bash
# The aarch64 build, cross-compiled here and run under qemu user-mode emulation against
# the x86 build (issue 17):
#   1. scripts/cross-aarch64.sh --profile cross-ci (release code without debug info);
#   2. tests/aarch64_emulated.rs, run on that binary through scripts/aarch64/qemu.sh:
#      --version and check-config on config/*.toml, detect on a sample frame (same boxes
#      at IoU >= 0.99, scores within 0.01), replay of a 16 s parking scenario at 1 fps
#      (same events, ids aside), serve-rtsp + probe (same stream facts).
# Needs what scripts/setup.sh section 6 installs on an x86_64 machine (Rust target, cross
# gcc, qemu-user-static, .deps/aarch64-sysroot, .deps/onnxruntime-aarch64); a missing
# piece fails the check with the command that fixes it. On an aarch64 machine there is
# nothing to emulate and no x86 build to compare with: reported as skipped (exit 77).
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
cd "$SW_ROOT"

fail() { echo "aarch64 check FAILED: $*" >&2; exit 1; }
start=$SECONDS

if [ "$(uname -m)" != x86_64 ]; then
    echo "*** SKIPPED aarch64 check: this machine is $(uname -m), not x86_64 (nothing to emulate, no x86 build to compare)"
    exit 77
fi
if [ "${STREETWATCH_SKIP_AARCH64:-0}" = 1 ]; then
    fail "STREETWATCH_SKIP_AARCH64=1: setup left out the aarch64 toolchain; run make setup-aarch64 without it"
fi
for f in "$SW_DEPS/onnxruntime-aarch64/libonnxruntime.so.$SW_ORT_VERSION" \
    "$SW_DEPS/aarch64-sysroot/lib/ld-linux-aarch64.so.1"; do
    [ -e "$f" ] || fail "$f missing: run make setup-aarch64"
done
command -v qemu-aarch64-static >/dev/null 2>&1 || fail "qemu-aarch64-static missing: run make setup-aarch64"

# 1. Cross build (scripts/cross-aarch64.sh checks the target and the cross gcc).
scripts/cross-aarch64.sh --profile cross-ci || fail "cross build failed"
bin="$SW_ROOT/target/aarch64-unknown-linux-gnu/cross-ci/streetwatch"
built=$SECONDS

# The x86 build to compare with (already built by scripts/test.sh; a no-op then).
cargo build --locked --bin streetwatch || fail "x86 build failed"

# 2. GStreamer's plugin registry for the sysroot, built once under emulation (any
# command that starts GStreamer; a file probe ends with "end of stream", which is fine),
# so the tests' timeouts measure the commands rather than a one-time plugin scan. A
# plugin that cannot load means the sysroot lacks a library: fail, naming it.
scan="$(scripts/aarch64/qemu.sh "$bin" probe --seconds 1 "$SW_DEPS/media/car-detection.mp4" 2>&1 >/dev/null || true)"
if printf '%s\n' "$scan" | grep -q 'Failed to load plugin'; then
    printf '%s\n' "$scan" >&2
    fail "GStreamer plugins do not load in the arm64 sysroot (missing library above; rebuild it: rm -rf .deps/aarch64-sysroot && make setup-aarch64)"
fi
warmed=$SECONDS

STREETWATCH_AARCH64_BIN="$bin" cargo test --locked --test aarch64_emulated -- --test-threads=1 ||
    fail "the aarch64 build differs from the x86 build (see the test output above)"

echo "ok: aarch64 build matches x86 under qemu; cross build $((built - start)) s," \
    "plugin registry $((warmed - built)) s, emulated comparisons $((SECONDS - warmed)) s, total $((SECONDS - start)) s"
