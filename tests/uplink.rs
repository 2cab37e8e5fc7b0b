//! Uplink against a real broker: a `mosquitto` per test on 127.0.0.1 with a random
//! port (and a TLS listener with certificates made by rcgen), a separate rumqttc
//! subscriber, the in-process `Uplink` service or the `uplink-worker` process.

mod support;

use rumqttc::QoS;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use streetwatch::config::Config;
use streetwatch::rules::event::Event as SwEvent;
use streetwatch::uplink::testutil::{sample_event, write_media};
use streetwatch::uplink::{Hooks, Outbox, Snapshot, Uplink, signing};
use support::daemon::RunningDaemon;
use support::fault::{Tmpfs, fill};
use support::free_port;
use support::mqtt::{Msg, Sub};

const PREFIX: &str = "streetwatch/box-test";

// ---------------------------------------------------------------- broker

struct Broker {
    child: Option<Child>,
    conf: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

#[derive(Default)]
struct BrokerOpts {
    password: Option<(String, String)>,
    /// (ca.pem, server.pem, server.key) for a TLS listener requiring client certs.
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
    /// Listen here instead of on a fresh port (a box configured before the broker ran).
    port: Option<u16>,
}

impl Broker {
    fn start(opts: BrokerOpts) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = opts.port.unwrap_or_else(free_port);
        let mut conf = format!(
            "user root\npersistence true\npersistence_location {}/\nautosave_interval 1\nlog_dest stderr\nlog_type error\nlog_type warning\nmax_inflight_messages 0\nmax_queued_messages 100000\n",
            dir.path().display()
        );
        if let Some((ca, cert, key)) = &opts.tls {
            conf += &format!(
                "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\nallow_anonymous true\n",
                ca.display(),
                cert.display(),
                key.display()
            );
        } else {
            conf += &format!("listener {port} 127.0.0.1\n");
            match &opts.password {
                Some((u, p)) => {
                    let pw = dir.path().join("passwd");
                    let st = Command::new("mosquitto_passwd")
                        .args(["-b", "-c"])
                        .arg(&pw)
                        .args([u, p])
                        .status()
                        .unwrap();
                    assert!(st.success());
                    conf += &format!("allow_anonymous false\npassword_file {}\n", pw.display());
                }
                None => conf += "allow_anonymous true\n",
            }
        }
        let conf_path = dir.path().join("mosquitto.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut b = Broker {
            child: None,
            conf: conf_path,
            port,
            _dir: dir,
        };
        b.run();
        b
    }

    fn run(&mut self) {
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("mosquitto");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Send `sig` to the broker (SIGSTOP holds every client's traffic, SIGCONT
    /// releases it).
    fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }

    /// SIGTERM, so persistent sessions are saved.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------- box side

fn config(state: &Path, broker: &str) -> Config {
    let mut c = Config::default();
    c.device.id = "box-test".into();
    c.device.state_dir = state.to_path_buf();
    c.uplink.broker = broker.into();
    c.uplink.health_interval_s = 1;
    c.uplink.backoff_max_s = 2;
    c.uplink.keepalive_s = 5;
    c
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/event-v1.schema.json"),
    )
    .unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn assert_schema_valid(v: &Value) {
    let s = schema();
    let errors: Vec<String> = s.iter_errors(v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "schema errors: {errors:?}\n{v:#}");
}

fn pubkey(state: &Path) -> ed25519_dalek::VerifyingKey {
    signing::parse_public_key(&std::fs::read_to_string(state.join(signing::PUBKEY_FILE)).unwrap())
        .unwrap()
}

/// An event whose media files live in their own directory `dir/<n>` (names repeat
/// across events, as they may in the evidence store).
fn event_with_media(camera: &str, n: u32, dir: &Path, media: &[(&str, Vec<u8>)]) -> SwEvent {
    let mut ev = sample_event(camera, n);
    let dir = dir.join(n.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    ev.media = media
        .iter()
        .map(|(name, bytes)| write_media(&dir, name, bytes))
        .collect();
    ev
}

/// Deterministic, incompressible-looking bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn worker(config_file: &Path) -> Child {
    Command::new(support::bin())
        .args(["uplink-worker", "--config"])
        .arg(config_file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn write_config(path: &Path, c: &Config) {
    std::fs::write(path, toml::to_string(c).unwrap()).unwrap();
}

// ---------------------------------------------------------------- tests

#[test]
fn sample_event_matches_the_committed_schema_and_bad_ones_do_not() {
    let ev = serde_json::to_value(sample_event("cam1", 0)).unwrap();
    assert_schema_valid(&ev);
    let mut bad = ev.clone();
    bad["schema"] = "streetwatch.event/v2".into();
    assert!(!schema().is_valid(&bad));
    let mut bad = ev;
    // Codes are 1-32 digits, letters or '-' (platforms renumber: "09009", "0504", "882").
    bad["category"]["code"] = "09 009".into();
    assert!(!schema().is_valid(&bad));
}

#[test]
fn events_arrive_schema_valid_signed_and_media_reassembles_to_matching_sha256() {
    let broker = Broker::start(BrokerOpts::default());
    let sub = Sub::start(broker.port, PREFIX);
    let state = tempfile::tempdir().unwrap();
    let media_dir = tempfile::tempdir().unwrap();
    let mut c = config(state.path(), &format!("mqtt://127.0.0.1:{}", broker.port));
    c.uplink.chunk_kib = 64;
    let up = Uplink::start(&c, Hooks::default()).unwrap();
    let clip = noise(700_000, 1);
    let evs = vec![
        event_with_media(
            "cam1",
            0,
            media_dir.path(),
            &[
                ("snapshot-1.jpg", noise(5000, 2)),
                ("clip.mp4", clip.clone()),
            ],
        ),
        event_with_media(
            "cam2",
            1,
            media_dir.path(),
            &[("snapshot-1.jpg", noise(3000, 3))],
        ),
    ];
    for e in &evs {
        up.enqueue(e).unwrap();
    }
    sub.wait("2 events and their media", Duration::from_secs(20), |_| {
        sub.events().len() >= 2
            && evs
                .iter()
                .all(|e| e.media.iter().all(|m| sub.media(&e.id, &m.name).is_some()))
    });
    // The retained online status carries the public key used for signatures.
    let online = sub
        .status()
        .into_iter()
        .find(|s| s["state"] == "online")
        .unwrap();
    let key = signing::parse_public_key(online["public_key"].as_str().unwrap()).unwrap();
    assert_eq!(key, pubkey(state.path()));
    let out = tempfile::tempdir().unwrap();
    for got in sub.events() {
        assert_schema_valid(&got);
        signing::verify_value(&got, &key).unwrap();
        let id = got["id"].as_str().unwrap();
        for m in got["media"].as_array().unwrap() {
            let name = m["name"].as_str().unwrap();
            let (manifest, bytes) = sub.media(id, name).unwrap();
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                m["sha256"].as_str().unwrap()
            );
            assert_eq!(manifest["sha256"], m["sha256"]);
            assert_eq!(bytes.len() as u64, m["bytes"].as_u64().unwrap());
            std::fs::create_dir_all(out.path().join(id)).unwrap();
            std::fs::write(out.path().join(id).join(name), &bytes).unwrap();
        }
        // The verifier CLI agrees, and catches a tampered event.
        let file = out.path().join(format!("{id}.json"));
        std::fs::write(&file, serde_json::to_vec(&got).unwrap()).unwrap();
        let pk = state.path().join(signing::PUBKEY_FILE);
        let st = Command::new(support::bin())
            .arg("verify")
            .arg(&file)
            .arg("--media")
            .arg(out.path().join(id))
            .arg("--pubkey")
            .arg(&pk)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "verify rejected a genuine event");
        let mut tampered = got.clone();
        tampered["zone"]["location"] = "elsewhere".into();
        std::fs::write(&file, serde_json::to_vec(&tampered).unwrap()).unwrap();
        let st = Command::new(support::bin())
            .arg("verify")
            .arg(&file)
            .arg("--pubkey")
            .arg(&pk)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(!st.success(), "verify accepted a tampered event");
    }
    // Delivered media is deleted locally (keep_delivered_media = false) once acknowledged.
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.health().outbox.events > 0 {
        assert!(Instant::now() < deadline, "backlog did not drain");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!media_dir.path().join("0/clip.mp4").exists());
    up.stop();
    sub.wait(
        "offline status on clean stop",
        Duration::from_secs(5),
        |_| {
            sub.status()
                .iter()
                .any(|s| s["state"] == "offline" && s["reason"] == "shutdown")
        },
    );
}

#[test]
fn broker_outage_then_all_20_events_arrive_once_each_in_camera_order() {
    let mut broker = Broker::start(BrokerOpts::default());
    let sub = Sub::start(broker.port, PREFIX);
    let state = tempfile::tempdir().unwrap();
    let up = Uplink::start(
        &config(state.path(), &format!("mqtt://127.0.0.1:{}", broker.port)),
        Hooks::default(),
    )
    .unwrap();
    sub.wait("online", Duration::from_secs(10), |_| {
        sub.status().iter().any(|s| s["state"] == "online")
    });
    broker.stop();
    // The 20 events are 7 s apart in media time, so the broker comes back 2 min 13 s of
    // media time after it went away (the outage the issue asks for); the wall-clock
    // pause below only has to be long enough for the uplink to notice.
    let mut produced = Vec::new();
    let mut media_span = (i64::MAX, 0i64);
    for i in 0..20u32 {
        let mut ev = sample_event(if i.is_multiple_of(3) { "cam2" } else { "cam1" }, i * 7);
        media_span = (
            media_span.0.min(ev.times.start_media_ns),
            media_span.1.max(ev.times.start_media_ns),
        );
        ev.media.clear();
        up.enqueue(&ev).unwrap();
        produced.push((ev.camera.id.clone(), ev.id.clone()));
    }
    assert!(
        media_span.1 - media_span.0 >= 120_000_000_000,
        "the outage spans 2 minutes of media time"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(!up.status().connected);
    assert!(
        up.status().last_error.is_some(),
        "the outage is visible in status"
    );
    broker.run();
    sub.wait("20 events after reconnect", Duration::from_secs(30), |_| {
        sub.events().len() >= 20
    });
    std::thread::sleep(Duration::from_millis(500));
    let got = sub.events();
    let keys: Vec<(String, String)> = got
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["phase"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(keys.len(), 20, "each (id, phase) exactly once");
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 20);
    for cam in ["cam1", "cam2"] {
        let want: Vec<&String> = produced
            .iter()
            .filter(|(c, _)| c == cam)
            .map(|(_, id)| id)
            .collect();
        let have: Vec<&str> = got
            .iter()
            .filter(|e| e["camera"]["id"] == cam)
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            have,
            want.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "order on {cam}"
        );
    }
    up.stop();
}

/// Chunks of the large clip (8 KiB each: 32 MiB in all).
const CLIP_CHUNKS: usize = 4096;

#[test]
fn sigkilled_worker_resumes_a_large_clip_and_loses_nothing() {
    let broker = Broker::start(BrokerOpts::default());
    let sub = Sub::start(broker.port, PREFIX);
    let state = tempfile::tempdir().unwrap();
    let media_dir = tempfile::tempdir().unwrap();
    let mut c = config(state.path(), &format!("mqtt://127.0.0.1:{}", broker.port));
    // Many small chunks, one in flight: the transfer lasts long enough that the kill
    // lands mid-clip even when the test's subscriber runs slowly on a loaded machine.
    c.uplink.chunk_kib = 8;
    c.uplink.inflight = 1;
    let cfg_file = state.path().join("streetwatch.toml");
    write_config(&cfg_file, &c);
    // Events go in through the library API while no worker runs (WAL allows both).
    let clip = noise(CLIP_CHUNKS * 8 * 1024, 9);
    let ob = Outbox::open(&Outbox::path_in(state.path()), 1 << 30).unwrap();
    let big = event_with_media("cam1", 0, media_dir.path(), &[("clip.mp4", clip.clone())]);
    ob.enqueue(&big).unwrap();
    let mut others = Vec::new();
    for i in 1..6 {
        let e = event_with_media(
            "cam1",
            i,
            media_dir.path(),
            &[(&format!("s{i}.jpg") as &str, noise(2000, i as u64))],
        );
        ob.enqueue(&e).unwrap();
        others.push(e);
    }
    let mut w = worker(&cfg_file);
    let chunk_prefix = format!("{PREFIX}/events/{}/media/clip.mp4/", big.id);
    sub.wait("some clip chunks", Duration::from_secs(30), |m| {
        m.iter()
            .filter(|m| m.topic.starts_with(&chunk_prefix))
            .count()
            >= 20
    });
    w.kill().unwrap(); // SIGKILL
    w.wait().unwrap();
    let before = sub
        .all()
        .iter()
        .filter(|m| m.topic.starts_with(&chunk_prefix))
        .count();
    assert!(
        before < CLIP_CHUNKS,
        "the clip must be cut mid-way (got {before} of {CLIP_CHUNKS} chunks)"
    );
    let mut w = worker(&cfg_file);
    sub.wait(
        "the whole clip and all events",
        Duration::from_secs(60),
        |_| {
            sub.media(&big.id, "clip.mp4").is_some()
                && others
                    .iter()
                    .all(|e| sub.media(&e.id, &e.media[0].name).is_some())
        },
    );
    let (_, bytes) = sub.media(&big.id, "clip.mp4").unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), big.media[0].sha256);
    let ids: HashSet<String> = sub
        .events()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&big.id));
    for e in &others {
        assert!(ids.contains(&e.id), "event {} lost", e.id);
    }
    let key = pubkey(state.path());
    for e in sub.events() {
        signing::verify_value(&e, &key).unwrap();
    }
    // Chunks were resumed, not restarted: far fewer than twice the clip went out.
    let sent = sub
        .all()
        .iter()
        .filter(|m| m.topic.starts_with(&chunk_prefix))
        .count();
    assert!(
        sent < CLIP_CHUNKS + before,
        "resumed from the acknowledged chunks ({sent} sent)"
    );
    w.kill().unwrap();
    w.wait().unwrap();
    let ob = Outbox::open(&Outbox::path_in(state.path()), 1 << 30).unwrap();
    assert_eq!(ob.backlog().unwrap().events, 0);
}

#[test]
fn disk_cap_while_offline_drops_oldest_media_first_and_health_counts_it() {
    let state = tempfile::tempdir().unwrap();
    let media_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut c = config(state.path(), &format!("mqtt://127.0.0.1:{port}"));
    c.uplink.disk_cap_mb = 1;
    let up = Uplink::start(&c, Hooks::default()).unwrap();
    let mut evs = Vec::new();
    for i in 0..6u32 {
        let e = event_with_media(
            "cam1",
            i,
            media_dir.path(),
            &[(&format!("m{i}.jpg") as &str, noise(300_000, i as u64))],
        );
        up.enqueue(&e).unwrap();
        evs.push(e);
    }
    let h = up.health();
    assert!(h.dropped.media_dropped >= 3, "{:?}", h.dropped);
    assert_eq!(h.dropped.events_dropped, 0);
    assert!(
        !media_dir.path().join("0/m0.jpg").exists(),
        "oldest media dropped first"
    );
    assert!(
        media_dir.path().join("5/m5.jpg").exists(),
        "newest media kept"
    );
    let dropped = h.dropped.media_dropped as usize;

    // Broker comes up on the configured port: everything's metadata is delivered.
    let broker = {
        let mut b = Broker::start(BrokerOpts::default());
        // Broker::start picked its own port; restart it on the box's port.
        b.stop();
        let conf = std::fs::read_to_string(&b.conf)
            .unwrap()
            .replace(&b.port.to_string(), &port.to_string());
        std::fs::write(&b.conf, conf).unwrap();
        b.port = port;
        b.run();
        b
    };
    let sub = Sub::start(broker.port, PREFIX);
    sub.wait("all 6 events", Duration::from_secs(30), |_| {
        sub.events().len() >= 6
    });
    let key = pubkey(state.path());
    let got = sub.events();
    for (i, e) in evs.iter().enumerate() {
        let g = got
            .iter()
            .find(|g| g["id"] == e.id.as_str())
            .expect("metadata delivered");
        signing::verify_value(g, &key).unwrap();
        assert_schema_valid(g);
        assert_eq!(
            g["evidence_dropped"].as_bool().unwrap_or(false),
            i < dropped,
            "event {i}"
        );
        if i < dropped {
            // Which file and why, inside the signed event.
            assert_eq!(g["media_missing"][0]["name"], format!("m{i}.jpg"), "{g:#}");
            assert_eq!(g["media_missing"][0]["reason"], "cap", "{g:#}");
        }
    }
    sub.wait("dropped manifest for m0", Duration::from_secs(10), |_| {
        sub.media(&evs[0].id, "m0.jpg")
            .is_some_and(|(m, _)| m["evidence_dropped"] == true && m["dropped_reason"] == "cap")
    });
    sub.wait("kept media m5", Duration::from_secs(10), |_| {
        sub.media(&evs[5].id, "m5.jpg").is_some()
    });
    sub.wait("health with drop counts", Duration::from_secs(10), |m| {
        m.iter()
            .filter(|m| m.topic == format!("{PREFIX}/health"))
            .any(|m| {
                let h: Value = serde_json::from_slice(&m.payload).unwrap();
                h["dropped"]["media_dropped"].as_u64() == Some(dropped as u64)
                    && h["disk"]["cap_bytes"].as_u64() == Some(1 << 20)
            })
    });
    let metrics = streetwatch::uplink::render_metrics(&up.health());
    assert!(metrics.contains(&format!(
        "streetwatch_evidence_dropped_total{{reason=\"cap\"}} {dropped}"
    )));
    up.stop();
}

#[test]
fn wrong_password_is_reported_clearly_retried_and_nothing_is_dropped() {
    let broker = Broker::start(BrokerOpts {
        password: Some(("box".into(), "right-secret".into())),
        ..Default::default()
    });
    let state = tempfile::tempdir().unwrap();
    let mut c = config(state.path(), &format!("mqtt://127.0.0.1:{}", broker.port));
    c.uplink.username = Some("box".into());
    c.uplink.password = Some("wrong-secret".into());
    let up = Uplink::start(&c, Hooks::default()).unwrap();
    let mut ev = sample_event("cam1", 0);
    ev.media.clear();
    up.enqueue(&ev).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let st = up.status();
    let err = st.last_error.unwrap_or_default();
    assert!(!st.connected);
    assert!(err.contains("refused"), "{err}");
    assert!(
        st.failed_connects >= 2,
        "retries go on: {}",
        st.failed_connects
    );
    assert!(!err.contains("wrong-secret"));
    assert!(!format!("{c:?}").contains("wrong-secret"));
    let h = up.health();
    assert_eq!(h.outbox.events, 1, "nothing dropped");
    assert_eq!(h.dropped.events_dropped, 0);
    up.stop();
    // Fixing the password delivers the waiting event.
    let sub = Sub::start_with(broker.port, PREFIX, |o| {
        o.set_credentials("box", "right-secret");
    });
    c.uplink.password = Some("right-secret".into());
    let up = Uplink::start(&c, Hooks::default()).unwrap();
    sub.wait("the waiting event", Duration::from_secs(20), |_| {
        sub.events().len() == 1
    });
    up.stop();
}

fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut cp = CertificateParams::new(Vec::<String>::new()).unwrap();
    cp.distinguished_name
        .push(rcgen::DnType::CommonName, "box-test");
    let client = cp.signed_by(&client_key, &issuer).unwrap();
    let w = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    (
        w("ca.pem", ca.pem()),
        w("server.pem", server.pem()),
        w("server.key", server_key.serialize_pem()),
        w("client.pem", client.pem()),
        w("client.key", client_key.serialize_pem()),
    )
}

#[test]
fn mutual_tls_delivers_and_a_wrong_ca_is_reported_without_dropping() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, server, server_key, client, client_key) = tls_files(certs.path());
    let other = tempfile::tempdir().unwrap();
    let (wrong_ca, ..) = tls_files(other.path());
    let broker = Broker::start(BrokerOpts {
        tls: Some((ca.clone(), server, server_key)),
        ..Default::default()
    });
    let state = tempfile::tempdir().unwrap();
    let mut c = config(state.path(), &format!("mqtts://127.0.0.1:{}", broker.port));
    c.uplink.tls = Some(streetwatch::uplink::TlsConfig {
        ca_file: wrong_ca,
        client_cert: Some(client.clone()),
        client_key: Some(client_key.clone()),
    });
    let up = Uplink::start(&c, Hooks::default()).unwrap();
    let mut ev = sample_event("cam1", 0);
    ev.media.clear();
    up.enqueue(&ev).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let err = up.status().last_error.unwrap_or_default();
    assert!(err.contains("TLS"), "{err}");
    assert_eq!(up.health().outbox.events, 1);
    up.stop();

    c.uplink.tls.as_mut().unwrap().ca_file = ca.clone();
    let up = Uplink::start(&c, Hooks::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while up.health().outbox.events > 0 {
        assert!(
            Instant::now() < deadline,
            "not delivered over mTLS: {:?}",
            up.status()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up.status().connected);
    up.stop();
}

#[test]
fn killing_the_worker_makes_the_broker_publish_the_offline_last_will() {
    let broker = Broker::start(BrokerOpts::default());
    let sub = Sub::start(broker.port, PREFIX);
    let state = tempfile::tempdir().unwrap();
    let c = config(state.path(), &format!("mqtt://127.0.0.1:{}", broker.port));
    let cfg_file = state.path().join("streetwatch.toml");
    write_config(&cfg_file, &c);
    let mut w = worker(&cfg_file);
    sub.wait("online", Duration::from_secs(20), |_| {
        sub.status().iter().any(|s| s["state"] == "online")
    });
    w.kill().unwrap();
    w.wait().unwrap();
    sub.wait("offline will", Duration::from_secs(15), |_| {
        sub.status().iter().any(|s| {
            s["state"] == "offline"
                && s["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("last will")
                && s["firmware_version"] == streetwatch::FIRMWARE_VERSION
        })
    });
    // Retained: a late subscriber sees the box as offline.
    let late = Sub::start(broker.port, PREFIX);
    late.wait("retained offline", Duration::from_secs(5), |m| {
        m.iter().any(|m| m.retain && m.topic.ends_with("/status"))
    });
    assert_eq!(late.status().last().unwrap()["state"], "offline");
}

#[test]
fn snapshot_and_reload_commands_are_answered_on_cmd_response() {
    let broker = Broker::start(BrokerOpts::default());
    let sub = Sub::start(broker.port, PREFIX);
    let state = tempfile::tempdir().unwrap();
    let reloads: Arc<Mutex<Vec<Value>>> = Arc::default();
    let r = reloads.clone();
    let hooks = Hooks {
        snapshot: Some(Arc::new(|cam: &str| {
            if cam == "cam1" {
                Ok(Snapshot {
                    content_type: "image/jpeg".into(),
                    bytes: b"jpeg-bytes".to_vec(),
                })
            } else {
                Err(format!("no camera {cam}"))
            }
        })),
        // The daemon answers a reload once it is done (Uplink::respond below).
        reload_config: Some(Arc::new(move |id| {
            r.lock().unwrap().push(id);
            Ok(())
        })),
        health: Some(Arc::new(|h: &mut streetwatch::uplink::Health| {
            h.cameras.push(streetwatch::uplink::CameraHealth {
                id: "cam1".into(),
                status: "streaming".into(),
                fps: 10.0,
                last_frame_age_s: Some(0.1),
                dropped_frames: 0,
                ..Default::default()
            });
        })),
        liveness: None,
    };
    let up = Uplink::start(
        &config(state.path(), &format!("mqtt://127.0.0.1:{}", broker.port)),
        hooks,
    )
    .unwrap();
    sub.wait("online", Duration::from_secs(10), |_| {
        sub.status().iter().any(|s| s["state"] == "online")
    });
    std::thread::sleep(Duration::from_millis(500));
    for cmd in [
        r#"{"id":"1","cmd":"snapshot","camera":"cam1"}"#,
        r#"{"id":"2","cmd":"snapshot","camera":"nope"}"#,
        r#"{"id":"3","cmd":"reload-config"}"#,
        r#"{"id":"4","cmd":"format-disk"}"#,
    ] {
        sub.client
            .publish(format!("{PREFIX}/cmd"), QoS::AtLeastOnce, false, cmd)
            .unwrap();
    }
    let responses = || -> HashMap<String, Value> {
        sub.all()
            .iter()
            .filter(|m| m.topic == format!("{PREFIX}/cmd/response"))
            .map(|m| serde_json::from_slice::<Value>(&m.payload).unwrap())
            .map(|v| (v["id"].as_str().unwrap_or_default().to_string(), v))
            .collect()
    };
    sub.wait("3 immediate responses", Duration::from_secs(10), |_| {
        responses().len() == 3
    });
    // reload-config is answered after the reload, by whoever did it.
    assert_eq!(*reloads.lock().unwrap(), [Value::from("3")]);
    assert!(!responses().contains_key("3"));
    up.respond(
        serde_json::to_vec(
            &serde_json::json!({"id": "3", "cmd": "reload-config", "ok": true, "applied": ["web"]}),
        )
        .unwrap(),
    );
    sub.wait("4 responses", Duration::from_secs(10), |_| {
        responses().len() == 4
    });
    let r = responses();
    assert_eq!(r["1"]["ok"], true);
    assert_eq!(r["2"]["ok"], false);
    assert_eq!(r["3"]["ok"], true);
    assert_eq!(r["3"]["applied"][0], "web");
    assert_eq!(r["4"]["ok"], false);
    assert!(
        sub.all()
            .iter()
            .any(|m| m.topic == format!("{PREFIX}/snapshots/cam1") && m.payload == b"jpeg-bytes")
    );
    sub.wait("health with camera", Duration::from_secs(5), |m| {
        m.iter().any(|m| {
            m.topic == format!("{PREFIX}/health")
                && String::from_utf8_lossy(&m.payload).contains("\"streaming\"")
        })
    });
    up.stop();
}

/// A child process killed when the test ends, passing or not.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_daemons_snapshot_command_sends_the_picture_with_privacy_zones_blacked_out() {
    let broker = Broker::start(BrokerOpts::default());
    let sub = Sub::start(broker.port, PREFIX);
    let sim = support::CamSim::start(
        free_port(),
        &[(
            "/car",
            support::media("car-detection.mp4").display().to_string(),
        )],
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    // The top-right quarter of the picture is private (a neighbour's window).
    let config = format!(
        "[device]\nid = \"box-test\"\nstate_dir = \"{}\"\n\
         [[cameras]]\nid = \"a\"\nurl = \"{}\"\n\
         [[cameras.zones]]\nid = \"window\"\npolygon = [[0.5, 0.0], [1.0, 0.0], [1.0, 0.5], [0.5, 0.5]]\n\
         [[cameras.zones.rules]]\ntype = \"privacy\"\n\
         [uplink]\nbroker = \"mqtt://127.0.0.1:{}\"\n\
         [web]\nlisten = \"127.0.0.1:0\"\n",
        dir.path().join("state").display(),
        sim.url("/car"),
        broker.port
    );
    let cfg_file = dir.path().join("streetwatch.toml");
    std::fs::write(&cfg_file, config).unwrap();
    let _daemon = KillOnDrop(
        Command::new(support::bin())
            .args(["run", "--config"])
            .arg(&cfg_file)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    sub.wait("online", Duration::from_secs(30), |_| {
        sub.status().iter().any(|s| s["state"] == "online")
    });
    let topic = format!("{PREFIX}/snapshots/a");
    // Ask until the camera has its first frame (the box answers "no picture yet" before).
    let deadline = Instant::now() + Duration::from_secs(30);
    let jpeg = loop {
        if let Some(m) = sub.all().into_iter().find(|m| m.topic == topic) {
            break m.payload;
        }
        assert!(Instant::now() < deadline, "no snapshot on {topic}");
        sub.client
            .publish(
                format!("{PREFIX}/cmd"),
                QoS::AtLeastOnce,
                false,
                r#"{"id":"s","cmd":"snapshot","camera":"a"}"#,
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
    };
    let img = image::load_from_memory(&jpeg)
        .expect("a decodable JPEG")
        .to_rgb8();
    let mean = |x0: f32, y0: f32, x1: f32, y1: f32| {
        let (w, h) = (img.width() as f32, img.height() as f32);
        let (mut sum, mut n) = (0u64, 0u64);
        for y in (y0 * h) as u32..(y1 * h) as u32 {
            for x in (x0 * w) as u32..(x1 * w) as u32 {
                sum += img
                    .get_pixel(x, y)
                    .0
                    .iter()
                    .map(|&c| u64::from(c))
                    .sum::<u64>();
                n += 3;
            }
        }
        sum as f32 / n as f32
    };
    // Inside the zone (a margin off its edges for JPEG ringing): black; the street
    // below: the camera's picture (about 110 on average unmasked).
    let inside = mean(0.55, 0.05, 0.95, 0.45);
    assert!(inside < 6.0, "privacy zone mean {inside}");
    let outside = mean(0.05, 0.55, 0.95, 0.95);
    assert!(outside > 30.0, "street mean {outside}");
}

/// A new event goes out ahead of the media already queued for earlier events: the
/// worker loads event JSON on its own, at once when an enqueue wakes it, however many
/// chunks wait. Made deterministic by holding the broker (SIGSTOP) while the clip's
/// chunks are queued and the next event is committed, so neither the machine's load
/// nor the link's speed decides the outcome (it once depended on the clip taking
/// longer than a 100 ms rescan timer).
#[test]
fn a_large_clip_does_not_hold_back_the_next_event() {
    let broker = Broker::start(BrokerOpts::default());
    let sub = Sub::start(broker.port, PREFIX);
    let state = tempfile::tempdir().unwrap();
    let media_dir = tempfile::tempdir().unwrap();
    let mut c = config(state.path(), &format!("mqtt://127.0.0.1:{}", broker.port));
    c.uplink.chunk_kib = 16;
    c.uplink.inflight = 2;
    let up = Uplink::start(&c, Hooks::default()).unwrap();
    sub.wait("the box online", Duration::from_secs(30), |_| {
        sub.status().iter().any(|s| s["state"] == "online")
    });
    let clip = event_with_media(
        "cam1",
        0,
        media_dir.path(),
        &[("clip.mp4", noise(6 << 20, 5))],
    );
    broker.signal(libc::SIGSTOP);
    up.enqueue(&clip).unwrap();
    // The worker has queued the clip's chunks once it hands its manifest to the
    // (held) broker.
    let db = rusqlite::Connection::open_with_flags(
        Outbox::path_in(state.path()),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    support::wait_for(Duration::from_secs(30), || {
        let st: String = db
            .query_row(
                "SELECT m.state FROM media m JOIN events e ON e.id = m.event_row WHERE e.event_id = ?1",
                [&clip.id],
                |r| r.get(0),
            )
            .ok()?;
        (st == "published").then_some(())
    })
    .expect("the clip's manifest was handed to the client");
    let mut next = sample_event("cam2", 1);
    next.media.clear();
    up.enqueue(&next).unwrap();
    broker.signal(libc::SIGCONT);
    sub.wait("the clip", Duration::from_secs(60), |_| {
        sub.media(&clip.id, "clip.mp4").is_some()
    });
    let all = sub.all();
    let at = |pred: &dyn Fn(&Msg) -> bool| all.iter().position(pred).unwrap();
    let next_at = at(&|m| {
        m.topic == format!("{PREFIX}/events")
            && serde_json::from_slice::<Value>(&m.payload).unwrap()["id"] == next.id.as_str()
    });
    let first_chunk = at(&|m| m.topic == format!("{PREFIX}/events/{}/media/clip.mp4/0", clip.id));
    assert!(
        next_at < first_chunk,
        "cam2's event waited behind cam1's queued chunks (event at #{next_at}, first chunk at #{first_chunk})"
    );
    up.stop();
}

// ---------------------------------------------------------------- daemon end to end

/// The production path end to end: the project's RTSP camera simulator serves a
/// scenario built at test time from the real car-park GIF (a car drives into a bay and
/// stays), and `streetwatch run` does the rest: ingest, YOLOX-nano at 2 fps, tracker,
/// a no-parking bay with a 20 s dwell, evidence from the camera's ring, the event
/// forwarder, the outbox and MQTT. What the platform receives must be schema-valid,
/// signed, and its media must reassemble to the files the event names.
#[test]
fn a_car_parked_in_front_of_the_daemon_reaches_the_broker_signed_with_media_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let video = support::parking_scenario(dir.path(), 90.0);
    let sim = support::CamSim::start(free_port(), &[("/bay", video.display().to_string())], None);
    let broker = Broker::start(BrokerOpts::default());
    let sub = Sub::start(broker.port, PREFIX);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let weights = support::weights_dir();
    let state = dir.path().join("state");
    let cfg = dir.path().join("streetwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[device]
id = "box-test"
division_code = "440802"
state_dir = "{state}"

[inference]
models_dir = "{models}"
weights_dir = "{weights}"

[web]
listen = "127.0.0.1:0"

[uplink]
broker = "mqtt://127.0.0.1:{port}"
keepalive_s = 5
health_interval_s = 5
backoff_max_s = 2
chunk_kib = 32

[events.evidence.clip]
pre_roll_s = 4.0
post_roll_s = 4.0

[[cameras]]
id = "bay"
name = "Car park bay"
url = "{url}"
[cameras.analysis]
fps = 2.0
[cameras.preroll]
seconds = 40.0

[[cameras.zones]]
id = "bay-1"
name = "禁停区 1"
location = "停车场东侧出口"
polygon = [[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]
rules = [{{ type = "no_parking", dwell_s = 20 }}]
"#,
            state = state.display(),
            models = root.join("models").display(),
            weights = weights.display(),
            port = broker.port,
            url = sim.url("/bay"),
        ),
    )
    .unwrap();
    let mut daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon.log"), "info");

    // The started phase of the stay, and every media item it names, reassembled.
    let started = || -> Option<Value> {
        let ev = sub
            .events()
            .into_iter()
            .find(|e| e["kind"] == "illegal_parking" && e["phase"] == "started")?;
        let complete = ev["media"].as_array()?.iter().all(|m| {
            sub.media(ev["id"].as_str().unwrap(), m["name"].as_str().unwrap())
                .is_some()
        });
        complete.then_some(ev)
    };
    let ev = support::wait_for(Duration::from_secs(150), started).unwrap_or_else(|| {
        panic!(
            "no illegal_parking event with its media reached the broker; events: {:#?}\ndaemon log:\n{}",
            sub.events(),
            daemon.log()
        )
    });
    assert_schema_valid(&ev);
    assert_eq!(ev["camera"]["id"], "bay");
    assert_eq!(ev["zone"]["location"], "停车场东侧出口");
    assert_eq!(ev["subject"]["category"], "vehicle.car");
    assert!(!ev["evidence_dropped"].as_bool().unwrap_or(false));
    // Signed with the key the box announces on its retained status.
    let online = sub
        .status()
        .into_iter()
        .find(|s| s["state"] == "online")
        .expect("online status");
    let key = signing::parse_public_key(online["public_key"].as_str().unwrap()).unwrap();
    assert_eq!(key, pubkey(&state));
    signing::verify_value(&ev, &key).unwrap();
    // Snapshots and a clip, each reassembled from its chunks to the bytes the event
    // (and its manifest) names.
    let id = ev["id"].as_str().unwrap();
    let media = ev["media"].as_array().unwrap();
    assert!(media.iter().any(|m| m["kind"] == "snapshot"), "{media:#?}");
    assert!(media.iter().any(|m| m["kind"] == "clip"), "{media:#?}");
    let out = dir.path().join("received");
    std::fs::create_dir_all(&out).unwrap();
    for m in media {
        let name = m["name"].as_str().unwrap();
        let (manifest, bytes) = sub.media(id, name).unwrap();
        assert_eq!(bytes.len() as u64, m["bytes"].as_u64().unwrap(), "{name}");
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            m["sha256"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(manifest["sha256"], m["sha256"]);
        assert_eq!(manifest["evidence_dropped"], false);
        std::fs::write(out.join(name), &bytes).unwrap();
    }
    // The integrator's verifier agrees on the received files.
    let file = dir.path().join("event.json");
    std::fs::write(&file, serde_json::to_vec(&ev).unwrap()).unwrap();
    let verify = Command::new(support::bin())
        .arg("verify")
        .arg(&file)
        .arg("--media")
        .arg(&out)
        .arg("--pubkey")
        .arg(state.join(signing::PUBKEY_FILE))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // One stay, one started event (a duplicate would carry the same id).
    let ids: HashSet<String> = sub
        .events()
        .iter()
        .filter(|e| e["kind"] == "illegal_parking" && e["phase"] == "started")
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1, "{:#?}", sub.events());
    let st = daemon.stop_within(20).expect("daemon stops on SIGTERM");
    assert!(st.success(), "daemon exit {st}:\n{}", daemon.log());
}

/// `[uplink]` is checked and applied like the rest of the config: a reload with a bad
/// broker URL is refused naming the key (the running uplink stays), and a reload with a
/// good one connects at once, without restarting the daemon.
#[test]
fn a_reload_refuses_a_bad_uplink_by_key_and_applies_a_new_broker_without_a_restart_metrics_follow()
{
    let broker = Broker::start(BrokerOpts::default());
    let sub = Sub::start(broker.port, PREFIX);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("streetwatch.toml");
    let web_port = free_port();
    let write = |url: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[device]\nid = \"box-test\"\nstate_dir = \"{}\"\n\n[web]\nlisten = \"127.0.0.1:{web_port}\"\n\n[uplink]\nbroker = \"{url}\"\nkeepalive_s = 5\nbackoff_max_s = 2\n",
                dir.path().join("state").display()
            ),
        )
        .unwrap()
    };
    // `/metrics` on the page's port shows the running uplink's figures.
    let metrics = || -> String {
        let c = reqwest::blocking::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        c.get(format!("https://127.0.0.1:{web_port}/metrics"))
            .send()
            .and_then(|r| r.text())
            .unwrap_or_default()
    };
    // Configured for a broker that is not there (yet).
    write(&format!("mqtt://127.0.0.1:{}", free_port()));
    let mut daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon.log"), "info");
    daemon.wait_log(20, "the absent broker is reported", |l| {
        l.contains("broker connection failed")
    });
    support::wait_for(Duration::from_secs(10), || {
        metrics()
            .contains("streetwatch_uplink_connected 0")
            .then_some(())
    })
    .unwrap_or_else(|| panic!("/metrics before the reload:\n{}", metrics()));
    write("http://127.0.0.1:1883");
    daemon.signal(libc::SIGHUP);
    daemon.wait_log(20, "the bad uplink is refused by its key", |l| {
        l.contains("keeping the running config") && l.contains("uplink.broker")
    });
    assert!(sub.status().is_empty(), "nothing connected yet");
    write(&format!("mqtt://127.0.0.1:{}", broker.port));
    daemon.signal(libc::SIGHUP);
    sub.wait("online after the reload", Duration::from_secs(20), |_| {
        sub.status().iter().any(|s| s["state"] == "online")
    });
    support::wait_for(Duration::from_secs(10), || {
        metrics()
            .contains("streetwatch_uplink_connected 1")
            .then_some(())
    })
    .unwrap_or_else(|| panic!("/metrics after the reload:\n{}", metrics()));
    let st = daemon.stop_within(20).expect("daemon stops on SIGTERM");
    assert!(st.success(), "daemon exit {st}:\n{}", daemon.log());
    sub.wait("offline on a clean stop", Duration::from_secs(10), |_| {
        sub.status()
            .iter()
            .any(|s| s["state"] == "offline" && s["reason"] == "shutdown")
    });
}

// ---------------------------------------------------------------- full disk

#[test]
fn a_full_disk_refuses_new_events_clearly_keeps_the_outbox_sound_and_delivers_all_once_space_returns()
 {
    let dir = tempfile::tempdir().unwrap();
    let Some(mnt) = Tmpfs::mount(&dir.path().join("state"), 32) else {
        return;
    };
    let state = mnt.0.clone();
    let port = free_port();
    // The broker is away for the whole full-disk episode: everything stays on the box.
    let up = Uplink::start(
        &config(&state, &format!("mqtt://127.0.0.1:{port}")),
        Hooks::default(),
    )
    .unwrap();
    let evidence = state.join("evidence");
    let mut evs = Vec::new();
    for i in 0..4u32 {
        let e = event_with_media(
            "cam1",
            i,
            &evidence,
            &[(&format!("clip{i}.mp4") as &str, noise(1 << 20, i as u64))],
        );
        up.enqueue(&e).unwrap();
        evs.push(e);
    }
    assert_eq!(up.health().dropped.media_dropped, 0);

    // Something else fills the disk. The next event still gets in: the outbox gives
    // back space by dropping the oldest evidence first, and counts it.
    assert!(fill(&state.join("filler-0")) > 0);
    let mut next = sample_event("cam2", 100);
    next.media.clear();
    up.enqueue(&next).unwrap();
    evs.push(next);
    let h = up.health();
    assert!(h.dropped.media_dropped >= 1, "{:?}", h.dropped);
    assert!(
        !evidence.join("0/clip0.mp4").exists(),
        "oldest evidence goes first"
    );
    assert!(
        evidence.join("3/clip3.mp4").exists(),
        "newest evidence is kept"
    );
    assert_eq!(h.dropped.events_dropped, 0);

    // Filled again and again: once no evidence is left to give back, new events are
    // refused with an error that names the directory and the fix; nothing committed
    // is dropped to make room.
    let mut refused = None;
    for k in 1..=20u32 {
        assert!(fill(&state.join(format!("filler-{k}"))) < 64 << 20);
        let mut e = sample_event("cam2", 100 + k);
        e.media.clear();
        match up.enqueue(&e) {
            Ok(()) => evs.push(e),
            Err(err) => {
                refused = Some((e, err));
                break;
            }
        }
    }
    let (refused, err) = refused.expect("a full disk must refuse new events");
    assert!(
        matches!(err, streetwatch::uplink::UplinkError::DiskFull { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&state.display().to_string())
            && msg.contains("disk is full")
            && msg.contains("free space"),
        "{msg}"
    );
    let h = up.health();
    assert_eq!(
        h.disk.error.as_deref(),
        Some(msg.as_str()),
        "health shows why"
    );
    assert_eq!(h.dropped.events_dropped, 0, "{:?}", h.dropped);
    assert_eq!(
        h.outbox.events as usize,
        evs.len(),
        "committed events are kept"
    );
    assert!(streetwatch::uplink::render_metrics(&h).contains("streetwatch_outbox_refusing 1"));
    // The service is still running: it keeps trying the broker.
    let tries = up.status().failed_connects;
    std::thread::sleep(Duration::from_millis(3500));
    assert!(
        up.status().failed_connects > tries,
        "the uplink thread stopped"
    );
    // The database is sound, full disk or not.
    {
        let db = rusqlite::Connection::open_with_flags(
            Outbox::path_in(&state),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let check: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }

    // Space returns: the refused event goes in on its retry (as the daemon's forwarder
    // does), the error clears, and the broker gets every event exactly once.
    for f in std::fs::read_dir(&state).unwrap() {
        let p = f.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("filler-")
        {
            std::fs::remove_file(p).unwrap();
        }
    }
    up.enqueue(&refused).unwrap();
    evs.push(refused);
    let h = up.health();
    assert_eq!(h.disk.error, None);
    let dropped = h.dropped.media_dropped;
    let broker = Broker::start(BrokerOpts {
        port: Some(port),
        ..Default::default()
    });
    let sub = Sub::start(broker.port, PREFIX);
    sub.wait("every committed event", Duration::from_secs(30), |_| {
        sub.events().len() >= evs.len()
    });
    let key = pubkey(&state);
    let got = sub.events();
    let ids: HashSet<&str> = got.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), got.len(), "each event once");
    for e in &evs {
        let g = got
            .iter()
            .find(|g| g["id"] == e.id.as_str())
            .unwrap_or_else(|| panic!("event {} lost", e.id));
        signing::verify_value(g, &key).unwrap();
    }
    // The evidence given back for space is announced as dropped, never half-sent.
    for e in &evs[..4] {
        let g = got.iter().find(|g| g["id"] == e.id.as_str()).unwrap();
        assert_eq!(g["evidence_dropped"], true, "{g:#}");
        let name = &e.media[0].name;
        sub.wait("dropped manifest", Duration::from_secs(10), |_| {
            sub.media(&e.id, name)
                .is_some_and(|(m, _)| m["evidence_dropped"] == true)
        });
    }
    assert_eq!(dropped, 4, "every clip was given back, each counted once");
    // With space back, evidence flows again.
    let after = event_with_media("cam1", 200, &evidence, &[("clip.mp4", noise(300_000, 7))]);
    up.enqueue(&after).unwrap();
    sub.wait(
        "the clip enqueued after space returned",
        Duration::from_secs(30),
        |_| sub.media(&after.id, "clip.mp4").is_some(),
    );
    let (_, bytes) = sub.media(&after.id, "clip.mp4").unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), after.media[0].sha256);
    sub.wait(
        "health counting the dropped evidence",
        Duration::from_secs(10),
        |m| {
            m.iter()
                .filter(|m| m.topic == format!("{PREFIX}/health"))
                .any(|m| {
                    let h: Value = serde_json::from_slice(&m.payload).unwrap();
                    h["dropped"]["media_dropped"].as_u64() == Some(dropped)
                        && h["dropped"]["events_dropped"].as_u64() == Some(0)
                })
        },
    );
    up.stop();
}

#[test]
fn a_daemon_started_on_a_full_disk_keeps_running_and_its_uplink_starts_once_space_returns() {
    let broker = Broker::start(BrokerOpts::default());
    let sub = Sub::start(broker.port, PREFIX);
    let dir = tempfile::tempdir().unwrap();
    let Some(mnt) = Tmpfs::mount(&dir.path().join("state"), 8) else {
        return;
    };
    let filler = mnt.0.join("filler");
    fill(&filler);
    let cfg = dir.path().join("streetwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[device]\nid = \"box-test\"\nstate_dir = \"{}\"\n\n[web]\nlisten = \"127.0.0.1:0\"\n\n[uplink]\nbroker = \"mqtt://127.0.0.1:{}\"\nkeepalive_s = 5\n",
            mnt.0.display(),
            broker.port
        ),
    )
    .unwrap();
    let mut daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon.log"), "info");
    daemon.wait_log(20, "the uplink's failure, naming the cause", |l| {
        l.contains("uplink unavailable") && l.contains("No space left on device")
    });
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon died"
    );
    assert!(sub.status().is_empty());
    std::fs::remove_file(&filler).unwrap();
    sub.wait(
        "online once space returned",
        Duration::from_secs(30),
        |_| sub.status().iter().any(|s| s["state"] == "online"),
    );
    let st = daemon.stop_within(20).expect("daemon stops on SIGTERM");
    assert!(st.success(), "daemon exit {st}:\n{}", daemon.log());
}
