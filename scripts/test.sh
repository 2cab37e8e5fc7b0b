#!/usr/bin/env bash
# streetwatch test runner (run scripts/setup.sh first; `make test` does both).
#
#   1. cargo build --locked --bins
#   2. cargo test --locked --no-fail-fast -- --test-threads=2
#   3. every executable scripts/checks/*.sh (systemd, Yocto lint, aarch64, .deb, ...);
#      exit 0 = pass, 77 = skipped (the check says why), anything else = fail
#
# Every step runs even if an earlier one failed (the tests are skipped only
# when the build fails). Exits non-zero if anything failed. The last line is
#   summary: N passed, N failed, N skipped
# counting each Rust test and each check script once.
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SW_ROOT"

export STREETWATCH_ORT_LIB="$SW_DEPS/onnxruntime/libonnxruntime.so.$SW_ORT_VERSION"
export STREETWATCH_ASSETS="$SW_DEPS"
export STREETWATCH_PYTHON="$SW_DEPS/venv/bin/python"

log() { printf 'test.sh: %s\n' "$*"; }

for f in "$STREETWATCH_ORT_LIB" "$STREETWATCH_PYTHON"; do
    [ -e "$f" ] || log "WARNING: $f is missing; run scripts/setup.sh (or make setup)"
done

passed=0 failed=0 skipped=0
failed_steps=()
log_dir="$SW_ROOT/target/test-logs"
mkdir -p "$log_dir"

# 1. build
build_ok=1
log "cargo build --locked --bins"
if ! cargo build --locked --bins; then
    build_ok=0
    failed=$((failed + 1))
    failed_steps+=("cargo build")
fi

# 2. Rust tests
if [ "$build_ok" -eq 1 ]; then
    log "cargo test --locked --no-fail-fast -- --test-threads=2"
    cargo_log="$log_dir/cargo-test.log"
    set +e
    cargo test --locked --no-fail-fast -- --test-threads=2 2>&1 | tee "$cargo_log"
    rc=${PIPESTATUS[0]}
    set -e
    # Add up "test result: ok. 3 passed; 0 failed; 1 ignored; ..." lines.
    read -r p f i < <(awk '
        /^test result:/ {
            for (n = 1; n <= NF; n++) {
                if ($(n) ~ /^passed;?$/)  p += $(n-1)
                if ($(n) ~ /^failed;?$/)  f += $(n-1)
                if ($(n) ~ /^ignored;?$/) i += $(n-1)
            }
        }
        END { printf "%d %d %d\n", p, f, i }' "$cargo_log")
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + i))
    if [ "$rc" -ne 0 ]; then
        # A failure that is not a failed test (compile error, crashed test binary).
        [ "$f" -gt 0 ] || failed=$((failed + 1))
        failed_steps+=("cargo test (exit $rc)")
    fi
else
    log "skipping cargo test: the build failed"
fi

# 3. check scripts
shopt -s nullglob
checks=(scripts/checks/*.sh)
shopt -u nullglob
for check in "${checks[@]}"; do
    if [ ! -x "$check" ]; then
        log "WARNING: $check is not executable (chmod +x); not run"
        skipped=$((skipped + 1))
        continue
    fi
    log "running $check"
    set +e
    "$check"
    rc=$?
    set -e
    if [ "$rc" -eq 0 ]; then
        log "PASS $check"
        passed=$((passed + 1))
    elif [ "$rc" -eq 77 ]; then
        # 77: the check does not apply on this machine and said why (automake's SKIP).
        log "SKIPPED $check"
        skipped=$((skipped + 1))
    else
        log "FAIL $check (exit $rc)"
        failed=$((failed + 1))
        failed_steps+=("$check")
    fi
done
[ "${#checks[@]}" -gt 0 ] || log "no scripts/checks/*.sh to run"

if [ "${#failed_steps[@]}" -gt 0 ]; then
    log "FAILED: $(IFS=','; printf '%s' "${failed_steps[*]}" | sed 's/,/, /g')"
    status=1
else
    log "all steps passed"
    status=0
fi
echo "summary: $passed passed, $failed failed, $skipped skipped"
exit "$status"
