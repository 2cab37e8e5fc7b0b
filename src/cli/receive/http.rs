//! `streetwatch receive --http ADDR`: the platform's side of the HTTP push sink. Any
//! path takes:
//! - `POST` with `Content-Type: application/json`: one event phase, stored once by
//!   `(id, phase, seq)` (a duplicate is answered 200 too, `{"stored": "duplicate"}`);
//! - `POST` with `multipart/form-data` (`meta` JSON part + `file` part) or `PUT` with the
//!   raw bytes and the `X-Streetwatch-Event-Id`/`-Media-Name`/`-Sha256` headers: one
//!   media file, its sha256 checked, answered `{"id": "<event id>/<name>"}`.
//!
//! With `--hmac-secret-file` every request must carry a valid `X-Streetwatch-Signature`
//! (401 otherwise); with `--bearer-token-file`, the bearer token. Bodies above
//! `--max-body-mib` are answered 413.

use super::{Args, Receiver, Stored};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use streetwatch::uplink::http as sink;

/// A signature older or newer than this is refused (replayed requests).
const MAX_SKEW_S: i64 = 300;

struct Rx {
    store: Mutex<Receiver>,
    hmac_secret: Option<String>,
    bearer_token: Option<String>,
}

fn read_secret(path: &Option<std::path::PathBuf>) -> anyhow::Result<Option<String>> {
    path.as_ref()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
        })
        .transpose()
}

pub(super) fn serve(
    addr: std::net::SocketAddr,
    rx: Receiver,
    a: &Args,
) -> anyhow::Result<ExitCode> {
    let state = Arc::new(Rx {
        store: Mutex::new(rx),
        hmac_secret: read_secret(&a.hmac_secret_file)?,
        bearer_token: read_secret(&a.bearer_token_file)?,
    });
    let limit = a.max_body_mib.max(1) << 20;
    let out = a.out.display().to_string();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!(
            "receiving HTTP on http://{} into {out}",
            listener.local_addr()?
        );
        let _ = std::io::stdout().flush();
        let app = axum::Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(limit))
            .with_state(state);
        axum::serve(listener, app).await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn answer(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Equal without telling how much matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why the request is not authorised, if it is not.
fn unauthorised(rx: &Rx, h: &HeaderMap, body: &[u8]) -> Option<String> {
    if let Some(secret) = &rx.hmac_secret {
        let Some(sig) = header(h, sink::H_SIGNATURE) else {
            return Some(format!("no {} header", sink::H_SIGNATURE));
        };
        let Some(t) = sig
            .split(',')
            .find_map(|p| p.strip_prefix("t="))
            .and_then(|t| t.parse::<i64>().ok())
        else {
            return Some("the signature names no time t=".into());
        };
        if (chrono::Utc::now().timestamp() - t).abs() > MAX_SKEW_S {
            return Some(format!(
                "the signature's time is more than {MAX_SKEW_S} s off"
            ));
        }
        if !same(
            sink::signature_header(secret, t, body).as_bytes(),
            sig.as_bytes(),
        ) {
            return Some("bad signature".into());
        }
    }
    if let Some(token) = &rx.bearer_token {
        let given = header(h, "authorization").and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            return Some("missing or wrong bearer token".into());
        }
    }
    None
}

async fn handle(
    State(rx): State<Arc<Rx>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rx2 = rx.clone();
    let r =
        tokio::task::spawn_blocking(move || handle_blocking(&rx2, &method, &uri, &headers, &body))
            .await;
    let _ = std::io::stdout().flush();
    match r {
        Ok(resp) => resp,
        Err(e) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": e.to_string()}),
        ),
    }
}

fn handle_blocking(
    rx: &Rx,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let mut store = rx.store.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(why) = unauthorised(rx, headers, body) {
        println!("request {method} {}: 401 {why}", uri.path());
        let _ = store.bump("unauthorized");
        return answer(StatusCode::UNAUTHORIZED, json!({"error": why}));
    }
    let ctype = header(headers, "content-type")
        .unwrap_or_default()
        .to_string();
    let r = if method == Method::PUT {
        put_media(&mut store, uri, headers, body)
    } else if method != Method::POST {
        Ok(answer(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"error": "POST an event or media, or PUT media"}),
        ))
    } else if ctype.starts_with("multipart/form-data") {
        post_media(&mut store, &ctype, body)
    } else {
        match store.store_event(body) {
            Ok(Stored::New) => Ok(answer(StatusCode::OK, json!({"stored": "new"}))),
            Ok(Stored::Duplicate) => Ok(answer(StatusCode::OK, json!({"stored": "duplicate"}))),
            Ok(Stored::Refused(why)) => Ok(answer(StatusCode::BAD_REQUEST, json!({"error": why}))),
            Err(e) => Err(e),
        }
    };
    r.unwrap_or_else(|e| {
        eprintln!("error: {method} {}: {e:#}", uri.path());
        answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!("{e:#}")}),
        )
    })
}

/// Store one media file and answer its id (or 400 naming what is wrong).
fn media(
    store: &mut Receiver,
    id: &str,
    name: &str,
    sha: &str,
    bytes: &[u8],
) -> anyhow::Result<Response> {
    if !super::safe(id) || !super::safe(name) || sha.len() != 64 {
        store.bump("refused")?;
        return Ok(answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "media needs a safe event id, file name and a sha256"}),
        ));
    }
    let state = store.store_media(id, name, bytes, sha)?;
    if state != "ok" {
        return Ok(answer(StatusCode::BAD_REQUEST, json!({"error": state})));
    }
    Ok(answer(
        StatusCode::OK,
        json!({"id": format!("{id}/{name}")}),
    ))
}

fn put_media(
    store: &mut Receiver,
    uri: &Uri,
    h: &HeaderMap,
    body: &[u8],
) -> anyhow::Result<Response> {
    // The headers, else the last two path segments (`…/{event_id}/{name}`).
    let segs: Vec<String> = uri
        .path()
        .rsplit('/')
        .take(2)
        .map(|s| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect();
    let name = header(h, sink::H_MEDIA_NAME)
        .map(str::to_string)
        .or_else(|| segs.first().cloned())
        .unwrap_or_default();
    let id = header(h, sink::H_EVENT_ID)
        .map(str::to_string)
        .or_else(|| segs.get(1).cloned())
        .unwrap_or_default();
    let sha = header(h, sink::H_SHA256).unwrap_or_default().to_string();
    media(store, &id, &name, &sha, body)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The parts of a multipart/form-data body: (name, content).
fn parts<'a>(ctype: &str, body: &'a [u8]) -> Option<Vec<(String, &'a [u8])>> {
    let boundary = ctype
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    let mut pos = find(body, delim.as_bytes(), 0)? + delim.len();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            return Some(out);
        }
        let head_start = pos + 2;
        let head_end = find(body, b"\r\n\r\n", head_start)?;
        let head = std::str::from_utf8(&body[head_start..head_end]).ok()?;
        let name = head
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))
            .map(|n| {
                n.split(['\r', '\n'])
                    .next()
                    .unwrap_or(n)
                    .trim_matches('"')
                    .to_string()
            })?;
        let content_start = head_end + 4;
        let next = find(body, format!("\r\n{delim}").as_bytes(), content_start)?;
        out.push((name, &body[content_start..next]));
        pos = next + 2 + delim.len();
    }
}

fn post_media(store: &mut Receiver, ctype: &str, body: &[u8]) -> anyhow::Result<Response> {
    let Some(parts) = parts(ctype, body) else {
        store.bump("refused")?;
        return Ok(answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "not a multipart/form-data body this receiver can read"}),
        ));
    };
    let meta: Value = parts
        .iter()
        .find(|(n, _)| n == "meta")
        .and_then(|(_, b)| serde_json::from_slice(b).ok())
        .unwrap_or_default();
    let Some((_, file)) = parts.iter().find(|(n, _)| n == "file") else {
        store.bump("refused")?;
        return Ok(answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "no `file` part"}),
        ));
    };
    media(
        store,
        meta["event_id"].as_str().unwrap_or_default(),
        meta["name"].as_str().unwrap_or_default(),
        meta["sha256"].as_str().unwrap_or_default(),
        file,
    )
}
