//! Serve the technician's page with an in-memory backend, to look at it in a browser
//! without cameras: `cargo run --example web_page -- [ADDR] [STATE_DIR]`
//! (default `127.0.0.1:8443`, HTTPS, state in `target/web-page-demo`). The setup code is
//! printed; one camera shows "unauthorized", one streams.

use std::sync::Arc;
use streetwatch::config::Config;
use streetwatch::ingest::{CameraStatus, Reason};
use streetwatch::web::{CameraRuntime, LogLevel, SimpleBackend, WebConfig, WebServer};

fn main() {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let mut args = std::env::args().skip(1);
    let listen = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8443".into())
        .parse()
        .expect("ADDR as ip:port");
    let state = args.next().unwrap_or_else(|| "target/web-page-demo".into());
    let mut config: Config = toml::from_str(
        r#"
[device]
id = "demo-box"
location = "东门路口"
[[cameras]]
id = "gate"
name = "东门"
url = "rtsp://127.0.0.1:8554/gate"
username = "admin"
password = "not-shown"
[[cameras]]
id = "yard"
name = "停车场"
url = "rtsp://127.0.0.1:8554/yard"
"#,
    )
    .expect("demo config");
    config.device.state_dir = state.into();
    let backend = Arc::new(SimpleBackend::new(config, None));
    backend.set_statuses(vec![
        CameraRuntime {
            id: "gate".into(),
            status: CameraStatus::backoff(Reason::Unauthorized, 8.0, 3),
            frames: 0,
            dropped: 0,
            reconnects: 3,
        },
        CameraRuntime {
            id: "yard".into(),
            status: CameraStatus::Streaming {
                fps: 12.5,
                width: 768,
                height: 432,
                codec: "H.264".into(),
            },
            frames: 1200,
            dropped: 4,
            reconnects: 0,
        },
    ]);
    backend.push_log(
        LogLevel::Warn,
        "streetwatch::ingest",
        "camera gate: unauthorized (401)",
    );
    let web = WebServer::start(
        WebConfig {
            listen,
            ..WebConfig::default()
        },
        backend,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let code = std::fs::read_to_string(web.setup_code_path()).unwrap_or_default();
    println!("https://{}/  setup code: {}", web.local_addr(), code.trim());
    loop {
        std::thread::park();
    }
}
