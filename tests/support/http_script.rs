//! A tiny scripted HTTP/1.1 server for the HTTP sink's tests: every request is
//! answered with the same status and body (a platform that refuses with 400, say),
//! and counted with its idempotency key. One connection at a time, on its own thread.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct ScriptedServer {
    pub port: u16,
    /// (method, path, Idempotency-Key) of every request, in arrival order.
    pub requests: Arc<Mutex<Vec<(String, String, String)>>>,
    stop: Arc<AtomicBool>,
}

impl ScriptedServer {
    /// Answer every request with `status` and `body` (JSON content type).
    pub fn start(status: u16, body: &'static str) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut w = conn.try_clone().unwrap();
                let mut rd = BufReader::new(conn);
                // Keep-alive: several requests per connection, until it closes.
                loop {
                    let mut line = String::new();
                    if rd.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_string();
                    let path = parts.next().unwrap_or_default().to_string();
                    let (mut len, mut key) = (0usize, String::new());
                    loop {
                        let mut h = String::new();
                        if rd.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                            break;
                        }
                        let (name, value) = h.split_once(':').unwrap_or((&h, ""));
                        match name.trim().to_ascii_lowercase().as_str() {
                            "content-length" => len = value.trim().parse().unwrap_or(0),
                            "idempotency-key" => key = value.trim().to_string(),
                            _ => {}
                        }
                    }
                    let mut body_in = vec![0u8; len];
                    if rd.read_exact(&mut body_in).is_err() {
                        break;
                    }
                    r.lock().unwrap().push((method, path, key));
                    let answer = format!(
                        "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if w.write_all(answer.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
        ScriptedServer {
            port,
            requests,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/events", self.port)
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
