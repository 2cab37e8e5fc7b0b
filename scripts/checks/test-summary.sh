#!/usr/bin/env bash
# Self-test of scripts/test.sh's counting (run from the repository root): a made-up
# cargo test log and skip log go through `scripts/test.sh --summarize`, and the summary
# must count a test that reported a missing prerequisite as skipped (never passed),
# name it, keep a test that skipped and then failed as failed, and add #[ignore]d tests
# to skipped. tests/harness.rs checks the same with a real test binary's output.
set -euo pipefail

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

fail() { printf 'test-summary: FAIL: %s\n' "$*" >&2; exit 1; }

# Two binaries' worth of output, interleaved with noise the way cargo prints it.
cat >"$dir/cargo.log" <<'LOG'
     Running tests/uplink.rs (target/debug/deps/uplink-0123456789abcdef)

running 4 tests
test broker_outage ... ok
test a_full_disk_refuses_new_events ... ok
test slow_one has been running for over 60 seconds
test slow_one ... ok
test skipped_then_broken ... FAILED

test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 61.20s

     Running tests/infer_models.rs (target/debug/deps/infer_models-fedcba9876543210)

running 3 tests
test rdd_matches_the_python_onnxruntime_reference_box_by_box ... ok
test yolox_matches ... ok
test manual_only ... ignored

test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 3.00s
LOG
printf '%s\t%s\n' \
    a_full_disk_refuses_new_events "it needs to mount a tmpfs and this is not root" \
    rdd_matches_the_python_onnxruntime_reference_box_by_box ".deps/datasets/rdd2022-sample is missing" \
    skipped_then_broken "no data" >"$dir/skipped.tsv"

set +e
out=$(bash scripts/test.sh --summarize "$dir/cargo.log" "$dir/skipped.tsv")
rc=$?
set -e
printf '%s\n' "$out"
[ "$rc" -ne 0 ] || fail "a failed test must make the summary fail (exit $rc)"
want="summary: 3 passed, 1 failed, 3 skipped (skipped: a_full_disk_refuses_new_events, rdd_matches_the_python_onnxruntime_reference_box_by_box)"
[ "$(printf '%s\n' "$out" | tail -n 1)" = "$want" ] || fail "expected: $want"
grep -qxF "test.sh: SKIPPED a_full_disk_refuses_new_events: it needs to mount a tmpfs and this is not root" <<<"$out" ||
    fail "the skipped test and its reason are not listed"

# Nothing skipped: the plain summary, exit 0.
sed -e 's/^test skipped_then_broken ... FAILED$/test skipped_then_broken ... ok/' \
    -e 's/^test result: FAILED. 3 passed; 1 failed/test result: ok. 4 passed; 0 failed/' \
    "$dir/cargo.log" >"$dir/ok.log"
: >"$dir/none.tsv"
out=$(bash scripts/test.sh --summarize "$dir/ok.log" "$dir/none.tsv") || fail "exit $? without failures"
[ "$(printf '%s\n' "$out" | tail -n 1)" = "summary: 6 passed, 0 failed, 1 skipped" ] ||
    fail "unexpected summary: $out"
echo "test-summary: ok"
