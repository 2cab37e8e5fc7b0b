//! A plain TCP connect before starting `rtspsrc`. GStreamer reports "connection
//! refused", "no route" and DNS failures all as one generic "Failed to connect"; the
//! technician needs to know which, so we ask the network ourselves first.

use super::status::Reason;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Check that `url`'s host accepts TCP connections on its RTSP port.
pub fn precheck(url: &str, timeout: Duration) -> Result<(), Reason> {
    let parsed = url::Url::parse(url).map_err(|e| Reason::Other(format!("bad URL: {e}")))?;
    let host = parsed
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_string();
    let port = parsed
        .port()
        .unwrap_or(if parsed.scheme() == "rtsps" { 322 } else { 554 });
    let addrs: Vec<_> = match (host.as_str(), port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(_) => return Err(Reason::HostNotFound(host)),
    };
    if addrs.is_empty() {
        return Err(Reason::HostNotFound(host));
    }
    let mut last = Reason::Timeout;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return Ok(()),
            Err(e) => {
                last = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => Reason::ConnectionRefused,
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                        Reason::Timeout
                    }
                    _ => Reason::Other(format!("cannot reach {addr}: {e}")),
                }
            }
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_port_is_connection_refused() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        assert_eq!(
            precheck(
                &format!("rtsp://127.0.0.1:{port}/x"),
                Duration::from_secs(2)
            ),
            Err(Reason::ConnectionRefused)
        );
    }

    #[test]
    fn open_port_passes() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(
            precheck(
                &format!("rtsp://127.0.0.1:{port}/x"),
                Duration::from_secs(2)
            ),
            Ok(())
        );
    }

    #[test]
    fn unresolvable_host_is_host_not_found() {
        assert!(matches!(
            precheck("rtsp://no-such-host.invalid/x", Duration::from_secs(2)),
            Err(Reason::HostNotFound(_))
        ));
    }
}
