//! A test whose prerequisite is missing is reported as skipped, never as passed.
//!
//! libtest has no "skipped" outcome decided at run time: a test that returns early
//! counts as passed. So [`skip`] leaves a marker that `scripts/test.sh` counts. Under
//! test.sh (`STREETWATCH_SKIP_LOG` names a file) it appends `<test>\t<why>` to that file
//! and prints `*** SKIPPED: <test>: <why>`; test.sh then counts the test as skipped
//! instead of passed and names it in its summary line. Anywhere else (a plain
//! `cargo test`) nobody would count the marker, so the test fails instead, saying what
//! is missing.

use std::io::Write;

/// The running test's name: libtest runs each test on a thread named after it.
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string()
}

/// Report the running test as skipped because `why`; the caller returns right after.
/// Panics (fails the test) outside `scripts/test.sh`.
pub fn skip(why: &str) {
    let name = test_name();
    let why = why.replace(['\t', '\n'], " ");
    eprintln!("\n*** SKIPPED: {name}: {why}\n");
    let Some(path) = std::env::var_os("STREETWATCH_SKIP_LOG") else {
        panic!(
            "prerequisite missing: {why}. This test cannot pass without it: provide it, or run \
             the suite through scripts/test.sh (make test), which reports the test as skipped"
        );
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot record the skip in {path:?}: {e}"));
    // One write of one short line: O_APPEND keeps lines of parallel tests whole.
    f.write_all(format!("{name}\t{why}\n").as_bytes())
        .unwrap_or_else(|e| panic!("cannot record the skip in {path:?}: {e}"));
}
