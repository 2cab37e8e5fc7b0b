//! The ONVIF calls that turn a device service address into RTSP stream URLs:
//! GetSystemDateAndTime (to sign with the device's clock), GetCapabilities (to find
//! the Media service), GetProfiles and GetStreamUri.

use super::OnvifError;
use super::http::{self, HttpError};
use super::soap::{self, Answer, Credentials};
use super::xml::Element;
use serde::Serialize;
use std::time::Duration;

/// Profiles asked for a stream URI; cameras have two to four, this bounds a hostile one.
pub const MAX_PROFILES: usize = 16;

/// One media profile and the RTSP URL that plays it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub token: String,
    pub name: String,
    /// `H264`, `H265`, `JPEG`, … as the device names it.
    pub encoding: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Without any user/password the device may have put in it.
    pub rtsp_url: Option<String>,
}

/// A device service endpoint and how to sign requests to it.
pub struct Client {
    device_url: url::Url,
    creds: Option<Credentials>,
    timeout: Duration,
    /// Device clock minus ours: WS-Security `Created` must be in the device's time,
    /// and camera clocks are often wrong by hours (no NTP on an isolated LAN).
    clock_offset: chrono::TimeDelta,
}

fn text_of(e: &Element, path: &[&str]) -> Option<String> {
    e.path(path)
        .map(|x| x.text.clone())
        .filter(|t| !t.is_empty())
}

fn number(e: &Element, path: &[&str]) -> Option<u32> {
    e.path(path).and_then(|x| x.text.parse().ok())
}

/// `url` without userinfo: the page fills the username/password fields separately and
/// the config keeps the password out of the URL.
pub fn strip_credentials(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => crate::redact::redact_url(url),
    }
}

/// The profiles of a GetProfilesResponse (stream URLs not yet asked for).
pub fn profiles_of(response: &Element) -> Vec<Profile> {
    let mut found = Vec::new();
    response.find_all("Profiles", &mut found);
    found
        .into_iter()
        .filter_map(|p| {
            let token = p.attr("token")?.to_string();
            let enc = p.child("VideoEncoderConfiguration");
            Some(Profile {
                name: text_of(p, &["Name"]).unwrap_or_else(|| token.clone()),
                token,
                encoding: enc.and_then(|e| text_of(e, &["Encoding"])),
                width: enc.and_then(|e| number(e, &["Resolution", "Width"])),
                height: enc.and_then(|e| number(e, &["Resolution", "Height"])),
                rtsp_url: None,
            })
        })
        .take(MAX_PROFILES)
        .collect()
}

impl Client {
    /// A client for the device service at `xaddr` (`http://host[:port]/onvif/device_service`).
    pub fn new(
        xaddr: &str,
        creds: Option<Credentials>,
        timeout: Duration,
    ) -> Result<Self, OnvifError> {
        let bad = |detail: &str| OnvifError::BadAddress {
            url: crate::redact::redact_url(xaddr),
            detail: detail.to_string(),
        };
        let device_url = url::Url::parse(xaddr).map_err(|e| bad(&e.to_string()))?;
        if device_url.scheme() != "http" {
            return Err(bad("only http:// device services are supported"));
        }
        if device_url.host_str().is_none() {
            return Err(bad("the address has no host"));
        }
        Ok(Self {
            device_url,
            creds,
            timeout,
            clock_offset: chrono::TimeDelta::zero(),
        })
    }

    fn shown(url: &url::Url) -> String {
        strip_credentials(url.as_str())
    }

    /// One SOAP call; the body's first element, or a typed error.
    pub(super) fn call(
        &self,
        url: &url::Url,
        action: &str,
        body: &str,
        sign: bool,
    ) -> Result<Element, OnvifError> {
        let shown = Self::shown(url);
        let header = match (&self.creds, sign) {
            (Some(c), true) => {
                let created = (chrono::Utc::now() + self.clock_offset)
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string();
                soap::security_header(c, &created)
            }
            _ => String::new(),
        };
        let content_type = format!("application/soap+xml; charset=utf-8; action=\"{action}\"");
        let resp = http::post(
            url,
            &content_type,
            &soap::envelope(&header, body),
            self.timeout,
        )
        .map_err(|e| match e {
            HttpError::Timeout(_) => OnvifError::Timeout {
                url: shown.clone(),
                seconds: self.timeout.as_secs_f64(),
            },
            HttpError::Refused(_) => OnvifError::Refused { url: shown.clone() },
            HttpError::NotHttp(_) => OnvifError::NotOnvif {
                url: shown.clone(),
                detail: "it does not speak HTTP".into(),
            },
            other => OnvifError::Network {
                url: shown.clone(),
                detail: other.to_string(),
            },
        })?;
        // Cameras that want HTTP Digest instead of WS-Security answer 401 before SOAP.
        if resp.status == 401 {
            return Err(OnvifError::NotAuthorized { url: shown });
        }
        match soap::read(&resp.body) {
            Ok(Answer::Body(b)) => Ok(b),
            Ok(Answer::Fault(f)) if f.is_not_authorized() => {
                Err(OnvifError::NotAuthorized { url: shown })
            }
            Ok(Answer::Fault(f)) => Err(OnvifError::Fault {
                url: shown,
                code: f.code,
                reason: f.reason,
            }),
            Err(e) => Err(OnvifError::NotOnvif {
                url: shown,
                detail: format!(
                    "HTTP {} {} answered, {e}",
                    resp.status,
                    if resp.content_type.is_empty() {
                        "without a content type".to_string()
                    } else {
                        resp.content_type.clone()
                    }
                ),
            }),
        }
    }

    /// Learn the device's clock. Unauthenticated by the standard; a device that
    /// refuses it is signed for with our clock.
    pub(super) fn sync_clock(&mut self) -> Result<(), OnvifError> {
        let action = format!("{}/GetSystemDateAndTime", soap::NS_DEVICE);
        let b = match self.call(
            &self.device_url.clone(),
            &action,
            soap::get_system_date_and_time(),
            false,
        ) {
            Ok(b) => b,
            Err(OnvifError::Fault { .. } | OnvifError::NotAuthorized { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let Some(utc) = b.find("UTCDateTime") else {
            return Ok(());
        };
        let date = chrono::NaiveDate::from_ymd_opt(
            number(utc, &["Date", "Year"]).unwrap_or(0) as i32,
            number(utc, &["Date", "Month"]).unwrap_or(0),
            number(utc, &["Date", "Day"]).unwrap_or(0),
        );
        let time = chrono::NaiveTime::from_hms_opt(
            number(utc, &["Time", "Hour"]).unwrap_or(99),
            number(utc, &["Time", "Minute"]).unwrap_or(99),
            number(utc, &["Time", "Second"]).unwrap_or(99),
        );
        if let (Some(d), Some(t)) = (date, time) {
            self.clock_offset = d.and_time(t).and_utc() - chrono::Utc::now();
        }
        Ok(())
    }

    /// The Media service address; the device service itself when the device does not
    /// say (many serve every service on one URL).
    pub(super) fn media_url(&self) -> Result<url::Url, OnvifError> {
        self.service_url("Media")
    }

    /// The address of service `category` (`Media`, `PTZ`) from GetCapabilities; the
    /// device service itself when the device does not say. An address on another
    /// host than the device service is not followed: the signed requests (and the
    /// digest of the password) go to the camera only.
    pub(super) fn service_url(&self, category: &str) -> Result<url::Url, OnvifError> {
        let action = format!("{}/GetCapabilities", soap::NS_DEVICE);
        match self.call(
            &self.device_url,
            &action,
            &soap::get_capabilities(category),
            true,
        ) {
            Ok(b) => Ok(b
                .find(category)
                .and_then(|m| m.child("XAddr"))
                .and_then(|x| url::Url::parse(&x.text).ok())
                .filter(|u| u.scheme() == "http" && u.host_str() == self.device_url.host_str())
                .unwrap_or_else(|| self.device_url.clone())),
            Err(OnvifError::Fault { .. }) => Ok(self.device_url.clone()),
            Err(e) => Err(e),
        }
    }

    /// The device service address.
    pub fn device_url(&self) -> &url::Url {
        &self.device_url
    }

    /// Every media profile with its RTSP URL.
    pub fn stream_profiles(mut self) -> Result<Vec<Profile>, OnvifError> {
        self.sync_clock()?;
        let media = self.media_url()?;
        let action = format!("{}/GetProfiles", soap::NS_MEDIA);
        let b = self.call(&media, &action, soap::get_profiles(), true)?;
        let mut out = profiles_of(&b);
        for profile in &mut out {
            let action = format!("{}/GetStreamUri", soap::NS_MEDIA);
            match self.call(&media, &action, &soap::get_stream_uri(&profile.token), true) {
                Ok(b) => {
                    profile.rtsp_url = b
                        .find("MediaUri")
                        .and_then(|m| text_of(m, &["Uri"]))
                        .map(|u| strip_credentials(&u));
                }
                // A profile without a stream (audio only, metadata) is listed without one.
                Err(OnvifError::Fault { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_give_name_encoding_and_resolution() {
        let text = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"
          xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">
          <env:Body><trt:GetProfilesResponse>
          <trt:Profiles token="Profile_1" fixed="true"><tt:Name>mainStream</tt:Name>
            <tt:VideoSourceConfiguration token="V1"><tt:Name>V1</tt:Name>
              <tt:Bounds x="0" y="0" width="2560" height="1440"/></tt:VideoSourceConfiguration>
            <tt:VideoEncoderConfiguration token="E1"><tt:Name>E1</tt:Name>
              <tt:Encoding>H264</tt:Encoding>
              <tt:Resolution><tt:Width>2560</tt:Width><tt:Height>1440</tt:Height></tt:Resolution>
            </tt:VideoEncoderConfiguration></trt:Profiles>
          <trt:Profiles token="Profile_2"><tt:Name>subStream</tt:Name></trt:Profiles>
          <trt:Profiles><tt:Name>no token</tt:Name></trt:Profiles>
          </trt:GetProfilesResponse></env:Body></env:Envelope>"#;
        let Ok(soap::Answer::Body(b)) = soap::read(text) else {
            panic!("not a body")
        };
        let p = profiles_of(&b);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (
                p[0].token.as_str(),
                p[0].name.as_str(),
                p[0].encoding.as_deref()
            ),
            ("Profile_1", "mainStream", Some("H264"))
        );
        assert_eq!((p[0].width, p[0].height), (Some(2560), Some(1440)));
        assert_eq!(
            (p[1].name.as_str(), p[1].encoding.as_deref(), p[1].width),
            ("subStream", None, None)
        );
    }

    #[test]
    fn credentials_are_stripped_from_stream_urls() {
        assert_eq!(
            strip_credentials(
                "rtsp://admin:12345@192.168.1.64:554/Streaming/Channels/101?transportmode=unicast"
            ),
            "rtsp://192.168.1.64:554/Streaming/Channels/101?transportmode=unicast"
        );
        assert_eq!(
            strip_credentials("rtsp://10.0.0.2/live"),
            "rtsp://10.0.0.2/live"
        );
    }

    #[test]
    fn only_http_device_addresses_are_accepted() {
        assert!(
            Client::new(
                "http://10.0.0.2/onvif/device_service",
                None,
                Duration::from_secs(1)
            )
            .is_ok()
        );
        let e = Client::new("ftp://10.0.0.2/x", None, Duration::from_secs(1))
            .err()
            .unwrap();
        assert_eq!(e.code(), "bad_address");
    }
}
