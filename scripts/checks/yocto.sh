#!/usr/bin/env bash
# Static checks of the Yocto layer yocto/meta-streetwatch (run from the repository root).
# A real `bitbake` build cannot run here (it fetches poky, meta-openembedded, meta-rauc,
# BSP layers and every source archive); these checks catch what can be caught offline:
#   1. the crate list (streetwatch-crates.inc) matches Cargo.lock;
#   2. conf/layer.conf declares the collection and LAYERSERIES_COMPAT with scarthgap;
#   3. every recipe sets LICENSE and LIC_FILES_CHKSUM, the fetching ones SRC_URI, and the
#      daemon recipe inherits cargo;
#   4. oelint-adv reports no errors (warnings and infos are printed but allowed).
# oelint-adv comes from .deps/venv (scripts/setup.sh); when missing it is installed there.
set -euo pipefail

LAYER=yocto/meta-streetwatch
OELINT_VERSION="${OELINT_VERSION:-9.11.2}"
fail() { echo "yocto check FAILED: $*" >&2; exit 1; }

[ -d "$LAYER" ] || fail "$LAYER not found (run from the repository root)"

# 1. Crate list.
python3 scripts/gen-yocto-crates.py --check || fail "crate list out of date (see above)"

# 2. layer.conf.
conf="$LAYER/conf/layer.conf"
[ -f "$conf" ] || fail "$conf missing"
for var in BBPATH BBFILES BBFILE_COLLECTIONS BBFILE_PATTERN_streetwatch BBFILE_PRIORITY_streetwatch LAYERDEPENDS_streetwatch; do
    grep -Eq "^${var}[[:space:]]*(\+|\.|\?|:)?=" "$conf" || fail "$conf does not set $var"
done
grep -Eq '^LAYERSERIES_COMPAT_streetwatch[[:space:]]*=[[:space:]]*"[^"]*\bscarthgap\b' "$conf" \
    || fail "$conf: LAYERSERIES_COMPAT_streetwatch must contain scarthgap"
echo "ok: $conf (collection streetwatch, LAYERSERIES_COMPAT has scarthgap)"

# 3. Required variables in recipes.
sets() { grep -Eq "^$2[[:space:]]*(\?\?|\?|\+|:)?=" "$1"; }
while IFS= read -r bb; do
    sets "$bb" LICENSE || fail "$bb: LICENSE not set"
    sets "$bb" LIC_FILES_CHKSUM || fail "$bb: LIC_FILES_CHKSUM not set"
    case "$bb" in
        */images/*|*/bundles/*) ;;  # assemble other recipes' output; nothing to fetch
        *) grep -Eq '^SRC_URI(:[a-z0-9_-]+)?[[:space:]]*(\+|\?)?=' "$bb" || fail "$bb: SRC_URI not set" ;;
    esac
done < <(find "$LAYER" -name '*.bb' | sort)
main_bb="$LAYER/recipes-streetwatch/streetwatch/streetwatch_git.bb"
grep -Eq '^inherit[[:space:]].*\bcargo\b' "$main_bb" || fail "$main_bb must inherit cargo"
grep -Eq '^require[[:space:]]+streetwatch-crates\.inc' "$main_bb" || fail "$main_bb must require streetwatch-crates.inc"
grep -Eq '^SYSTEMD_SERVICE:\$\{PN\}[[:space:]]*=.*streetwatch\.service' "$main_bb" || fail "$main_bb: SYSTEMD_SERVICE"
grep -Eq '^USERADD_PARAM:\$\{PN\}' "$main_bb" || fail "$main_bb: USERADD_PARAM"
echo "ok: recipes set LICENSE, LIC_FILES_CHKSUM, SRC_URI; streetwatch inherits cargo"

# 4. oelint-adv.
venv=.deps/venv
oelint="$venv/bin/oelint-adv"
if [ ! -x "$oelint" ]; then
    echo "oelint-adv not in $venv; installing oelint-adv==$OELINT_VERSION there" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" || fail "cannot create $venv"
    "$venv/bin/pip" install --quiet "oelint-adv==$OELINT_VERSION" || fail "pip install oelint-adv failed"
fi
# A venv moved or half-built leaves a script whose interpreter is gone: fail, never
# report a lint that did not run.
oelint_version="$("$oelint" --version 2>&1)" || fail "oelint-adv does not run ($oelint: $oelint_version); delete .deps/venv and run make setup"
echo "using $oelint_version"

mapfile -t files < <(cd "$LAYER" && find . \( -name '*.bb' -o -name '*.bbappend' -o -name '*.inc' \) | sort)
# --extra-layer: variables of the layers we depend on (meta-rauc's RAUC_*);
# oelint-constants.json: our distro, the SoC overrides the distro conf maps to
# platforms, and our own variables. Rules are suppressed only inline (`# nooelint:`),
# each with the reason next to it.
out="$(cd "$LAYER" && "../../$oelint" "${files[@]}" \
    --release scarthgap --relpaths --jobs 1 --quiet \
    --extra-layer rauc multimedia-layer openembedded-layer \
    --constantmods +../oelint-constants.json 2>&1)" || true
printf '%s\n' "$out" | grep -v ':info:' | sed 's/^/  /' || true
errors="$(printf '%s\n' "$out" | grep -c ':error:' || true)"
warnings="$(printf '%s\n' "$out" | grep -c ':warning:' || true)"
if [ "$errors" -ne 0 ]; then
    fail "oelint-adv: $errors error(s) in $LAYER (listed above)"
fi
if printf '%s\n' "$out" | grep -Eq 'Traceback|Bad command line'; then
    fail "oelint-adv did not run cleanly"
fi
echo "ok: oelint-adv: 0 errors, $warnings warning(s) over ${#files[@]} files"
