#!/usr/bin/env bash
# streetwatch setup: everything `make test` / `make demo` need, idempotent.
#
#   1. Debian packages listed in scripts/debian-packages.txt (only the missing ones)
#   2. a Rust toolchain (checked, not installed: rustup is expected)
#   3. Python venv .deps/venv from scripts/requirements-dev.txt
#   4. ONNX Runtime shared library in .deps/onnxruntime/ (from the PyPI wheel)
#   5. test assets from scripts/assets.tsv, copied from the asset mirror
#      ($STREETWATCH_ASSET_MIRROR, default ../shared) or downloaded, sha256-checked
#
# A second run checks hashes and stamps and does nothing else. Apart from apt
# packages, nothing is written outside the repository (pip cache and temp files
# live under .deps/ too).
set -euo pipefail

# Resolve the mirror before changing directory, so a relative
# STREETWATCH_ASSET_MIRROR means relative to the caller's directory.
_mirror_in="${STREETWATCH_ASSET_MIRROR:-}"
if [ -n "$_mirror_in" ]; then
    _mirror_in="$(realpath -m -- "$_mirror_in")"
fi

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SW_ROOT"

MIRROR="${_mirror_in:-$(realpath -m -- "$SW_ROOT/../shared")}"
PACKAGES_FILE="scripts/debian-packages.txt"
ASSETS_FILE="scripts/assets.tsv"
REQUIREMENTS_FILE="scripts/requirements-dev.txt"
VENV="$SW_DEPS/venv"
SETUP_PYTHON="${STREETWATCH_SETUP_PYTHON:-python3}"

# Pinned sha256 of libonnxruntime.so.$SW_ORT_VERSION inside the PyPI wheel, per architecture.
ORT_SHA256_x86_64="fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3"
ORT_SHA256_aarch64="8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467"

log() { printf 'setup: %s\n' "$*"; }
warn() { printf 'setup: WARNING: %s\n' "$*" >&2; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }
sha_of() { sha256sum -- "$1" | cut -d' ' -f1; }
# sha256 of a directory's manifest (relative paths, sorted bytewise).
dir_sha_of() {
    (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
}

mkdir -p "$SW_DEPS"
# Serialise concurrent runs (e.g. `make test` and `make demo` at once).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$SW_DEPS/.setup.lock"
    flock 9
fi

export TMPDIR="$SW_DEPS/tmp"
rm -rf "$TMPDIR"
mkdir -p "$TMPDIR"
trap 'rm -rf "$TMPDIR"' EXIT
export PIP_CACHE_DIR="$SW_DEPS/cache/pip"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

summary=()

# --- 1. Debian packages -------------------------------------------------------
packages=()
while read -r pkg; do
    [ -n "$pkg" ] && packages+=("$pkg")
done < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$PACKAGES_FILE")

if ! command -v dpkg-query >/dev/null 2>&1; then
    warn "dpkg-query not found: not a Debian system? Install the equivalents of: ${packages[*]}"
    summary+=("apt skipped (no dpkg)")
else
    missing=()
    for pkg in "${packages[@]}"; do
        status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
        [ "$status" = installed ] || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        summary+=("apt: ${#packages[@]} packages present")
    else
        sudo_cmd=()
        if [ "$(id -u)" -ne 0 ]; then
            command -v sudo >/dev/null 2>&1 ||
                die "need root or sudo to install Debian packages: ${missing[*]}"
            sudo_cmd=(sudo)
        fi
        log "installing Debian packages: ${missing[*]}"
        "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
            die "apt-get update failed"
        "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "${missing[@]}" ||
            die "apt-get install failed for: ${missing[*]}"
        summary+=("apt: installed ${#missing[@]}")
    fi
fi

# --- 2. Rust toolchain -----------------------------------------------------------
command -v cargo >/dev/null 2>&1 ||
    die "cargo not found (PATH and ~/.cargo/bin). Install Rust with rustup (https://rustup.rs) and re-run."
cargo_version="$(cargo --version 2>&1)" ||
    die "cargo is installed but does not run: $cargo_version (rustup: is a default toolchain set?)"
summary+=("${cargo_version%% (*}")

# --- 3. Python venv ------------------------------------------------------------
req_sha="$(sha_of "$REQUIREMENTS_FILE")"
venv_stamp="$VENV/.streetwatch-requirements.sha256"
venv_imports='import onnxruntime, numpy, PIL, oelint_adv, onnx, cv2'
if [ -x "$VENV/bin/python" ] && [ "$(cat "$venv_stamp" 2>/dev/null || true)" = "$req_sha" ] &&
    "$VENV/bin/python" -c "$venv_imports" >/dev/null 2>&1; then
    summary+=("venv ok")
else
    if ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1; }; then
        command -v "$SETUP_PYTHON" >/dev/null 2>&1 ||
            die "$SETUP_PYTHON not found; it is needed to create .deps/venv"
        log "creating Python venv .deps/venv with $("$SETUP_PYTHON" --version 2>&1)"
        rm -rf "$VENV"
        "$SETUP_PYTHON" -m venv "$VENV" ||
            die "'$SETUP_PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
    fi
    log "installing $REQUIREMENTS_FILE into .deps/venv"
    "$VENV/bin/python" -m pip install -q -r "$REQUIREMENTS_FILE" ||
        die "pip install -r $REQUIREMENTS_FILE failed"
    "$VENV/bin/python" -c "$venv_imports" ||
        die "the venv does not import its packages ($venv_imports)"
    printf '%s\n' "$req_sha" >"$venv_stamp"
    summary+=("venv installed")
fi

# --- 4. ONNX Runtime shared library -------------------------------------------
arch="$(uname -m)"
case "$arch" in
    x86_64) ort_platform=manylinux_2_28_x86_64; ort_sha="$ORT_SHA256_x86_64" ;;
    aarch64 | arm64) ort_platform=manylinux_2_28_aarch64; ort_sha="$ORT_SHA256_aarch64" ;;
    *) die "unsupported architecture $arch: no onnxruntime $SW_ORT_VERSION wheel pinned for it" ;;
esac
ort_dir="$SW_DEPS/onnxruntime"
ort_name="libonnxruntime.so.$SW_ORT_VERSION"
if [ -f "$ort_dir/$ort_name" ] && [ "$(sha_of "$ort_dir/$ort_name")" = "$ort_sha" ]; then
    [ "$(readlink "$ort_dir/libonnxruntime.so" 2>/dev/null || true)" = "$ort_name" ] ||
        ln -sfn "$ort_name" "$ort_dir/libonnxruntime.so"
    summary+=("onnxruntime $SW_ORT_VERSION ok")
else
    log "fetching onnxruntime==$SW_ORT_VERSION wheel ($ort_platform) from PyPI"
    wheel_dir="$TMPDIR/ort-wheel"
    mkdir -p "$wheel_dir"
    "$VENV/bin/python" -m pip download -q --no-deps --only-binary=:all: \
        --python-version 3.12 --platform "$ort_platform" \
        "onnxruntime==$SW_ORT_VERSION" -d "$wheel_dir" ||
        die "pip download onnxruntime==$SW_ORT_VERSION ($ort_platform) failed"
    wheels=("$wheel_dir"/onnxruntime-"$SW_ORT_VERSION"-*.whl)
    [ -f "${wheels[0]}" ] || die "pip download produced no onnxruntime wheel in $wheel_dir"
    unzip -q -o -j "${wheels[0]}" "onnxruntime/capi/$ort_name" -d "$wheel_dir/lib" ||
        die "onnxruntime/capi/$ort_name not found in $(basename "${wheels[0]}")"
    got="$(sha_of "$wheel_dir/lib/$ort_name")"
    [ "$got" = "$ort_sha" ] ||
        die "sha256 mismatch for $ort_name from $(basename "${wheels[0]}"): expected $ort_sha, got $got"
    mkdir -p "$ort_dir"
    install -m 0755 "$wheel_dir/lib/$ort_name" "$ort_dir/$ort_name.part"
    mv -f "$ort_dir/$ort_name.part" "$ort_dir/$ort_name"
    ln -sfn "$ort_name" "$ort_dir/libonnxruntime.so"
    summary+=("onnxruntime $SW_ORT_VERSION installed")
fi

# --- 5. Test assets --------------------------------------------------------------
[ -d "$MIRROR" ] || log "asset mirror $MIRROR not found; downloading what has a pinned URL"
assets_ok=0 assets_fetched=0 assets_missing=0
asset_errors=()
while IFS=$'\t' read -r -u 3 dest mirror url sha || [ -n "${dest:-}" ]; do
    case "$dest" in '' | '#'* | dest) continue ;; esac
    if [ -z "$mirror" ] || [ -z "$url" ] || [ -z "$sha" ]; then
        die "$ASSETS_FILE: malformed line for '$dest' (need 4 tab-separated columns)"
    fi

    if [ "${dest%/}" != "$dest" ]; then
        # Directory asset: copied from the mirror only, checked by manifest hash.
        dest="${dest%/}" mirror="${mirror%/}"
        target="$SW_DEPS/$dest"
        if [ -d "$target" ] && [ "$(dir_sha_of "$target")" = "$sha" ]; then
            assets_ok=$((assets_ok + 1))
            continue
        fi
        if [ ! -d "$MIRROR/$mirror" ]; then
            assets_missing=$((assets_missing + 1))
            if [ -d "$target" ]; then
                warn ".deps/$dest differs from the pinned manifest and the mirror has no $mirror/ to repair it"
            else
                log "NOTE: .deps/$dest/ not available: the mirror lacks $MIRROR/$mirror/ and it has no download;" \
                    "tests that need it will say so"
            fi
            continue
        fi
        log "copying $MIRROR/$mirror/ -> .deps/$dest/"
        rm -rf "$target.part"
        mkdir -p "$target.part"
        cp -R --no-preserve=mode,ownership "$MIRROR/$mirror/." "$target.part/"
        chmod -R u+rwX "$target.part"
        got="$(dir_sha_of "$target.part")"
        if [ "$got" != "$sha" ]; then
            rm -rf "$target.part"
            asset_errors+=("manifest sha256 mismatch for directory $MIRROR/$mirror/ (.deps/$dest/): expected $sha, got $got (if the data set changed on purpose, update $ASSETS_FILE)")
            continue
        fi
        rm -rf "$target"
        mv "$target.part" "$target"
        assets_fetched=$((assets_fetched + 1))
        continue
    fi

    # Single file: mirror first, then the pinned URL; sha256 always checked.
    target="$SW_DEPS/$dest"
    if [ -f "$target" ]; then
        if [ "$(sha_of "$target")" = "$sha" ]; then
            assets_ok=$((assets_ok + 1))
            continue
        fi
        log "removing .deps/$dest: sha256 does not match the pin"
        rm -f "$target"
    fi
    mkdir -p "$(dirname "$target")"
    part="$target.part"
    rm -f "$part"
    if [ -f "$MIRROR/$mirror" ]; then
        from="$MIRROR/$mirror"
        log "copying $from -> .deps/$dest"
        install -m 0644 "$from" "$part"
    elif [ "$url" != "-" ]; then
        from="$url"
        log "downloading $url -> .deps/$dest (not in mirror $MIRROR)"
        if ! curl -fsSL --retry 2 --connect-timeout 20 --max-time 900 -o "$part" "$url"; then
            rm -f "$part"
            asset_errors+=("download failed for .deps/$dest from $url, and the mirror has no $MIRROR/$mirror (set STREETWATCH_ASSET_MIRROR to a directory that has it)")
            continue
        fi
        chmod 0644 "$part"
    else
        asset_errors+=(".deps/$dest: not in mirror ($MIRROR/$mirror) and no download URL")
        continue
    fi
    got="$(sha_of "$part")"
    if [ "$got" != "$sha" ]; then
        rm -f "$part"
        asset_errors+=("sha256 mismatch for .deps/$dest (from $from): expected $sha, got $got; file deleted")
        continue
    fi
    mv -f "$part" "$target"
    assets_fetched=$((assets_fetched + 1))
done 3<"$ASSETS_FILE"

if [ "${#asset_errors[@]}" -gt 0 ]; then
    for e in "${asset_errors[@]}"; do
        printf 'setup: ERROR: %s\n' "$e" >&2
    done
    die "${#asset_errors[@]} asset(s) failed (see above)"
fi
assets_note="assets: $assets_ok ok, $assets_fetched fetched"
[ "$assets_missing" -eq 0 ] || assets_note+=", $assets_missing unavailable"
summary+=("$assets_note")

summary_line="$(IFS=';'; printf '%s' "${summary[*]}")"
log "done in ${SECONDS}s: ${summary_line//;/; }"
