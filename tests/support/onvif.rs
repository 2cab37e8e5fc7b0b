//! A small ONVIF camera for tests, on 127.0.0.1: answers WS-Discovery probes on a UDP
//! port and serves the device and media services over HTTP, checking every signed
//! request's WS-Security PasswordDigest against its own password (computed here,
//! independently of the code under test).
//!
//! Its clock runs `clock_offset` ahead of the host's, like a camera without NTP, and
//! a UsernameToken created more than a minute off the camera's clock is refused, as
//! real devices do.
//!
//! Started with a [`PtzSim`] it is also a PTZ dome: the device service announces a
//! PTZ service, which answers GetPresets, GotoPreset (the move takes `move_s`),
//! GetStatus (position, MOVING/IDLE), ContinuousMove and Stop, all signed like the
//! rest. Made with [`PtzSim::with_picture`], the dome also switches which picture its
//! RTSP stream serves as it moves: it writes the name of what it sees (its preset's
//! token, `moving` while it travels, `away` standing elsewhere) to the select file of
//! a `serve-rtsp` switching mount (see `support::dome`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha1::{Digest, Sha1};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the simulated camera says and accepts.
#[derive(Clone)]
pub struct OnvifCamera {
    pub username: String,
    pub password: String,
    /// Announced in the `name` scope (spaces as `%20`).
    pub name: String,
    pub hardware: String,
    /// Returned by GetStreamUri for the main profile (may carry userinfo, as real
    /// cameras sometimes do).
    pub stream_uri: String,
    /// The camera's clock minus the host's.
    pub clock_offset: chrono::TimeDelta,
    /// Answer every HTTP request with a web page instead of SOAP (a router, a NAS…).
    pub not_onvif: bool,
}

pub struct OnvifResponder {
    pub udp_port: u16,
    pub http_port: u16,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// SOAP operations served, in order, with whether their digest was valid.
    pub calls: Arc<Mutex<Vec<(String, bool)>>>,
}

/// The PTZ head of a simulated dome: pan only (tilt and zoom stay 0), in the ONVIF
/// generic space -1..1.
pub struct PtzSim {
    /// (token, name, pan) of each preset.
    pub presets: Vec<(String, String, f64)>,
    pub pan: f64,
    /// Seconds a GotoPreset takes.
    pub move_s: f64,
    /// A GotoPreset under way: target pan and arrival.
    moving_to: Option<(f64, std::time::Instant)>,
    /// A ContinuousMove under way: velocity (pan per second), from where, since when.
    sweeping: Option<(f64, f64, std::time::Instant)>,
    /// Preset tokens of every GotoPreset received, in order.
    pub gotos: Vec<String>,
    /// The `serve-rtsp --select-file` the dome's position drives, and what it holds.
    picture: Option<(std::path::PathBuf, String)>,
}

/// The clip name a dome shows while it travels.
pub const MOVING: &str = "moving";
/// The clip name a dome shows standing away from every preset.
pub const AWAY: &str = "away";

impl PtzSim {
    pub fn new(presets: &[(&str, &str, f64)], pan: f64, move_s: f64) -> Arc<Mutex<PtzSim>> {
        Arc::new(Mutex::new(PtzSim {
            presets: presets
                .iter()
                .map(|(t, n, p)| (t.to_string(), n.to_string(), *p))
                .collect(),
            pan,
            move_s,
            moving_to: None,
            sweeping: None,
            gotos: Vec::new(),
            picture: None,
        }))
    }

    /// [`PtzSim::new`] whose position drives the picture of a switching RTSP mount:
    /// `select` (`serve-rtsp --select-file`) names what the dome sees now, written at
    /// once and, once an [`OnvifResponder`] runs the dome, whenever it changes.
    pub fn with_picture(
        presets: &[(&str, &str, f64)],
        pan: f64,
        move_s: f64,
        select: &std::path::Path,
    ) -> Arc<Mutex<PtzSim>> {
        let sim = Self::new(presets, pan, move_s);
        {
            let mut s = sim.lock().unwrap();
            s.picture = Some((select.to_path_buf(), String::new()));
            s.show();
            assert!(select.is_file(), "cannot write {}", select.display());
        }
        sim
    }

    /// What the dome sees: the preset it stands at, [`MOVING`], or [`AWAY`].
    pub fn scene(&mut self) -> String {
        if self.settle() {
            return MOVING.into();
        }
        self.at().unwrap_or_else(|| AWAY.into())
    }

    /// Writes what the dome sees to the select file when it changed (replacing the
    /// file in one step, so the server never reads half a name).
    fn show(&mut self) {
        let scene = self.scene();
        let Some((file, shown)) = &mut self.picture else {
            return;
        };
        if *shown == scene {
            return;
        }
        // A test tearing down removes the folder before this thread stops: then there
        // is nobody left to show anything to.
        let tmp = file.with_extension("tmp");
        if std::fs::write(&tmp, &scene).is_ok() && std::fs::rename(&tmp, &*file).is_ok() {
            *shown = scene;
        }
    }

    /// Brings the head to where it is now; whether it is moving.
    fn settle(&mut self) -> bool {
        let now = std::time::Instant::now();
        if let Some((to, at)) = self.moving_to {
            if now >= at {
                self.pan = to;
                self.moving_to = None;
            } else {
                return true;
            }
        }
        if let Some((v, from, since)) = self.sweeping {
            self.pan = (from + v * since.elapsed().as_secs_f64()).clamp(-1.0, 1.0);
            return true;
        }
        false
    }

    /// The preset the head stands still at, if any.
    pub fn at(&mut self) -> Option<String> {
        if self.settle() {
            return None;
        }
        self.presets
            .iter()
            .find(|(_, _, p)| (p - self.pan).abs() < 1e-3)
            .map(|(t, _, _)| t.clone())
    }

    fn answer(&mut self, op: &str, req: &str) -> (u16, String) {
        match op {
            "GetPresets" => {
                let list: String = self
                    .presets
                    .iter()
                    .map(|(t, n, p)| {
                        format!(
                            "<tptz:Preset token=\"{t}\"><tt:Name>{n}</tt:Name><tt:PTZPosition><tt:PanTilt x=\"{p}\" y=\"0\"/><tt:Zoom x=\"0\"/></tt:PTZPosition></tptz:Preset>"
                        )
                    })
                    .collect();
                (
                    200,
                    envelope(&format!(
                        "<tptz:GetPresetsResponse>{list}</tptz:GetPresetsResponse>"
                    )),
                )
            }
            "GotoPreset" => {
                let token = field(req, "PresetToken").unwrap_or_default();
                let Some(pan) = self
                    .presets
                    .iter()
                    .find(|(t, _, _)| *t == token)
                    .map(|p| p.2)
                else {
                    return (400, fault("ter:InvalidArgVal", "no such preset"));
                };
                self.settle();
                self.sweeping = None;
                self.gotos.push(token);
                self.moving_to = Some((
                    pan,
                    std::time::Instant::now() + Duration::from_secs_f64(self.move_s),
                ));
                (200, envelope("<tptz:GotoPresetResponse/>"))
            }
            "GetStatus" => {
                let moving = self.settle();
                let state = if moving { "MOVING" } else { "IDLE" };
                (
                    200,
                    envelope(&format!(
                        "<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position><tt:PanTilt x=\"{}\" y=\"0\"/><tt:Zoom x=\"0\"/></tt:Position><tt:MoveStatus><tt:PanTilt>{state}</tt:PanTilt><tt:Zoom>IDLE</tt:Zoom></tt:MoveStatus></tptz:PTZStatus></tptz:GetStatusResponse>",
                        self.pan
                    )),
                )
            }
            "ContinuousMove" => {
                self.settle();
                self.moving_to = None;
                let v = req
                    .split("PanTilt")
                    .nth(1)
                    .and_then(|r| r.split("x=\"").nth(1))
                    .and_then(|r| r.split('"').next())
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0);
                self.sweeping = Some((v, self.pan, std::time::Instant::now()));
                (200, envelope("<tptz:ContinuousMoveResponse/>"))
            }
            _ => {
                // Stop.
                self.settle();
                self.sweeping = None;
                self.moving_to = None;
                (200, envelope("<tptz:StopResponse/>"))
            }
        }
    }
}

impl OnvifResponder {
    pub fn start(cam: OnvifCamera) -> OnvifResponder {
        Self::launch(cam, None)
    }

    /// A PTZ dome (see [`PtzSim`]).
    pub fn start_ptz(cam: OnvifCamera, ptz: Arc<Mutex<PtzSim>>) -> OnvifResponder {
        Self::launch(cam, Some(ptz))
    }

    fn launch(cam: OnvifCamera, ptz: Option<Arc<Mutex<PtzSim>>>) -> OnvifResponder {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let http = TcpListener::bind("127.0.0.1:0").unwrap();
        http.set_nonblocking(true).unwrap();
        let udp_port = udp.local_addr().unwrap().port();
        let http_port = http.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let endpoint = format!("urn:uuid:00000000-0000-4000-8000-{http_port:012}");
        let xaddr = format!("http://127.0.0.1:{http_port}/onvif/device_service");
        let mut threads = Vec::new();
        {
            let (stop, cam, xaddr) = (stop.clone(), cam.clone(), xaddr.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = udp.recv_from(&mut buf) else {
                        continue;
                    };
                    let text = String::from_utf8_lossy(&buf[..n]);
                    if !text.contains("Probe>") && !text.contains("Probe ") {
                        continue;
                    }
                    if !text.contains("NetworkVideoTransmitter") {
                        continue;
                    }
                    let id = field(&text, "MessageID").unwrap_or_default();
                    let reply = probe_match(&id, &endpoint, &xaddr, &cam);
                    let _ = udp.send_to(reply.as_bytes(), from);
                }
            }));
        }
        if let Some(ptz) = ptz.clone() {
            // The picture follows the head: a move ends at its arrival time whether or
            // not anyone asks the dome where it is.
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    ptz.lock().unwrap().show();
                    std::thread::sleep(Duration::from_millis(20));
                }
            }));
        }
        {
            let (stop, calls) = (stop.clone(), calls.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match http.accept() {
                        Ok((s, _)) => serve(s, &cam, http_port, &calls, ptz.as_deref()),
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            }));
        }
        OnvifResponder {
            udp_port,
            http_port,
            stop,
            threads,
            calls,
        }
    }

    /// The unicast WS-Discovery address to probe.
    pub fn probe_target(&self) -> String {
        format!("127.0.0.1:{}", self.udp_port)
    }

    pub fn xaddr(&self) -> String {
        format!("http://127.0.0.1:{}/onvif/device_service", self.http_port)
    }
}

impl Drop for OnvifResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Text of the first element whose local name is `tag` (`<wsse:Password Type=…>x<`).
pub fn field(text: &str, tag: &str) -> Option<String> {
    let mut from = 0;
    while let Some(i) = text[from..].find(tag) {
        let at = from + i;
        from = at + tag.len();
        let before = text[..at].chars().next_back();
        let after = text[from..].chars().next();
        if !matches!(before, Some('<' | ':')) || !matches!(after, Some('>' | ' ')) {
            continue;
        }
        let open = text[..at].rfind('<')?;
        if text[open..].starts_with("</") {
            continue;
        }
        let start = from + text[from..].find('>')? + 1;
        let end = start + text[start..].find('<')?;
        return Some(text[start..end].trim().to_string());
    }
    None
}

fn probe_match(id: &str, endpoint: &str, xaddr: &str, cam: &OnvifCamera) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<SOAP-ENV:Header><wsa:MessageID>urn:uuid:reply-{endpoint}</wsa:MessageID><wsa:RelatesTo>{id}</wsa:RelatesTo>
<wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>
<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action></SOAP-ENV:Header>
<SOAP-ENV:Body><d:ProbeMatches><d:ProbeMatch><wsa:EndpointReference><wsa:Address>{endpoint}</wsa:Address></wsa:EndpointReference>
<d:Types>dn:NetworkVideoTransmitter</d:Types>
<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/{name} onvif://www.onvif.org/hardware/{hw}</d:Scopes>
<d:XAddrs>{xaddr}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>"#,
        name = cam.name.replace(' ', "%20"),
        hw = cam.hardware,
    )
}

fn envelope(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:ter="http://www.onvif.org/ver10/error" xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl"><env:Body>{body}</env:Body></env:Envelope>"#
    )
}

fn fault(subcode: &str, reason: &str) -> String {
    envelope(&format!(
        "<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>{subcode}</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang=\"en\">{reason}</env:Text></env:Reason></env:Fault>"
    ))
}

/// Whether the request's UsernameToken is the camera's user with a valid digest,
/// created within a minute of the camera's clock.
fn authorized(req: &str, cam: &OnvifCamera) -> bool {
    let (Some(user), Some(digest), Some(nonce), Some(created)) = (
        field(req, "Username"),
        field(req, "Password"),
        field(req, "Nonce"),
        field(req, "Created"),
    ) else {
        return false;
    };
    let Ok(nonce) = B64.decode(nonce) else {
        return false;
    };
    let mut h = Sha1::new();
    h.update(&nonce);
    h.update(created.as_bytes());
    h.update(cam.password.as_bytes());
    let expected = B64.encode(h.finalize());
    let fresh = chrono::DateTime::parse_from_rfc3339(&created).is_ok_and(|t| {
        let camera_now = chrono::Utc::now() + cam.clock_offset;
        (camera_now - t.to_utc()).num_seconds().abs() <= 60
    });
    user == cam.username && digest == expected && fresh
}

fn answer(
    req: &str,
    path: &str,
    cam: &OnvifCamera,
    port: u16,
    calls: &Mutex<Vec<(String, bool)>>,
    ptz: Option<&Mutex<PtzSim>>,
) -> (u16, String) {
    let ops = [
        "GetSystemDateAndTime",
        "GetCapabilities",
        "GetProfiles",
        "GetStreamUri",
        "GetPresets",
        "GotoPreset",
        "GetStatus",
        "ContinuousMove",
        "Stop",
    ];
    let Some(op) = ops.iter().find(|op| req.contains(&format!(":{op}"))) else {
        return (400, fault("ter:ActionNotSupported", "unknown action"));
    };
    if *op == "GetSystemDateAndTime" {
        calls.lock().unwrap().push((op.to_string(), true));
        let t = chrono::Utc::now() + cam.clock_offset;
        use chrono::{Datelike, Timelike};
        return (
            200,
            envelope(&format!(
                "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime><tt:Time><tt:Hour>{}</tt:Hour><tt:Minute>{}</tt:Minute><tt:Second>{}</tt:Second></tt:Time><tt:Date><tt:Year>{}</tt:Year><tt:Month>{}</tt:Month><tt:Day>{}</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>",
                t.hour(),
                t.minute(),
                t.second(),
                t.year(),
                t.month(),
                t.day()
            )),
        );
    }
    let ok = authorized(req, cam);
    calls.lock().unwrap().push((op.to_string(), ok));
    if !ok {
        return (400, fault("ter:NotAuthorized", "Sender not Authorized"));
    }
    // Media (and PTZ) operations live on their own service address (from
    // GetCapabilities).
    let on_media = path == "/onvif/media_service";
    if [
        "GetPresets",
        "GotoPreset",
        "GetStatus",
        "ContinuousMove",
        "Stop",
    ]
    .contains(op)
    {
        return match ptz {
            Some(p) if path == "/onvif/ptz_service" => p.lock().unwrap().answer(op, req),
            _ => (400, fault("ter:ActionNotSupported", "no PTZ service here")),
        };
    }
    match *op {
        "GetCapabilities" => {
            let ptz_caps = if ptz.is_some() {
                format!(
                    "<tt:PTZ><tt:XAddr>http://127.0.0.1:{port}/onvif/ptz_service</tt:XAddr></tt:PTZ>"
                )
            } else {
                String::new()
            };
            (
                200,
                envelope(&format!(
                    "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media><tt:XAddr>http://127.0.0.1:{port}/onvif/media_service</tt:XAddr><tt:StreamingCapabilities><tt:RTP_TCP>true</tt:RTP_TCP></tt:StreamingCapabilities></tt:Media>{ptz_caps}</tds:Capabilities></tds:GetCapabilitiesResponse>"
                )),
            )
        }
        _ if !on_media => (
            400,
            fault(
                "ter:ActionNotSupported",
                "media calls go to the media service",
            ),
        ),
        "GetProfiles" => (
            200,
            envelope(
                "<trt:GetProfilesResponse><trt:Profiles token=\"main\" fixed=\"true\"><tt:Name>mainStream</tt:Name><tt:VideoEncoderConfiguration token=\"enc1\"><tt:Name>enc1</tt:Name><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>768</tt:Width><tt:Height>432</tt:Height></tt:Resolution></tt:VideoEncoderConfiguration></trt:Profiles><trt:Profiles token=\"sub\" fixed=\"true\"><tt:Name>subStream</tt:Name><tt:VideoEncoderConfiguration token=\"enc2\"><tt:Name>enc2</tt:Name><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>384</tt:Width><tt:Height>216</tt:Height></tt:Resolution></tt:VideoEncoderConfiguration></trt:Profiles></trt:GetProfilesResponse>",
            ),
        ),
        _ => {
            let uri = if field(req, "ProfileToken").as_deref() == Some("main") {
                cam.stream_uri.clone()
            } else {
                format!("{}-sub", cam.stream_uri)
            };
            (
                200,
                envelope(&format!(
                    "<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>",
                    uri.replace('&', "&amp;")
                )),
            )
        }
    }
}

fn serve(
    mut s: TcpStream,
    cam: &OnvifCamera,
    port: u16,
    calls: &Mutex<Vec<(String, bool)>>,
    ptz: Option<&Mutex<PtzSim>>,
) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let (head_end, length) = loop {
        let Ok(n) = s.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while raw.len() < head_end + length {
        let Ok(n) = s.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let req = String::from_utf8_lossy(&raw[head_end..]).to_string();
    let (status, body, ctype) = if cam.not_onvif {
        (
            200,
            "<!doctype html><html><body>Router login</body></html>".to_string(),
            "text/html",
        )
    } else {
        let (status, body) = answer(&req, &path, cam, port, calls, ptz);
        (status, body, "application/soap+xml; charset=utf-8")
    };
    let reply = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        if status == 200 { "OK" } else { "Bad Request" },
        body.len()
    );
    let _ = s.write_all(reply.as_bytes());
}
