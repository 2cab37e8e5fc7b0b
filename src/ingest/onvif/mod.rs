//! ONVIF camera discovery for the technician's **Discover** button: a WS-Discovery
//! probe finds the cameras on the box's network, then each camera's Media service
//! names its profiles and their RTSP URLs.
//!
//! Everything is bounded: the probe listens for a fixed time, every HTTP exchange has
//! a deadline and a size cap, and the number of devices and profiles is capped. The
//! ONVIF password leaves the box only as a WS-Security digest and never appears in an
//! error, a log line or a returned URL.

pub mod device;
pub mod discovery;
pub mod http;
pub mod ptz;
pub mod ptz_control;
pub mod soap;
pub mod xml;

pub use device::{Profile, strip_credentials};
pub use discovery::Found;
pub use soap::Credentials;

use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;

/// Devices whose profiles are asked for after one probe; the rest are listed only.
pub const MAX_QUERIED: usize = 16;

/// Why a camera's streams could not be listed. Each variant has a fixed
/// [`code`](OnvifError::code) the page translates.
#[derive(Debug, thiserror::Error)]
pub enum OnvifError {
    #[error("not authorized - check the ONVIF username/password ({url} refused them)")]
    NotAuthorized { url: String },
    #[error("timeout: {url} did not answer within {seconds} s")]
    Timeout { url: String, seconds: f64 },
    #[error("connection refused: nothing listens at {url}")]
    Refused { url: String },
    #[error(
        "not an ONVIF device: {url} ({detail}); check the address, the ONVIF device \
         service is usually http://<camera>/onvif/device_service"
    )]
    NotOnvif { url: String, detail: String },
    #[error("{url} answered with the SOAP fault {code}: {reason}")]
    Fault {
        url: String,
        code: String,
        reason: String,
    },
    #[error("network error talking to {url}: {detail}")]
    Network { url: String, detail: String },
    #[error("bad ONVIF device address {url}: {detail}; use http://<camera>/onvif/device_service")]
    BadAddress { url: String, detail: String },
    #[error("{0}")]
    Discovery(#[from] discovery::DiscoveryError),
}

impl OnvifError {
    /// A fixed code for the page (`not_authorized`, `timeout`, …).
    pub fn code(&self) -> &'static str {
        match self {
            OnvifError::NotAuthorized { .. } => "not_authorized",
            OnvifError::Timeout { .. } => "timeout",
            OnvifError::Refused { .. } => "connection_refused",
            OnvifError::NotOnvif { .. } => "not_onvif",
            OnvifError::Fault { .. } => "fault",
            OnvifError::Network { .. } => "network",
            OnvifError::BadAddress { .. } => "bad_address",
            OnvifError::Discovery(_) => "discovery",
        }
    }
}

/// What to probe and how to ask the cameras found.
#[derive(Debug, Clone)]
pub struct Search {
    /// Unicast probe targets (`host:3702`), for cameras the multicast cannot reach.
    pub targets: Vec<SocketAddr>,
    /// Probe the WS-Discovery multicast group too.
    pub multicast: bool,
    /// How long to collect answers.
    pub wait: Duration,
    /// Signs the Media service calls; without it only open devices list streams.
    pub credentials: Option<Credentials>,
    /// Deadline of each HTTP exchange with a camera.
    pub timeout: Duration,
}

/// Why one found camera has no streams listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceError {
    pub reason: &'static str,
    pub message: String,
}

/// One camera found, with its streams or why they could not be listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    pub endpoint: String,
    pub name: Option<String>,
    pub hardware: Option<String>,
    pub location: Option<String>,
    /// The device service URL the streams were asked from.
    pub xaddr: Option<String>,
    pub profiles: Vec<Profile>,
    /// What to fill the camera form with: `url` = the highest-resolution stream,
    /// `analysis_url` = the smallest one showing the same picture (see [`suggest`]).
    pub suggested: Option<Suggested>,
    pub error: Option<DeviceError>,
}

/// The camera form's two stream fields, filled from a device's profiles.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggested {
    /// Main stream: evidence (ring, clips, snapshots, plate crops).
    pub url: String,
    /// Substream for analysis; `None` when no smaller stream shows the same picture.
    pub analysis_url: Option<String>,
}

/// Pick the main stream (largest H.264/H.265 profile with a URL) and, for analysis,
/// the smallest other one that pairs with it (same aspect ratio, smaller; see
/// [`super::pairing`]). Profiles without a size or of another codec are skipped.
pub fn suggest(profiles: &[Profile]) -> Option<Suggested> {
    use super::pairing::{StreamSize, check};
    let usable: Vec<(&Profile, StreamSize, &String)> = profiles
        .iter()
        .filter(|p| {
            p.encoding.as_deref().is_some_and(|e| {
                matches!(e.to_ascii_uppercase().as_str(), "H264" | "H265" | "HEVC")
            })
        })
        .filter_map(|p| {
            let size = StreamSize::new(p.width?, p.height?);
            Some((p, size, p.rtsp_url.as_ref()?))
        })
        .collect();
    let area = |s: &StreamSize| u64::from(s.width) * u64::from(s.height);
    let (_, main, url) = usable.iter().max_by_key(|(_, s, _)| area(s))?;
    let analysis = usable
        .iter()
        .filter(|(_, s, u)| area(s) < area(main) && u != url && check(*main, *s).is_ok())
        .min_by_key(|(_, s, _)| area(s))
        .map(|(_, _, u)| (*u).clone());
    Some(Suggested {
        url: (*url).clone(),
        analysis_url: analysis,
    })
}

/// The device service URL to use: plain HTTP, IPv4 first (link-local IPv6 XAddrs need
/// a scope id the announcement does not carry).
fn pick_xaddr(xaddrs: &[String]) -> Option<&String> {
    let http = || xaddrs.iter().filter(|x| x.starts_with("http://"));
    http()
        .find(|x| !x.starts_with("http://["))
        .or_else(|| http().next())
}

/// List the streams of the camera whose device service is at `xaddr`.
pub fn streams(
    xaddr: &str,
    credentials: Option<Credentials>,
    timeout: Duration,
) -> Result<Vec<Profile>, OnvifError> {
    device::Client::new(xaddr, credentials, timeout)?.stream_profiles()
}

/// Probe, then ask every camera found (up to [`MAX_QUERIED`], in parallel) for its
/// streams. A camera that fails carries its error; others are unaffected.
pub fn discover(search: &Search) -> Result<Vec<Device>, OnvifError> {
    let found = discovery::probe(&search.targets, search.multicast, search.wait)?;
    let mut devices: Vec<Device> = found
        .into_iter()
        .map(|f| Device {
            // An https-only camera keeps its address, so its error says why it is skipped.
            xaddr: pick_xaddr(&f.xaddrs)
                .or(f.xaddrs.first())
                .map(|x| strip_credentials(x)),
            endpoint: f.endpoint,
            name: f.name,
            hardware: f.hardware,
            location: f.location,
            profiles: Vec::new(),
            suggested: None,
            error: None,
        })
        .collect();
    std::thread::scope(|s| {
        for d in devices.iter_mut().take(MAX_QUERIED) {
            let Some(xaddr) = d.xaddr.clone() else {
                d.error = Some(DeviceError {
                    reason: "not_onvif",
                    message: format!(
                        "not an ONVIF device: {} announced no device service address",
                        d.endpoint
                    ),
                });
                continue;
            };
            s.spawn(
                move || match streams(&xaddr, search.credentials.clone(), search.timeout) {
                    Ok(p) => {
                        d.suggested = suggest(&p);
                        d.profiles = p;
                    }
                    Err(e) => {
                        tracing::info!(device = %xaddr, error = %e, "onvif: streams not listed");
                        d.error = Some(DeviceError {
                            reason: e.code(),
                            message: e.to_string(),
                        });
                    }
                },
            );
        }
    });
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(token: &str, enc: &str, w: u32, h: u32) -> Profile {
        Profile {
            token: token.into(),
            name: token.into(),
            encoding: Some(enc.into()),
            width: Some(w),
            height: Some(h),
            rtsp_url: Some(format!("rtsp://10.0.0.5/{token}")),
        }
    }

    #[test]
    fn discovery_fills_the_main_stream_and_a_smaller_substream_of_the_same_picture() {
        let s = suggest(&[
            profile("sub", "H264", 640, 360),
            profile("main", "H265", 2560, 1440),
            profile("d1", "H264", 704, 576),
            profile("mjpeg", "JPEG", 320, 180),
            profile("third", "H264", 1280, 720),
        ])
        .unwrap();
        assert_eq!(s.url, "rtsp://10.0.0.5/main");
        // 704x576 is another picture (4:3 with square pixels); the JPEG one is skipped.
        assert_eq!(s.analysis_url.as_deref(), Some("rtsp://10.0.0.5/sub"));
        // One profile: no substream.
        let one = suggest(&[profile("main", "H264", 1920, 1080)]).unwrap();
        assert_eq!(one.analysis_url, None);
        assert_eq!(suggest(&[profile("mjpeg", "JPEG", 640, 480)]), None);
    }

    #[test]
    fn an_ipv4_http_device_address_is_preferred() {
        let x = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            pick_xaddr(&x(&[
                "https://10.0.0.2/a",
                "http://[fe80::1]/a",
                "http://10.0.0.2/a"
            ])),
            Some(&"http://10.0.0.2/a".to_string())
        );
        assert_eq!(
            pick_xaddr(&x(&["http://[fe80::1]/a"])),
            Some(&"http://[fe80::1]/a".to_string())
        );
        assert_eq!(pick_xaddr(&x(&["https://10.0.0.2/a"])), None);
    }

    #[test]
    fn error_messages_name_the_fix_and_never_the_password() {
        let e = OnvifError::NotAuthorized {
            url: "http://10.0.0.2/onvif/device_service".into(),
        };
        assert!(
            e.to_string()
                .starts_with("not authorized - check the ONVIF username/password")
        );
        assert_eq!(e.code(), "not_authorized");
    }
}
