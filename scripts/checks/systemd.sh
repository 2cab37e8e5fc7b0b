#!/usr/bin/env bash
# Static checks of the systemd integration (run from the repository root):
#   1. `systemd-analyze verify` of systemd/streetwatch.service alone and with each
#      platform drop-in from systemd/streetwatch.service.d/*.conf.example;
#   2. `systemd-analyze security --offline=yes` of the same combinations, asserting an
#      overall exposure level no higher than measured when the hardening was last
#      reviewed: 1.2 for the base unit, 1.6 with a platform drop-in (those switch off
#      PrivateDevices/PrivateUsers for their device nodes). MAX_EXPOSURE overrides both;
#   3. no directory the service can write (StateDirectory=, CacheDirectory=,
#      LogsDirectory=, ConfigurationDirectory=, ReadWritePaths=, /tmp, /var/tmp) is
#      executable: each lies under a NoExecPaths= entry and under no more specific
#      ExecPaths= entry. /run/streetwatch (RuntimeDirectory=) is the one exception: ORC
#      maps the code it generates from there;
#   4. systemd-sysusers and systemd-tmpfiles applied to a scratch --root.
#
# Works without systemd as PID 1 (containers, CI): `verify`, `security --offline=yes`
# (systemd >= 252), `sysusers --root` and `tmpfiles --root` only read files.
#
# `verify` insists that ExecStart='s binary exists and is executable. The daemon is not
# installed at /usr/bin/streetwatch here, so the unit is checked from a scratch copy
# whose ExecStart points at target/debug/streetwatch (or target/release/streetwatch)
# when built, else /bin/true. Only the path changes; every other line is the real unit.
set -euo pipefail

BASE_EXPOSURE="${MAX_EXPOSURE:-1.2}"
DROPIN_EXPOSURE="${MAX_EXPOSURE:-1.6}"
UNIT_SRC=systemd/streetwatch.service
DROPIN_DIR=systemd/streetwatch.service.d

fail() { echo "systemd check FAILED: $*" >&2; exit 1; }

[ -f "$UNIT_SRC" ] || fail "$UNIT_SRC not found (run from the repository root)"

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze missing; installing the systemd package" >&2
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
    else
        fail "systemd-analyze not found; install the 'systemd' package (needs root and apt-get)"
    fi
fi
echo "using $(systemd-analyze --version | head -n1)"

fake_exec=/bin/true
for cand in target/debug/streetwatch target/release/streetwatch; do
    if [ -x "$cand" ]; then fake_exec="$(pwd)/$cand"; break; fi
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Writes the unit (plus optional drop-in) to $work/<name>/ and echoes the unit's path.
stage() {
    local name="$1" dropin="${2:-}"
    local dir="$work/$name"
    mkdir -p "$dir"
    sed -e "s#^ExecStart=/usr/bin/streetwatch #ExecStart=$fake_exec #" "$UNIT_SRC" >"$dir/streetwatch.service"
    grep -q "^ExecStart=$fake_exec " "$dir/streetwatch.service" \
        || fail "could not rewrite ExecStart= in $UNIT_SRC (expected 'ExecStart=/usr/bin/streetwatch ...')"
    if [ ! -x /bin/kill ]; then
        sed -i -e "s#^ExecReload=/bin/kill #ExecReload=$(command -v kill || echo /bin/true) #" "$dir/streetwatch.service"
    fi
    if [ -n "$dropin" ]; then
        mkdir -p "$dir/streetwatch.service.d"
        cp "$dropin" "$dir/streetwatch.service.d/platform.conf"
    fi
    echo "$dir/streetwatch.service"
}

combos=("base:")
for d in "$DROPIN_DIR"/*.conf.example; do
    [ -e "$d" ] || continue
    combos+=("$(basename "$d" .conf.example):$d")
done

# Values of directive $1 in the unit and drop-in files given, one per line, without
# the "ignore if missing" dash.
values() {
    local key="$1"; shift
    grep -h "^$key=" "$@" 2>/dev/null | sed "s/^$key=//" | tr ' ' '\n' | sed 's/^-//' | grep -v '^$' || true
}

# The longest NoExecPaths=/ExecPaths= entry that covers $1, as "noexec <path>" or
# "exec <path>" (nothing when none does).
governing() {
    local path="$1" best="" kind=""; shift
    local p
    for p in $NOEXEC; do
        if [ "$p" = / ] || [ "$path" = "$p" ] || [[ "$path" == "$p"/* ]]; then
            if [ ${#p} -gt ${#best} ] || [ -z "$kind" ]; then best="$p"; kind=noexec; fi
        fi
    done
    for p in $EXEC; do
        if [ "$p" = / ] || [ "$path" = "$p" ] || [[ "$path" == "$p"/* ]]; then
            if [ ${#p} -ge ${#best} ] || [ -z "$kind" ]; then best="$p"; kind=exec; fi
        fi
    done
    [ -n "$kind" ] && echo "$kind $best"
}

# Step 3 for one staged unit directory.
check_noexec() {
    local dir="$1" label="$2" files
    files=("$dir/streetwatch.service")
    [ -f "$dir/streetwatch.service.d/platform.conf" ] && files+=("$dir/streetwatch.service.d/platform.conf")
    NOEXEC="$(values NoExecPaths "${files[@]}")"
    EXEC="$(values ExecPaths "${files[@]}")"
    [ -n "$NOEXEC" ] || fail "$label has no NoExecPaths="
    local writable=(/tmp /var/tmp) d
    for d in $(values StateDirectory "${files[@]}"); do writable+=("/var/lib/$d"); done
    for d in $(values CacheDirectory "${files[@]}"); do writable+=("/var/cache/$d"); done
    for d in $(values LogsDirectory "${files[@]}"); do writable+=("/var/log/$d"); done
    for d in $(values ConfigurationDirectory "${files[@]}"); do writable+=("/etc/$d"); done
    for d in $(values ReadWritePaths "${files[@]}"); do writable+=("$d"); done
    [ ${#writable[@]} -gt 4 ] || fail "$label: found no writable directories to check"
    for d in "${writable[@]}"; do
        case "$(governing "$d")" in
            noexec*) ;;
            *) fail "$label: $d is writable but not covered by NoExecPaths= (or an ExecPaths= entry re-enables it)" ;;
        esac
    done
    # What must run stays executable.
    for d in /usr/bin/streetwatch /usr/lib/streetwatch/libonnxruntime.so /usr/lib/x86_64-linux-gnu/gstreamer-1.0 /run/streetwatch; do
        case "$(governing "$d")" in
            exec*) ;;
            *) fail "$label: $d must stay executable (ExecPaths=)" ;;
        esac
    done
    echo "ok: $label: ${#writable[@]} writable directories are noexec; the binary, ONNX Runtime, GStreamer and ORC's /run/streetwatch are not"
}

status=0
for combo in "${combos[@]}"; do
    name="${combo%%:*}"
    dropin="${combo#*:}"
    unit="$(stage "$name" "$dropin")"
    label="streetwatch.service${dropin:+ + $(basename "$dropin")}"

    # verify exits 0 on some warnings; any line naming our unit is treated as a problem.
    if ! out="$(systemd-analyze verify --man=no "$unit" 2>&1)"; then
        echo "$out" >&2
        fail "systemd-analyze verify rejected $label"
    fi
    if printf '%s\n' "$out" | grep -q 'streetwatch'; then
        echo "$out" >&2
        fail "systemd-analyze verify warned about $label"
    fi

    check_noexec "$(dirname "$unit")" "$label"

    if [ -n "$dropin" ]; then max="$DROPIN_EXPOSURE"; else max="$BASE_EXPOSURE"; fi
    sec="$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1)" || true
    score="$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for streetwatch.service: \([0-9][0-9.]*\).*/\1/p' | tail -n1)"
    if [ -z "$score" ]; then
        echo "$sec" >&2
        fail "could not read the exposure level of $label"
    fi
    if awk -v s="$score" -v m="$max" 'BEGIN { exit !(s + 0 <= m + 0) }'; then
        echo "ok: $label: verify clean, exposure $score (<= $max)"
    else
        printf '%s\n' "$sec" | grep '✗' >&2 || true
        echo "systemd check FAILED: $label exposure $score > $max (items marked ✗ above)" >&2
        status=1
    fi
done

# sysusers.d / tmpfiles.d, applied to a scratch root.
root="$work/root"
mkdir -p "$root/etc" "$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d"
cp systemd/streetwatch.sysusers "$root/usr/lib/sysusers.d/streetwatch.conf"
cp systemd/streetwatch.tmpfiles "$root/usr/lib/tmpfiles.d/streetwatch.conf"
systemd-sysusers --root="$root" >/dev/null 2>&1 || fail "systemd-sysusers rejected systemd/streetwatch.sysusers"
grep -q '^streetwatch:' "$root/etc/passwd" || fail "streetwatch.sysusers does not create user streetwatch"
grep -q '^streetwatch:' "$root/etc/group" || fail "streetwatch.sysusers does not create group streetwatch"
if [ "$(id -u)" -eq 0 ]; then
    out="$(systemd-tmpfiles --root="$root" --create 2>&1)" || { echo "$out" >&2; fail "systemd-tmpfiles rejected systemd/streetwatch.tmpfiles"; }
    uid="$(awk -F: '$1=="streetwatch"{print $3}' "$root/etc/passwd")"
    for d in evidence outbox models; do
        p="$root/var/lib/streetwatch/$d"
        [ -d "$p" ] || fail "tmpfiles did not create /var/lib/streetwatch/$d"
        [ "$(stat -c '%a %u' "$p")" = "750 $uid" ] || fail "/var/lib/streetwatch/$d is $(stat -c '%a %u' "$p"), want 750 streetwatch"
    done
    echo "ok: sysusers and tmpfiles applied to a scratch root"
else
    # Without root, tmpfiles cannot chown; check the syntax only.
    systemd-tmpfiles --root="$root" --dry-run --create >/dev/null 2>&1 \
        || echo "note: not root; tmpfiles only parsed (ownership not checked)"
    echo "ok: sysusers applied to a scratch root (tmpfiles ownership needs root)"
fi

exit "$status"
