#!/usr/bin/env bash
# Cross-compile streetwatch for aarch64-unknown-linux-gnu (the box: RK3588, Jetson Orin,
# Ascend 310) on an x86_64 machine. `make aarch64` runs it after `make setup-aarch64`.
#
#   scripts/cross-aarch64.sh                      release build (what `make deb` packages)
#   scripts/cross-aarch64.sh --profile cross-ci   CI's build: release code, no debug info
#
# Output: target/aarch64-unknown-linux-gnu/<profile>/streetwatch. The x86 build in
# target/debug and target/release is untouched. The cross settings (linker, C compiler,
# pkg-config against the arm64 sysroot, qemu runner) are in .cargo/config.toml and
# scripts/aarch64/; scripts/setup.sh installs what they use.
# Run the result on this machine with scripts/aarch64/qemu.sh (or `cargo run --target
# aarch64-unknown-linux-gnu`): e.g. scripts/aarch64/qemu.sh <binary> --version.
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SW_ROOT"

TARGET=aarch64-unknown-linux-gnu
profile=release
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) [ $# -ge 2 ] || { echo "cross-aarch64.sh: --profile needs a name" >&2; exit 2; }; profile="$2"; shift ;;
        --profile=*) profile="${1#*=}" ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "cross-aarch64.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

die() { echo "cross-aarch64.sh: error: $*" >&2; exit 1; }

# What scripts/setup.sh --aarch64 (section 6) provides; each missing piece says how to get it.
rustup target list --installed 2>/dev/null | grep -qx "$TARGET" ||
    die "Rust target $TARGET missing: run make setup-aarch64 (or rustup target add $TARGET)"
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 ||
    die "aarch64-linux-gnu-gcc missing: run make setup (Debian package gcc-aarch64-linux-gnu)"
[ -f "$SW_DEPS/aarch64-sysroot/.streetwatch-sysroot.sha256" ] ||
    die "no arm64 sysroot in .deps/aarch64-sysroot: run make setup-aarch64"

out="target/$TARGET/$profile/streetwatch"
echo "cross-aarch64.sh: cargo build --locked --target $TARGET --profile $profile --bin streetwatch"
start=$SECONDS
cargo build --locked --target "$TARGET" --profile "$profile" --bin streetwatch
machine="$(readelf -h "$out" | sed -n 's/^ *Machine: *//p')"
[ "$machine" = AArch64 ] || die "$out is not an AArch64 executable (readelf says: $machine)"
echo "cross-aarch64.sh: built $out ($machine, $(du -h "$out" | cut -f1)) in $((SECONDS - start)) s"
