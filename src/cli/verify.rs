//! `streetwatch verify EVENT.json [--media DIR] [--pubkey KEY]`: check an event's
//! signature and, given the reassembled media, every file's size and sha256.

use anyhow::Context;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::ExitCode;
use streetwatch::uplink::signing;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The event JSON as received on `…/events`.
    event: PathBuf,
    /// Directory holding the event's media files under their `name`.
    #[arg(long)]
    media: Option<PathBuf>,
    /// The device public key (base64 or hex, as published on `…/status`), or a file
    /// holding it. Default: the local box's key in /var/lib/streetwatch.
    #[arg(long)]
    pubkey: Option<String>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&a.event)
        .with_context(|| format!("cannot read {}", a.event.display()))?;
    let event: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", a.event.display()))?;
    let key_text = match &a.pubkey {
        Some(k) if std::path::Path::new(k).is_file() => std::fs::read_to_string(k)?,
        Some(k) => k.clone(),
        None => {
            let p = PathBuf::from("/var/lib/streetwatch").join(signing::PUBKEY_FILE);
            std::fs::read_to_string(&p)
                .with_context(|| format!("no --pubkey given and {} is unreadable", p.display()))?
        }
    };
    let key = signing::parse_public_key(&key_text).map_err(anyhow::Error::msg)?;
    let mut failed = false;
    match signing::verify_value(&event, &key) {
        Ok(()) => println!("signature: OK (key {})", signing::key_id(&key)),
        Err(e) => {
            println!("signature: FAILED: {e}");
            failed = true;
        }
    }
    if let Some(dir) = &a.media {
        let dropped = event["evidence_dropped"].as_bool().unwrap_or(false);
        for m in event["media"].as_array().into_iter().flatten() {
            let name = m["name"].as_str().unwrap_or_default();
            if name.is_empty() || name.contains('/') || name.contains("..") {
                println!("media {name:?}: FAILED: unsafe file name");
                failed = true;
                continue;
            }
            let path = dir.join(name);
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let sha = hex::encode(Sha256::digest(&bytes));
                    let ok = Some(sha.as_str()) == m["sha256"].as_str()
                        && Some(bytes.len() as u64) == m["bytes"].as_u64();
                    println!(
                        "media {name}: {}",
                        if ok {
                            "OK"
                        } else {
                            "FAILED: size or sha256 differs"
                        }
                    );
                    failed |= !ok;
                }
                Err(_) if dropped => println!("media {name}: absent (evidence_dropped)"),
                Err(e) => {
                    println!("media {name}: FAILED: {}: {e}", path.display());
                    failed = true;
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
