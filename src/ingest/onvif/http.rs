//! A minimal HTTP/1.1 client for SOAP POSTs to a camera on the local network.
//!
//! Hand-written over `std::net` because the box needs exactly one shape of request,
//! and because both ends must be bounded: a connect/read deadline and a cap on the
//! answer's size, so a misbehaving device can neither hang the page nor fill memory.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest answer read (a camera's GetProfiles with a dozen profiles is ~60 KiB).
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// Why no answer came.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0} is not an http:// URL with a host")]
    BadUrl(String),
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("connection refused by {0}")]
    Refused(SocketAddr),
    #[error("no answer from {0} in time")]
    Timeout(String),
    #[error("connection to {addr} failed ({source})")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("the answer from {0} is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge(String),
    #[error("the answer from {0} is not HTTP/1.x")]
    NotHttp(String),
}

/// POST `body` to `url` with `content_type`; everything within `timeout`.
pub fn post(
    url: &url::Url,
    content_type: &str,
    body: &str,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let deadline = Instant::now() + timeout;
    let host = url
        .host_str()
        .filter(|_| url.scheme() == "http")
        .ok_or_else(|| HttpError::BadUrl(url.to_string()))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let addr = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| HttpError::Resolve(authority.clone()))?;
    let io = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            HttpError::Timeout(authority.clone())
        }
        std::io::ErrorKind::ConnectionRefused => HttpError::Refused(addr),
        _ => HttpError::Io {
            addr: authority.clone(),
            source,
        },
    };
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    let left = |d: Instant| {
        d.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    stream.set_write_timeout(Some(left(deadline))).map_err(io)?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\nUser-Agent: streetwatch\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).map_err(io)?;
    stream.write_all(body.as_bytes()).map_err(io)?;
    let mut raw = Vec::with_capacity(16 * 1024);
    let mut buf = [0u8; 16 * 1024];
    loop {
        if Instant::now() >= deadline {
            return Err(HttpError::Timeout(authority));
        }
        stream.set_read_timeout(Some(left(deadline))).map_err(io)?;
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > MAX_RESPONSE_BYTES + 16 * 1024 {
            return Err(HttpError::TooLarge(authority));
        }
        // Stop at Content-Length rather than waiting for the close (some devices
        // keep the connection open despite `Connection: close`).
        if let Some(parsed) = parse(&raw, &authority)?
            && parsed.complete
        {
            break;
        }
    }
    let parsed = parse(&raw, &authority)?.ok_or(HttpError::NotHttp(authority.clone()))?;
    let body = if parsed.chunked {
        dechunk(&raw[parsed.body_start..]).ok_or(HttpError::NotHttp(authority.clone()))?
    } else {
        raw[parsed.body_start..].to_vec()
    };
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(HttpError::TooLarge(authority));
    }
    Ok(Response {
        status: parsed.status,
        content_type: parsed.content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

struct Head {
    status: u16,
    content_type: String,
    chunked: bool,
    body_start: usize,
    /// Whether the whole body is in (by Content-Length, or the chunked terminator).
    complete: bool,
}

/// Parse the head once it is all in; `None` until then.
fn parse(raw: &[u8], authority: &str) -> Result<Option<Head>, HttpError> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        if raw.len() > 64 * 1024 || (raw.len() >= 5 && !raw.starts_with(b"HTTP/")) {
            return Err(HttpError::NotHttp(authority.into()));
        }
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let status = match (
        parts.next(),
        parts.next().and_then(|s| s.parse::<u16>().ok()),
    ) {
        (Some(v), Some(s)) if v.starts_with("HTTP/1.") => s,
        _ => return Err(HttpError::NotHttp(authority.into())),
    };
    let (mut content_type, mut length, mut chunked) = (String::new(), None, false);
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        match k.as_str() {
            "content-type" => content_type = v.to_ascii_lowercase(),
            "content-length" => length = v.parse::<usize>().ok(),
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let body_start = end + 4;
    let body = &raw[body_start..];
    let complete = if chunked {
        body.ends_with(b"0\r\n\r\n")
    } else {
        length.is_some_and(|n| body.len() >= n)
    };
    if length.is_some_and(|n| n > MAX_RESPONSE_BYTES) {
        return Err(HttpError::TooLarge(authority.into()));
    }
    Ok(Some(Head {
        status,
        content_type,
        chunked,
        body_start,
        complete,
    }))
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 || out.len() + size > MAX_RESPONSE_BYTES {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n").as_deref(),
            Some(&b"Wikipedia"[..])
        );
        assert_eq!(dechunk(b"ff\r\nshort\r\n"), None);
    }

    #[test]
    fn a_head_is_complete_at_its_content_length() {
        let raw = b"HTTP/1.1 500 Internal\r\nContent-Type: Application/Soap+XML\r\nContent-Length: 3\r\n\r\nab";
        let h = parse(raw, "x").unwrap().unwrap();
        assert_eq!((h.status, h.complete), (500, false));
        assert_eq!(h.content_type, "application/soap+xml");
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        assert!(parse(raw, "x").unwrap().unwrap().complete);
        assert!(matches!(
            parse(b"SSH-2.0-OpenSSH\r\n", "x"),
            Err(HttpError::NotHttp(_))
        ));
    }

    #[test]
    fn a_silent_server_times_out_within_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url =
            url::Url::parse(&format!("http://{}/onvif", listener.local_addr().unwrap())).unwrap();
        let t0 = Instant::now();
        let err = post(&url, "text/plain", "x", Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, HttpError::Timeout(_)), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(2));
        drop(listener);
    }
}
