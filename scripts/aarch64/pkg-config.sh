#!/bin/sh
# pkg-config for aarch64-unknown-linux-gnu (.cargo/config.toml): only the arm64
# sysroot's .pc files (never the build machine's x86 ones), with every -I/-L path
# prefixed by the sysroot.
sysroot="${STREETWATCH_AARCH64_SYSROOT:-$(cd "$(dirname "$0")/../.." && pwd)/.deps/aarch64-sysroot}"
if [ ! -d "$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig" ]; then
    echo "scripts/aarch64/pkg-config.sh: no arm64 sysroot at $sysroot; run scripts/setup.sh --aarch64 (make setup-aarch64)" >&2
    exit 1
fi
PKG_CONFIG_SYSROOT_DIR="$sysroot"
PKG_CONFIG_LIBDIR="$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$sysroot/usr/share/pkgconfig"
PKG_CONFIG_PATH=
export PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR PKG_CONFIG_PATH
exec pkg-config "$@"
