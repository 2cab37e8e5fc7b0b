//! A small W3C WebDriver client over blocking `reqwest`, driving Debian's `chromium`
//! through `chromedriver`: enough for the end-to-end test (navigate, find, click, type,
//! pointer actions, scripts, screenshots) without a WebDriver crate and its async
//! dependency tree.
//!
//! chromedriver listens on 127.0.0.1 on a free port; Chromium runs headless with a
//! throwaway profile. Both go away with their guards, also when a test panics.

use base64::Engine as _;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Key of an element reference in W3C WebDriver JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `name` on `PATH`, or a panic telling how to install it: the test must not pass
/// silently on a machine without a browser.
pub fn require_program(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: run `make setup` (it installs the Debian packages \
                 chromium and chromium-driver listed in scripts/debian-packages.txt)"
            )
        })
}

/// A chromedriver process on 127.0.0.1; killed on drop.
pub struct ChromeDriver {
    child: Child,
    base: String,
    http: reqwest::blocking::Client,
}

impl ChromeDriver {
    /// Start chromedriver on a free loopback port and wait until it is ready. Its log
    /// goes to `log` (read it when a step fails).
    pub fn start(log: &Path) -> ChromeDriver {
        let exe = require_program("chromedriver");
        let port = super::support::free_port();
        let child = Command::new(exe)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let driver = ChromeDriver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http,
        };
        let ready = super::support::wait_for(Duration::from_secs(20), || {
            let r = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .ok()?;
            let v: Value = r.json().ok()?;
            (v["value"]["ready"] == true).then_some(())
        });
        assert!(
            ready.is_some(),
            "chromedriver did not become ready on port {port}"
        );
        driver
    }

    /// A new headless Chromium with a fresh profile in `profile` and a `width`×`height`
    /// window.
    pub fn session(&self, profile: &Path, width: u32, height: u32) -> Session<'_> {
        let chromium = require_program("chromium");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // "Leave this page?" (beforeunload) is accepted, so a reload goes through;
            // the page's own dialogs are in the page, not native prompts.
            "unhandledPromptBehavior": "accept",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // The test may run as root in a container, where the sandbox cannot start.
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-breakpad",
                    "--disable-crash-reporter",
                    "--hide-scrollbars",
                    "--mute-audio",
                    // A technician's phone: the browser's own controls (date and
                    // time pickers) in Chinese, as the page is.
                    "--lang=zh-CN",
                    format!("--user-data-dir={}", profile.display()),
                    format!("--window-size={width},{height}"),
                ]
            }
        }}});
        let v = call(
            &self.http,
            reqwest::Method::POST,
            &format!("{}/session", self.base),
            Some(caps),
        )
        .unwrap_or_else(|e| panic!("cannot start headless chromium: {e}"));
        let id = v["sessionId"]
            .as_str()
            .expect("session id in the new-session reply")
            .to_string();
        Session {
            driver: self,
            url: format!("{}/session/{id}", self.base),
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request; the reply's `value`, or the WebDriver error as text.
fn call(
    http: &reqwest::blocking::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut req = http.request(method.clone(), url);
    // W3C wants a JSON body on every POST, even an empty one.
    if method == reqwest::Method::POST {
        req = req.json(&body.unwrap_or_else(|| json!({})));
    }
    let resp = req.send().map_err(|e| format!("{method} {url}: {e}"))?;
    let status = resp.status();
    let v: Value = resp.json().map_err(|e| format!("{method} {url}: {e}"))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if status.is_success() {
        Ok(value)
    } else {
        Err(format!(
            "{method} {url}: {} ({})",
            value["error"].as_str().unwrap_or("error"),
            value["message"]
                .as_str()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
        ))
    }
}

/// A browser session; closed (and Chromium stopped) on drop.
pub struct Session<'d> {
    driver: &'d ChromeDriver,
    url: String,
}

/// An element reference of a session.
#[derive(Debug, Clone)]
pub struct Element(String);

/// `e` as a script argument or an action origin.
pub fn element_json(e: &Element) -> Value {
    let mut m = serde_json::Map::new();
    m.insert(ELEMENT_KEY.to_string(), Value::String(e.0.clone()));
    Value::Object(m)
}

impl Session<'_> {
    fn cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        call(
            &self.driver.http,
            method,
            &format!("{}{path}", self.url),
            body,
        )
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn get(&self, path: &str) -> Value {
        self.cmd(reqwest::Method::GET, path, None)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    pub fn refresh(&self) {
        self.post("/refresh", json!({}));
    }

    /// The first element matching `css` now, if any.
    pub fn try_find(&self, css: &str) -> Option<Element> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .ok()?;
        v[ELEMENT_KEY].as_str().map(|s| Element(s.to_string()))
    }

    /// Every element matching `css` now.
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.post("/elements", json!({"using": "css selector", "value": css}))
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT_KEY].as_str().map(|s| Element(s.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Wait up to `secs` for an element matching `css` that is displayed.
    pub fn wait(&self, secs: u64, css: &str) -> Element {
        super::support::wait_for(Duration::from_secs(secs), || {
            let e = self.try_find(css)?;
            self.displayed(&e).then_some(e)
        })
        .unwrap_or_else(|| panic!("no visible `{css}` within {secs} s"))
    }

    /// Wait up to `secs` for `script` (a function body returning a value) to return
    /// something truthy, polling every 200 ms; returns that value.
    pub fn wait_js(&self, secs: u64, what: &str, script: &str) -> Value {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.js(script, json!([]));
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            assert!(Instant::now() < end, "{what}: not within {secs} s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn displayed(&self, e: &Element) -> bool {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{}/displayed", e.0),
            None,
        )
        .map(|v| v == true)
        .unwrap_or(false)
    }

    pub fn click(&self, e: &Element) {
        self.post(&format!("/element/{}/click", e.0), json!({}));
    }

    /// Click `e` unless it went stale (a list the page re-renders); true when clicked.
    pub fn try_click(&self, e: &Element) -> bool {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/click", e.0),
            Some(json!({})),
        )
        .is_ok()
    }

    /// Replace the text of an input with `text`.
    pub fn fill(&self, e: &Element, text: &str) {
        self.post(&format!("/element/{}/clear", e.0), json!({}));
        self.post(&format!("/element/{}/value", e.0), json!({ "text": text }));
    }

    pub fn text(&self, e: &Element) -> String {
        self.get(&format!("/element/{}/text", e.0))
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn attr(&self, e: &Element, name: &str) -> Option<String> {
        self.get(&format!("/element/{}/attribute/{name}", e.0))
            .as_str()
            .map(str::to_string)
    }

    /// Run `script` (a function body; `arguments` holds `args`) and return its result.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
    }

    /// Run `script` asynchronously: it ends by calling its last argument with the
    /// result (at most 30 s, the W3C default script timeout).
    pub fn js_async(&self, script: &str, args: Value) -> Result<Value, String> {
        self.cmd(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// A real mouse click at (`fx`, `fy`), fractions of the element's box, through
    /// WebDriver pointer actions (so the page gets genuine pointer/mouse events).
    pub fn click_at(&self, e: &Element, fx: f64, fy: f64) {
        let r = self.js(
            "const b = arguments[0].getBoundingClientRect(); return [b.width, b.height];",
            json!([element_json(e)]),
        );
        let (w, h) = (r[0].as_f64().unwrap(), r[1].as_f64().unwrap());
        // Offsets are from the element's centre, in whole CSS pixels.
        let x = ((fx - 0.5) * w).round() as i64;
        let y = ((fy - 0.5) * h).round() as i64;
        self.post(
            "/actions",
            json!({"actions": [{
                "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [
                    {"type": "pointerMove", "duration": 0, "origin": element_json(e), "x": x, "y": y},
                    {"type": "pointerDown", "button": 0},
                    {"type": "pointerUp", "button": 0}
                ]
            }]}),
        );
        let _ = self.cmd(reqwest::Method::DELETE, "/actions", None);
    }

    /// Emulate a `width`×`height` viewport (a phone when `mobile`), through the DevTools
    /// protocol: a headless window's outer size is not its viewport.
    pub fn viewport(&self, width: u32, height: u32, mobile: bool) {
        self.post(
            "/goog/cdp/execute",
            json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile
            }}),
        );
    }

    /// Save a PNG screenshot of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.get("/screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 screenshot"))
            .expect("screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self.cmd(reqwest::Method::DELETE, "", None);
    }
}
