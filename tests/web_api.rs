//! The technician's web API over real HTTPS on 127.0.0.1, with a rustls client.

mod support;

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use streetwatch::config::{CameraConfig, Config};
use streetwatch::ingest::{CameraStatus, Reason};
use streetwatch::rules::event::{Event as SwEvent, EventKind, MediaRef, Phase};
use streetwatch::uplink::testutil::{sample_event, write_media};
use streetwatch::uplink::{Hooks, Outbox, Uplink, signing};
use streetwatch::web::{
    CameraRuntime, LogLevel, ModelInfo, SimpleBackend, WebBackend, WebConfig, WebError, WebHandle,
    WebServer,
};

const PASSWORD: &str = "correct horse battery staple";

struct TestBox {
    handle: WebHandle,
    backend: Arc<SimpleBackend>,
    config_path: PathBuf,
    base: String,
    _dir: tempfile::TempDir,
}

fn camera(id: &str, password: Option<&str>) -> CameraConfig {
    toml::from_str::<CameraConfig>(&format!(
        "id = \"{id}\"\nurl = \"rtsp://127.0.0.1:1/{id}\"\nusername = \"admin\""
    ))
    .map(|mut c| {
        c.password = password.map(str::to_string);
        c
    })
    .unwrap()
}

fn start_with(config: Config) -> TestBox {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config;
    config.device.state_dir = dir.path().join("state");
    let config_path = dir.path().join("streetwatch.toml");
    streetwatch::config::save(&config, &config_path).unwrap();
    let backend = Arc::new(SimpleBackend::new(config, Some(config_path.clone())));
    let web = WebConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..WebConfig::default()
    };
    let handle = WebServer::start(web, backend.clone()).unwrap();
    let base = format!("https://{}", handle.local_addr());
    TestBox {
        handle,
        backend,
        config_path,
        base,
        _dir: dir,
    }
}

fn start() -> TestBox {
    let mut c = Config::default();
    c.cameras.push(camera("gate", Some("gate-secret-pw")));
    start_with(c)
}

/// A browser-like client: keeps cookies, trusts the box's self-signed certificate.
fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .build()
        .unwrap()
}

impl TestBox {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    fn setup_code(&self) -> String {
        std::fs::read_to_string(self.handle.setup_code_path())
            .unwrap()
            .trim()
            .to_string()
    }
    /// Run first-run setup; returns the CSRF token of the session it opens.
    fn setup(&self, c: &Client) -> String {
        let r = c
            .post(self.url("/api/setup"))
            .json(&json!({"code": self.setup_code(), "password": PASSWORD}))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().unwrap()["csrf_token"]
            .as_str()
            .unwrap()
            .to_string()
    }
    fn login(&self, c: &Client) -> String {
        let r = c
            .post(self.url("/api/login"))
            .json(&json!({"password": PASSWORD}))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().unwrap()["csrf_token"]
            .as_str()
            .unwrap()
            .to_string()
    }
    fn send(
        &self,
        c: &Client,
        method: &str,
        path: &str,
        csrf: &str,
        body: Option<Value>,
    ) -> Response {
        let mut rb = c
            .request(method.parse().unwrap(), self.url(path))
            .header("X-CSRF-Token", csrf);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send().unwrap()
    }
}

fn json_of(r: Response) -> (StatusCode, Value) {
    let s = r.status();
    let text = r.text().unwrap();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn openapi() -> Value {
    serde_json::from_str(streetwatch::web::OPENAPI_JSON).unwrap()
}

/// (method, path) pairs of the OpenAPI document.
fn documented() -> Vec<(String, String)> {
    let doc = openapi();
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            out.push((method.clone(), path.clone()));
        }
    }
    out.sort();
    out
}

const PUBLIC: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/assets/{file}"),
    ("get", "/favicon.ico"),
    ("get", "/api/openapi.json"),
    ("post", "/api/setup"),
    ("post", "/api/login"),
    // Only for peers on the box itself, which every test client is.
    ("get", "/metrics"),
];

#[test]
fn openapi_document_lists_exactly_the_routes_the_router_serves() {
    let mut served = streetwatch::web::served_routes();
    served.sort();
    assert_eq!(served, documented());
    let b = start();
    let (s, doc) = json_of(client().get(b.url("/api/openapi.json")).send().unwrap());
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc, openapi());
}

#[test]
fn every_route_but_setup_login_openapi_and_page_needs_a_session() {
    let b = start();
    let c = client();
    for (method, path) in documented() {
        let concrete = path.replace("{id}", "gate").replace("{file}", "app.js");
        let r = c
            .request(method.parse().unwrap(), b.url(&concrete))
            .header("X-CSRF-Token", "anything")
            .json(&json!({}))
            .send()
            .unwrap();
        let public = PUBLIC.iter().any(|(m, p)| *m == method && *p == path);
        let (status, body) = json_of(r);
        if public {
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            assert_ne!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            assert_eq!(body["error"], "unauthenticated");
            assert_eq!(body["setup_required"], true);
        }
    }
}

#[test]
fn setup_requires_the_code_works_once_and_invalidates_the_code() {
    let b = start();
    let c = client();
    let code_file = b.handle.setup_code_path();
    assert_eq!(
        std::fs::metadata(&code_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // No default password: login is refused until setup.
    let (s, body) = json_of(
        c.post(b.url("/api/login"))
            .json(&json!({"password": "admin"}))
            .send()
            .unwrap(),
    );
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let (s, _) = json_of(
        c.post(b.url("/api/setup"))
            .json(&json!({"code": "AAAA-BBBB-CCCC", "password": PASSWORD}))
            .send()
            .unwrap(),
    );
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let code = b.setup_code();
    let r = c
        .post(b.url("/api/setup"))
        .json(&json!({"code": code, "password": PASSWORD}))
        .send()
        .unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(r.status(), StatusCode::OK);
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Max-Age=28800"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!code_file.exists());
    // The session works right away.
    assert_eq!(
        c.get(b.url("/api/session")).send().unwrap().status(),
        StatusCode::OK
    );
    // The code is dead.
    let (s, body) = json_of(
        client()
            .post(b.url("/api/setup"))
            .json(&json!({"code": code, "password": "someone elses password"}))
            .send()
            .unwrap(),
    );
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    b.login(&client());
}

#[test]
fn device_certificate_is_generated_once_with_a_private_key_and_matching_fingerprint() {
    let b = start();
    let dir = b.handle.state_dir().to_path_buf();
    let key = dir.join("device-key.pem");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let r = client().get(b.url("/")).send().unwrap();
    let info = r.extensions().get::<reqwest::tls::TlsInfo>().unwrap();
    let der = info.peer_certificate().unwrap();
    let fp = b.handle.fingerprint().unwrap().to_string();
    assert_eq!(streetwatch::web::fingerprint(der), fp);
    assert_eq!(fp.len(), 32 * 3 - 1);
    // Restart on the same state dir: same certificate.
    let backend = b.backend.clone();
    let TestBox { handle, _dir, .. } = b;
    handle.shutdown();
    let again = WebServer::start(
        WebConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..WebConfig::default()
        },
        backend,
    )
    .unwrap();
    assert_eq!(again.fingerprint(), Some(fp.as_str()));
    drop(_dir);
}

#[test]
fn state_changing_requests_need_the_csrf_token_and_the_same_origin() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let cam = json!({"id": "north", "url": "rtsp://127.0.0.1:1/n"});
    let (s, body) = json_of(c.post(b.url("/api/cameras")).json(&cam).send().unwrap());
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "csrf");
    let (s, _) = json_of(b.send(&c, "POST", "/api/cameras", "wrong-token", Some(cam.clone())));
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = json_of(
        c.post(b.url("/api/cameras"))
            .header("X-CSRF-Token", &csrf)
            .header("Origin", "https://evil.example")
            .json(&cam)
            .send()
            .unwrap(),
    );
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "origin");
    let (s, _) = json_of(
        c.post(b.url("/api/cameras"))
            .header("X-CSRF-Token", &csrf)
            .header("Sec-Fetch-Site", "cross-site")
            .json(&cam)
            .send()
            .unwrap(),
    );
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(b.backend.config().cameras.iter().all(|c| c.id != "north"));
    let (s, body) = json_of(
        c.post(b.url("/api/cameras"))
            .header("X-CSRF-Token", &csrf)
            .header("Origin", &b.base)
            .json(&cam)
            .send()
            .unwrap(),
    );
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert!(b.backend.config().cameras.iter().any(|c| c.id == "north"));
}

#[test]
fn failed_logins_are_rate_limited_with_backoff() {
    let b = start();
    b.setup(&client());
    let c = client();
    for _ in 0..3 {
        let (s, _) = json_of(
            c.post(b.url("/api/login"))
                .json(&json!({"password": "wrong password!"}))
                .send()
                .unwrap(),
        );
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password waits.
    let r = c
        .post(b.url("/api/login"))
        .json(&json!({"password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    b.login(&c);
}

#[test]
fn camera_passwords_are_write_only_and_kept_when_an_update_omits_them() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let (s, body) = json_of(b.send(
        &c,
        "POST",
        "/api/cameras",
        &csrf,
        Some(json!({
        "id": "east", "name": "东门", "url": "rtsp://127.0.0.1:1/e",
        "username": "viewer", "password": "east-secret-pw"})),
    ));
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["password_set"], true);
    // Update without the password: kept.
    let (s, body) = json_of(b.send(
        &c,
        "PUT",
        "/api/cameras/east",
        &csrf,
        Some(json!({
        "name": "东门 2", "url": "rtsp://127.0.0.1:1/e2", "username": "viewer"})),
    ));
    assert_eq!(s, StatusCode::OK, "{body}");
    let stored = b.backend.config();
    let east = stored.cameras.iter().find(|c| c.id == "east").unwrap();
    assert_eq!(east.password.as_deref(), Some("east-secret-pw"));
    assert_eq!(east.url, "rtsp://127.0.0.1:1/e2");
    assert_eq!(body["password_cleared"], false, "{body}");
    // Nothing the page can read carries a secret.
    for path in [
        "/api/cameras",
        "/api/cameras/east",
        "/api/cameras/gate",
        "/api/status",
        "/api/config/export",
        "/api/audit",
    ] {
        let text = c.get(b.url(path)).send().unwrap().text().unwrap();
        assert!(!text.contains("east-secret-pw"), "{path}: {text}");
        assert!(!text.contains("gate-secret-pw"), "{path}: {text}");
    }
    let audit_file = std::fs::read_to_string(b.handle.state_dir().join("audit.jsonl")).unwrap();
    assert!(!audit_file.contains("secret-pw"), "{audit_file}");
    // An empty password clears it.
    b.send(
        &c,
        "PUT",
        "/api/cameras/east",
        &csrf,
        Some(json!({
        "url": "rtsp://127.0.0.1:1/e2", "password": ""})),
    );
    let (_, one) = json_of(c.get(b.url("/api/cameras/east")).send().unwrap());
    assert_eq!(one["password_set"], false);
    // Another host is another camera: an omitted password is dropped, not sent there.
    b.send(
        &c,
        "PUT",
        "/api/cameras/east",
        &csrf,
        Some(json!({"url": "rtsp://127.0.0.1:1/e2", "password": "east-secret-2"})),
    );
    let (s, body) = json_of(b.send(
        &c,
        "PUT",
        "/api/cameras/east",
        &csrf,
        Some(json!({"url": "rtsp://127.0.0.2:1/e2"})),
    ));
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["password_cleared"], true, "{body}");
    assert_eq!(body["password_set"], false, "{body}");
    assert_eq!(
        body["notices"][0]["key"], "cameras[east].password",
        "{body}"
    );
}

#[test]
fn validation_errors_name_the_field() {
    let b = start();
    let c = client();
    let (s, body) = json_of(
        c.post(b.url("/api/setup"))
            .json(&json!({"code": b.setup_code(), "password": "short"}))
            .send()
            .unwrap(),
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["problems"][0]["path"], "password");
    let csrf = b.setup(&c);
    let cases = [
        (json!({"id": "x", "url": "http://cam/1"}), "url"),
        (json!({"id": "bad id!", "url": "rtsp://cam/1"}), "id"),
        (
            json!({"id": "x", "url": "rtsp://cam/1", "analysis": {"fps": "fast"}}),
            "analysis.fps",
        ),
        (
            json!({"id": "x", "url": "rtsp://cam/1", "analysis": {"fps": 500}}),
            "analysis.fps",
        ),
        (json!({"id": "gate", "url": "rtsp://cam/1"}), "id"),
        (
            json!({"id": "x", "url": "rtsp://cam/1", "colour": "red"}),
            "colour",
        ),
        (json!(["not", "an", "object"]), ""),
    ];
    for (cam, field) in cases {
        let (s, body) = json_of(b.send(&c, "POST", "/api/cameras", &csrf, Some(cam.clone())));
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{cam}: {body}");
        assert_eq!(body["error"], "invalid");
        assert_eq!(body["problems"][0]["path"], field, "{cam}: {body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    let (s, body) = json_of(b.send(
        &c,
        "POST",
        "/api/cameras/test",
        &csrf,
        Some(json!({"url": "file:///etc/shadow"})),
    ));
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["problems"][0]["path"], "url");
    let (s, body) = json_of(c.get(b.url("/api/logs?level=loud")).send().unwrap());
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["problems"][0]["path"], "level");
    let (s, body) = json_of(c.get(b.url("/api/audit?limit=0")).send().unwrap());
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["problems"][0]["path"], "limit");
}

#[test]
fn a_bad_edit_never_replaces_the_last_good_config() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let before = std::fs::read(&b.config_path).unwrap();
    let (s, _) = json_of(b.send(
        &c,
        "PUT",
        "/api/cameras/gate",
        &csrf,
        Some(json!({"url": "ftp://x/y"})),
    ));
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let r = c
        .post(b.url("/api/config/import"))
        .header("X-CSRF-Token", &csrf)
        .body("[device]\nid = \"has space\"\n")
        .send()
        .unwrap();
    let (s, body) = json_of(r);
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["problems"][0]["path"], "device.id");
    assert_eq!(std::fs::read(&b.config_path).unwrap(), before);
    assert_eq!(b.backend.config().cameras[0].url, "rtsp://127.0.0.1:1/gate");
}

#[test]
fn config_import_dry_run_returns_the_diff_and_applying_keeps_omitted_secrets() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let exported = c
        .get(b.url("/api/config/export"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!exported.contains("gate-secret-pw"));
    let edited = exported.replace("rtsp://127.0.0.1:1/gate", "rtsp://127.0.0.1:1/gate-hd");
    let import = |q: &str| {
        json_of(
            c.post(b.url(&format!("/api/config/import{q}")))
                .header("X-CSRF-Token", &csrf)
                .body(edited.clone())
                .send()
                .unwrap(),
        )
    };
    let (s, body) = import("?dry_run=true");
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["applied"], false);
    assert_eq!(
        body["changes"],
        json!([{"path": "cameras[gate].url", "old": "rtsp://127.0.0.1:1/gate", "new": "rtsp://127.0.0.1:1/gate-hd"}])
    );
    assert_eq!(b.backend.config().cameras[0].url, "rtsp://127.0.0.1:1/gate");
    let (s, body) = import("");
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["applied"], true);
    assert_eq!(body["ignored"], json!([]), "the box's own paths: {body}");
    assert_eq!(body["passwords_cleared"], json!([]), "same host: {body}");
    let now = b.backend.config();
    assert_eq!(now.cameras[0].url, "rtsp://127.0.0.1:1/gate-hd");
    assert_eq!(now.cameras[0].password.as_deref(), Some("gate-secret-pw"));
    let on_disk = std::fs::read_to_string(&b.config_path).unwrap();
    assert!(on_disk.contains("gate-hd"));
    // The audit trail says who, when and what.
    let (_, audit) = json_of(c.get(b.url("/api/audit")).send().unwrap());
    let e = &audit["entries"][0];
    assert_eq!(e["action"], "config.import");
    assert_eq!(e["user"], "admin");
    assert_eq!(e["client"], "127.0.0.1");
    assert!(e["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(e["changes"][0]["path"], "cameras[gate].url");
}

/// The HTTP sink's secrets are write-only like the broker password: not in the export
/// nor in `GET /api/uplink` (flags only), kept by an import that omits them while the
/// URL's host stays, dropped (and said so) when an import points the sink elsewhere.
#[test]
fn http_sink_secrets_are_never_shown_and_do_not_follow_a_changed_host() {
    let mut cfg = Config::default();
    let mut http = streetwatch::uplink::HttpConfig::new("https://platform.example/events");
    http.hmac_secret = Some("hmac-secret-xyz".into());
    http.bearer_token = Some("bearer-token-xyz".into());
    cfg.uplink.http = Some(http);
    let b = start_with(cfg);
    let c = client();
    let csrf = b.setup(&c);
    let (_, view) = json_of(c.get(b.url("/api/uplink")).send().unwrap());
    assert_eq!(view["http"]["hmac_secret_set"], true, "{view}");
    assert_eq!(view["http"]["bearer_token_set"], true, "{view}");
    assert!(!view.to_string().contains("-xyz"), "{view}");
    let exported = c
        .get(b.url("/api/config/export"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!exported.contains("-xyz"), "{exported}");
    let import = |text: String| {
        json_of(
            c.post(b.url("/api/config/import"))
                .header("X-CSRF-Token", &csrf)
                .body(text)
                .send()
                .unwrap(),
        )
    };
    // Same host, another path: kept.
    let (s, body) = import(exported.replace("/events", "/v2/events"));
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["passwords_cleared"], json!([]), "{body}");
    let h = b.backend.config().uplink.http.unwrap();
    assert_eq!(h.url, "https://platform.example/v2/events");
    assert_eq!(h.hmac_secret.as_deref(), Some("hmac-secret-xyz"));
    assert_eq!(h.bearer_token.as_deref(), Some("bearer-token-xyz"));
    // Another host: both dropped, and the reply names them.
    let (s, body) = import(exported.replace("platform.example", "collector.example"));
    assert_eq!(s, StatusCode::OK, "{body}");
    let keys: Vec<&str> = body["passwords_cleared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["uplink.http.hmac_secret", "uplink.http.bearer_token"],
        "{body}"
    );
    let h = b.backend.config().uplink.http.unwrap();
    assert_eq!(h.url, "https://collector.example/events");
    assert_eq!((h.hmac_secret, h.bearer_token), (None, None));
}

#[test]
fn path_traversal_attempts_find_nothing() {
    let b = start();
    let c = client();
    for path in [
        "/assets/..%2f..%2f..%2fetc%2fpasswd",
        "/assets/%2e%2e%2fCargo.toml",
        "/assets/%2fetc%2fpasswd",
        "/assets/....//....//etc/passwd",
        "/api/../../etc/passwd",
        "/assets/app.js%00.html",
    ] {
        let r = c.get(b.url(path)).send().unwrap();
        let status = r.status();
        let text = r.text().unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {text}");
        assert!(
            !text.contains("root:") && !text.contains("[package]"),
            "{path}"
        );
    }
    let r = c.get(b.url("/assets/app.js")).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
}

#[test]
fn plain_http_is_refused_off_loopback_and_served_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.device.state_dir = dir.path().to_path_buf();
    let backend = Arc::new(SimpleBackend::new(config, None));
    let err = WebServer::start(
        WebConfig {
            listen: "0.0.0.0:0".parse().unwrap(),
            tls: false,
            ..WebConfig::default()
        },
        backend.clone(),
    )
    .err()
    .unwrap();
    assert!(matches!(err, WebError::PlainHttpOffLoopback(_)), "{err}");
    assert!(err.to_string().contains("clear text"));
    let h = WebServer::start(
        WebConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: false,
            ..WebConfig::default()
        },
        backend,
    )
    .unwrap();
    assert!(h.fingerprint().is_none());
    let r = Client::new()
        .post(format!("http://{}/api/setup", h.local_addr()))
        .json(&json!({"code": std::fs::read_to_string(h.setup_code_path()).unwrap().trim(), "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[test]
fn oversized_bodies_are_refused() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let big = "#".repeat(300 * 1024);
    let r = c
        .post(b.url("/api/config/import?dry_run=true"))
        .header("X-CSRF-Token", &csrf)
        .body(big)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[test]
fn logout_ends_the_session() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let (s, _) = json_of(b.send(&c, "POST", "/api/logout", &csrf, None));
    assert_eq!(s, StatusCode::OK);
    let (s, _) = json_of(c.get(b.url("/api/session")).send().unwrap());
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[test]
fn status_shows_each_camera_with_its_reason_and_box_health() {
    let mut config = Config::default();
    let zone = |rule: &str| -> streetwatch::rules::zone::Zone {
        toml::from_str(&format!(
            "id = \"z\"\npolygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]\nrules = [{{ type = \"{rule}\" }}]"
        ))
        .unwrap()
    };
    // An explicit rate below its littering rule's need, and a parking camera on auto.
    let mut gate = camera("gate", Some("pw-1234567"));
    gate.analysis.fps = streetwatch::config::AnalysisFps::Fixed(2.0);
    gate.zones.push(zone("litter_watch"));
    config.cameras.push(gate);
    let mut yard = camera("yard", None);
    yard.analysis.fps = streetwatch::config::AnalysisFps::Auto;
    yard.zones.push(zone("no_parking"));
    config.cameras.push(yard);
    let mut off = camera("spare", None);
    off.enabled = false;
    config.cameras.push(off);
    let b = start_with(config);
    b.backend.set_statuses(vec![
        CameraRuntime {
            id: "gate".into(),
            status: CameraStatus::backoff(Reason::Unauthorized, 4.0, 2),
            frames: 0,
            dropped: 0,
            reconnects: 2,
            analysed: 0,
            analysis_fps: 0.0,
            analysis_warning: None,
            streams: None,
            gop_s: None,
            gop_frames: None,
        },
        CameraRuntime {
            id: "yard".into(),
            status: CameraStatus::Streaming {
                fps: 12.5,
                width: 768,
                height: 432,
                codec: "H.264".into(),
            },
            frames: 100,
            dropped: 3,
            reconnects: 0,
            analysed: 40,
            analysis_fps: 4.25,
            analysis_warning: Some(streetwatch::ingest::diagnose::RateWarning {
                measured_fps: 0.5,
                expected_fps: 4.0,
                stream_fps: 12.5,
                for_s: 31.0,
                cause: streetwatch::ingest::diagnose::RateCause::Timestamps,
                message: "analysing 0.50 frames/s of the 4.00 expected".into(),
            }),
            streams: None,
            gop_s: Some(2.0),
            gop_frames: Some(25),
        },
    ]);
    let c = client();
    b.setup(&c);
    // Before the daemon hands over an uplink report, the page says there is none.
    let (_, body) = json_of(c.get(b.url("/api/status")).send().unwrap());
    assert_eq!(body["uplink"]["available"], false);
    assert_eq!(body["uplink"]["connected"], false);
    assert!(body["outbox"].is_null());
    let mut up = streetwatch::uplink::Health::default();
    up.uplink.connected = false;
    up.uplink.last_error = Some("connection refused (127.0.0.1:1883)".into());
    up.uplink.failed_connects = 3;
    up.outbox.events = 7;
    up.outbox.bytes = 123_456;
    up.outbox.oldest_age_s = Some(95.5);
    up.models.push(streetwatch::uplink::ModelHealth {
        id: "yolo11n".into(),
        version: "8.3.0".into(),
        latency_p50_ms: 20.0,
        latency_p95_ms: 30.0,
    });
    b.backend.set_uplink_health(up);
    let (s, body) = json_of(c.get(b.url("/api/status")).send().unwrap());
    assert_eq!(s, StatusCode::OK);
    let cams = body["cameras"].as_array().unwrap();
    assert_eq!(cams[0]["state"], "backoff");
    assert_eq!(cams[0]["reason"], "unauthorized");
    assert!(cams[0]["message"].as_str().unwrap().contains("401"));
    assert_eq!(cams[1]["state"], "streaming");
    assert_eq!(cams[1]["fps"], 12.5);
    assert_eq!(cams[1]["dropped"], 3);
    assert_eq!(cams[1]["analysed"], 40);
    assert_eq!(cams[1]["analysis_fps"], 4.25);
    assert_eq!(cams[0]["analysis_warning"], Value::Null);
    let warn = &cams[1]["analysis_warning"];
    assert_eq!(warn["cause"], "timestamps");
    assert_eq!(warn["measured_fps"], 0.5);
    assert_eq!(warn["expected_fps"], 4.0);
    assert_eq!(cams[2]["state"], "disabled");
    // The analysis rate and why: yard resolves to keyframes for its parking rule (its
    // 2 s GOP is within what parking allows); gate's 2 fps is below littering's 5.
    let rate = &cams[1]["analysis_rate"];
    assert_eq!(rate["auto"], true, "{rate:#}");
    assert_eq!(rate["keyframes_only"], true);
    assert_eq!(rate["keyframe_max_gap_s"], 2.0);
    assert_eq!(rate["keyframes_too_far_apart"], false);
    assert_eq!(rate["decided_by"]["rule"], "no_parking");
    assert_eq!(rate["decided_by"]["at"], "zones[0].rules[0]");
    assert_eq!(cams[1]["keyframes_only"], true);
    let rate = &cams[0]["analysis_rate"];
    assert_eq!(rate["auto"], false, "{rate:#}");
    assert_eq!(cams[0]["analysis_fps_target"], 2.0);
    let short = &rate["shortfalls"][0];
    assert_eq!(short["key"], "analysis.fps", "{rate:#}");
    assert_eq!(short["rule"]["rule"], "litter_watch");
    assert_eq!(short["need_fps"], 5.0);
    let h = &body["health"];
    assert_eq!(h["firmware"], streetwatch::FIRMWARE_VERSION);
    assert!(h["memory"]["total_bytes"].as_u64().unwrap() > 0);
    assert!(h["disk"]["total_bytes"].as_u64().unwrap() > 0);
    assert!(h["cpu"]["cores"].as_u64().unwrap() >= 1);
    assert_eq!(h["cpu"]["load"].as_array().unwrap().len(), 3);
    let usage = h["cpu"]["usage_percent"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&usage), "{usage}");
    // A number where a thermal zone is readable, null (shown as "–") where not.
    assert!(h["temperature_c"].is_null() || h["temperature_c"].is_f64());
    assert_eq!(h["models"], json!([{"id": "yolo11n", "version": "8.3.0"}]));
    assert_eq!(body["uplink"]["available"], true);
    assert_eq!(body["uplink"]["connected"], false);
    assert_eq!(
        body["uplink"]["last_error"],
        "connection refused (127.0.0.1:1883)"
    );
    assert_eq!(body["uplink"]["failed_connects"], 3);
    assert_eq!(
        body["outbox"],
        json!({"events": 7, "bytes": 123_456, "oldest_age_s": 95.5})
    );
}

#[test]
fn logs_are_filtered_by_level() {
    let b = start();
    b.backend
        .push_log(LogLevel::Info, "streetwatch::daemon", "camera started");
    b.backend
        .push_log(LogLevel::Warn, "streetwatch::ingest", "camera stalled");
    b.backend
        .push_log(LogLevel::Error, "streetwatch::ingest", "camera failed");
    let c = client();
    b.setup(&c);
    let (_, all) = json_of(c.get(b.url("/api/logs")).send().unwrap());
    assert_eq!(all["lines"].as_array().unwrap().len(), 3);
    let (_, warn) = json_of(c.get(b.url("/api/logs?level=warn")).send().unwrap());
    let msgs: Vec<&str> = warn["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs, ["camera stalled", "camera failed"]);
}

#[test]
fn removing_a_camera_is_applied_and_audited() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let (s, _) = json_of(b.send(&c, "DELETE", "/api/cameras/gate", &csrf, None));
    assert_eq!(s, StatusCode::OK);
    assert!(b.backend.config().cameras.is_empty());
    let (s, _) = json_of(b.send(&c, "DELETE", "/api/cameras/gate", &csrf, None));
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, audit) = json_of(c.get(b.url("/api/audit?limit=1")).send().unwrap());
    assert_eq!(audit["entries"][0]["action"], "camera.delete");
    assert_eq!(audit["entries"][0]["changes"][0]["path"], "cameras[gate]");
    assert_eq!(audit["entries"][0]["changes"][0]["old"]["password"], "***");
}

#[test]
fn test_connection_reports_the_stream_or_the_exact_failure() {
    let cam = support::CamSim::start(
        support::free_port(),
        &[(
            "/car",
            support::media("car-detection.mp4").display().to_string(),
        )],
        Some(("viewer", "cam-pass-123")),
    );
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let (s, ok) = json_of(b.send(
        &c,
        "POST",
        "/api/cameras/test",
        &csrf,
        Some(json!({
        "url": cam.url("/car"), "username": "viewer", "password": "cam-pass-123", "seconds": 2})),
    ));
    assert_eq!(s, StatusCode::OK, "{ok}");
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["codec"], "H.264");
    assert_eq!(
        (ok["width"].as_u64(), ok["height"].as_u64()),
        (Some(768), Some(432))
    );
    assert!(ok["fps"].as_f64().unwrap() > 1.0, "{ok}");
    // The picture the camera sends, small enough for a phone: a JPEG data URL.
    let jpeg = ok["snapshot"]
        .as_str()
        .and_then(|u| u.strip_prefix("data:image/jpeg;base64,"))
        .unwrap_or_else(|| panic!("no snapshot: {ok}"));
    let jpeg = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, jpeg).unwrap();
    let img = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((img.width(), img.height()), (640, 360));
    let (s, bad) = json_of(b.send(
        &c,
        "POST",
        "/api/cameras/test",
        &csrf,
        Some(json!({
        "url": cam.url("/car"), "username": "viewer", "password": "wrong-pass", "seconds": 1})),
    ));
    assert_eq!(s, StatusCode::OK);
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["reason"], "unauthorized");
    assert!(
        bad["message"]
            .as_str()
            .unwrap()
            .starts_with("unauthorized (401)"),
        "{bad}"
    );
    assert!(!bad.to_string().contains("wrong-pass"));
    // A saved camera is tested with its stored password, which the page never sees…
    let (s, _) = json_of(b.send(
        &c,
        "POST",
        "/api/cameras",
        &csrf,
        Some(json!({
        "id": "car", "url": cam.url("/car"), "username": "viewer", "password": "cam-pass-123"})),
    ));
    assert_eq!(s, StatusCode::CREATED);
    let (s, stored) = json_of(b.send(
        &c,
        "POST",
        "/api/cameras/test",
        &csrf,
        Some(json!({
        "url": cam.url("/car"), "camera_id": "car", "seconds": 1})),
    ));
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stored["ok"], true, "{stored}");
    // …and is never sent to another address.
    let (s, elsewhere) = json_of(b.send(
        &c,
        "POST",
        "/api/cameras/test",
        &csrf,
        Some(json!({
        "url": "rtsp://127.0.0.2:554/car", "camera_id": "car"})),
    ));
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(elsewhere["problems"][0]["path"], "password");
}

#[test]
fn changing_the_password_needs_the_current_one_and_ends_other_sessions() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let other = client();
    b.login(&other);
    let (s, body) = json_of(b.send(
        &c,
        "POST",
        "/api/password",
        &csrf,
        Some(json!({
        "current_password": "not the password", "new_password": "a brand new passphrase"})),
    ));
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["problems"][0]["path"], "current_password");
    let (s, body) = json_of(b.send(
        &c,
        "POST",
        "/api/password",
        &csrf,
        Some(json!({
        "current_password": PASSWORD, "new_password": "short"})),
    ));
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["problems"][0]["path"], "new_password");
    let (s, _) = json_of(b.send(
        &c,
        "POST",
        "/api/password",
        &csrf,
        Some(json!({
        "current_password": PASSWORD, "new_password": "a brand new passphrase"})),
    ));
    assert_eq!(s, StatusCode::OK);
    // This session goes on, the other one ended, and only the new password works.
    assert_eq!(
        c.get(b.url("/api/session")).send().unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        other.get(b.url("/api/session")).send().unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let login = |pw: &str| {
        client()
            .post(b.url("/api/login"))
            .json(&json!({"password": pw}))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(login(PASSWORD), StatusCode::UNAUTHORIZED);
    assert_eq!(login("a brand new passphrase"), StatusCode::OK);
    let (_, audit) = json_of(c.get(b.url("/api/audit?limit=1")).send().unwrap());
    assert_eq!(audit["entries"][0]["action"], "password.change");
}

// ---------------------------------------------------------------- events

/// Events in the box's outbox, recorded as the daemon records them.
struct Recorded {
    /// Delivered through a real broker (its evidence then deleted, as by default).
    delivered: Option<SwEvent>,
    /// Its evidence dropped by the outbox's disk cap before delivery.
    dropped: SwEvent,
    /// Illegal parking on "gate", phases started and ended, snapshot and clip; pending.
    parked: SwEvent,
    /// Road damage on "yard" with a crop; pending.
    damage: SwEvent,
    clip: Vec<u8>,
}

fn evidence(state: &std::path::Path, ev: &SwEvent, name: &str, bytes: &[u8]) -> MediaRef {
    let dir = state.join("evidence").join(&ev.id);
    std::fs::create_dir_all(&dir).unwrap();
    write_media(&dir, name, bytes)
}

/// Fill the outbox of `b`, oldest first: delivered (optional), dropped, parked, damage.
fn record_events(b: &TestBox, c: &Client, with_delivered: bool) -> Recorded {
    let config = b.backend.config();
    let state = config.device.state_dir.clone();
    let path = Outbox::path_in(&state);
    let delivered = with_delivered.then(|| {
        let broker = support::broker::Broker::start(None);
        let mut cfg = config.clone();
        cfg.uplink.broker = broker.url();
        let up = Uplink::start(&cfg, Hooks::default()).unwrap();
        let mut ev = sample_event("gate", 0);
        ev.media = vec![evidence(&state, &ev, "snapshot-1.jpg", b"delivered jpeg")];
        up.enqueue(&ev).unwrap();
        let url = b.url(&format!("/api/events/{}", ev.id));
        support::wait_for(Duration::from_secs(20), || {
            let (_, d) = json_of(c.get(&url).send().unwrap());
            (d["delivery"] == "delivered").then_some(())
        })
        .expect("the broker acknowledges the event");
        up.stop();
        ev
    });
    let mut dropped = sample_event("gate", 1);
    dropped.media = vec![evidence(
        &state,
        &dropped,
        "snapshot-1.jpg",
        &[7u8; 100_000],
    )];
    let usage = {
        let ob = Outbox::open(&path, 1 << 30).unwrap();
        ob.enqueue(&dropped).unwrap();
        ob.usage_bytes().unwrap()
    };
    Outbox::open(&path, usage - 50_000)
        .unwrap()
        .enforce_cap()
        .unwrap();
    let ob = Outbox::open(&path, 1 << 30).unwrap();
    let clip: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut parked = sample_event("gate", 2);
    parked.media = vec![
        evidence(&state, &parked, "snapshot-1.jpg", b"parked jpeg"),
        evidence(&state, &parked, "clip.mp4", &clip),
    ];
    ob.enqueue(&parked).unwrap();
    let mut ended = parked.clone();
    ended.phase = Phase::Ended;
    ended.seq = 1;
    ended.media.clear();
    ob.enqueue(&ended).unwrap();
    let mut damage = sample_event("yard", 3);
    damage.kind = EventKind::RoadDamage;
    damage.media = vec![evidence(&state, &damage, "crop-1.jpg", b"damage jpeg")];
    ob.enqueue(&damage).unwrap();
    Recorded {
        delivered,
        dropped,
        parked,
        damage,
        clip,
    }
}

fn event_ids(c: &Client, url: &str) -> Vec<String> {
    let (s, body) = json_of(c.get(url).send().unwrap());
    assert_eq!(s, StatusCode::OK, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn events_are_listed_newest_first_with_filters_and_their_delivery_state() {
    let b = start();
    let c = client();
    b.setup(&c);
    assert!(event_ids(&c, &b.url("/api/events")).is_empty());
    let r = record_events(&b, &c, true);
    let delivered = r.delivered.unwrap();
    let (s, list) = json_of(c.get(b.url("/api/events")).send().unwrap());
    assert_eq!(s, StatusCode::OK);
    let rows = list["events"].as_array().unwrap();
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap(),
                e["phase"].as_str().unwrap(),
                e["delivery"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (r.damage.id.as_str(), "started", "pending"),
            (r.parked.id.as_str(), "ended", "pending"),
            (r.dropped.id.as_str(), "started", "evidence_dropped"),
            (delivered.id.as_str(), "started", "delivered"),
        ]
    );
    assert_eq!(rows[0]["kind"], "road_damage");
    assert_eq!(rows[0]["camera"], "yard");

    let ids = |q: &str| event_ids(&c, &b.url(&format!("/api/events?{q}")));
    assert_eq!(ids("camera=yard"), [r.damage.id.as_str()]);
    assert_eq!(ids("kind=road_damage"), [r.damage.id.as_str()]);
    assert_eq!(ids("phase=ended"), [r.parked.id.as_str()]);
    assert_eq!(ids("camera=gate&limit=1"), [r.parked.id.as_str()]);
    // Times are the events' media times (sample events start 1 s apart).
    let from = r.parked.times.start.replace('+', "%2B");
    assert_eq!(
        ids(&format!("from={from}")),
        [r.damage.id.as_str(), r.parked.id.as_str()]
    );
    assert_eq!(
        ids(&format!("from={from}&to={from}")),
        [r.parked.id.as_str()]
    );
    assert_eq!(ids("camera=&kind=&phase="), ids(""));

    // Detail: every phase, media with URLs while the file is on the box.
    let (s, d) = json_of(
        c.get(b.url(&format!("/api/events/{}", r.parked.id)))
            .send()
            .unwrap(),
    );
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["phase"], "ended");
    assert_eq!(d["event"]["schema"], "streetwatch.event/v1");
    assert_eq!(d["phases"].as_array().unwrap().len(), 2);
    assert_eq!(d["phases"][0]["state"], "pending");
    let media = d["media"].as_array().unwrap();
    assert_eq!(media.len(), 2);
    assert_eq!(media[0]["kind"], "snapshot");
    assert_eq!(media[1]["name"], "clip.mp4");
    assert_eq!(media[1]["kind"], "clip");
    assert_eq!(media[1]["content_type"], "video/mp4");
    assert_eq!(
        media[1]["url"],
        format!("/api/events/{}/media/clip.mp4", r.parked.id)
    );
    assert!(!d.to_string().contains("evidence/"), "no local path: {d}");
    // Delivered evidence is deleted (the default): no URL, and the route says why.
    let (_, d) = json_of(
        c.get(b.url(&format!("/api/events/{}", delivered.id)))
            .send()
            .unwrap(),
    );
    assert_eq!(d["media"][0]["available"], false);
    assert!(d["media"][0].get("url").is_none());
    let (s, gone) = json_of(
        c.get(b.url(&format!(
            "/api/events/{}/media/snapshot-1.jpg",
            delivered.id
        )))
        .send()
        .unwrap(),
    );
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        gone["message"]
            .as_str()
            .unwrap()
            .contains("keep_delivered_media"),
        "{gone}"
    );
    let (_, d) = json_of(
        c.get(b.url(&format!("/api/events/{}", r.dropped.id)))
            .send()
            .unwrap(),
    );
    assert_eq!(d["media"][0]["dropped"], true);
    // Which file and why, for the page's event detail.
    assert_eq!(d["media"][0]["drop_reason"], "cap", "{d:#}");
    assert_eq!(d["missing"][0]["name"], d["media"][0]["name"], "{d:#}");
    assert_eq!(d["missing"][0]["reason"], "cap", "{d:#}");
    let (s, _) = json_of(
        c.get(b.url("/api/events/0190-no-such-event"))
            .send()
            .unwrap(),
    );
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// Entries (name, bytes) of a stored ZIP, read through its central directory, every
/// CRC checked.
fn zip_entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let end = zip.len() - 22;
    assert_eq!(
        &zip[end..end + 4],
        &0x0605_4b50u32.to_le_bytes(),
        "no end record"
    );
    let count = u16::from_le_bytes([zip[end + 10], zip[end + 11]]) as usize;
    let mut at = u32::from_le_bytes(zip[end + 16..end + 20].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    for _ in 0..count {
        let c = &zip[at..];
        assert_eq!(&c[..4], &0x0201_4b50u32.to_le_bytes());
        let crc = u32::from_le_bytes(c[16..20].try_into().unwrap());
        let size = u32::from_le_bytes(c[24..28].try_into().unwrap()) as usize;
        let name_len = u16::from_le_bytes([c[28], c[29]]) as usize;
        let local = u32::from_le_bytes(c[42..46].try_into().unwrap()) as usize;
        let name = String::from_utf8(c[46..46 + name_len].to_vec()).unwrap();
        let l = &zip[local..];
        let lname = u16::from_le_bytes([l[26], l[27]]) as usize;
        let data = l[30 + lname..30 + lname + size].to_vec();
        assert_eq!(crc32fast::hash(&data), crc, "{name}");
        out.push((name, data));
        at += 46 + name_len;
    }
    out
}

#[test]
fn a_case_downloads_as_one_zip_of_its_phases_and_evidence_and_its_latest_json() {
    let b = start();
    let c = client();
    b.setup(&c);
    let r = record_events(&b, &c, false);
    let (_, list) = json_of(c.get(b.url("/api/events")).send().unwrap());
    assert_eq!(
        list["filters"],
        json!(["camera", "kind", "phase", "from", "to", "plate"])
    );
    let resp = c
        .get(b.url(&format!("/api/events/{}/case.zip", r.parked.id)))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/zip");
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("case-{}.zip", r.parked.id))
    );
    let zip = resp.bytes().unwrap();
    let entries = zip_entries(&zip);
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "event-0-started.json",
            "event-1-ended.json",
            "media/snapshot-1.jpg",
            "media/clip.mp4"
        ]
    );
    let started: Value = serde_json::from_slice(&entries[0].1).unwrap();
    assert_eq!(started["id"], r.parked.id.as_str());
    assert_eq!(started["phase"], "started");
    assert_eq!(entries[2].1, b"parked jpeg");
    assert_eq!(entries[3].1, r.clip);
    // The latest phase alone, as a download.
    let resp = c
        .get(b.url(&format!("/api/events/{}/event.json", r.parked.id)))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ended: Value = resp.json().unwrap();
    assert_eq!(
        (ended["phase"].as_str(), ended["seq"].as_u64()),
        (Some("ended"), Some(1))
    );
    // A picture that does not decode gives no thumbnail (404), never a broken image.
    let resp = c
        .get(b.url(&format!("/api/events/{}/thumbnail.jpg", r.parked.id)))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    for path in ["case.zip", "event.json", "thumbnail.jpg"] {
        let resp = c
            .get(b.url(&format!("/api/events/0190-no-such-event/{path}")))
            .send()
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let resp = c
            .get(b.url(&format!("/api/events/..%2F{}/{path}", r.parked.id)))
            .send()
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[test]
fn event_filters_refuse_bad_values_naming_the_field() {
    let b = start();
    let c = client();
    b.setup(&c);
    for (q, field) in [
        ("kind=parking", "kind"),
        ("phase=over", "phase"),
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("from=2026-11-21T10:00:00Z&to=2026-11-21T09:00:00Z", "to"),
        ("camera=..%2Fetc", "camera"),
        ("limit=100000", "limit"),
        ("limit=0", "limit"),
        ("sort=asc", "sort"),
    ] {
        let (s, body) = json_of(c.get(b.url(&format!("/api/events?{q}"))).send().unwrap());
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {body}");
        assert_eq!(body["problems"][0]["path"], field, "{q}: {body}");
        // Each problem has a code the page words in its own language.
        assert!(
            body["problems"][0]["code"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            "{q}: {body}"
        );
    }
}

#[test]
fn event_media_is_served_with_byte_ranges_and_only_through_the_outbox() {
    let b = start();
    let c = client();
    b.setup(&c);
    let r = record_events(&b, &c, false);
    let clip_url = b.url(&format!("/api/events/{}/media/clip.mp4", r.parked.id));
    let whole = c.get(&clip_url).send().unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["content-type"], "video/mp4");
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.bytes().unwrap().as_ref(), r.clip.as_slice());
    let part = |range: &str| c.get(&clip_url).header("Range", range).send().unwrap();
    let p = part("bytes=100000-100099");
    assert_eq!(p.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(p.headers()["content-range"], "bytes 100000-100099/300000");
    assert_eq!(p.headers()["content-length"], "100");
    assert_eq!(p.bytes().unwrap().as_ref(), &r.clip[100_000..100_100]);
    let p = part("bytes=299990-");
    assert_eq!(p.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(p.bytes().unwrap().as_ref(), &r.clip[299_990..]);
    let p = part("bytes=-5");
    assert_eq!(p.bytes().unwrap().as_ref(), &r.clip[299_995..]);
    let p = part("bytes=300000-");
    assert_eq!(p.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(p.headers()["content-range"], "bytes */300000");

    let snap = c
        .get(b.url(&format!("/api/events/{}/media/snapshot-1.jpg", r.parked.id)))
        .send()
        .unwrap();
    assert_eq!(snap.status(), StatusCode::OK);
    assert_eq!(snap.headers()["content-type"], "image/jpeg");
    assert_eq!(snap.bytes().unwrap().as_ref(), b"parked jpeg");

    let a = &r.parked.id;
    for path in [
        // Another event's file, asked for under this event.
        format!("/api/events/{a}/media/crop-1.jpg"),
        format!("/api/events/{a}/media/..%2f{}%2fcrop-1.jpg", r.damage.id),
        format!("/api/events/{a}/media/..%2F..%2F..%2F..%2Fetc%2Fpasswd"),
        format!("/api/events/{a}/media/%2Fetc%2Fpasswd"),
        format!("/api/events/{a}/media/..%2Foutbox.sqlite"),
        format!("/api/events/{a}/media/.."),
        format!("/api/events/{a}/media/%2e%2e"),
        format!("/api/events/..%2F{a}/media/clip.mp4"),
        format!("/api/events/{a}/media/clip.mp4%00.jpg"),
        "/api/events/%2Fetc/media/passwd".to_string(),
    ] {
        let resp = c.get(b.url(&path)).send().unwrap();
        let status = resp.status();
        let body = resp.bytes().unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("root:") && !text.contains("damage jpeg") && !text.contains("SQLite"),
            "{path}: {text}"
        );
    }
}

// ---------------------------------------------------------------- uplink & device

#[test]
fn device_settings_are_validated_and_the_page_shows_the_public_key_and_models() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let (s, d) = json_of(c.get(b.url("/api/device")).send().unwrap());
    assert_eq!(s, StatusCode::OK);
    assert!(
        d["public_key"].is_null(),
        "the page never creates the key: {d}"
    );
    let state = b.backend.config().device.state_dir;
    let key = signing::DeviceKey::load_or_create(&state).unwrap();
    b.backend.set_models(vec![ModelInfo {
        id: "detector".into(),
        version: "3".into(),
        sha256: "ab".repeat(32),
        execution_providers: vec!["CPUExecutionProvider".into()],
    }]);
    let (_, d) = json_of(c.get(b.url("/api/device")).send().unwrap());
    assert_eq!(d["public_key"], key.public_key_b64());
    assert_eq!(d["key_id"], key.key_id());
    assert_eq!(d["models"][0]["sha256"], "ab".repeat(32));
    assert_eq!(
        d["models"][0]["execution_providers"][0],
        "CPUExecutionProvider"
    );
    assert!(
        !d.to_string().contains(&hex_seed(&state)),
        "never the secret key"
    );

    let put = |body: Value| json_of(b.send(&c, "PUT", "/api/device", &csrf, Some(body)));
    for (body, field) in [
        (json!({"id": "pole 7", "timezone": "Asia/Shanghai"}), "id"),
        (
            json!({"id": "pole-7", "timezone": "Mars/Olympus"}),
            "timezone",
        ),
        (
            json!({"id": "pole-7", "timezone": "Asia/Shanghai", "division_code": "4408"}),
            "division_code",
        ),
        (json!({"id": "pole-7"}), "timezone"),
    ] {
        let (s, e) = put(body.clone());
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {e}");
        assert_eq!(e["problems"][0]["path"], field, "{body}: {e}");
    }
    assert_eq!(
        b.backend.config().device.id,
        "streetwatch",
        "last good config kept"
    );
    let (s, d) = put(json!({
        "id": "pole-7", "timezone": "Asia/Urumqi", "division_code": "440802",
        "location": "人民大道与海滨路交叉口"}));
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["id"], "pole-7");
    let saved = std::fs::read_to_string(&b.config_path).unwrap();
    assert!(
        saved.contains("Asia/Urumqi") && saved.contains("440802"),
        "{saved}"
    );
}

fn hex_seed(state: &std::path::Path) -> String {
    std::fs::read_to_string(state.join(signing::KEY_FILE))
        .unwrap()
        .trim()
        .to_string()
}

/// A CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, cert, key).
fn certificates(dir: &std::path::Path, name: &str) -> (String, PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let w = |file: &str, text: String| {
        let p = dir.join(format!("{name}-{file}"));
        std::fs::write(&p, text).unwrap();
        p
    };
    (
        ca.pem(),
        w("ca.pem", ca.pem()),
        w("server.pem", cert.pem()),
        w("server.key", key.serialize_pem()),
    )
}

#[test]
fn broker_password_is_write_only_and_tls_files_are_checked_and_stored_private() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let put = |body: Value| json_of(b.send(&c, "PUT", "/api/uplink", &csrf, Some(body)));
    let (s, u) = put(json!({
        "broker": "mqtt://broker.example:1883", "username": "box", "password": "broker-secret-1"}));
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["password_set"], true);
    // Omitted keeps it while the broker stays the same (scheme, host, port); every
    // answer and the export leave it out.
    let (s, kept) = put(json!({
        "broker": "mqtt://BROKER.example", "username": "box", "client_id": "box-7"}));
    assert_eq!(s, StatusCode::OK);
    assert_eq!(kept["password_cleared"], false, "{kept}");
    assert_eq!(
        b.backend.config().uplink.password.as_deref(),
        Some("broker-secret-1")
    );
    let (_, u) = json_of(c.get(b.url("/api/uplink")).send().unwrap());
    assert_eq!(u["password_set"], true);
    let export = c
        .get(b.url("/api/config/export"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let (_, audit) = json_of(c.get(b.url("/api/audit")).send().unwrap());
    for text in [u.to_string(), export, audit.to_string()] {
        assert!(!text.contains("broker-secret-1"), "{text}");
    }
    // Another port is another broker: the stored password is dropped, and the reply
    // says it must be typed again (tests/attacks.rs proves it never reaches the new
    // address on a running daemon).
    let (s, moved) = put(json!({"broker": "mqtt://broker.example:1884", "username": "box"}));
    assert_eq!(s, StatusCode::OK);
    assert_eq!(moved["password_cleared"], true, "{moved}");
    assert_eq!(moved["password_set"], false, "{moved}");
    assert_eq!(moved["notices"][0]["key"], "uplink.password", "{moved}");
    assert!(
        moved["notices"][0]["zh"]
            .as_str()
            .unwrap()
            .contains("重新输入密码"),
        "{moved}"
    );
    assert_eq!(b.backend.config().uplink.password, None);
    for (body, field) in [
        (json!({"broker": "http://broker.example"}), "broker"),
        (json!({"broker": "mqtts://broker.example"}), "broker"),
        (json!({"broker": "mqtt://box:pw@broker.example"}), "broker"),
        (
            json!({"broker": "mqtt://broker.example", "port": 0}),
            "port",
        ),
        (
            json!({"broker": "mqtt://broker.example", "client_id": "has space"}),
            "client_id",
        ),
        (
            json!({"broker": "mqtt://broker.example", "port": "x"}),
            "port",
        ),
    ] {
        let (s, e) = put(body.clone());
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {e}");
        assert_eq!(e["problems"][0]["path"], field, "{body}: {e}");
    }

    let upload = |file: &str, body: Vec<u8>| {
        json_of(
            c.post(b.url(&format!("/api/uplink/tls/{file}")))
                .header("X-CSRF-Token", &csrf)
                .header("Content-Type", "application/x-pem-file")
                .body(body)
                .send()
                .unwrap(),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, ..) = certificates(dir.path(), "ca1");
    let key_pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let (s, e) = upload("client_key", key_pem.clone().into_bytes());
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "CA first: {e}");
    assert_eq!(e["problems"][0]["path"], "client_key");
    let (s, e) = upload("ca", b"not a certificate".to_vec());
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["problems"][0]["path"], "ca");
    let (s, e) = upload("ca", ca_pem.repeat(200).into_bytes());
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "over 64 KiB");
    assert_eq!(e["problems"][0]["path"], "ca");
    let (s, _) = upload("../../etc/passwd", ca_pem.clone().into_bytes());
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, u) = upload("ca", ca_pem.clone().into_bytes());
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["tls"]["ca"], true);
    let (s, u) = upload("client_key", key_pem.clone().into_bytes());
    assert_eq!(s, StatusCode::OK, "{u}");
    assert!(!u.to_string().contains("PRIVATE KEY"));
    let tls = b.backend.config().uplink.tls.unwrap();
    let state = b.backend.config().device.state_dir;
    for (path, content) in [
        (&tls.ca_file, &ca_pem),
        (tls.client_key.as_ref().unwrap(), &key_pem),
    ] {
        assert!(path.starts_with(&state), "{}", path.display());
        assert_eq!(std::fs::read_to_string(path).unwrap(), *content);
        assert_eq!(
            std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // With a CA, mqtts:// is accepted; TLS can be dropped only after leaving mqtts://.
    let (s, _) = put(json!({"broker": "mqtts://broker.example", "username": "box"}));
    assert_eq!(s, StatusCode::OK);
    let (s, e) = json_of(b.send(&c, "DELETE", "/api/uplink/tls", &csrf, None));
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["problems"][0]["path"], "broker");
    let (s, _) = put(json!({"broker": "mqtt://broker.example", "username": "box"}));
    assert_eq!(s, StatusCode::OK);
    let (s, u) = json_of(b.send(&c, "DELETE", "/api/uplink/tls", &csrf, None));
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["tls"]["ca"], false);
    assert!(b.backend.config().uplink.tls.is_none());
}

#[test]
fn test_connection_reaches_a_real_broker_and_names_the_exact_failure() {
    let broker = support::broker::Broker::start(Some(("box", "box-pass-123")));
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let test = |body: Value| json_of(b.send(&c, "POST", "/api/uplink/test", &csrf, Some(body)));
    let (s, ok) =
        test(json!({"broker": broker.url(), "username": "box", "password": "box-pass-123"}));
    assert_eq!(s, StatusCode::OK, "{ok}");
    assert_eq!(ok["ok"], true, "{ok}");
    let (_, bad) =
        test(json!({"broker": broker.url(), "username": "box", "password": "wrong-pass"}));
    assert_eq!(bad["ok"], false, "{bad}");
    assert_eq!(bad["reason"], "bad_credentials", "{bad}");
    assert!(
        bad["message"]
            .as_str()
            .unwrap()
            .contains("bad username or password"),
        "{bad}"
    );
    assert!(!bad.to_string().contains("wrong-pass"));
    let (_, refused) =
        test(json!({"broker": format!("mqtt://127.0.0.1:{}", support::free_port())}));
    assert_eq!(refused["reason"], "connection_refused", "{refused}");
    // Something that accepts TCP but never speaks MQTT: the wait is bounded.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let t0 = std::time::Instant::now();
    let (_, slow) = test(json!({
        "broker": format!("mqtt://127.0.0.1:{}", silent.local_addr().unwrap().port()),
        "timeout_s": 1}));
    assert_eq!(slow["reason"], "timeout", "{slow}");
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());

    // Saved settings are tested with the stored password, which goes nowhere else.
    let (s, _) = json_of(b.send(
        &c,
        "PUT",
        "/api/uplink",
        &csrf,
        Some(json!({"broker": broker.url(), "username": "box", "password": "box-pass-123"})),
    ));
    assert_eq!(s, StatusCode::OK);
    let (_, stored) = test(json!({"broker": broker.url(), "username": "box"}));
    assert_eq!(stored["ok"], true, "{stored}");
    let (s, elsewhere) = test(json!({"broker": "mqtt://127.0.0.2:1883", "username": "box"}));
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(elsewhere["problems"][0]["path"], "password");

    // TLS: the broker's CA passes, another CA is reported as a TLS failure.
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, ca, cert, key) = certificates(dir.path(), "real");
    let (other_ca, ..) = certificates(dir.path(), "other");
    let tls = support::broker::Broker::start_tls(&ca, &cert, &key);
    let upload = |pem: &str| {
        let r = c
            .post(b.url("/api/uplink/tls/ca"))
            .header("X-CSRF-Token", &csrf)
            .body(pem.to_string())
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    };
    let url = format!("mqtts://127.0.0.1:{}", tls.port);
    upload(&other_ca);
    let (_, wrong_ca) = test(json!({"broker": url, "password": ""}));
    assert_eq!(wrong_ca["reason"], "tls", "{wrong_ca}");
    assert!(
        wrong_ca["message"]
            .as_str()
            .unwrap()
            .contains("CA certificate"),
        "{wrong_ca}"
    );
    upload(&ca_pem);
    let (_, right_ca) = test(json!({"broker": url, "password": ""}));
    assert_eq!(right_ca["ok"], true, "{right_ca}");
}

#[test]
fn metrics_are_prometheus_text_for_the_box_itself_and_status_shows_the_signing_key() {
    let b = start();
    let c = client();
    // No uplink running: said plainly, not an empty page.
    let (s, body) = json_of(c.get(b.url("/metrics")).send().unwrap());
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let mut h = streetwatch::uplink::Health::default();
    h.outbox.events = 3;
    h.dropped.media_dropped = 2;
    h.dropped.evidence_dropped.cap = 2;
    b.backend
        .set_metrics(Some(streetwatch::uplink::render_metrics(&h)));
    // A scraper on the box needs no session.
    let r = c.get(b.url("/metrics")).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().unwrap();
    assert!(
        text.contains("streetwatch_outbox_backlog_events 3"),
        "{text}"
    );
    assert!(
        text.contains("streetwatch_evidence_dropped_total{reason=\"cap\"} 2"),
        "{text}"
    );
    // The key events are signed with is on the status page once the uplink made it.
    b.setup(&c);
    let (_, body) = json_of(c.get(b.url("/api/status")).send().unwrap());
    assert_eq!(body["device"]["public_key"], Value::Null);
    let key = streetwatch::uplink::DeviceKey::load_or_create(&b._dir.path().join("state")).unwrap();
    let (_, body) = json_of(c.get(b.url("/api/status")).send().unwrap());
    assert_eq!(body["device"]["public_key"], key.public_key_b64().as_str());
    assert_eq!(body["device"]["key_id"], key.key_id().as_str());
}

/// A zone as the page sends it: a no-parking rectangle with a weekday schedule.
fn zone_json(id: &str, polygon: Value) -> Value {
    json!({
        "id": id,
        "name": format!("{id} kerb"),
        "polygon": polygon,
        "location": "东门外",
        "coordinates": {"lon": 113.75, "lat": 23.02},
        "grid_code": "441900001001001",
        "rules": [{"type": "no_parking", "dwell_s": 30,
                   "schedule": [{"days": ["mon", "tue"], "start": "07:00", "end": "19:00"}]}]
    })
}

#[test]
fn zones_are_saved_atomically_and_a_refused_save_names_the_zone_field_and_keeps_the_old_ones() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let (s, body) = json_of(c.get(b.url("/api/cameras/gate/zones")).send().unwrap());
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["zones"], json!([]));

    let square = json!([[0.1, 0.5], [0.4, 0.5], [0.4, 0.9], [0.1, 0.9]]);
    let zones = json!({"zones": [zone_json("kerb", square.clone())]});
    // Without the CSRF token nothing is saved.
    let (s, _) = json_of(
        c.put(b.url("/api/cameras/gate/zones"))
            .json(&zones)
            .send()
            .unwrap(),
    );
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(b.backend.config().cameras[0].zones.is_empty());

    let (s, body) = json_of(b.send(&c, "PUT", "/api/cameras/gate/zones", &csrf, Some(zones)));
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["zones"][0]["id"], "kerb");
    let saved = std::fs::read_to_string(&b.config_path).unwrap();
    assert!(
        saved.contains("kerb") && saved.contains("441900001001001"),
        "{saved}"
    );
    let on_disk = streetwatch::config::load(&b.config_path).unwrap();
    let zone = &on_disk.cameras[0].zones[0];
    assert_eq!(zone.polygon.points()[2], [0.4, 0.9]);
    assert_eq!(zone.rules[0].kind(), "no_parking");
    // The camera's password is not touched by a zone save.
    assert_eq!(
        on_disk.cameras[0].password.as_deref(),
        Some("gate-secret-pw")
    );
    let (_, listed) = json_of(c.get(b.url("/api/cameras/gate/zones")).send().unwrap());
    assert_eq!(listed["zones"][0]["rules"][0]["dwell_s"], 30.0);

    // Zone 1 has two points: the problem names that zone's polygon.
    let bad = json!({"zones": [
        zone_json("kerb", square.clone()),
        zone_json("gate-2", json!([[0.1, 0.1], [0.2, 0.2]]))
    ]});
    let (s, body) = json_of(b.send(&c, "PUT", "/api/cameras/gate/zones", &csrf, Some(bad)));
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["problems"][0]["path"], "cameras[0].zones[1].polygon");
    assert!(
        body["message"].as_str().unwrap().contains("at least 3"),
        "{body}"
    );
    // A rule parameter out of range, and a time that is not a time.
    let mut slow = zone_json("kerb", square.clone());
    slow["rules"][0]["dwell_s"] = json!(-5);
    let (s, body) = json_of(b.send(
        &c,
        "PUT",
        "/api/cameras/gate/zones",
        &csrf,
        Some(json!({"zones": [slow]})),
    ));
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["problems"][0]["path"],
        "cameras[0].zones[0].rules[0].dwell_s"
    );
    let mut late = zone_json("kerb", square);
    late["rules"][0]["schedule"][0]["start"] = json!("25:00");
    let (s, body) = json_of(b.send(
        &c,
        "PUT",
        "/api/cameras/gate/zones",
        &csrf,
        Some(json!({"zones": [late]})),
    ));
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // serde reports tagged enums at the rule, not deeper; the message names the value.
    assert_eq!(body["problems"][0]["path"], "cameras[0].zones[0].rules[0]");
    assert!(
        body["message"].as_str().unwrap().contains("25:00"),
        "{body}"
    );
    // Every refused save left the last good zones on disk and running.
    assert_eq!(streetwatch::config::load(&b.config_path).unwrap(), on_disk);
    assert_eq!(b.backend.config().cameras[0].zones.len(), 1);

    let (s, body) = json_of(b.send(
        &c,
        "PUT",
        "/api/cameras/nope/zones",
        &csrf,
        Some(json!({"zones": []})),
    ));
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, _) = json_of(c.get(b.url("/api/cameras/nope/zones")).send().unwrap());
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The change is in the audit trail.
    let (_, audit) = json_of(c.get(b.url("/api/audit")).send().unwrap());
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "zones.update"),
        "{audit}"
    );
}

#[test]
fn snapshot_and_live_serve_the_latest_picture_and_detections_of_a_known_camera() {
    let b = start();
    let c = client();
    b.setup(&c);
    // Before the first frame: a clear "no picture yet" and an empty live document.
    let (s, body) = json_of(
        c.get(b.url("/api/cameras/gate/snapshot.jpg"))
            .send()
            .unwrap(),
    );
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "no_picture");
    assert!(body["message"].as_str().unwrap().contains("gate"));
    let (s, body) = json_of(c.get(b.url("/api/cameras/gate/live")).send().unwrap());
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["available"], false);

    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(64, 36, image::Rgb([200, 30, 30]))
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .unwrap();
    b.backend.set_snapshot("gate", jpeg.into_inner());
    b.backend.set_live(
        "gate",
        streetwatch::web::LiveResult {
            width: 64,
            height: 36,
            media_time: "2024-05-01T08:00:00.000Z".into(),
            media_time_ns: 1_714_550_400_000_000_000,
            seq: 9,
            detections: vec![streetwatch::web::LiveDetection {
                class: "car".into(),
                category: "vehicle.car".into(),
                score: 0.8,
                bbox: [0.1, 0.2, 0.5, 0.9],
                track_id: Some(3),
                filtered: false,
            }],
        },
    );
    let r = c
        .get(b.url("/api/cameras/gate/snapshot.jpg"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let img = image::load_from_memory(&r.bytes().unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (64, 36));
    let (_, live) = json_of(c.get(b.url("/api/cameras/gate/live")).send().unwrap());
    assert_eq!(live["available"], true);
    assert_eq!(live["seq"], 9);
    assert_eq!(live["detections"][0]["track_id"], 3);
    assert_eq!(live["detections"][0]["class"], "car");

    for path in [
        "/api/cameras/nope/snapshot.jpg",
        "/api/cameras/nope/live",
        "/api/cameras/..%2F..%2Fetc/snapshot.jpg",
    ] {
        let (s, _) = json_of(c.get(b.url(path)).send().unwrap());
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    // Another client without a session sees nothing.
    let (s, _) = json_of(
        client()
            .get(b.url("/api/cameras/gate/snapshot.jpg"))
            .send()
            .unwrap(),
    );
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

fn onvif_camera(stream_uri: &str) -> support::onvif::OnvifCamera {
    support::onvif::OnvifCamera {
        username: "onvif-admin".into(),
        password: "onvif-pass-42".into(),
        name: "Gate East".into(),
        hardware: "SW-CAM-1".into(),
        stream_uri: stream_uri.into(),
        // A camera without NTP: signing with the box's clock would be refused.
        clock_offset: chrono::TimeDelta::hours(3),
        not_onvif: false,
    }
}

#[test]
fn discover_finds_the_onvif_camera_and_its_stream_url_which_then_probes() {
    let cam = support::CamSim::start(
        support::free_port(),
        &[(
            "/car",
            support::media("car-detection.mp4").display().to_string(),
        )],
        Some(("viewer", "cam-pass-123")),
    );
    // The camera hands out its URL with credentials in it, as some firmwares do.
    let with_userinfo = cam
        .url("/car")
        .replace("rtsp://", "rtsp://viewer:cam-pass-123@");
    let onvif = support::onvif::OnvifResponder::start(onvif_camera(&with_userinfo));
    // Found through the configured unicast target (multicast off: the test must not
    // depend on the host's multicast routing).
    let mut config = Config::default();
    config.web.onvif_probe_targets = vec![onvif.probe_target().parse().unwrap()];
    let b = start_with(config);
    let c = client();
    let csrf = b.setup(&c);
    let req = json!({"username": "onvif-admin", "password": "onvif-pass-42",
        "multicast": false, "seconds": 1});
    let (s, body) = json_of(
        c.post(b.url("/api/cameras/discover"))
            .json(&req)
            .send()
            .unwrap(),
    );
    assert_eq!((s, &body["error"]), (StatusCode::FORBIDDEN, &json!("csrf")));
    let (s, body) = json_of(b.send(&c, "POST", "/api/cameras/discover", &csrf, Some(req)));
    assert_eq!(s, StatusCode::OK, "{body}");
    let devices = body["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{body}");
    let d = &devices[0];
    assert_eq!(d["error"], Value::Null, "{body}");
    assert_eq!(d["name"], "Gate East");
    assert_eq!(d["hardware"], "SW-CAM-1");
    assert_eq!(d["xaddr"], onvif.xaddr());
    let main = &d["profiles"][0];
    assert_eq!(main["name"], "mainStream");
    assert_eq!(main["encoding"], "H264");
    assert_eq!(
        (main["width"].as_u64(), main["height"].as_u64()),
        (Some(768), Some(432))
    );
    assert_eq!(main["rtsp_url"], cam.url("/car"));
    assert_eq!(
        d["profiles"][1]["rtsp_url"],
        format!("{}-sub", cam.url("/car"))
    );
    let text = body.to_string();
    assert!(
        !text.contains("onvif-pass-42") && !text.contains("cam-pass-123"),
        "{text}"
    );
    // Every signed call carried a valid digest, signed on the camera's clock.
    let calls = onvif.calls.lock().unwrap().clone();
    assert!(
        calls.iter().any(|(op, ok)| op == "GetProfiles" && *ok),
        "{calls:?}"
    );
    assert!(calls.iter().all(|(_, ok)| *ok), "{calls:?}");
    // The discovered URL is the one the Test connection button then probes.
    let (s, probe) = json_of(b.send(
        &c,
        "POST",
        "/api/cameras/test",
        &csrf,
        Some(json!({"url": main["rtsp_url"], "username": "viewer",
            "password": "cam-pass-123", "seconds": 1})),
    ));
    assert_eq!(s, StatusCode::OK);
    assert_eq!(probe["ok"], true, "{probe}");
    assert_eq!(probe["codec"], "H.264");
}

#[test]
fn discover_with_a_wrong_onvif_password_says_not_authorized() {
    let onvif = support::onvif::OnvifResponder::start(onvif_camera("rtsp://127.0.0.1:1/x"));
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let (s, body) = json_of(b.send(
        &c,
        "POST",
        "/api/cameras/discover",
        &csrf,
        Some(
            json!({"username": "onvif-admin", "password": "not-the-password",
            "targets": [onvif.probe_target()], "multicast": false, "seconds": 1}),
        ),
    ));
    assert_eq!(s, StatusCode::OK, "{body}");
    let d = &body["devices"][0];
    assert_eq!(d["name"], "Gate East", "{body}");
    assert_eq!(d["profiles"], json!([]));
    assert_eq!(d["error"]["reason"], "not_authorized", "{body}");
    let message = d["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("not authorized - check the ONVIF username/password"),
        "{message}"
    );
    assert!(!body.to_string().contains("not-the-password"));
    // The camera saw a signed request and refused it.
    let calls = onvif.calls.lock().unwrap().clone();
    assert!(calls.iter().any(|(_, ok)| !*ok), "{calls:?}");
}

#[test]
fn discover_names_an_answering_device_that_is_not_onvif() {
    let mut not_onvif = onvif_camera("rtsp://127.0.0.1:1/x");
    not_onvif.not_onvif = true;
    let onvif = support::onvif::OnvifResponder::start(not_onvif);
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let (s, body) = json_of(b.send(
        &c,
        "POST",
        "/api/cameras/discover",
        &csrf,
        // Multicast stays on (the default): a host without a multicast route still
        // probes its unicast targets, and devices on a real LAN may answer too.
        Some(json!({"targets": [onvif.probe_target()], "seconds": 1})),
    ));
    assert_eq!(s, StatusCode::OK, "{body}");
    let d = body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["xaddr"] == onvif.xaddr())
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(d["error"]["reason"], "not_onvif", "{body}");
    let message = d["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("not an ONVIF device: "), "{message}");
    assert!(
        message.contains(&onvif.xaddr()) && message.contains("text/html"),
        "{message}"
    );
}

#[test]
fn discover_validates_its_input_naming_the_field() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    for (req, path) in [
        (json!({"targets": ["camera-1"]}), "targets[0]"),
        (
            json!({"targets": ["10.0.0.1:3702", "0.0.0.0:3702"]}),
            "targets[1]",
        ),
        (json!({"seconds": 60}), "seconds"),
        (json!({"multicast": false}), "targets"),
        (json!({"password": "secret-without-user"}), "username"),
        (json!({"port": 3702}), "port"),
    ] {
        let (s, body) = json_of(b.send(
            &c,
            "POST",
            "/api/cameras/discover",
            &csrf,
            Some(req.clone()),
        ));
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{req}: {body}");
        assert_eq!(body["problems"][0]["path"], path, "{req}: {body}");
        assert!(!body.to_string().contains("secret-without-user"));
    }
}

#[test]
fn snapshot_width_serves_a_small_thumbnail_and_refuses_widths_out_of_bounds() {
    let b = start();
    let c = client();
    b.setup(&c);
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(1280, 720, image::Rgb([30, 160, 30]))
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .unwrap();
    b.backend.set_snapshot("gate", jpeg.into_inner());
    let get = |q: &str| {
        c.get(b.url(&format!("/api/cameras/gate/snapshot.jpg{q}")))
            .send()
            .unwrap()
    };
    // The page's cache buster rides along untouched.
    let r = get("?width=320&t=1700000000000");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let bytes = r.bytes().unwrap();
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (320, 180));
    assert!(bytes.len() < 20_000, "a thumbnail, {} bytes", bytes.len());
    // Never enlarged beyond the picture itself.
    let img = image::load_from_memory(&get("?width=1920").bytes().unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (1280, 720));
    for bad in ["0", "31", "1921", "wide", "-5", ""] {
        let (s, body) = json_of(get(&format!("?width={bad}")));
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "width={bad}: {body}");
        assert_eq!(body["problems"][0]["path"], "width", "{body}");
    }
}

#[test]
fn the_zones_api_shows_each_rules_platform_code_and_refuses_a_kind_without_one() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let square = json!([[0.1, 0.5], [0.4, 0.5], [0.4, 0.9], [0.1, 0.9]]);
    let (s, body) = json_of(b.send(
        &c,
        "PUT",
        "/api/cameras/gate/zones",
        &csrf,
        Some(json!({"zones": [zone_json("kerb", square.clone())]})),
    ));
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, listed) = json_of(c.get(b.url("/api/cameras/gate/zones")).send().unwrap());
    for body in [&body, &listed] {
        let codes = &body["codes"][0][0];
        assert_eq!(codes[0]["event"], "motor_vehicle_parking", "{body}");
        assert_eq!(codes[0]["code"], "09009", "{body}");
        assert_eq!(codes[0]["taxonomy"], "GB/T 47678.5-2026", "{body}");
        assert_eq!(codes[1]["code"], "09010", "{body}");
    }
    // A generic rule whose kind the default table has no code for is refused, named.
    let mut vending = zone_json("stall", square);
    vending["rules"] = json!([{"type": "dwell", "kind": "street_vending",
                               "categories": ["object.umbrella"]}]);
    let (s, body) = json_of(b.send(
        &c,
        "PUT",
        "/api/cameras/gate/zones",
        &csrf,
        Some(json!({"zones": [vending]})),
    ));
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["problems"][0]["path"],
        "cameras[0].zones[0].rules[0].kind"
    );
    assert_eq!(b.backend.config().cameras[0].zones[0].id, "kerb");
}

/// Saving a camera with a substream connects to both streams: a pair that does not
/// match (here swapped: the substream is the larger) is refused on `analysis_url` with
/// its code and both sizes, on add and on edit (with the stored password, which the
/// edit omits), and nothing is saved; a substream that cannot be reached now is saved
/// (the daemon reports the pairing once it streams).
#[test]
fn a_substream_that_does_not_pair_is_refused_on_save_and_an_unreachable_one_is_saved() {
    let cam = support::CamSim::start(
        support::free_port(),
        &[
            (
                "/small",
                support::media("bottle-detection.mp4").display().to_string(),
            ),
            (
                "/big",
                support::media("car-detection.mp4").display().to_string(),
            ),
        ],
        Some(("viewer", "cam-pass-123")),
    );
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let refused = |r: Response| {
        let (s, body) = json_of(r);
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let p = &body["problems"][0];
        assert_eq!(p["path"], "analysis_url", "{body}");
        assert_eq!(p["code"], "pairing_larger", "{body}");
        assert_eq!(
            (&p["params"]["sub"], &p["params"]["main"]),
            (&json!("768x432"), &json!("640x360")),
            "{body}"
        );
    };
    let swapped = json!({"id": "kerb", "url": cam.url("/small"), "analysis_url": cam.url("/big"),
                         "username": "viewer", "password": "cam-pass-123"});
    refused(b.send(&c, "POST", "/api/cameras", &csrf, Some(swapped)));
    assert!(b.backend.config().cameras.iter().all(|c| c.id != "kerb"));
    let (s, body) = json_of(b.send(
        &c,
        "POST",
        "/api/cameras",
        &csrf,
        Some(
            json!({"id": "kerb", "url": cam.url("/small"), "username": "viewer",
                    "password": "cam-pass-123"}),
        ),
    ));
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let edit = |sub: String| {
        b.send(
            &c,
            "PUT",
            "/api/cameras/kerb",
            &csrf,
            Some(json!({"url": cam.url("/small"), "analysis_url": sub, "username": "viewer"})),
        )
    };
    refused(edit(cam.url("/big")));
    let kerb = |b: &TestBox| {
        b.backend
            .config()
            .cameras
            .into_iter()
            .find(|c| c.id == "kerb")
            .unwrap()
    };
    assert_eq!(kerb(&b).analysis_url, None);
    let (s, body) = json_of(edit("rtsp://127.0.0.1:1/sub".into()));
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        kerb(&b).analysis_url.as_deref(),
        Some("rtsp://127.0.0.1:1/sub")
    );
    assert_eq!(kerb(&b).password.as_deref(), Some("cam-pass-123"));
}

/// The HTTP push sink from the page (`PUT /api/uplink` with `http`): added beside or
/// instead of MQTT, removed again; every setting checked by the same code as
/// `check-config` and refused naming `uplink.http.<key>` with a code the page words in
/// Chinese, leaving the last good config; secrets write-only (flags in every answer,
/// never in the GET, the audit or the export), kept when left out for the same
/// addresses, cleared and said so when an address's host changes, cleared by `""`; its
/// own TLS files through the upload route (`?sink=http`), stored where the box chooses.
#[test]
fn the_http_sink_is_set_from_the_page_checked_like_check_config_and_its_secrets_stay_home() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let put = |body: Value| json_of(b.send(&c, "PUT", "/api/uplink", &csrf, Some(body)));
    let get = || json_of(c.get(b.url("/api/uplink")).send().unwrap()).1;
    let u = get();
    assert_eq!(u["http"], Value::Null, "{u}");
    assert_eq!(u["sinks"], json!({"mqtt": false, "http": false}), "{u}");

    // HTTP only.
    let (s, u) = put(json!({"broker": "", "http": {
        "url": "https://platform.example/events", "media_order": "event_first",
        "hmac_secret": "hmac-page-secret-1", "bearer_token": "bearer-page-token-1",
        "timeout_s": 30}}));
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["sinks"], json!({"mqtt": false, "http": true}), "{u}");
    let h = &u["http"];
    assert_eq!(h["url"], "https://platform.example/events");
    assert_eq!(h["media_order"], "event_first");
    assert_eq!(h["auth"], json!(["hmac", "bearer"]));
    assert_eq!(
        (h["timeout_s"].clone(), h["connect_timeout_s"].clone()),
        (json!(30), json!(10))
    );
    assert_eq!(
        (h["hmac_secret_set"].clone(), h["bearer_token_set"].clone()),
        (json!(true), json!(true))
    );
    // Saved to the config file (what the daemon loads at its next start).
    let saved = streetwatch::config::load(&b.config_path)
        .unwrap()
        .uplink
        .http
        .unwrap();
    assert_eq!(saved.url, "https://platform.example/events");
    assert_eq!(saved.hmac_secret.as_deref(), Some("hmac-page-secret-1"));
    assert_eq!(saved.bearer_token.as_deref(), Some("bearer-page-token-1"));
    let secret_free = |what: &str, text: String| {
        assert!(
            !text.contains("page-secret") && !text.contains("page-token"),
            "{what}: {text}"
        );
    };
    secret_free("PUT answer", u.to_string());
    secret_free("GET", get().to_string());

    // Refusals name the key path, carry the page's code, and keep the last good config.
    let good = b.backend.config();
    for (http, path, code) in [
        (
            json!({"url": "ftp://platform.example/e"}),
            "uplink.http.url",
            "http_url",
        ),
        (
            json!({"url": "platform.example"}),
            "uplink.http.url",
            "http_url",
        ),
        (
            json!({"url": "https://u:pw@platform.example/e"}),
            "uplink.http.url",
            "url_credentials",
        ),
        (
            json!({"url": "https://platform.example/e", "media_url": "https://platform.example/m",
                   "media_put_template": "https://platform.example/m/{name}"}),
            "uplink.http.media_put_template",
            "http_media_both",
        ),
        (
            json!({"url": "https://platform.example/e", "media_put_template": "https://platform.example/m"}),
            "uplink.http.media_put_template",
            "http_put_template",
        ),
        (
            json!({"url": "https://platform.example/e", "timeout_s": 0}),
            "uplink.http.timeout_s",
            "out_of_range",
        ),
        (
            json!({"url": "https://platform.example/e", "hmac_secret": "a\u{1}b"}),
            "uplink.http.hmac_secret",
            "secret_invalid",
        ),
        (
            json!({"url": "https://platform.example/e", "backoff_max_s": -1}),
            "http.backoff_max_s",
            "value_invalid",
        ),
        (
            json!({"url": "https://platform.example/e", "media_order": "sideways"}),
            "http.media_order",
            "value_invalid",
        ),
        (
            json!({"url": "https://platform.example/e", "client_key": "/etc/shadow"}),
            "http.client_key",
            "unknown_key",
        ),
    ] {
        let (s, e) = put(json!({"broker": "", "http": http.clone()}));
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{http}: {e}");
        assert_eq!(e["problems"][0]["path"], path, "{http}: {e}");
        assert_eq!(e["problems"][0]["code"], code, "{http}: {e}");
        assert!(b.backend.config() == good, "{http} changed the config");
    }

    // Same scheme, host and port (another path, a media URL there too): the omitted
    // secrets stay.
    let (s, u) = put(json!({"broker": "", "http": {
        "url": "https://PLATFORM.example:443/v2/events", "media_url": "https://platform.example/media"}}));
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["secrets_cleared"], json!([]), "{u}");
    assert_eq!(u["http"]["auth"], json!(["hmac", "bearer"]), "{u}");
    assert_eq!(
        u["http"]["timeout_s"], 30,
        "omitted timeouts keep their values: {u}"
    );
    // The media URL moves to another host: the secrets would go there with every
    // upload, so both are cleared, and the answer says so in Chinese.
    let (s, u) = put(json!({"broker": "", "http": {
        "url": "https://platform.example/v2/events", "media_url": "https://collector.example/media"}}));
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(
        u["secrets_cleared"],
        json!(["uplink.http.hmac_secret", "uplink.http.bearer_token"]),
        "{u}"
    );
    assert_eq!(u["http"]["auth"], json!([]), "{u}");
    let zh = u["notices"][0]["zh"].as_str().unwrap();
    assert!(zh.contains("已清除") && zh.contains("HMAC"), "{zh}");
    let h = b.backend.config().uplink.http.unwrap();
    assert_eq!((h.hmac_secret, h.bearer_token), (None, None));
    // Typed again for the new host: kept; "" removes one of them.
    let (s, u) = put(json!({"broker": "", "http": {
        "url": "https://collector.example/events", "hmac_secret": "hmac-page-secret-2",
        "bearer_token": "bearer-page-token-2"}}));
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(
        u["secrets_cleared"],
        json!([]),
        "typed secrets are not cleared: {u}"
    );
    let (s, u) = put(
        json!({"broker": "", "http": {"url": "https://collector.example/events", "bearer_token": ""}}),
    );
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["http"]["auth"], json!(["hmac"]), "{u}");
    // The url's host changes: the remaining secret is cleared too.
    let (s, u) = put(json!({"broker": "", "http": {"url": "https://platform.example/events"}}));
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(
        u["secrets_cleared"],
        json!(["uplink.http.hmac_secret"]),
        "{u}"
    );

    // Its own TLS files, through the upload route; nothing sent names a path.
    let upload = |file: &str, query: &str, body: String| {
        json_of(
            c.post(b.url(&format!("/api/uplink/tls/{file}{query}")))
                .header("X-CSRF-Token", &csrf)
                .header("Content-Type", "application/x-pem-file")
                .body(body)
                .send()
                .unwrap(),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, ..) = certificates(dir.path(), "http-ca");
    let (s, e) = upload("ca", "?sink=elsewhere", ca_pem.clone());
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["problems"][0]["code"], "query_invalid", "{e}");
    let (s, e) = upload("ca", "?sink=http", "not a certificate".into());
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["problems"][0]["path"], "http.tls.ca", "{e}");
    let (s, u) = upload("ca", "?sink=http", ca_pem.clone());
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["http"]["tls"]["ca"], true, "{u}");
    assert_eq!(
        u["tls"]["ca"], false,
        "the broker's TLS is another thing: {u}"
    );
    let ca_file = b.backend.config().uplink.http.unwrap().tls.unwrap().ca_file;
    assert!(
        ca_file.starts_with(b.backend.config().device.state_dir),
        "{}",
        ca_file.display()
    );
    assert_eq!(
        std::fs::metadata(&ca_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A later save of the form keeps the uploaded files.
    let (s, u) = put(
        json!({"broker": "mqtt://broker.example", "http": {"url": "https://platform.example/events"}}),
    );
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["sinks"], json!({"mqtt": true, "http": true}), "{u}");
    assert_eq!(u["http"]["tls"]["ca"], true, "{u}");
    let (s, u) = json_of(b.send(&c, "DELETE", "/api/uplink/tls?sink=http", &csrf, None));
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["http"]["tls"]["ca"], false, "{u}");

    // Omitting `http` keeps the sink (an older page); null removes it: MQTT only.
    let (s, u) = put(json!({"broker": "mqtt://broker.example"}));
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["sinks"], json!({"mqtt": true, "http": true}), "{u}");
    let (s, u) = put(json!({"broker": "mqtt://broker.example", "http": null}));
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["sinks"], json!({"mqtt": true, "http": false}), "{u}");
    assert!(
        streetwatch::config::load(&b.config_path)
            .unwrap()
            .uplink
            .http
            .is_none()
    );
    let (s, e) = upload("ca", "?sink=http", ca_pem);
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["problems"][0]["code"], "http_first", "{e}");

    let (_, audit) = json_of(c.get(b.url("/api/audit")).send().unwrap());
    secret_free("audit", audit.to_string());
    let export = c
        .get(b.url("/api/config/export"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    secret_free("export", export);
}

/// "Test connection" of the HTTP push sink (`POST /api/uplink/http/test`): one HEAD
/// with the sink's auth to the reference receiver (`streetwatch receive --http`, which
/// checks the HMAC signature of every request): the right secret gets its answer (405:
/// it takes only POST/PUT), a wrong one `http_auth`; nothing listening is
/// `connection_refused`; the saved secret is never sent to another host (`secret_retype`).
#[test]
fn the_http_sink_test_connection_sends_the_auth_and_never_the_saved_secret_elsewhere() {
    let b = start();
    let c = client();
    let csrf = b.setup(&c);
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("hmac.secret");
    std::fs::write(&secret_file, "rx-hmac-secret").unwrap();
    let port = support::free_port();
    let mut rx = std::process::Command::new(support::bin())
        .args(["receive", "--http", &format!("127.0.0.1:{port}")])
        .arg("--out")
        .arg(dir.path().join("cases"))
        .arg("--hmac-secret-file")
        .arg(&secret_file)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    support::wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("the receiver listens");
    let url = format!("http://127.0.0.1:{port}/events");
    let test =
        |http: Value| json_of(b.send(&c, "POST", "/api/uplink/http/test", &csrf, Some(http)));
    let (s, r) = test(json!({"url": url, "hmac_secret": "rx-hmac-secret"}));
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["ok"].clone(), r["status"].clone()),
        (json!(true), json!(405)),
        "{r}"
    );
    let (_, r) = test(json!({"url": url, "hmac_secret": "a-wrong-secret"}));
    assert_eq!(
        (r["ok"].clone(), r["reason"].clone()),
        (json!(false), json!("http_auth")),
        "{r}"
    );
    assert!(!r.to_string().contains("a-wrong-secret"), "{r}");
    let _ = rx.kill();
    let _ = rx.wait();
    let (_, r) = test(json!({"url": url, "hmac_secret": "rx-hmac-secret"}));
    assert_eq!(r["reason"], "connection_refused", "{r}");
    // The saved secret goes only to the saved addresses.
    let saved = b.send(
        &c,
        "PUT",
        "/api/uplink",
        &csrf,
        Some(json!({"broker": "", "http": {
        "url": "https://platform.example/events", "hmac_secret": "saved-hmac-secret"}})),
    );
    assert_eq!(saved.status(), StatusCode::OK);
    let (s, e) = test(json!({"url": url}));
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["problems"][0]["code"], "secret_retype", "{e}");
    assert_eq!(e["problems"][0]["path"], "uplink.http.hmac_secret", "{e}");
    let (s, e) = test(json!({"url": "ftp://platform.example/events"}));
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["problems"][0]["code"], "http_url", "{e}");
}
