//! Root-only files of the web page (key, password hash, setup code): written atomically
//! with mode 0600 from the first byte, so no other user can read them even briefly.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Write `bytes` to `path` (mode 0600) so a crash leaves the old or the new content.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::config::write_atomic_mode(path, bytes, 0o600)
}

/// Create `dir` (and parents) with mode 0700 when missing.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    if !dir.is_dir() {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Mode bits of a file, for tests.
#[cfg(test)]
pub fn mode(path: &Path) -> std::io::Result<u32> {
    Ok(fs::metadata(path)?.permissions().mode() & 0o777)
}
