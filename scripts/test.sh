#!/usr/bin/env bash
# streetwatch test runner (run scripts/setup.sh first; `make test` does both).
#
#   0. in the background, `scripts/setup.sh --aarch64` (the arm64 sysroot is mostly a
#      download: it overlaps the x86 build instead of adding to the run), then the
#      aarch64 cross build at nice 19 (it uses the CPU the tests leave idle); its log is
#      target/test-logs/setup-aarch64.log and the checks wait for it
#   1. cargo build --locked --bins
#   2. cargo test --locked --no-fail-fast -- --test-threads=2
#   3. every executable scripts/checks/*.sh (systemd, Yocto lint, aarch64, .deb, ...);
#      exit 0 = pass, 77 = skipped (the check says why), anything else = fail
#
# Every step runs even if an earlier one failed (the tests are skipped only
# when the build fails). Exits non-zero if anything failed. The last line is
#   summary: N passed, N failed, N skipped
# counting each Rust test and each check script once, followed by
# " (skipped: NAME, ...)" when a test was skipped.
#
# A test whose prerequisite is missing (no root for a tmpfs, a data set that has no
# download) never counts as passed: it calls tests/support/skip.rs, which appends
# "<test>\t<why>" to $STREETWATCH_SKIP_LOG (set here) and prints
# "*** SKIPPED: <test>: <why>"; this script moves each such test from passed to
# skipped and names it. Without STREETWATCH_SKIP_LOG (a plain `cargo test`) such a
# test fails instead. `#[ignore]`d tests count as skipped too.
#
#   scripts/test.sh --summarize CARGO_LOG SKIP_LOG
# only counts an existing cargo test log and skip log and prints the summary
# (scripts/checks/test-summary.sh feeds it a made-up log to prove the counting).
set -euo pipefail

log() { printf 'test.sh: %s\n' "$*"; }
# Wall seconds since the start, so the log shows where a CI run's minutes go.
stamp() { printf 'test.sh: [%4d s] %s\n' "$SECONDS" "$*"; }

# Count a cargo test log: sets t_passed, t_failed, t_skipped and skipped_list
# ("name: why" per skipped test). Tests recorded in SKIP_LOG move from passed to
# skipped; a recorded test that FAILED stays a failure.
tally() {
    local cargo_log=$1 skip_log=$2 name why
    # Add up "test result: ok. 3 passed; 0 failed; 1 ignored; ..." lines.
    read -r t_passed t_failed t_skipped < <(awk '
        /^test result:/ {
            for (n = 1; n <= NF; n++) {
                if ($(n) ~ /^passed;?$/)  p += $(n-1)
                if ($(n) ~ /^failed;?$/)  f += $(n-1)
                if ($(n) ~ /^ignored;?$/) i += $(n-1)
            }
        }
        END { printf "%d %d %d\n", p, f, i }' "$cargo_log")
    skipped_list=()
    [ -s "$skip_log" ] || return 0
    local -A seen=()
    while IFS=$'\t' read -r name why; do
        [ -n "$name" ] || continue
        [ -z "${seen[$name]:-}" ] || continue
        seen[$name]=1
        if grep -qxF "test $name ... FAILED" "$cargo_log"; then
            log "WARNING: $name reported a skip ($why) and then FAILED; counted as failed"
            continue
        fi
        grep -qxF "test $name ... ok" "$cargo_log" ||
            log "WARNING: $name reported a skip but its result line is not in the log; counted as skipped"
        t_passed=$((t_passed - 1)) t_skipped=$((t_skipped + 1))
        skipped_list+=("$name: $why")
    done <"$skip_log"
}

# "summary: ..." line; skipped tests named.
summary() {
    local names=() entry
    for entry in "${skipped_list[@]}"; do
        log "SKIPPED $entry"
        names+=("${entry%%: *}")
    done
    if [ "${#names[@]}" -gt 0 ]; then
        echo "summary: $1 passed, $2 failed, $3 skipped (skipped: $(IFS=','; printf '%s' "${names[*]}" | sed 's/,/, /g'))"
    else
        echo "summary: $1 passed, $2 failed, $3 skipped"
    fi
}

if [ "${1:-}" = "--summarize" ]; then
    [ "$#" -eq 3 ] || { echo "usage: $0 --summarize CARGO_LOG SKIP_LOG" >&2; exit 2; }
    tally "$2" "$3"
    summary "$t_passed" "$t_failed" "$t_skipped"
    [ "$t_failed" -eq 0 ]
    exit
fi

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SW_ROOT"

export STREETWATCH_ORT_LIB="$SW_DEPS/onnxruntime/libonnxruntime.so.$SW_ORT_VERSION"
export STREETWATCH_ASSETS="$SW_DEPS"
export STREETWATCH_PYTHON="$SW_DEPS/venv/bin/python"

for f in "$STREETWATCH_ORT_LIB" "$STREETWATCH_PYTHON"; do
    [ -e "$f" ] || log "WARNING: $f is missing; run scripts/setup.sh (or make setup)"
done

passed=0 failed=0 skipped=0
failed_steps=()
skipped_list=()
log_dir="$SW_ROOT/target/test-logs"
mkdir -p "$log_dir"
export STREETWATCH_SKIP_LOG="$log_dir/skipped.tsv"
: >"$STREETWATCH_SKIP_LOG"

# 0. the aarch64 cross setup, in the background (needed only by the aarch64 and .deb
# checks at the end). It takes setup's lock, so it never runs beside another setup.
# Then, on x86_64, the cross build itself at the lowest CPU priority: it soaks up the
# CPU the tests leave idle (most of them wait on media time) instead of adding its
# minutes after them; the aarch64 check's own cross build is then a no-op (and redoes
# it, reporting any error, if this one failed).
aarch64_setup_log="$log_dir/setup-aarch64.log"
log "scripts/setup.sh --aarch64 and the aarch64 cross build in the background (log: ${aarch64_setup_log#"$SW_ROOT"/})"
(
    scripts/setup.sh --aarch64 || exit
    if [ "$(uname -m)" = x86_64 ] && [ "${STREETWATCH_SKIP_AARCH64:-0}" != 1 ]; then
        echo "test.sh: cross build at nice 19 (scripts/cross-aarch64.sh --profile cross-ci)"
        nice -n 19 scripts/cross-aarch64.sh --profile cross-ci || echo "test.sh: background cross build failed; the aarch64 check retries it"
        echo "test.sh: background cross build done after $SECONDS s"
    fi
) >"$aarch64_setup_log" 2>&1 </dev/null &
aarch64_setup_pid=$!

# 1. build. Not incremental: a CI run builds from cold, where incremental caches are
# only extra work (set CARGO_INCREMENTAL=1 to keep them for repeated local runs).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
build_ok=1
stamp "cargo build --locked --bins"
if ! cargo build --locked --bins; then
    build_ok=0
    failed=$((failed + 1))
    failed_steps+=("cargo build")
fi

# 2. Rust tests
if [ "$build_ok" -eq 1 ]; then
    stamp "cargo test --locked --no-fail-fast -- --test-threads=2"
    cargo_log="$log_dir/cargo-test.log"
    set +e
    cargo test --locked --no-fail-fast -- --test-threads=2 2>&1 | tee "$cargo_log"
    rc=${PIPESTATUS[0]}
    set -e
    tally "$cargo_log" "$STREETWATCH_SKIP_LOG"
    p=$t_passed f=$t_failed
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + t_skipped))
    if [ "$rc" -ne 0 ]; then
        # A failure that is not a failed test (compile error, crashed test binary).
        [ "$f" -gt 0 ] || failed=$((failed + 1))
        failed_steps+=("cargo test (exit $rc)")
    fi
else
    log "skipping cargo test: the build failed"
fi

# 3. check scripts, once the aarch64 setup is done (a failure there makes the aarch64
# and .deb checks fail, naming what is missing; its log is shown here).
stamp "waiting for scripts/setup.sh --aarch64 and the background cross build"
if wait "$aarch64_setup_pid"; then
    grep -E '^(setup: done|test\.sh: )' "$aarch64_setup_log" || true
    tail -n 1 "$aarch64_setup_log"
else
    log "WARNING: scripts/setup.sh --aarch64 failed:"
    tail -n 20 "$aarch64_setup_log"
fi

# 3. check scripts
shopt -s nullglob
checks=(scripts/checks/*.sh)
shopt -u nullglob
for check in "${checks[@]}"; do
    if [ ! -x "$check" ]; then
        log "WARNING: $check is not executable (chmod +x); not run"
        skipped=$((skipped + 1))
        skipped_list+=("$check: not executable")
        continue
    fi
    stamp "running $check"
    set +e
    "$check"
    rc=$?
    set -e
    stamp "$check finished (exit $rc)"
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

stamp "all steps run"
if [ "${#failed_steps[@]}" -gt 0 ]; then
    log "FAILED: $(IFS=','; printf '%s' "${failed_steps[*]}" | sed 's/,/, /g')"
    status=1
else
    log "all steps passed"
    status=0
fi
summary "$passed" "$failed" "$skipped"
exit "$status"
