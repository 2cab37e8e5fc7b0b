#!/bin/sh
# C compiler and linker for aarch64-unknown-linux-gnu (.cargo/config.toml): Debian's
# cross gcc against the arm64 sysroot that scripts/setup.sh extracts into
# .deps/aarch64-sysroot (headers, libc, GLib, GStreamer). $STREETWATCH_AARCH64_SYSROOT
# points elsewhere.
sysroot="${STREETWATCH_AARCH64_SYSROOT:-$(cd "$(dirname "$0")/../.." && pwd)/.deps/aarch64-sysroot}"
if [ ! -d "$sysroot/usr/lib/aarch64-linux-gnu" ]; then
    echo "scripts/aarch64/gcc.sh: no arm64 sysroot at $sysroot; run scripts/setup.sh --aarch64 (make setup-aarch64)" >&2
    exit 1
fi
exec aarch64-linux-gnu-gcc --sysroot="$sysroot" "$@"
