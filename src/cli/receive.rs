//! `streetwatch receive --mqtt mqtt://HOST:PORT --prefix streetwatch/<device> --out DIR`:
//! the platform's side of the MQTT uplink, for integrators and tests. It subscribes to
//! `<prefix>/#` with a persistent session, verifies each event's signature (with
//! `--pubkey`, else the key the box publishes on its retained `status`), de-duplicates
//! phases by `(id, phase, seq)`, reassembles media from their chunks on disk and checks
//! size and sha256, and stores what arrived in `DIR/cases.sqlite` and `DIR/<id>/`.
//! One line per stored phase and file goes to stdout, so a developer sees exactly
//! what arrives.

use anyhow::Context;
use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};
use rusqlite::{Connection, params};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use streetwatch::uplink::signing;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Broker URL, `mqtt://host:port` (plain MQTT; put the receiver next to the broker).
    #[arg(long)]
    mqtt: String,
    /// Topic prefix of the box (`[uplink] topic_prefix`, e.g. `streetwatch/box-7`).
    #[arg(long)]
    prefix: String,
    /// Where cases.sqlite and the event folders go.
    #[arg(long)]
    out: PathBuf,
    /// The box's public key (base64 or hex) or a file holding it. Default: trust the
    /// key in the box's retained `status` message (printed once).
    #[arg(long)]
    pubkey: Option<String>,
    /// MQTT user name; the password comes from STREETWATCH_RECEIVE_PASSWORD (never an
    /// argument, so it stays out of `ps`).
    #[arg(long)]
    username: Option<String>,
    /// MQTT client id (a persistent session per id: messages published while the
    /// receiver was away are delivered when it comes back).
    #[arg(long, default_value = "streetwatch-receive")]
    client_id: String,
}

/// Largest chunk count a manifest may announce (64 KiB chunks: 64 GiB).
const MAX_CHUNKS: u64 = 1 << 20;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT NOT NULL, phase TEXT NOT NULL, seq INTEGER NOT NULL,
    kind TEXT NOT NULL, code TEXT NOT NULL, signature TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (event_id, phase, seq));
CREATE TABLE IF NOT EXISTS media (
    event_id TEXT NOT NULL, name TEXT NOT NULL, bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (event_id, name));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

/// An id or file name safe to use as one path component.
fn safe(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

struct Receiver {
    db: Connection,
    out: PathBuf,
    prefix: String,
    key: Option<ed25519_dalek::VerifyingKey>,
}

impl Receiver {
    fn bump(&self, name: &str) -> rusqlite::Result<()> {
        self.db.execute(
            "INSERT INTO counters (name, value) VALUES (?1, 1)
             ON CONFLICT(name) DO UPDATE SET value = value + 1",
            params![name],
        )?;
        Ok(())
    }

    fn on_message(&mut self, topic: &str, payload: &[u8]) -> anyhow::Result<()> {
        let Some(rest) = topic.strip_prefix(&format!("{}/", self.prefix)) else {
            return Ok(());
        };
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["status"] => self.on_status(payload),
            ["events"] => self.on_event(payload),
            ["events", id, "media", name] => self.on_manifest(id, name, payload),
            ["events", id, "media", name, index] => self.on_chunk(id, name, index, payload),
            _ => Ok(()),
        }
    }

    fn on_status(&mut self, payload: &[u8]) -> anyhow::Result<()> {
        let v: Value = serde_json::from_slice(payload).unwrap_or_default();
        if self.key.is_none()
            && let Some(k) = v["public_key"].as_str()
            && let Ok(key) = signing::parse_public_key(k)
        {
            println!(
                "status: trusting the key the box published (key {})",
                signing::key_id(&key)
            );
            self.key = Some(key);
        }
        Ok(())
    }

    fn on_event(&mut self, payload: &[u8]) -> anyhow::Result<()> {
        let Ok(v) = serde_json::from_slice::<Value>(payload) else {
            println!("event: FAILED: not JSON ({} bytes)", payload.len());
            self.bump("refused")?;
            return Ok(());
        };
        let id = v["id"].as_str().unwrap_or_default();
        let phase = v["phase"].as_str().unwrap_or_default();
        let Some(seq) = v["seq"].as_u64() else {
            println!("event {id:?}: FAILED: no seq");
            self.bump("refused")?;
            return Ok(());
        };
        if !safe(id) || !matches!(phase, "started" | "updated" | "ended") {
            println!("event {id:?}: FAILED: bad id or phase");
            self.bump("refused")?;
            return Ok(());
        }
        let signature = match &self.key {
            None => "unchecked (no key yet)".to_string(),
            Some(k) => match signing::verify_value(&v, k) {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("FAILED: {e}"),
            },
        };
        let kind = v["kind"].as_str().unwrap_or_default();
        let code = v["category"]["code"].as_str().unwrap_or_default();
        let new = self.db.execute(
            "INSERT OR IGNORE INTO events
             (event_id, phase, seq, kind, code, signature, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                phase,
                seq as i64,
                kind,
                code,
                signature,
                chrono::Utc::now().to_rfc3339()
            ],
        )? == 1;
        if !new {
            self.bump("duplicates")?;
            return Ok(());
        }
        let dir = self.out.join(id);
        std::fs::create_dir_all(&dir)?;
        write_atomic(
            &dir.join(format!("{phase}-{seq}.json")),
            &serde_json::to_vec_pretty(&v)?,
        )?;
        println!("event {id} {phase} {seq} kind={kind} code={code} signature={signature}");
        Ok(())
    }

    fn parts_dir(&self, id: &str, name: &str) -> PathBuf {
        self.out.join(".parts").join(id).join(name)
    }

    fn on_manifest(&mut self, id: &str, name: &str, payload: &[u8]) -> anyhow::Result<()> {
        if !safe(id) || !safe(name) {
            self.bump("refused")?;
            return Ok(());
        }
        let dir = self.parts_dir(id, name);
        std::fs::create_dir_all(&dir)?;
        write_atomic(&dir.join("manifest.json"), payload)?;
        self.try_assemble(id, name)
    }

    fn on_chunk(
        &mut self,
        id: &str,
        name: &str,
        index: &str,
        payload: &[u8],
    ) -> anyhow::Result<()> {
        let Ok(i) = index.parse::<u64>() else {
            return Ok(());
        };
        if !safe(id) || !safe(name) || i >= MAX_CHUNKS {
            self.bump("refused")?;
            return Ok(());
        }
        let dir = self.parts_dir(id, name);
        std::fs::create_dir_all(&dir)?;
        // A chunk sent twice (QoS 1) overwrites itself with the same bytes.
        write_atomic(&dir.join(format!("{i}.part")), payload)?;
        self.try_assemble(id, name)
    }

    /// Once the manifest and every chunk are on disk: concatenate, check size and
    /// sha256, move the file next to the event, record it.
    fn try_assemble(&mut self, id: &str, name: &str) -> anyhow::Result<()> {
        let dir = self.parts_dir(id, name);
        let Ok(text) = std::fs::read(dir.join("manifest.json")) else {
            return Ok(());
        };
        let m: Value = serde_json::from_slice(&text).unwrap_or_default();
        let (Some(chunks), Some(bytes), Some(sha)) = (
            m["chunks"].as_u64(),
            m["bytes"].as_u64(),
            m["sha256"].as_str(),
        ) else {
            return Ok(());
        };
        if chunks == 0 || chunks > MAX_CHUNKS {
            // Dropped on the box (`evidence_dropped`): nothing will come.
            let reason = m["dropped_reason"].as_str().unwrap_or("no chunks");
            self.record(id, name, bytes, sha, &format!("dropped: {reason}"))?;
            std::fs::remove_dir_all(&dir).ok();
            return Ok(());
        }
        if !(0..chunks).all(|i| dir.join(format!("{i}.part")).exists()) {
            return Ok(());
        }
        let target = self.out.join(id);
        std::fs::create_dir_all(&target)?;
        let tmp = target.join(format!(".{name}.tmp"));
        let mut f = std::fs::File::create(&tmp)?;
        let mut h = Sha256::new();
        let mut n = 0u64;
        for i in 0..chunks {
            let b = std::fs::read(dir.join(format!("{i}.part")))?;
            h.update(&b);
            n += b.len() as u64;
            f.write_all(&b)?;
        }
        f.sync_all()?;
        let got = hex::encode(h.finalize());
        let state = if got == sha && n == bytes {
            "ok".to_string()
        } else {
            format!("FAILED: {n} bytes sha256 {got}, manifest says {bytes} bytes {sha}")
        };
        std::fs::rename(&tmp, target.join(name))?;
        std::fs::remove_dir_all(&dir).ok();
        self.record(id, name, n, &got, &state)
    }

    fn record(
        &self,
        id: &str,
        name: &str,
        bytes: u64,
        sha: &str,
        state: &str,
    ) -> anyhow::Result<()> {
        let new = self.db.execute(
            "INSERT OR IGNORE INTO media (event_id, name, bytes, sha256, state)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, name, bytes as i64, sha, state],
        )? == 1;
        if new {
            println!("media {id}/{name} {bytes} bytes sha256={state}");
        }
        Ok(())
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let url = url::Url::parse(&a.mqtt).with_context(|| format!("{} is not a URL", a.mqtt))?;
    anyhow::ensure!(
        url.scheme() == "mqtt",
        "--mqtt {}: only mqtt://host:port is supported (run the receiver next to the broker)",
        a.mqtt
    );
    let host = url.host_str().context("--mqtt needs a host")?.to_string();
    let port = url.port().unwrap_or(1883);
    let key = match &a.pubkey {
        Some(k) if Path::new(k).is_file() => Some(std::fs::read_to_string(k)?),
        Some(k) => Some(k.clone()),
        None => None,
    }
    .map(|k| signing::parse_public_key(&k).map_err(anyhow::Error::msg))
    .transpose()?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let db = Connection::open(a.out.join("cases.sqlite"))?;
    db.execute_batch(SCHEMA)?;
    let mut rx = Receiver {
        db,
        out: a.out.clone(),
        prefix: a.prefix.trim_end_matches('/').to_string(),
        key,
    };
    let mut o = MqttOptions::new(a.client_id.clone(), host, port);
    o.set_clean_session(false);
    o.set_keep_alive(Duration::from_secs(10));
    o.set_max_packet_size(64 << 20, 64 << 20);
    if let Some(u) = &a.username {
        o.set_credentials(
            u.clone(),
            std::env::var("STREETWATCH_RECEIVE_PASSWORD").unwrap_or_default(),
        );
    }
    let (client, mut conn) = Client::new(o, 64);
    let filter = format!("{}/#", rx.prefix);
    println!(
        "receiving {filter} from {} into {}",
        a.mqtt,
        a.out.display()
    );
    for ev in conn.iter() {
        match ev {
            Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                client.try_subscribe(filter.clone(), QoS::AtLeastOnce)?;
            }
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                if let Err(e) = rx.on_message(&p.topic, &p.payload) {
                    eprintln!("error: {}: {e:#}", p.topic);
                }
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("broker: {e}; retrying");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        let _ = std::io::stdout().flush();
    }
    Ok(ExitCode::SUCCESS)
}
