#!/bin/sh
# mmdebstrap --extract-hook for the arm64 sysroot (scripts/setup.sh, section 6): the
# extract variant unpacks packages without registering them with dpkg, so `dpkg -S`
# cannot say which package ships a library. This writes that index while the .deb files
# are still in the apt cache:
#   $1/.streetwatch-files.tsv    package <TAB> version <TAB> /path  (shared libraries)
# scripts/package-deb.sh reads it to turn the arm64 binary's NEEDED libraries into
# Depends: (what dpkg-shlibdeps does for packages installed on the build machine).
set -eu
root="$1"
out="$root/.streetwatch-files.tsv"
: >"$out.part"
for deb in "$root"/var/cache/apt/archives/*.deb; do
    pkg="$(dpkg-deb --field "$deb" Package)"
    ver="$(dpkg-deb --field "$deb" Version)"
    dpkg-deb --fsys-tarfile "$deb" | tar -t |
        sed -n -e 's#^\./#/#' -e '/\.so[.0-9]*$/p' |
        awk -v p="$pkg" -v v="$ver" '{ printf "%s\t%s\t%s\n", p, v, $0 }' >>"$out.part"
done
[ -s "$out.part" ] || { echo "sysroot-index.sh: no .deb in $root/var/cache/apt/archives" >&2; exit 1; }
mv "$out.part" "$out"
