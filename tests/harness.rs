//! The test harness itself: a test whose prerequisite is missing can never count as
//! passed. Under `scripts/test.sh` it is counted and named as skipped; anywhere else it
//! fails. Checked end to end: this test runs itself as a child test binary with a
//! missing prerequisite, then feeds the child's real output to `scripts/test.sh
//! --summarize`.

mod support;

use std::process::Command;

/// Set in the child: play the test whose prerequisite is missing.
const CHILD: &str = "STREETWATCH_HARNESS_CHILD";
const WHY: &str = "the prerequisite of this self-test is missing on purpose";

fn child(skip_log: Option<&std::path::Path>) -> std::process::Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", &support::skip::test_name(), "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("STREETWATCH_SKIP_LOG");
    if let Some(p) = skip_log {
        cmd.env("STREETWATCH_SKIP_LOG", p);
    }
    cmd.output().unwrap()
}

#[test]
fn a_test_with_a_missing_prerequisite_is_counted_skipped_by_test_sh_and_fails_elsewhere() {
    if std::env::var_os(CHILD).is_some() {
        return support::skip(WHY);
    }
    let name = support::skip::test_name();
    let dir = tempfile::tempdir().unwrap();
    let skip_log = dir.path().join("skipped.tsv");

    // Under test.sh: the test itself passes, and leaves its name and reason behind.
    let out = child(Some(&skip_log));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(&format!("test {name} ... ok")), "{stdout}");
    let recorded = std::fs::read_to_string(&skip_log).unwrap();
    assert_eq!(recorded, format!("{name}\t{WHY}\n"));

    // test.sh counts it as skipped, not passed, and names it.
    let cargo_log = dir.path().join("cargo-test.log");
    std::fs::write(&cargo_log, &stdout).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test.sh");
    let sum = Command::new("bash")
        .arg(&script)
        .arg("--summarize")
        .arg(&cargo_log)
        .arg(&skip_log)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&sum.stdout);
    assert!(sum.status.success(), "{text}");
    assert!(
        text.contains(&format!("test.sh: SKIPPED {name}: {WHY}")),
        "{text}"
    );
    assert_eq!(
        text.lines().last().unwrap(),
        format!("summary: 0 passed, 0 failed, 1 skipped (skipped: {name})")
    );

    // Anywhere else (a plain cargo test) the same test fails, saying what is missing.
    let out = child(None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("test {name} ... FAILED")),
        "{stdout}"
    );
    assert!(stdout.contains("prerequisite missing"), "{stdout}");
}
