#!/usr/bin/env bash
# Install streetwatch on a Debian/Ubuntu box (arm64 or amd64) with systemd.
#
#   sudo scripts/install.sh [options]              install into /
#   DESTDIR=/tmp/stage scripts/install.sh          stage into a directory (packaging);
#                                                  no users, no systemctl
#   scripts/install.sh --dry-run                   print what would be done
#
# Options:
#   --binary PATH     daemon binary (default: target/release/streetwatch, else
#                     target/debug/streetwatch)
#   --ort-lib PATH    libonnxruntime.so.1.31.1 (default: $STREETWATCH_ORT_LIB, else
#                     .deps/onnxruntime/libonnxruntime.so.1.31.1 from scripts/setup.sh)
#   --platform NAME   also install the systemd drop-in for rk3588, jetson-orin or
#                     ascend310 (device nodes for hardware decoders/NPUs)
#   --no-enable       do not enable the service
#   --dry-run         print the actions, change nothing
#
# What goes where (the same list as [package.metadata.deb] in Cargo.toml and the Yocto
# recipe):
#   /usr/bin/streetwatch
#   /lib/systemd/system/streetwatch.service
#   /usr/share/streetwatch/systemd/*.conf.example       platform drop-in examples
#   /usr/lib/sysusers.d/streetwatch.conf, /usr/lib/tmpfiles.d/streetwatch.conf
#   /etc/streetwatch/streetwatch.toml                   only if absent: never overwritten
#   /usr/share/streetwatch/streetwatch.toml.default     reference copy of the default
#   /usr/lib/streetwatch/libonnxruntime.so.1.31.1
#   /usr/share/streetwatch/models/<id>/model.toml       from models/*/model.toml
#   /usr/share/doc/streetwatch/deployment.md
set -euo pipefail

ORT_VERSION=1.31.1
ORT_NAME="libonnxruntime.so.$ORT_VERSION"
DESTDIR="${DESTDIR:-}"
DESTDIR="${DESTDIR%/}"
dry_run=0
enable=1
binary=""
ort_lib="${STREETWATCH_ORT_LIB:-}"
platform=""

die() { echo "install.sh: error: $*" >&2; exit 1; }
note() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --no-enable) enable=0 ;;
        --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary="$2"; shift ;;
        --binary=*) binary="${1#*=}" ;;
        --ort-lib) [ $# -ge 2 ] || die "--ort-lib needs a path"; ort_lib="$2"; shift ;;
        --ort-lib=*) ort_lib="${1#*=}" ;;
        --platform) [ $# -ge 2 ] || die "--platform needs a name"; platform="$2"; shift ;;
        --platform=*) platform="${1#*=}" ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

cd "$(dirname "$0")/.."

# Runs a command, or prints it with --dry-run.
run() {
    if [ "$dry_run" -eq 1 ]; then
        printf '+'; printf ' %q' "$@"; printf '\n'
    else
        "$@"
    fi
}
# install_file MODE SRC DEST (DEST is relative to DESTDIR)
install_file() { run install -D -m "$1" "$2" "$DESTDIR$3"; }

# --- Inputs ---------------------------------------------------------------------------
if [ -z "$binary" ]; then
    for cand in target/release/streetwatch target/debug/streetwatch; do
        if [ -x "$cand" ]; then binary="$cand"; break; fi
    done
    [ -n "$binary" ] || die "no binary: build with 'cargo build --release' or pass --binary PATH"
    case "$binary" in */debug/*) note "warning: installing a debug build ($binary)";; esac
fi
[ -x "$binary" ] || die "binary $binary not found or not executable"

if [ -z "$ort_lib" ] && [ -f ".deps/onnxruntime/$ORT_NAME" ]; then
    ort_lib=".deps/onnxruntime/$ORT_NAME"
fi
if [ -n "$ort_lib" ]; then
    [ -f "$ort_lib" ] || die "ONNX Runtime library $ort_lib not found"
elif [ -f "$DESTDIR/usr/lib/streetwatch/$ORT_NAME" ]; then
    note "keeping the installed /usr/lib/streetwatch/$ORT_NAME"
else
    die "no $ORT_NAME: run scripts/setup.sh, or pass --ort-lib PATH / set STREETWATCH_ORT_LIB"
fi

if [ -n "$platform" ] && [ ! -f "systemd/streetwatch.service.d/$platform.conf.example" ]; then
    known=""
    for f in systemd/streetwatch.service.d/*.conf.example; do
        f="${f##*/}"; known="$known ${f%.conf.example}"
    done
    die "unknown platform '$platform' (known:$known)"
fi

if [ -z "$DESTDIR" ] && [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    die "installing into / needs root (or use DESTDIR=... / --dry-run)"
fi

note "installing into ${DESTDIR:-/}$([ "$dry_run" -eq 1 ] && echo ' (dry run)')"

# --- Files ----------------------------------------------------------------------------
install_file 0755 "$binary" /usr/bin/streetwatch
install_file 0644 systemd/streetwatch.service /lib/systemd/system/streetwatch.service
for f in systemd/streetwatch.service.d/*.conf.example; do
    install_file 0644 "$f" "/usr/share/streetwatch/systemd/$(basename "$f")"
done
if [ -n "$platform" ]; then
    install_file 0644 "systemd/streetwatch.service.d/$platform.conf.example" \
        /etc/systemd/system/streetwatch.service.d/platform.conf
fi
install_file 0644 systemd/streetwatch.sysusers /usr/lib/sysusers.d/streetwatch.conf
install_file 0644 systemd/streetwatch.tmpfiles /usr/lib/tmpfiles.d/streetwatch.conf

install_file 0644 config/streetwatch.toml /usr/share/streetwatch/streetwatch.toml.default
config="/etc/streetwatch/streetwatch.toml"
config_new=0
if [ -e "$DESTDIR$config" ]; then
    note "keeping existing $config (the new default is /usr/share/streetwatch/streetwatch.toml.default)"
else
    install_file 0600 config/streetwatch.toml "$config"
    config_new=1
fi

if [ -n "$ort_lib" ]; then
    install_file 0644 "$ort_lib" "/usr/lib/streetwatch/$ORT_NAME"
fi

models=0
for manifest in models/*/model.toml; do
    [ -e "$manifest" ] || continue
    id="$(basename "$(dirname "$manifest")")"
    install_file 0644 "$manifest" "/usr/share/streetwatch/models/$id/model.toml"
    models=$((models + 1))
done
[ "$models" -gt 0 ] || note "no model manifests under models/*/model.toml; none installed"

if [ -f docs/deployment.md ]; then
    install_file 0644 docs/deployment.md /usr/share/doc/streetwatch/deployment.md
fi

# --- System integration (only when installing into /) --------------------------------
if [ -n "$DESTDIR" ]; then
    note "staged into $DESTDIR; on the target run: systemd-sysusers, systemd-tmpfiles --create, systemctl enable streetwatch"
    exit 0
fi

if command -v systemd-sysusers >/dev/null 2>&1; then
    run systemd-sysusers /usr/lib/sysusers.d/streetwatch.conf
elif ! getent passwd streetwatch >/dev/null 2>&1; then
    # Pre-systemd-sysusers systems: the same user by hand.
    run useradd --system --user-group --home-dir /var/lib/streetwatch --no-create-home \
        --shell /usr/sbin/nologin --comment "streetwatch roadside edge box" streetwatch
fi
if command -v systemd-tmpfiles >/dev/null 2>&1; then
    run systemd-tmpfiles --create /usr/lib/tmpfiles.d/streetwatch.conf
else
    run install -d -m 0750 -o streetwatch -g streetwatch /var/lib/streetwatch \
        /var/lib/streetwatch/evidence /var/lib/streetwatch/outbox /var/lib/streetwatch/models \
        /var/cache/streetwatch /var/log/streetwatch /etc/streetwatch
fi
# The config carries camera passwords: readable by the service user only.
if [ "$config_new" -eq 1 ] || [ "$dry_run" -eq 1 ]; then
    run chown streetwatch:streetwatch /etc/streetwatch "$config"
    run chmod 0750 /etc/streetwatch
    run chmod 0600 "$config"
fi

if [ -d /run/systemd/system ] && [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
    run systemctl daemon-reload
    if [ "$enable" -eq 1 ]; then
        run systemctl enable streetwatch.service
        note "enabled streetwatch.service; edit $config, then: systemctl start streetwatch"
    fi
else
    note "systemd is not PID 1 here (container/chroot?): not running daemon-reload/enable;"
    note "on the box run: systemctl daemon-reload && systemctl enable --now streetwatch"
fi
note "done"
