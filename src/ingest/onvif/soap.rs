//! SOAP 1.2 envelopes for the few ONVIF calls we make, the WS-Security UsernameToken
//! that authenticates them, and reading answers and faults.
//!
//! Envelopes are written by hand: five fixed request shapes do not justify a code
//! generator over the ONVIF WSDLs.

use super::xml::{self, Element};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha1::{Digest, Sha1};

pub const NS_DEVICE: &str = "http://www.onvif.org/ver10/device/wsdl";
pub const NS_MEDIA: &str = "http://www.onvif.org/ver10/media/wsdl";
pub const NS_PTZ: &str = "http://www.onvif.org/ver20/ptz/wsdl";
const NS_SCHEMA: &str = "http://www.onvif.org/ver10/schema";
const NS_ENVELOPE: &str = "http://www.w3.org/2003/05/soap-envelope";
const NS_WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const NS_WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const PASSWORD_DIGEST: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
const BASE64_BINARY: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// `Base64(SHA1(nonce + created + password))`, the WS-Security PasswordDigest.
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(created.as_bytes());
    h.update(password.as_bytes());
    B64.encode(h.finalize())
}

/// ONVIF credentials; the password only ever leaves the box as a digest.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials {{ username: {:?}, password: *** }}",
            self.username
        )
    }
}

/// The `<wsse:Security>` header for `creds`, created at `created` (the device's
/// clock, `YYYY-MM-DDThh:mm:ssZ`) with a fresh random nonce.
pub fn security_header(creds: &Credentials, created: &str) -> String {
    let nonce: [u8; 16] = rand::random();
    security_header_with(creds, created, &nonce)
}

fn security_header_with(creds: &Credentials, created: &str, nonce: &[u8]) -> String {
    format!(
        concat!(
            "<wsse:Security s:mustUnderstand=\"1\" xmlns:wsse=\"{wsse}\" xmlns:wsu=\"{wsu}\">",
            "<wsse:UsernameToken><wsse:Username>{user}</wsse:Username>",
            "<wsse:Password Type=\"{pd}\">{digest}</wsse:Password>",
            "<wsse:Nonce EncodingType=\"{b64}\">{nonce}</wsse:Nonce>",
            "<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
        ),
        wsse = NS_WSSE,
        wsu = NS_WSU,
        user = xml::escape(&creds.username),
        pd = PASSWORD_DIGEST,
        digest = password_digest(nonce, created, &creds.password),
        b64 = BASE64_BINARY,
        nonce = B64.encode(nonce),
        created = created,
    )
}

/// A SOAP 1.2 envelope around `body`, with `header` (possibly empty).
pub fn envelope(header: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <s:Envelope xmlns:s=\"{NS_ENVELOPE}\" xmlns:tds=\"{NS_DEVICE}\" \
         xmlns:trt=\"{NS_MEDIA}\" xmlns:tptz=\"{NS_PTZ}\" xmlns:tt=\"{NS_SCHEMA}\">\
         <s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )
}

pub fn get_system_date_and_time() -> &'static str {
    "<tds:GetSystemDateAndTime/>"
}

/// GetCapabilities for one category (`Media`, `PTZ`; fixed names, never user text).
pub fn get_capabilities(category: &str) -> String {
    format!(
        "<tds:GetCapabilities><tds:Category>{}</tds:Category></tds:GetCapabilities>",
        xml::escape(category)
    )
}

pub fn ptz_get_presets(profile: &str) -> String {
    format!(
        "<tptz:GetPresets><tptz:ProfileToken>{}</tptz:ProfileToken></tptz:GetPresets>",
        xml::escape(profile)
    )
}

pub fn ptz_goto_preset(profile: &str, preset: &str) -> String {
    format!(
        "<tptz:GotoPreset><tptz:ProfileToken>{}</tptz:ProfileToken>\
         <tptz:PresetToken>{}</tptz:PresetToken></tptz:GotoPreset>",
        xml::escape(profile),
        xml::escape(preset)
    )
}

pub fn ptz_get_status(profile: &str) -> String {
    format!(
        "<tptz:GetStatus><tptz:ProfileToken>{}</tptz:ProfileToken></tptz:GetStatus>",
        xml::escape(profile)
    )
}

/// ContinuousMove at velocity (`pan`, `tilt`, `zoom`), each -1..1.
pub fn ptz_continuous_move(profile: &str, pan: f64, tilt: f64, zoom: f64) -> String {
    format!(
        "<tptz:ContinuousMove><tptz:ProfileToken>{}</tptz:ProfileToken><tptz:Velocity>\
         <tt:PanTilt x=\"{pan}\" y=\"{tilt}\"/><tt:Zoom x=\"{zoom}\"/></tptz:Velocity>\
         </tptz:ContinuousMove>",
        xml::escape(profile)
    )
}

pub fn ptz_stop(profile: &str) -> String {
    format!(
        "<tptz:Stop><tptz:ProfileToken>{}</tptz:ProfileToken><tptz:PanTilt>true</tptz:PanTilt>\
         <tptz:Zoom>true</tptz:Zoom></tptz:Stop>",
        xml::escape(profile)
    )
}

pub fn get_profiles() -> &'static str {
    "<trt:GetProfiles/>"
}

pub fn get_stream_uri(profile_token: &str) -> String {
    format!(
        "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>\
         <tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>\
         <trt:ProfileToken>{}</trt:ProfileToken></trt:GetStreamUri>",
        xml::escape(profile_token)
    )
}

/// A SOAP fault: its most specific code (`NotAuthorized`, local name) and reason text.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub code: String,
    pub reason: String,
}

impl Fault {
    /// ONVIF's `ter:NotAuthorized`, and WS-Security's `wsse:FailedAuthentication`
    /// that some firmwares send instead.
    pub fn is_not_authorized(&self) -> bool {
        matches!(
            self.code.as_str(),
            "NotAuthorized" | "FailedAuthentication" | "InvalidSecurityToken"
        )
    }
}

fn local_value(s: &str) -> String {
    s.rsplit(':').next().unwrap_or(s).trim().to_string()
}

/// What a SOAP answer held.
#[derive(Debug)]
pub enum Answer {
    /// The `<Body>`'s first element.
    Body(Element),
    Fault(Fault),
}

/// Why text is not a SOAP answer.
#[derive(Debug, thiserror::Error)]
pub enum NotSoap {
    #[error("{0}")]
    Xml(#[from] xml::XmlError),
    #[error("the XML root is <{0}>, not a SOAP <Envelope>")]
    NotEnvelope(String),
    #[error("the SOAP envelope has an empty <Body>")]
    EmptyBody,
}

/// Read a SOAP envelope: its fault, or the first element of its body.
pub fn read(text: &str) -> Result<Answer, NotSoap> {
    let root = xml::parse(text)?;
    if root.name != "Envelope" {
        return Err(NotSoap::NotEnvelope(root.name));
    }
    let first = root
        .child("Body")
        .and_then(|b| b.children.first())
        .ok_or(NotSoap::EmptyBody)?;
    if first.name != "Fault" {
        return Ok(Answer::Body(first.clone()));
    }
    // SOAP 1.2: Code/Value with nested Subcode/Value, most specific last. SOAP 1.1
    // (some old firmware): faultcode / faultstring.
    let mut code = first
        .path(&["Code", "Value"])
        .map(|v| local_value(&v.text))
        .or_else(|| first.child("faultcode").map(|v| local_value(&v.text)))
        .unwrap_or_default();
    let mut sub = first.path(&["Code", "Subcode"]);
    while let Some(s) = sub {
        if let Some(v) = s.child("Value") {
            code = local_value(&v.text);
        }
        sub = s.child("Subcode");
    }
    let reason = first
        .path(&["Reason", "Text"])
        .or_else(|| first.child("faultstring"))
        .map(|t| t.text.clone())
        .unwrap_or_default();
    Ok(Answer::Fault(Fault { code, reason }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_digest_matches_the_onvif_programmers_guide_example() {
        // ONVIF Application Programmer's Guide, section 6.1.1.3.
        let nonce = B64.decode("LKqI6G/AikKCQrN0zqZFlg==").unwrap();
        assert_eq!(
            password_digest(&nonce, "2010-09-16T07:50:45Z", "userpassword"),
            "tuOSpGlFlIXsozq4HFNeeGeFLEI="
        );
    }

    #[test]
    fn security_header_carries_user_digest_nonce_and_created_but_not_the_password() {
        let creds = Credentials {
            username: "ad<min".into(),
            password: "userpassword".into(),
        };
        let nonce = B64.decode("LKqI6G/AikKCQrN0zqZFlg==").unwrap();
        let h = security_header_with(&creds, "2010-09-16T07:50:45Z", &nonce);
        let doc = xml::parse(&envelope(&h, get_profiles())).unwrap();
        let token = doc.find("UsernameToken").unwrap();
        assert_eq!(token.child("Username").unwrap().text, "ad<min");
        assert_eq!(
            token.child("Password").unwrap().text,
            "tuOSpGlFlIXsozq4HFNeeGeFLEI="
        );
        assert_eq!(
            token.child("Nonce").unwrap().text,
            "LKqI6G/AikKCQrN0zqZFlg=="
        );
        assert_eq!(token.child("Created").unwrap().text, "2010-09-16T07:50:45Z");
        assert!(!h.contains("userpassword"));
        assert!(!format!("{creds:?}").contains("userpassword"));
    }

    #[test]
    fn faults_give_their_most_specific_subcode() {
        let f = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"
            xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault>
            <env:Code><env:Value>env:Sender</env:Value><env:Subcode>
            <env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code>
            <env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason>
            </env:Fault></env:Body></env:Envelope>"#;
        let Answer::Fault(fault) = read(f).unwrap() else {
            panic!("not a fault")
        };
        assert_eq!(fault.code, "NotAuthorized");
        assert_eq!(fault.reason, "Sender not Authorized");
        assert!(fault.is_not_authorized());
        let ok = envelope("", "<trt:GetProfilesResponse/>");
        assert!(matches!(read(&ok).unwrap(), Answer::Body(b) if b.name == "GetProfilesResponse"));
        assert!(matches!(
            read("<html><body>router login</body></html>"),
            Err(NotSoap::NotEnvelope(n)) if n == "html"
        ));
    }
}
