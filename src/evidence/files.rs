//! Writing evidence files: atomically (temp + fsync + rename + directory fsync, via
//! [`write_atomic`]) and with their sha256, so a [`MediaRef`] is only ever handed out
//! for a file that is complete on disk and whose digest matches its bytes.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::EvidenceError;
use crate::config::write_atomic;
use crate::rules::event::{MediaKind, MediaRef};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EvidenceError + '_ {
    move |source| EvidenceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Hex sha256 of a file, streamed (clips can be tens of MB).
pub fn sha256_file(path: &Path) -> Result<String, EvidenceError> {
    let mut f = File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The folder of one event's evidence: `<dir>/<event id>/`. UUIDv7 ids sort by media
/// time, which is what [`super::retention`] relies on.
pub fn event_dir(dir: &Path, event_id: &str) -> PathBuf {
    dir.join(event_id)
}

/// Writes `bytes` atomically to `<dir>/<name>` and describes it.
pub fn write_media(
    dir: &Path,
    name: &str,
    kind: MediaKind,
    content_type: &str,
    bytes: &[u8],
) -> Result<MediaRef, EvidenceError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(name);
    write_atomic(&path, bytes).map_err(io(&path))?;
    Ok(MediaRef {
        name: name.to_string(),
        kind,
        content_type: content_type.to_string(),
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
        width: None,
        height: None,
        start_media_ns: None,
        end_media_ns: None,
        preroll_short: false,
        privacy_unredacted: false,
        stream: None,
        caption_px: None,
        caption: Vec::new(),
        local_path: Some(path),
    })
}

/// Publishes a file produced elsewhere (a muxer's output) under its final name: fsync
/// it, rename it over `final_path`, fsync the folder, then digest it.
pub fn publish(tmp: &Path, final_path: &Path) -> Result<(u64, String), EvidenceError> {
    File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(io(tmp))?;
    std::fs::rename(tmp, final_path).map_err(io(final_path))?;
    if let Some(dir) = final_path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    let bytes = std::fs::metadata(final_path).map_err(io(final_path))?.len();
    Ok((bytes, sha256_file(final_path)?))
}

/// Deletes the evidence of a candidate that never became an event (see
/// `FrameOutput::abandoned`). Missing folders are fine.
pub fn discard_event(root: &Path, event_id: &str) -> Result<(), EvidenceError> {
    let dir = event_dir(root, event_id);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(EvidenceError::Io { path: dir, source }),
    }
}
