//! Faults a box meets on the street, made real for a test: a small filesystem that
//! fills up (tmpfs, root only).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for one test; unmounted (lazily, so a late file handle cannot keep
/// it busy) when dropped.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    /// Mount `size_mb` of tmpfs at `dir`, or say why not. Mounting needs root (CI runs
    /// as root). Elsewhere the test is reported as skipped ([`super::skip`]: counted
    /// as such by scripts/test.sh, a failure anywhere else) and the caller gets `None`
    /// and must return; with STREETWATCH_REQUIRE_MOUNT=1 it fails instead.
    pub fn mount(dir: &Path, size_mb: u32) -> Option<Tmpfs> {
        let required = std::env::var("STREETWATCH_REQUIRE_MOUNT").is_ok_and(|v| v == "1");
        let skip = |why: String| {
            assert!(!required, "STREETWATCH_REQUIRE_MOUNT=1 but {why}");
            super::skip(&format!(
                "it needs to mount a tmpfs and {why}; run it as root (CI does)"
            ));
            None
        };
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return skip("this is not root".into());
        }
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_mb}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .unwrap();
        if !out.status.success() {
            return skip(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Some(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Write `path` until the filesystem says it is full; returns the bytes written.
pub fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0x5au8; 64 << 10];
    let mut n = 0;
    loop {
        match f.write(&block) {
            Ok(0) => return n,
            Ok(k) => n += k as u64,
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                return n;
            }
        }
    }
}
