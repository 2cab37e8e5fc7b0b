#!/usr/bin/env bash
# Build the streetwatch .deb for one architecture with dpkg-deb, from the same layout as
# scripts/install.sh (it stages the files) and the package metadata of
# [package.metadata.deb] in Cargo.toml (what `cargo deb` reads too).
#
#   scripts/package-deb.sh --arch amd64|arm64 [--binary PATH] [--ort-lib PATH] [--out DIR] [--fast]
#
# `make deb` builds both release binaries and runs this for amd64 and arm64:
#   target/deb/streetwatch_<version>-1_amd64.deb, target/deb/streetwatch_<version>-1_arm64.deb
#
# Defaults: --binary target/release/streetwatch (amd64) or
# target/aarch64-unknown-linux-gnu/release/streetwatch (arm64); --ort-lib the ONNX Runtime
# library that scripts/setup.sh fetched for that architecture (.deps/onnxruntime/ or
# .deps/onnxruntime-aarch64/); --out target/deb. --fast compresses with gzip -1 instead
# of xz (scripts/checks/deb.sh: the contents are the same, the compression takes seconds).
#
# Depends: Cargo.toml's list, where `$auto` becomes the packages that ship the shared
# libraries the binary and the ONNX Runtime library link against (readelf NEEDED), at
# least the upstream version built against: on amd64 found with dpkg-query on this
# machine, on arm64 in the sysroot's index (.deps/aarch64-sysroot/.streetwatch-files.tsv,
# written by scripts/aarch64/sysroot-index.sh). What dpkg-shlibdeps would do if the arm64
# libraries were installed here.
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SW_ROOT"

die() { echo "package-deb.sh: error: $*" >&2; exit 1; }

arch="" binary="" ort_lib="" out=target/deb
compress=(-Zxz)
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) [ $# -ge 2 ] || die "--arch needs amd64 or arm64"; arch="$2"; shift ;;
        --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary="$2"; shift ;;
        --ort-lib) [ $# -ge 2 ] || die "--ort-lib needs a path"; ort_lib="$2"; shift ;;
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out="$2"; shift ;;
        --fast) compress=(-Zgzip -z1) ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

ort_name="libonnxruntime.so.$SW_ORT_VERSION"
case "$arch" in
    amd64)
        machine="Advanced Micro Devices X86-64"
        : "${binary:=target/release/streetwatch}"
        : "${ort_lib:=$SW_DEPS/onnxruntime/$ort_name}"
        ;;
    arm64)
        machine="AArch64"
        : "${binary:=target/aarch64-unknown-linux-gnu/release/streetwatch}"
        : "${ort_lib:=$SW_DEPS/onnxruntime-aarch64/$ort_name}"
        sysroot_index="$SW_DEPS/aarch64-sysroot/.streetwatch-files.tsv"
        [ -f "$sysroot_index" ] || die "$sysroot_index missing: run make setup (it builds the arm64 sysroot)"
        ;;
    *) die "--arch must be amd64 or arm64 (got '${arch}')" ;;
esac
[ -x "$binary" ] || die "no binary $binary: build it (make deb builds both)"
[ -f "$ort_lib" ] || die "no ONNX Runtime library $ort_lib: run make setup"

elf_machine() { readelf -h "$1" 2>/dev/null | sed -n 's/^ *Machine: *//p'; }
for f in "$binary" "$ort_lib"; do
    got="$(elf_machine "$f")"
    [ "$got" = "$machine" ] || die "$f is built for '${got:-not ELF}', not $arch ($machine)"
done

# --- Metadata from Cargo.toml ---------------------------------------------------------
meta="$(python3 - <<'EOF'
import tomllib
with open("Cargo.toml", "rb") as f:
    c = tomllib.load(f)
p, d = c["package"], c["package"]["metadata"]["deb"]
def field(k, v):
    print(f"{k}\t{v}")
field("name", p["name"])
field("version", p["version"])
field("summary", p["description"])
field("extended", " ".join(d.get("extended-description", "").split()))
field("maintainer", d["maintainer"])
field("section", d.get("section", "misc"))
field("priority", d.get("priority", "optional"))
field("depends", d.get("depends", "$auto"))
field("recommends", d.get("recommends", ""))
field("license", p.get("license", ""))
field("conffiles", " ".join(d.get("conf-files", [])))
field("scripts", d.get("maintainer-scripts", ""))
EOF
)" || die "cannot read [package.metadata.deb] from Cargo.toml"
get() { printf '%s\n' "$meta" | awk -F'\t' -v k="$1" '$1 == k { sub(/^[^\t]*\t/, ""); print; exit }'; }
name="$(get name)" version="$(get version)-1"

# --- $auto: the packages of the libraries both ELF files need --------------------------
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p'; }
# package_of SONAME -> "package<TAB>version" of the package that ships it in the
# architecture's library directories (exact file-name match: sonames hold regex
# characters, e.g. libstdc++.so.6).
package_of() {
    if [ "$arch" = amd64 ]; then
        local pkg
        pkg="$(dpkg-query -S "*/$1" 2>/dev/null | awk -v so="$1" '{
                i = index($0, ": "); p = substr($0, 1, i - 1); f = substr($0, i + 2)
                if (f == "/lib/x86_64-linux-gnu/" so || f == "/usr/lib/x86_64-linux-gnu/" so ||
                    f == "/lib64/" so || f == "/usr/lib64/" so) { sub(/,.*/, "", p); print p; exit }
            }')"
        [ -n "$pkg" ] || return 1
        printf '%s\t%s\n' "${pkg%:amd64}" "$(dpkg-query -W -f='${Version}' "$pkg")"
    else
        awk -F'\t' -v so="$1" '
            $3 == "/lib/aarch64-linux-gnu/" so || $3 == "/usr/lib/aarch64-linux-gnu/" so ||
            $3 == "/lib/" so || $3 == "/usr/lib/" so { print $1 "\t" $2; found = 1; exit }
            END { exit !found }' "$sysroot_index"
    fi
}
auto=()
missing=()
while read -r so; do
    if hit="$(package_of "$so")"; then
        pkg="${hit%%$'\t'*}" ver="${hit#*$'\t'}"
        ver="${ver%-*}"   # upstream version: the Debian revision of the build machine is not a requirement
        auto+=("$pkg (>= $ver)")
    else
        missing+=("$so")
    fi
done < <({ needed "$binary"; needed "$ort_lib"; } | sort -u)
[ "${#missing[@]}" -eq 0 ] || die "no $arch package ships: ${missing[*]}"
auto_list="$(printf '%s\n' "${auto[@]}" | sort -u | paste -sd, - | sed 's/,/, /g')"
depends="$(get depends)"
depends="${depends//\$auto/$auto_list}"

# --- Stage ----------------------------------------------------------------------------
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$work/root"
DESTDIR="$stage" scripts/install.sh --binary "$binary" --ort-lib "$ort_lib" --no-enable >/dev/null ||
    die "scripts/install.sh could not stage the files"
# Debug info out (as dh_strip and cargo-deb do); the symbol table stays, so a
# watchdog SIGABRT backtrace in the journal still names functions.
strip_tool=strip
[ "$arch" = amd64 ] || strip_tool=aarch64-linux-gnu-strip
"$strip_tool" --strip-debug "$stage/usr/bin/streetwatch" || die "$strip_tool failed on the binary"
install -d -m 0755 "$stage/usr/share/doc/$name"
cat >"$stage/usr/share/doc/$name/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $name

Files: *
Copyright: streetwatch maintainers
License: $(get license)

Files: usr/lib/streetwatch/$ort_name
Copyright: Microsoft Corporation
License: MIT
Comment: ONNX Runtime $SW_ORT_VERSION from the onnxruntime PyPI wheel.
EOF
chmod 0644 "$stage/usr/share/doc/$name/copyright"

install -d -m 0755 "$stage/DEBIAN"
for f in $(get conffiles); do
    [ -f "$stage$f" ] || die "conffile $f is not in the staged package"
    printf '%s\n' "$f"
done >"$stage/DEBIAN/conffiles"
scripts_dir="$(get scripts)"
if [ -n "$scripts_dir" ]; then
    for s in preinst postinst prerm postrm; do
        [ -f "$scripts_dir/$s" ] && install -m 0755 "$scripts_dir/$s" "$stage/DEBIAN/$s"
    done
fi
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
size_kib="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
{
    echo "Package: $name"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: $(get maintainer)"
    echo "Installed-Size: $size_kib"
    echo "Depends: $depends"
    recommends="$(get recommends)"
    [ -z "$recommends" ] || echo "Recommends: $recommends"
    echo "Section: $(get section)"
    echo "Priority: $(get priority)"
    echo "Description: $(get summary)"
    get extended | fold -s -w 78 | sed 's/ *$//; s/^/ /'
} >"$stage/DEBIAN/control"

mkdir -p "$out"
deb="$out/${name}_${version}_${arch}.deb"
dpkg-deb --root-owner-group "${compress[@]}" --build "$stage" "$deb" >/dev/null || die "dpkg-deb failed"
echo "package-deb.sh: $deb ($(du -h "$deb" | cut -f1); $(elf_machine "$binary") binary from $binary)"
