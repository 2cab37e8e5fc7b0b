//! Attacks from the roadside LAN against the real daemon (`streetwatch run`), each the
//! regression test of a measured break-in or knock-over (issue 11, item 8):
//!
//! - login floods must not grow memory or lock the technician out;
//! - a stored camera or broker password must never reach a host it was not typed for,
//!   on any save path (camera form, uplink form, config import);
//! - an upload must be the TLS file it claims to be (not an ELF with a PEM appended),
//!   and a client key must belong to its certificate;
//! - nothing the page sends may choose code or filesystem paths;
//! - idle or half-open connections must not starve the page.
//!
//! Every "did not happen" is paired with a "did happen" on the same listener (the
//! password does arrive at the camera's own host; the connection does reach the new
//! host), so a test cannot pass because nothing was sent at all.
//!
//! The figures the README quotes are printed: `cargo test --locked --test attacks --
//! --nocapture --test-threads=1`.

mod support;

use base64::Engine as _;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::daemon::RunningDaemon;
use support::wait_for;

const PASSPHRASE: &str = "a-long-test-passphrase-42";

/// A daemon with no camera and no broker, logged in: (daemon, client, base URL, CSRF).
fn daemon() -> (RunningDaemon, reqwest::blocking::Client, String, String) {
    let d = RunningDaemon::start("[device]\nid = \"box\"\n", "info");
    let (c, base, csrf) = d.page();
    (d, c, base, csrf)
}

fn status_json(r: reqwest::blocking::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Log in with the right password from `from`, on a fresh connection (TLS handshake
/// included): the status and how long it took.
fn timed_login(base: &str, from: IpAddr) -> (u16, Duration) {
    let c = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .local_address(from)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let t0 = Instant::now();
    let r = c
        .post(format!("{base}/api/login"))
        .json(&json!({"password": PASSPHRASE}))
        .send()
        .unwrap();
    (r.status().as_u16(), t0.elapsed())
}

/// What one flood got back.
#[derive(Default, Debug)]
struct FloodResult {
    /// 401: the password was actually checked (hashed).
    checked: usize,
    /// 429: refused before hashing (busy, or this address's backoff).
    refused: usize,
    /// The connection was refused or closed (per-address connection cap).
    dropped: usize,
    /// Anything else (5xx, a success): must be 0.
    other: Vec<u16>,
}

/// `sources.len()` concurrent wrong logins, one from each source address.
fn flood(rt: &tokio::runtime::Runtime, base: &str, sources: &[IpAddr]) -> FloodResult {
    rt.block_on(async {
        let tasks: Vec<_> = sources
            .iter()
            .map(|&from| {
                let url = format!("{base}/api/login");
                tokio::spawn(async move {
                    let c = reqwest::Client::builder()
                        .danger_accept_invalid_certs(true)
                        .local_address(from)
                        .timeout(Duration::from_secs(30))
                        .build()
                        .unwrap();
                    c.post(url)
                        .json(&json!({"password": "wrong-password-123"}))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                })
            })
            .collect();
        let mut out = FloodResult::default();
        for t in tasks {
            match t.await.unwrap() {
                Ok(401) => out.checked += 1,
                Ok(429) => out.refused += 1,
                Ok(s) => out.other.push(s),
                Err(_) => out.dropped += 1,
            }
        }
        out
    })
}

#[test]
fn ten_login_floods_keep_memory_flat_and_the_technician_gets_in_within_a_second() {
    let (d, _c, base, _) = daemon();
    let me: IpAddr = Ipv4Addr::LOCALHOST.into();
    let (s, first) = timed_login(&base, me);
    assert_eq!(s, 200);
    let idle = d.rss_kib().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut worst_rss = idle;
    let mut worst_login = first;
    for k in 0..10u8 {
        // Even floods: 200 from one address (as measured in the issue); odd floods:
        // one from each of 200 addresses, which only the global bound can stop.
        let sources: Vec<IpAddr> = if k % 2 == 0 {
            vec![Ipv4Addr::new(127, 0, 3, k + 1).into(); 200]
        } else {
            (0..200)
                .map(|i| Ipv4Addr::new(127, 1, k, i as u8 + 1).into())
                .collect()
        };
        let t0 = Instant::now();
        let r = flood(&rt, &base, &sources);
        let took = t0.elapsed();
        assert!(r.other.is_empty(), "flood {k}: unexpected answers {r:?}");
        assert_eq!(
            r.checked + r.refused + r.dropped,
            200,
            "flood {k}: every request answered or dropped: {r:?}"
        );
        if k % 2 == 0 {
            // One address: one check at a time, then its backoff. The first flood
            // from an address hashes at most the three free failures.
            assert!(r.checked <= 3, "flood {k}: {r:?}");
        } else {
            assert!(
                r.refused > 0,
                "flood {k}: the hashing bound refused none: {r:?}"
            );
        }
        let rss = d.rss_kib().expect("the daemon survived the flood");
        let (s, login) = timed_login(&base, me);
        assert_eq!(s, 200, "flood {k}: the right password still logs in");
        println!(
            "attacks: login flood {k} ({}): {took:.1?}, {} checked, {} refused 429, {} connections dropped; RSS {} MiB (idle {} MiB); correct login {:.0?}",
            if k % 2 == 0 {
                "1 address"
            } else {
                "200 addresses"
            },
            r.checked,
            r.refused,
            r.dropped,
            rss / 1024,
            idle / 1024,
            login
        );
        assert!(
            rss <= idle + 64 * 1024,
            "flood {k}: RSS {rss} KiB grew more than 64 MiB over the idle {idle} KiB"
        );
        assert!(
            login < Duration::from_secs(1),
            "flood {k}: the correct login took {login:?}"
        );
        worst_rss = worst_rss.max(rss);
        worst_login = worst_login.max(login);
    }
    println!(
        "attacks: 10 floods of 200 wrong logins: RSS idle {} MiB, worst {} MiB (+{} MiB); slowest correct login {:.0?}",
        idle / 1024,
        worst_rss / 1024,
        (worst_rss - idle) / 1024,
        worst_login
    );
    // The page words the 429 itself (in Chinese by default): the answer carries the code
    // and the wait. A fresh address gets three free failures, then waits.
    let c = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .local_address(IpAddr::from(Ipv4Addr::new(127, 0, 4, 1)))
        .build()
        .unwrap();
    let answers: Vec<(u16, Value)> = (0..4)
        .map(|_| {
            status_json(
                c.post(format!("{base}/api/login"))
                    .json(&json!({"password": "wrong-password-123"}))
                    .send()
                    .unwrap(),
            )
        })
        .collect();
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [401, 401, 401, 429], "{answers:?}");
    let body = &answers[3].1;
    assert_eq!(body["error"], "rate_limited", "{body}");
    assert!(body["retry_after_s"].as_u64().is_some(), "{body}");
}

/// Answers the first complete request in a connection's unread bytes: how many bytes
/// it took and the answer; `None` until a whole request has arrived.
type Reply = fn(&[u8]) -> Option<(usize, Vec<u8>)>;

/// A TCP listener on 127.0.0.1 that records every byte it receives; `reply` answers
/// each complete request of a connection.
struct Recorder {
    port: u16,
    bytes: Arc<Mutex<Vec<u8>>>,
    requests: Arc<Mutex<usize>>,
}

impl Recorder {
    fn start(reply: Reply) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(0));
        let (b, n) = (bytes.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let (b, n) = (b.clone(), n.clone());
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
                    let mut pending = Vec::new();
                    let mut buf = [0u8; 4096];
                    while let Ok(got) = conn.read(&mut buf) {
                        if got == 0 {
                            break;
                        }
                        b.lock().unwrap().extend_from_slice(&buf[..got]);
                        pending.extend_from_slice(&buf[..got]);
                        while let Some((used, answer)) = reply(&pending) {
                            pending.drain(..used);
                            *n.lock().unwrap() += 1;
                            if conn.write_all(&answer).is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Recorder {
            port,
            bytes,
            requests,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap()).into_owned()
    }

    fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }

    fn contains(&self, needle: &[u8]) -> bool {
        self.bytes
            .lock()
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
    }
}

/// An RTSP "camera" that challenges every request for HTTP Basic credentials, so a
/// client holding a password sends it (`Authorization: Basic base64(user:password)`).
fn rtsp_challenge(pending: &[u8]) -> Option<(usize, Vec<u8>)> {
    let end = pending.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&pending[..end]);
    let cseq = head
        .lines()
        .find_map(|l| l.strip_prefix("CSeq:").or_else(|| l.strip_prefix("cseq:")))
        .unwrap_or("1")
        .trim()
        .to_string();
    let answer = format!(
        "RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Basic realm=\"camera\"\r\nContent-Length: 0\r\n\r\n"
    );
    Some((end, answer.into_bytes()))
}

/// An MQTT "broker" that reads each CONNECT and refuses it (CONNACK 5, not authorised).
fn mqtt_refuse(pending: &[u8]) -> Option<(usize, Vec<u8>)> {
    // Fixed header: type byte, remaining length (varint).
    let mut len = 0usize;
    let mut i = 1;
    loop {
        let b = *pending.get(i)?;
        len |= ((b & 0x7f) as usize) << (7 * (i - 1));
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    let total = i + len;
    (pending.len() >= total).then(|| (total, vec![0x20, 0x02, 0x00, 0x05]))
}

fn basic(user: &str, password: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .encode(format!("{user}:{password}"))
        .into_bytes()
}

fn send(
    c: &reqwest::blocking::Client,
    method: &str,
    url: String,
    csrf: &str,
    body: Value,
) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    status_json(
        c.request(m, url)
            .header("X-CSRF-Token", csrf)
            .json(&body)
            .send()
            .unwrap(),
    )
}

const CAM_SECRET: &str = "cam-secret-pw-1";
const BROKER_SECRET: &str = "broker-secret-pw-1";

/// The camera's own host receives the password (the positive control).
fn camera_at_home(c: &reqwest::blocking::Client, base: &str, csrf: &str, home: &Recorder) {
    let (s, body) = send(
        c,
        "POST",
        format!("{base}/api/cameras"),
        csrf,
        json!({"id": "gate", "url": format!("rtsp://127.0.0.1:{}/main", home.port),
               "username": "viewer", "password": CAM_SECRET}),
    );
    assert_eq!(s, 201, "{body}");
    wait_for(Duration::from_secs(60), || {
        home.contains(&basic("viewer", CAM_SECRET)).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the camera's own host never got the password: {}",
            home.text()
        )
    });
}

/// The uplink's own broker receives the password (the positive control).
fn broker_at_home(c: &reqwest::blocking::Client, base: &str, csrf: &str, home: &Recorder) {
    let (s, body) = send(
        c,
        "PUT",
        format!("{base}/api/uplink"),
        csrf,
        json!({"broker": format!("mqtt://127.0.0.1:{}", home.port),
               "username": "box", "password": BROKER_SECRET}),
    );
    assert_eq!(s, 200, "{body}");
    wait_for(Duration::from_secs(60), || {
        home.contains(BROKER_SECRET.as_bytes()).then_some(())
    })
    .expect("the broker's own host never got the password");
}

/// `away` was contacted (RTSP requests or MQTT CONNECTs, at least `min`) and never
/// received the secret in any form.
fn never_got(away: &Recorder, min: usize, secrets: &[Vec<u8>], what: &str) {
    wait_for(Duration::from_secs(60), || {
        (away.requests() >= min).then_some(())
    })
    .unwrap_or_else(|| panic!("{what}: the new host was never contacted: {}", away.text()));
    for s in secrets {
        assert!(
            !away.contains(s),
            "{what}: the stored password reached the new host:\n{}",
            away.text()
        );
    }
}

#[test]
fn a_camera_password_does_not_follow_a_camera_moved_on_the_camera_form() {
    let (d, c, base, csrf) = daemon();
    let (home, away) = (
        Recorder::start(rtsp_challenge),
        Recorder::start(rtsp_challenge),
    );
    camera_at_home(&c, &base, &csrf, &home);
    // Same camera, another port, the password left empty (as the form sends it).
    let (s, body) = send(
        &c,
        "PUT",
        format!("{base}/api/cameras/gate"),
        &csrf,
        json!({"url": format!("rtsp://127.0.0.1:{}/main", away.port), "username": "viewer"}),
    );
    assert_eq!(s, 200, "{body}");
    // Two requests: the first one's 401 challenge would have drawn the password.
    never_got(
        &away,
        2,
        &[basic("viewer", CAM_SECRET), CAM_SECRET.as_bytes().to_vec()],
        "camera PUT",
    );
    assert_eq!(body["password_cleared"], true, "{body}");
    assert!(
        body["notices"][0]["zh"]
            .as_str()
            .unwrap()
            .contains("重新输入密码")
    );
    assert!(
        !std::fs::read_to_string(d.config_path())
            .unwrap()
            .contains(CAM_SECRET)
    );
    assert!(!d.log().contains(CAM_SECRET), "password in the log");
}

#[test]
fn a_broker_password_does_not_follow_a_broker_moved_on_the_uplink_form() {
    let (d, c, base, csrf) = daemon();
    let (home, away) = (Recorder::start(mqtt_refuse), Recorder::start(mqtt_refuse));
    broker_at_home(&c, &base, &csrf, &home);
    let (s, body) = send(
        &c,
        "PUT",
        format!("{base}/api/uplink"),
        &csrf,
        json!({"broker": format!("mqtt://127.0.0.1:{}", away.port), "username": "box"}),
    );
    assert_eq!(s, 200, "{body}");
    never_got(&away, 1, &[BROKER_SECRET.as_bytes().to_vec()], "uplink PUT");
    assert_eq!(body["password_cleared"], true, "{body}");
    assert!(away.contains(b"MQTT"), "a CONNECT arrived: {}", away.text());
    assert!(
        !std::fs::read_to_string(d.config_path())
            .unwrap()
            .contains(BROKER_SECRET)
    );
    assert!(!d.log().contains(BROKER_SECRET), "password in the log");
}

#[test]
fn neither_password_follows_hosts_moved_by_a_config_import() {
    let (d, c, base, csrf) = daemon();
    let (cam_home, cam_away) = (
        Recorder::start(rtsp_challenge),
        Recorder::start(rtsp_challenge),
    );
    let (mq_home, mq_away) = (Recorder::start(mqtt_refuse), Recorder::start(mqtt_refuse));
    camera_at_home(&c, &base, &csrf, &cam_home);
    broker_at_home(&c, &base, &csrf, &mq_home);
    let exported = c
        .get(format!("{base}/api/config/export"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!exported.contains(CAM_SECRET) && !exported.contains(BROKER_SECRET));
    let moved = exported
        .replace(
            &format!("127.0.0.1:{}", cam_home.port),
            &format!("127.0.0.1:{}", cam_away.port),
        )
        .replace(
            &format!("127.0.0.1:{}", mq_home.port),
            &format!("127.0.0.1:{}", mq_away.port),
        );
    assert_ne!(moved, exported);
    let (s, body) = status_json(
        c.post(format!("{base}/api/config/import"))
            .header("X-CSRF-Token", &csrf)
            .body(moved)
            .send()
            .unwrap(),
    );
    assert_eq!(s, 200, "{body}");
    never_got(
        &cam_away,
        2,
        &[basic("viewer", CAM_SECRET), CAM_SECRET.as_bytes().to_vec()],
        "import (camera)",
    );
    never_got(
        &mq_away,
        1,
        &[BROKER_SECRET.as_bytes().to_vec()],
        "import (uplink)",
    );
    let cleared: Vec<&str> = body["passwords_cleared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        cleared,
        ["cameras[gate].password", "uplink.password"],
        "{body}"
    );
    let saved = std::fs::read_to_string(d.config_path()).unwrap();
    assert!(
        !saved.contains(CAM_SECRET) && !saved.contains(BROKER_SECRET),
        "{saved}"
    );
}

/// A CA, and a client certificate signed by it with its key: (ca, cert, key) PEM.
fn client_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["box".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

fn upload(
    c: &reqwest::blocking::Client,
    base: &str,
    csrf: &str,
    file: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    status_json(
        c.post(format!("{base}/api/uplink/tls/{file}"))
            .header("X-CSRF-Token", csrf)
            .header("Content-Type", "application/x-pem-file")
            .body(body)
            .send()
            .unwrap(),
    )
}

#[test]
fn tls_uploads_must_be_real_certificates_and_a_key_that_matches() {
    let (d, c, base, csrf) = daemon();
    let (ca, cert, key) = client_pki();
    let (.., other_key) = client_pki();
    let stored = d.dir.join("state/uplink-tls");
    let before = std::fs::read_to_string(d.config_path()).unwrap();
    // A real executable with a real certificate appended (what was accepted before).
    let mut elf = std::fs::read("/bin/true").expect("/bin/true (coreutils)");
    assert_eq!(&elf[..4], b"\x7fELF");
    elf.truncate(48 * 1024);
    elf.extend_from_slice(b"\n");
    elf.extend_from_slice(ca.as_bytes());
    let (s, body) = upload(&c, &base, &csrf, "ca", elf);
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["problems"][0]["path"], "ca", "{body}");
    let msg = body["problems"][0]["message"].as_str().unwrap();
    assert!(msg.contains("binary data"), "{msg}");
    assert!(!stored.exists(), "nothing was stored");
    assert_eq!(std::fs::read_to_string(d.config_path()).unwrap(), before);
    // A certificate with anything after it, and a PEM label around bytes that are not
    // X.509, are refused too.
    let (s, body) = upload(
        &c,
        &base,
        &csrf,
        "ca",
        format!("{ca}#!/bin/sh\n").into_bytes(),
    );
    assert_eq!(s, 422, "{body}");
    let (s, body) = upload(
        &c,
        &base,
        &csrf,
        "ca",
        b"-----BEGIN CERTIFICATE-----\nTUlJPQ==\n-----END CERTIFICATE-----\n".to_vec(),
    );
    assert_eq!(s, 422, "{body}");
    assert!(body.to_string().contains("X.509"), "{body}");
    // The real CA and client certificate are accepted; a key that is not the
    // certificate's is refused, naming the fix; the right one is accepted.
    assert_eq!(upload(&c, &base, &csrf, "ca", ca.into_bytes()).0, 200);
    assert_eq!(
        upload(&c, &base, &csrf, "client_cert", cert.into_bytes()).0,
        200
    );
    let (s, body) = upload(
        &c,
        &base,
        &csrf,
        "client_key",
        other_key.clone().into_bytes(),
    );
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["problems"][0]["path"], "client_key");
    assert!(
        body.to_string()
            .contains("does not belong to the client certificate"),
        "{body}"
    );
    assert!(!body.to_string().contains(other_key.lines().nth(1).unwrap()));
    let (s, body) = upload(&c, &base, &csrf, "client_key", key.into_bytes());
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["tls"],
        json!({"ca": true, "client_cert": true, "client_key": true})
    );
    let saved = std::fs::read_to_string(d.config_path()).unwrap();
    assert!(saved.contains("client_key"), "{saved}");
    // Every stored file is one the daemon named, under its own directory.
    for entry in std::fs::read_dir(&stored).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            ["ca-", "client-cert-", "client-key-"]
                .iter()
                .any(|p| name.starts_with(p))
                && name.ends_with(".pem"),
            "{name}"
        );
    }
}

/// The value at a dotted key path of a TOML document, as TOML text ("" when absent).
fn toml_at(doc: &toml::Table, path: &str) -> String {
    let mut v: Option<&toml::Value> = None;
    let mut table = Some(doc);
    for part in path.split('.') {
        v = table.and_then(|t| t.get(part));
        table = v.and_then(|x| x.as_table());
    }
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn set_toml(doc: &mut toml::Table, path: &str, value: toml::Value) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut t = doc;
    for p in &parts[..parts.len() - 1] {
        t = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .unwrap();
    }
    t.insert(parts[parts.len() - 1].to_string(), value);
}

#[test]
fn keys_that_load_code_or_choose_paths_cannot_be_imported_or_saved() {
    let (d, c, base, csrf) = daemon();
    // A real CA upload lands at a path the attacker can predict from its content…
    let (ca, ..) = client_pki();
    assert_eq!(upload(&c, &base, &csrf, "ca", ca.into_bytes()).0, 200);
    let planted = std::fs::read_dir(d.dir.join("state/uplink-tls"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let before_text = std::fs::read_to_string(d.config_path()).unwrap();
    let before: toml::Table = toml::from_str(&before_text).unwrap();
    let exported = c
        .get(format!("{base}/api/config/export"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let mut doc: toml::Table = toml::from_str(&exported).unwrap();
    // …and an import names it, and every other path, as code or location to use.
    let p = planted.display().to_string();
    let s = |x: &str| toml::Value::String(x.to_string());
    let attempts: Vec<(&str, toml::Value)> = vec![
        ("inference.library_path", s(&p)),
        ("inference.provider_options.qnn.backend_path", s(&p)),
        (
            "inference.provider_options.tensorrt.trt_engine_cache_path",
            s("/tmp/trt"),
        ),
        (
            "inference.execution_providers",
            toml::Value::Array(vec![s("qnn"), s("cpu")]),
        ),
        ("inference.models_dir", s("/tmp/models")),
        ("inference.weights_dir", s("/tmp/weights")),
        ("device.state_dir", s("/tmp/state")),
        ("events.evidence.dir", s("/tmp/evidence")),
        ("web.state_dir", s("/tmp/web")),
        ("web.cert_path", s(&p)),
        ("web.key_path", s("/etc/shadow")),
        (
            "uplink.tls.ca_file",
            s("/etc/ssl/certs/ca-certificates.crt"),
        ),
    ];
    for (key, v) in &attempts {
        set_toml(&mut doc, key, v.clone());
    }
    // One harmless change rides along: it must be applied.
    set_toml(&mut doc, "device.location", s("north gate"));
    let text = toml::to_string(&doc).unwrap();
    for q in ["?dry_run=true", ""] {
        let (status, body) = status_json(
            c.post(format!("{base}/api/config/import{q}"))
                .header("X-CSRF-Token", &csrf)
                .body(text.clone())
                .send()
                .unwrap(),
        );
        assert_eq!(status, 200, "{q}: {body}");
        let ignored: Vec<&str> = body["ignored"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["key"].as_str().unwrap())
            .collect();
        for (key, _) in &attempts {
            assert!(ignored.contains(key), "{q}: {key} not reported: {body}");
        }
        for n in body["ignored"].as_array().unwrap() {
            assert!(n["zh"].as_str().unwrap().contains("配置文件"), "{n}");
            assert!(n["en"].as_str().unwrap().contains("config file"), "{n}");
        }
        let changed: Vec<&str> = body["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["path"].as_str().unwrap())
            .collect();
        assert_eq!(changed, ["device.location"], "{q}: {body}");
    }
    let after_text = std::fs::read_to_string(d.config_path()).unwrap();
    let after: toml::Table = toml::from_str(&after_text).unwrap();
    for (key, _) in &attempts {
        assert_eq!(
            toml_at(&after, key),
            toml_at(&before, key),
            "{key} changed on disk"
        );
    }
    assert!(!after_text.contains("library_path"), "{after_text}");
    assert_eq!(toml_at(&after, "device.location"), "\"north gate\"");
    // The forms have no such fields, and a camera cannot be pointed at a local file.
    let cases = [
        (
            "PUT",
            "/api/device",
            json!({"id": "box", "timezone": "Asia/Shanghai", "state_dir": "/tmp"}),
            "state_dir",
        ),
        (
            "PUT",
            "/api/uplink",
            json!({"broker": "", "tls": {"ca_file": p}}),
            "tls",
        ),
        (
            "POST",
            "/api/cameras",
            json!({"id": "f", "url": "file:///etc/shadow"}),
            "url",
        ),
        (
            "POST",
            "/api/cameras",
            json!({"id": "f", "url": format!("file://{p}")}),
            "url",
        ),
    ];
    for (m, path, body, field) in cases {
        let (s, answer) = send(&c, m, format!("{base}{path}"), &csrf, body.clone());
        assert_eq!(s, 422, "{m} {path} {body}: {answer}");
        assert_eq!(answer["problems"][0]["path"], field, "{answer}");
    }
    assert_eq!(
        std::fs::read_to_string(d.config_path()).unwrap(),
        after_text
    );
    // Every file-only key is documented where the technician looks.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let docs = std::fs::read_to_string(root.join("docs/deployment.md")).unwrap();
    for key in streetwatch::web::FILE_ONLY_KEYS {
        assert!(docs.contains(key), "docs/deployment.md does not name {key}");
    }
}

/// The first 64 bytes of a TLS 1.2/1.3 ClientHello that announces 512 bytes: a
/// handshake that never completes.
const HALF_CLIENT_HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x02, 0x00, // handshake record, 512 bytes follow
    0x01, 0x00, 0x01, 0xfc, // ClientHello, 508 bytes
    0x03, 0x03, // TLS 1.2 legacy version
    0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
    0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
    0x5a, // random
    0x20, // session id length
    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
    0x11, 0x11, 0x11, 0x11, 0x11,
];

/// One request on a new connection (TCP + TLS + HTTP), timed.
fn timed_request(base: &str) -> Duration {
    let c = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let t0 = Instant::now();
    let r = c.get(format!("{base}/api/openapi.json")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let _ = r.bytes().unwrap();
    t0.elapsed()
}

#[test]
fn idle_and_half_handshake_connections_do_not_delay_a_request() {
    let (_d, _c, base, _) = daemon();
    let addr: SocketAddr = base
        .trim_start_matches("https://")
        .parse()
        .expect("https://127.0.0.1:port");
    let baseline = (0..3).map(|_| timed_request(&base)).min().unwrap();
    let mut held = Vec::new();
    for _ in 0..32 {
        held.push(TcpStream::connect(addr).unwrap());
    }
    for _ in 0..32 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(HALF_CLIENT_HELLO).unwrap();
        held.push(s);
    }
    // Let the server accept all of them before the real request.
    std::thread::sleep(Duration::from_millis(300));
    let attacked = (0..3).map(|_| timed_request(&base)).max().unwrap();
    println!(
        "attacks: 32 idle + 32 half-ClientHello connections: request {attacked:.0?} (baseline {baseline:.0?})"
    );
    assert!(
        attacked < baseline + Duration::from_secs(1),
        "a request took {attacked:?} under attack, {baseline:?} without"
    );
    // The attackers are closed by the server within the handshake timeout (5 s),
    // those evicted to make room at once.
    let t0 = Instant::now();
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 64];
        // EOF, a reset or a TLS alert: the server gave up on the connection.
        let _ = s.read(&mut b);
    }
    let closed_in = t0.elapsed();
    println!("attacks: the 64 attacking connections were closed within {closed_in:.1?}");
    assert!(closed_in < Duration::from_secs(8), "{closed_in:?}");
    // A flood of idle connections from many addresses is no worse.
    let mut many = Vec::new();
    for i in 0..200u32 {
        let from = SocketAddr::from((
            Ipv4Addr::new(127, 2, (i / 250) as u8, (i % 250) as u8 + 1),
            0,
        ));
        let sock = socket2_connect(from, addr);
        many.push(sock);
    }
    std::thread::sleep(Duration::from_millis(300));
    let crowded = timed_request(&base);
    println!("attacks: 200 idle connections from 200 addresses: request {crowded:.0?}");
    assert!(crowded < baseline + Duration::from_secs(1), "{crowded:?}");
}

/// A TCP connection from a chosen local address (std cannot bind before connect).
fn socket2_connect(from: SocketAddr, to: SocketAddr) -> TcpStream {
    let s = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind(from).unwrap();
            sock.connect(to).await.unwrap().into_std().unwrap()
        });
    s.set_nonblocking(false).unwrap();
    s
}
