#!/bin/sh
# Runs an aarch64 program on this x86 machine: qemu user-mode emulation with the arm64
# sysroot (.deps/aarch64-sysroot) as the root for the dynamic loader, libraries and
# GStreamer plugins. Used as cargo's runner for aarch64-unknown-linux-gnu and by
# scripts/checks/aarch64.sh.
#
# GStreamer scans its plugins in-process (GST_REGISTRY_FORK=no): its helper
# gst-plugin-scanner is an aarch64 program that this process could not exec without
# binfmt_misc. The registry is cached per sysroot, apart from the x86 one.
root="$(cd "$(dirname "$0")/../.." && pwd)"
sysroot="${STREETWATCH_AARCH64_SYSROOT:-$root/.deps/aarch64-sysroot}"
if [ ! -e "$sysroot/lib/ld-linux-aarch64.so.1" ]; then
    echo "scripts/aarch64/qemu.sh: no arm64 sysroot at $sysroot; run scripts/setup.sh --aarch64 (make setup-aarch64)" >&2
    exit 1
fi
qemu="$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)"
if [ -z "$qemu" ]; then
    echo "scripts/aarch64/qemu.sh: qemu-aarch64-static not found; run scripts/setup.sh (package qemu-user-static)" >&2
    exit 1
fi
# The emulated CPU is a Cortex-A76, the RK3588's big core (Jetson Orin's A78AE and the
# Ascend 310B's cores offer the same ARMv8.2 features: fp16, dot product, no SVE), so
# ONNX Runtime picks the kernels it would pick on a board. $STREETWATCH_QEMU_CPU
# overrides it (`qemu-aarch64-static -cpu help` lists the choices).
cpu="${STREETWATCH_QEMU_CPU:-cortex-a76}"

# ONNX Runtime's cpuinfo reads /proc/cpuinfo, which qemu-user passes through from the
# x86 host, and crashes on it (NULL dereference in its ARM parser). qemu looks a path up
# in the -L root first, so the sysroot gets the /proc/cpuinfo such a board prints, one
# entry per CPU this machine has (the count must agree with /sys/devices/system/cpu).
ncpu="$(getconf _NPROCESSORS_CONF)"
cpuinfo="$sysroot/proc/cpuinfo"
if [ "$(grep -c '^processor' "$cpuinfo" 2>/dev/null)" != "$ncpu" ]; then
    mkdir -p "$sysroot/proc"
    i=0
    while [ "$i" -lt "$ncpu" ]; do
        printf 'processor\t: %d\nBogoMIPS\t: 48.00\n' "$i"
        printf 'Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n'
        printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 0\n\n'
        i=$((i + 1))
    done >"$cpuinfo.$$"
    mv -f "$cpuinfo.$$" "$cpuinfo"
fi

export GST_REGISTRY_FORK=no
export GST_REGISTRY="${STREETWATCH_AARCH64_GST_REGISTRY:-$sysroot/.gst-registry.bin}"
export GST_PLUGIN_SYSTEM_PATH=/usr/lib/aarch64-linux-gnu/gstreamer-1.0
export STREETWATCH_ORT_LIB="${STREETWATCH_AARCH64_ORT_LIB:-$root/.deps/onnxruntime-aarch64/libonnxruntime.so.1.31.1}"
exec "$qemu" -cpu "$cpu" -L "$sysroot" "$@"
