//! Serving an evidence file with HTTP byte ranges, so a browser's `<video>` can start
//! playing before the whole clip arrived and seek anywhere in it.
//!
//! The file is streamed in small chunks through a bounded channel from a blocking
//! reader thread: a 50 MB clip never sits in memory, and a slow phone on Wi-Fi holds
//! at most a few chunks.

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Bytes per chunk sent to the client.
const CHUNK: usize = 64 * 1024;
/// Chunks read ahead of the client.
const AHEAD: usize = 4;

/// A single byte range, inclusive, already checked against the file length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// What a `Range` header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No (usable) header: the whole file.
    Full,
    Partial(ByteRange),
    /// A range that lies outside the file: 416.
    Unsatisfiable,
}

/// Parse `Range: bytes=…` for a file of `len` bytes. Several ranges and other units
/// are answered with the whole file (allowed by RFC 9110, and no browser asks for
/// several when playing video).
pub fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        // `bytes=-N`: the last N bytes.
        match b.parse::<u64>() {
            Ok(0) => return RangeRequest::Unsatisfiable,
            Ok(n) if len > 0 => ByteRange {
                start: len.saturating_sub(n),
                end: len - 1,
            },
            Ok(_) => return RangeRequest::Unsatisfiable,
            Err(_) => return RangeRequest::Full,
        }
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return RangeRequest::Full;
        };
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(len.saturating_sub(1)),
                _ => return RangeRequest::Full,
            }
        };
        if start >= len {
            return RangeRequest::Unsatisfiable;
        }
        ByteRange { start, end }
    };
    RangeRequest::Partial(range)
}

/// Why a file could not be served.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The response for `path` (of `content_type`) given the request headers: 200 with the
/// whole file, 206 with one range, or 416.
pub fn serve(
    path: PathBuf,
    content_type: &str,
    request: &HeaderMap,
) -> Result<Response, MediaError> {
    let open = |source| MediaError::Open {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::File::open(&path).map_err(open)?;
    let len = file.metadata().map_err(open)?.len();
    let asked = request.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, range) = match parse_range(asked, len) {
        RangeRequest::Unsatisfiable => {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [
                    (header::CONTENT_RANGE, format!("bytes */{len}")),
                    (header::ACCEPT_RANGES, "bytes".into()),
                ],
            )
                .into_response());
        }
        RangeRequest::Full => (StatusCode::OK, None),
        RangeRequest::Partial(r) => (StatusCode::PARTIAL_CONTENT, Some(r)),
    };
    let (start, count) = match range {
        Some(r) => (r.start, r.end - r.start + 1),
        None => (0, len),
    };
    file.seek(SeekFrom::Start(start)).map_err(open)?;
    let mut resp = Response::new(Body::new(FileBody::spawn(file, count)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // Evidence never changes under its name; the browser may keep what it fetched.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    if let Some(r) = range
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{len}", r.start, r.end))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}

/// A response body fed by a reader thread through a bounded channel.
struct FileBody {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    remaining: u64,
}

impl FileBody {
    fn spawn(mut file: std::fs::File, count: u64) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(AHEAD);
        // A plain thread (not the async runtime's blocking pool, which it would hold
        // for as long as a slow client takes); it ends when the client goes away
        // because `blocking_send` fails once the receiver is dropped.
        let spawned = std::thread::Builder::new()
            .name("web-media".into())
            .spawn(move || {
                let mut left = count;
                while left > 0 {
                    let mut buf = vec![0u8; CHUNK.min(left as usize)];
                    let item = match file.read(&mut buf) {
                        Ok(0) => Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the file got shorter while it was being sent",
                        )),
                        Ok(n) => {
                            buf.truncate(n);
                            left -= n as u64;
                            Ok(Bytes::from(buf))
                        }
                        Err(e) => Err(e),
                    };
                    let failed = item.is_err();
                    if tx.blocking_send(item).is_err() || failed {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "web: cannot start a media reader thread");
        }
        Self {
            rx,
            remaining: count,
        }
    }
}

impl HttpBody for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => {
                self.remaining = self.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(http_body::Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(Some(Err(std::io::Error::other(
                "the media reader stopped early",
            )))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end: u64) -> RangeRequest {
        RangeRequest::Partial(ByteRange { start, end })
    }

    #[test]
    fn ranges_browsers_send_are_understood() {
        assert_eq!(parse_range(None, 100), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=0-"), 100), part(0, 99));
        assert_eq!(parse_range(Some("bytes=10-19"), 100), part(10, 19));
        assert_eq!(parse_range(Some("bytes=90-200"), 100), part(90, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), part(90, 99));
        assert_eq!(parse_range(Some("bytes=-500"), 100), part(0, 99));
    }

    #[test]
    fn ranges_outside_the_file_are_unsatisfiable_and_odd_ones_give_the_whole_file() {
        assert_eq!(
            parse_range(Some("bytes=100-"), 100),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=-0"), 100),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=0-"), 0),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(parse_range(Some("bytes=5-1"), 100), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), RangeRequest::Full);
        assert_eq!(parse_range(Some("items=0-1"), 100), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=x-"), 100), RangeRequest::Full);
    }
}
