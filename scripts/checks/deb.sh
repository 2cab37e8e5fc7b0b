#!/usr/bin/env bash
# The .deb packages for amd64 and arm64 (issue 17): built by scripts/package-deb.sh,
# the script `make deb` runs on release builds, here from the binaries this CI run
# already has (target/debug/streetwatch from scripts/test.sh, and
# target/aarch64-unknown-linux-gnu/cross-ci/streetwatch from checks/aarch64.sh, which
# runs first; built when missing) and with fast compression. Each package is extracted
# into a scratch root (dpkg -x) and checked:
#   1. control: name, version, architecture, the Depends the files need (the libraries,
#      systemd, procps for ExecReload=/bin/kill, the GStreamer plugins), conffiles,
#      maintainer scripts;
#   2. /usr/bin/streetwatch and /usr/lib/streetwatch/libonnxruntime.so.1.31.1 are built
#      for the package's architecture, and the library is the pinned one (sha256 pins in
#      scripts/setup.sh): the arm64 package carries the aarch64 ONNX Runtime;
#   3. `systemd-analyze verify --root=<scratch root>` of the installed unit, alone and
#      with each installed platform drop-in (the root also gets the unit files and
#      commands of the packages the unit relies on, as Depends installs them);
#   4. every absolute path the unit names is in the package or in a package it Depends
#      on, and every /usr, /etc or /lib path README's install section names is in it;
#   5. the packaged binary runs from the scratch root with the packaged ONNX Runtime
#      (arm64 under qemu): --version, and detect on a frame loads the library.
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
cd "$SW_ROOT"

fail() { echo "deb check FAILED: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

if [ "$(uname -m)" != x86_64 ]; then
    echo "*** SKIPPED deb check: it packages an x86 and a cross-built arm64 binary; this machine is $(uname -m)"
    exit 77
fi
command -v dpkg-deb >/dev/null 2>&1 || fail "dpkg-deb missing (Debian package dpkg)"
command -v systemd-analyze >/dev/null 2>&1 || fail "systemd-analyze missing: run make setup"

amd64_bin=target/debug/streetwatch
arm64_bin=target/aarch64-unknown-linux-gnu/cross-ci/streetwatch
cargo build --locked --bin streetwatch >/dev/null 2>&1 || fail "cargo build (x86) failed"
scripts/cross-aarch64.sh --profile cross-ci >/dev/null || fail "cross build failed (scripts/cross-aarch64.sh --profile cross-ci)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out="$work/deb"
for arch in amd64 arm64; do
    bin_var="${arch}_bin"
    scripts/package-deb.sh --arch "$arch" --binary "${!bin_var}" --out "$out" --fast ||
        fail "scripts/package-deb.sh --arch $arch failed"
done

# Pinned ONNX Runtime hashes, read from setup.sh so there is one place for them.
pin_of() { sed -n "s/^ORT_SHA256_$1=\"\([0-9a-f]*\)\"/\1/p" scripts/setup.sh; }
version="$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["package"]["version"])')-1"
unit=lib/systemd/system/streetwatch.service

# README's install section (from the heading that starts with "Install" to the next
# heading of the same or a higher level): the paths in the first column of its table of
# what the package installs.
readme_paths="$(awk '
    /^#+ / { lvl = length($1) }
    /^#+ Install/ { on = 1; level = lvl; next }
    on && /^#+ / && lvl <= level { on = 0 }
    on && /^\| `\// { split($0, cell, "|"); print cell[2] }' README.md |
    grep -o '`/[^` ]*`' | tr -d '`' | grep -E '^/(usr|etc|lib)/' | sort -u)"
[ -n "$readme_paths" ] || fail "README.md's install section has no table of installed /usr, /etc or /lib paths"

for arch in amd64 arm64; do
    deb="$out/streetwatch_${version}_${arch}.deb"
    [ -f "$deb" ] || fail "$deb was not built"
    root="$work/root-$arch"
    mkdir -p "$root"
    dpkg -x "$deb" "$root" || fail "dpkg -x $deb"
    ctl="$work/control-$arch"
    dpkg-deb -e "$deb" "$ctl" || fail "dpkg-deb -e $deb"

    # 1. Control.
    field() { sed -n "s/^$1: //p" "$ctl/control"; }
    [ "$(field Package)" = streetwatch ] || fail "$arch: Package is '$(field Package)'"
    [ "$(field Version)" = "$version" ] || fail "$arch: Version is '$(field Version)', want $version"
    [ "$(field Architecture)" = "$arch" ] || fail "$arch: Architecture is '$(field Architecture)'"
    depends="$(field Depends)"
    dep_names=" $(printf '%s' "$depends" | sed 's/([^)]*)//g; s/,/ /g') "
    for need in libc6 libglib2.0-0 libgstreamer1.0-0 libgstreamer-plugins-base1.0-0 \
        libgstrtspserver-1.0-0 libstdc++6 systemd procps gstreamer1.0-plugins-good \
        gstreamer1.0-plugins-bad gstreamer1.0-libav; do
        case "$dep_names" in *" $need "*) ;; *) fail "$arch: Depends lacks $need: $depends" ;; esac
    done
    grep -qx /etc/streetwatch/streetwatch.toml "$ctl/conffiles" || fail "$arch: the config is not a conffile"
    for s in postinst prerm postrm; do
        [ -x "$ctl/$s" ] || fail "$arch: maintainer script $s missing or not executable"
    done
    [ "$(stat -c %a "$root/etc/streetwatch/streetwatch.toml")" = 600 ] ||
        fail "$arch: /etc/streetwatch/streetwatch.toml is not 0600 (it holds camera passwords)"
    ok "$arch: control (Depends: $depends)"

    # 2. Architecture of the binaries; the pinned ONNX Runtime.
    case "$arch" in
        amd64) machine="Advanced Micro Devices X86-64" pin="$(pin_of x86_64)" ;;
        arm64) machine="AArch64" pin="$(pin_of aarch64)" ;;
    esac
    ort="$root/usr/lib/streetwatch/libonnxruntime.so.$SW_ORT_VERSION"
    for f in "$root/usr/bin/streetwatch" "$ort"; do
        [ -f "$f" ] || fail "$arch: ${f#"$root"} not in the package"
        got="$(readelf -h "$f" | sed -n 's/^ *Machine: *//p')"
        [ "$got" = "$machine" ] || fail "$arch: ${f#"$root"} is built for '$got', not $machine"
    done
    [ -n "$pin" ] && [ "$(sha256sum "$ort" | cut -d' ' -f1)" = "$pin" ] ||
        fail "$arch: ${ort#"$root"} is not the pinned onnxruntime $SW_ORT_VERSION ($machine) library"
    ok "$arch: /usr/bin/streetwatch and ONNX Runtime $SW_ORT_VERSION are $machine (library sha256 pinned)"

    # 4 (first, since verify needs the same list). Paths the unit names: in the package,
    # or shipped by a package it Depends on (looked up on this Debian 12 machine, whose
    # package names are the same for both architectures).
    unit_paths="$(grep -v '^[[:space:]]*#' "$root/$unit" | grep -oE '(^|[ =:])/[A-Za-z0-9_./-]+' |
        sed 's/^[ =:]//' | grep -vE '^/(var|run|dev|proc|sys|tmp)(/|$)' | sort -u)"
    from_deps=()
    for p in $unit_paths; do
        [ -e "$root$p" ] && continue
        owner="$(dpkg-query -S "$p" 2>/dev/null | head -n1 | sed 's/: .*//; s/:[a-z0-9]*$//')" || true
        [ -n "$owner" ] || fail "$arch: the unit names $p, which neither the package nor any installed package ships"
        case "$dep_names" in
            *" $owner "*) from_deps+=("$p") ;;
            *) fail "$arch: the unit names $p from package $owner, which is not in Depends ($depends)" ;;
        esac
    done
    for p in $readme_paths; do
        # `<id>`-style placeholders match any one path component.
        pattern="$root$(printf '%s' "$p" | sed 's/<[^>]*>/*/g')"
        compgen -G "$pattern" >/dev/null || fail "$arch: README's install section names $p, which the package does not install"
    done
    ok "$arch: unit paths in the package or its Depends (${from_deps[*]:-none needed}); README's $(wc -w <<<"$readme_paths") install paths present"

    # 3. systemd-analyze verify in the scratch root, with what Depends would provide.
    cp -an /usr/lib/systemd/system/. "$root/lib/systemd/system/" ||
        fail "cannot copy this machine's systemd units into the scratch root"
    for p in "${from_deps[@]}"; do
        install -D -m 0755 "$p" "$root$p"
    done
    verify() {
        local label="$1" o
        if ! o="$(systemd-analyze verify --root="$root" --man=no "/$unit" 2>&1)" ||
            printf '%s\n' "$o" | grep -q streetwatch; then
            printf '%s\n' "$o" >&2
            fail "$arch: systemd-analyze verify rejected the installed unit ($label)"
        fi
    }
    verify "alone"
    dropins=("$root"/usr/share/streetwatch/systemd/*.conf.example)
    [ -f "${dropins[0]}" ] || fail "$arch: no platform drop-ins in /usr/share/streetwatch/systemd/"
    for d in "${dropins[@]}"; do
        mkdir -p "$root/etc/systemd/system/streetwatch.service.d"
        cp "$d" "$root/etc/systemd/system/streetwatch.service.d/platform.conf"
        verify "with $(basename "$d")"
    done
    rm -rf "$root/etc/systemd/system/streetwatch.service.d"
    ok "$arch: systemd-analyze verify --root: unit alone and with ${#dropins[@]} platform drop-ins"

    # 5. The packaged binary with the packaged ONNX Runtime, from the scratch root.
    frame="$work/frame.jpg"
    [ -f "$frame" ] || cp "$(find "$SW_DEPS/datasets/rdd2022-sample/images" -name '*.jpg' | sort | head -n1)" "$frame" 2>/dev/null ||
        fail "no sample image in .deps/datasets/rdd2022-sample/images: run make setup"
    cfg="$work/detect-$arch.toml"
    printf '[inference]\nmodels_dir = "%s"\nweights_dir = "%s"\n' \
        "$root/usr/share/streetwatch/models" "$SW_DEPS/models" >"$cfg"
    if [ "$arch" = amd64 ]; then
        run=(env STREETWATCH_ORT_LIB="$ort" "$root/usr/bin/streetwatch")
    else
        run=(env STREETWATCH_AARCH64_ORT_LIB="$ort" scripts/aarch64/qemu.sh "$root/usr/bin/streetwatch")
    fi
    v="$("${run[@]}" --version)" || fail "$arch: the packaged binary does not run"
    [ "$v" = "streetwatch ${version%-1}" ] || fail "$arch: --version says '$v'"
    "${run[@]}" detect --json --config "$cfg" "$frame" >"$work/detect-$arch.json" ||
        fail "$arch: detect with the packaged ONNX Runtime failed"
    grep -q '"detections"' "$work/detect-$arch.json" || fail "$arch: detect printed no result"
    ok "$arch: the packaged binary runs (${v}) and detect loads the packaged ONNX Runtime"
done
echo "ok: both packages built and inspected: $(cd "$out" && ls -- *.deb | paste -sd' ' -)"
