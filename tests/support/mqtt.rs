//! The platform's side of MQTT for tests: a rumqttc subscriber on `<prefix>/#` that
//! keeps every message, counts delivered event keys and reassembles media.

use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Msg {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

pub struct Sub {
    msgs: Arc<Mutex<Vec<Msg>>>,
    pub client: Client,
    prefix: String,
}

/// The delivery key of an event phase: `(id, phase, seq)`.
pub type Key = (String, String, u64);

/// The key of one delivered event JSON.
pub fn key_of(e: &Value) -> Key {
    (
        e["id"].as_str().unwrap_or_default().to_string(),
        e["phase"].as_str().unwrap_or_default().to_string(),
        e["seq"].as_u64().unwrap_or(0),
    )
}

/// The `(id, phase, seq)` keys committed to the outbox under `state_dir`: empty only
/// when there is no outbox yet (or its schema was never written, on a full disk); any
/// other failure to read it panics, so a test never mistakes "unreadable" for "none".
/// Opened read-write without create: a read-only connection cannot set up the WAL
/// index a killed or full-disk daemon left behind.
pub fn committed_keys(state_dir: &std::path::Path) -> BTreeSet<Key> {
    let path = state_dir.join("outbox.sqlite");
    if !path.exists() {
        return BTreeSet::new();
    }
    let db =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let read = |e: rusqlite::Error| -> ! { panic!("read {}: {e}", path.display()) };
    let tables: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'",
            [],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| read(e));
    if tables == 0 {
        return BTreeSet::new();
    }
    let mut st = db
        .prepare("SELECT event_id, phase, seq FROM events")
        .unwrap_or_else(|e| read(e));
    st.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
    })
    .unwrap_or_else(|e| read(e))
    .collect::<Result<_, _>>()
    .unwrap_or_else(|e| read(e))
}

impl Sub {
    /// Subscribe to `<prefix>/#` (e.g. `streetwatch/<device id>`) with a persistent
    /// session, so messages published while the subscriber reconnects are not lost.
    pub fn start(port: u16, prefix: &str) -> Sub {
        Self::start_with(port, prefix, |_| {})
    }

    pub fn start_with(port: u16, prefix: &str, tweak: impl FnOnce(&mut MqttOptions)) -> Sub {
        let mut o = MqttOptions::new(format!("sub-{}", super::free_port()), "127.0.0.1", port);
        o.set_clean_session(false);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(64 << 20, 64 << 20);
        tweak(&mut o);
        let (client, mut conn) = Client::new(o, 16);
        let msgs = Arc::new(Mutex::new(Vec::new()));
        let m = msgs.clone();
        let c = client.clone();
        let filter = format!("{prefix}/#");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        let _ = c.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        m.lock().unwrap().push(Msg {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        });
                    }
                    Ok(_) => {}
                    Err(rumqttc::ConnectionError::RequestsDone) => return,
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("subscriber did not subscribe");
        Sub {
            msgs,
            client,
            prefix: prefix.to_string(),
        }
    }

    pub fn all(&self) -> Vec<Msg> {
        self.msgs.lock().unwrap().clone()
    }

    /// Wait until `ok` holds for the messages so far, or panic after `timeout`.
    pub fn wait(&self, what: &str, timeout: Duration, ok: impl Fn(&[Msg]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if ok(&self.all()) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every event JSON received, duplicates included, in arrival order.
    pub fn events(&self) -> Vec<Value> {
        let topic = format!("{}/events", self.prefix);
        self.all()
            .iter()
            .filter(|m| m.topic == topic)
            .map(|m| serde_json::from_slice(&m.payload).unwrap())
            .collect()
    }

    /// The distinct `(id, phase, seq)` keys received.
    pub fn keys(&self) -> BTreeSet<Key> {
        self.events().iter().map(key_of).collect()
    }

    /// Media reassembled from manifests and chunks (duplicates collapse by index);
    /// None while a chunk is missing.
    pub fn media(&self, event_id: &str, name: &str) -> Option<(Value, Vec<u8>)> {
        let base = format!("{}/events/{event_id}/media/{name}", self.prefix);
        let msgs = self.all();
        let manifest: Value = msgs
            .iter()
            .rev()
            .find(|m| m.topic == base)
            .map(|m| serde_json::from_slice(&m.payload).unwrap())?;
        let mut chunks = BTreeMap::new();
        for m in &msgs {
            if let Some(i) = m.topic.strip_prefix(&format!("{base}/")) {
                chunks.insert(i.parse::<u64>().unwrap(), m.payload.clone());
            }
        }
        let n = manifest["chunks"].as_u64().unwrap();
        if chunks.len() as u64 != n {
            return None;
        }
        Some((manifest, chunks.into_values().flatten().collect()))
    }

    /// Retained and live `status` messages.
    pub fn status(&self) -> Vec<Value> {
        let topic = format!("{}/status", self.prefix);
        self.all()
            .iter()
            .filter(|m| m.topic == topic)
            .map(|m| serde_json::from_slice(&m.payload).unwrap())
            .collect()
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
    }
}
