//! WS-Discovery (SOAP over UDP): ask who is a `NetworkVideoTransmitter` and collect
//! the ProbeMatches that come back within a bounded time.
//!
//! The probe goes to the WS-Discovery multicast group and to any unicast targets: a
//! multicast probe does not cross routers, so cameras on another subnet are found
//! only by asking them (or their subnet's broadcast address) directly.

use super::xml;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

/// The WS-Discovery multicast group and port.
pub const MULTICAST: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 255, 250), 3702);
/// At most this many devices are kept from one probe.
pub const MAX_DEVICES: usize = 64;

/// One answering device, as its ProbeMatch describes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Found {
    /// The WS-Addressing endpoint reference (`urn:uuid:…`), stable per device.
    pub endpoint: String,
    /// Device service URLs, as announced.
    pub xaddrs: Vec<String>,
    /// From the `onvif://www.onvif.org/name/…` scope.
    pub name: Option<String>,
    /// From the `onvif://www.onvif.org/hardware/…` scope.
    pub hardware: Option<String>,
    /// From the `onvif://www.onvif.org/location/…` scope.
    pub location: Option<String>,
    /// Address the answer came from.
    pub from: SocketAddr,
}

/// Why no probe could be sent at all (a silent network is not an error: it finds none).
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("cannot open a UDP socket for WS-Discovery ({0})")]
    Socket(std::io::Error),
    #[error("the probe could not be sent to any address (last error: {0})")]
    Send(std::io::Error),
}

fn probe_message(message_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:w=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:d=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\" \
         xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\">\
         <e:Header><w:MessageID>{message_id}</w:MessageID>\
         <w:To e:mustUnderstand=\"true\">urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>\
         <w:Action e:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</w:Action>\
         </e:Header><e:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe>\
         </e:Body></e:Envelope>"
    )
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        let at = |j: usize| b.get(j).and_then(|&c| hex(c));
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (at(i + 1), at(i + 2))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of the first `onvif://www.onvif.org/<kind>/<value>` scope.
fn scope(scopes: &[&str], kind: &str) -> Option<String> {
    let prefix = format!("onvif://www.onvif.org/{kind}/");
    scopes
        .iter()
        .find_map(|s| s.strip_prefix(&prefix))
        .map(|v| percent_decode(v).replace('_', " ").trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The ProbeMatches in one datagram that answer `message_id`.
pub fn parse_matches(text: &str, message_id: &str, from: SocketAddr) -> Vec<Found> {
    let Ok(doc) = xml::parse(text) else {
        return Vec::new();
    };
    // An answer to someone else's probe (or an unsolicited Hello) is not ours.
    if let Some(rel) = doc.find("RelatesTo")
        && rel.text != message_id
    {
        return Vec::new();
    }
    let mut matches = Vec::new();
    doc.find_all("ProbeMatch", &mut matches);
    matches
        .into_iter()
        .filter_map(|m| {
            let endpoint = m.path(&["EndpointReference", "Address"])?.text.clone();
            let xaddrs: Vec<String> = m
                .child("XAddrs")
                .map(|x| x.text.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default();
            let scopes_text = m.child("Scopes").map(|s| s.text.as_str()).unwrap_or("");
            let scopes: Vec<&str> = scopes_text.split_whitespace().collect();
            Some(Found {
                endpoint,
                xaddrs,
                name: scope(&scopes, "name"),
                hardware: scope(&scopes, "hardware"),
                location: scope(&scopes, "location"),
                from,
            })
        })
        .collect()
}

/// Send one Probe to the multicast group (when `multicast`) and to each of `targets`,
/// and collect distinct devices (by endpoint reference) for `wait`.
pub fn probe(
    targets: &[SocketAddr],
    multicast: bool,
    wait: Duration,
) -> Result<Vec<Found>, DiscoveryError> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(DiscoveryError::Socket)?;
    // Stay on the local network segment, as WS-Discovery intends.
    let _ = socket.set_multicast_ttl_v4(1);
    let message_id = format!("urn:uuid:{}", uuid::Uuid::now_v7());
    let msg = probe_message(&message_id);
    let mut sent = 0;
    let mut last_err = None;
    let mcast = multicast.then_some(SocketAddr::V4(MULTICAST));
    for to in mcast.iter().chain(targets) {
        // A box without a multicast route still probes its unicast targets.
        match socket.send_to(msg.as_bytes(), to) {
            Ok(_) => sent += 1,
            Err(e) => {
                tracing::debug!(to = %to, error = %e, "onvif: probe not sent");
                last_err = Some(e);
            }
        }
    }
    if sent == 0
        && let Some(e) = last_err
    {
        return Err(DiscoveryError::Send(e));
    }
    let deadline = Instant::now() + wait;
    let mut found: Vec<Found> = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Some(left) = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
    {
        socket
            .set_read_timeout(Some(left))
            .map_err(DiscoveryError::Socket)?;
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            // ICMP port unreachable from a unicast target shows up here on Linux;
            // other devices may still answer.
            Err(_) => continue,
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        for m in parse_matches(&text, &message_id, from) {
            if found.len() < MAX_DEVICES && !found.iter().any(|f| f.endpoint == m.endpoint) {
                found.push(m);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATCH: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"
 xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"
 xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<SOAP-ENV:Header><wsa:MessageID>uuid:7e0c1f8a</wsa:MessageID>
<wsa:RelatesTo>urn:uuid:ours</wsa:RelatesTo>
<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>
</SOAP-ENV:Header><SOAP-ENV:Body><d:ProbeMatches><d:ProbeMatch>
<wsa:EndpointReference><wsa:Address>urn:uuid:4a2f-cam</wsa:Address></wsa:EndpointReference>
<d:Types>dn:NetworkVideoTransmitter</d:Types>
<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/Gate%20East
 onvif://www.onvif.org/hardware/DS-2CD2143G2 onvif://www.onvif.org/location/city/%E4%B8%9C%E9%97%A8</d:Scopes>
<d:XAddrs>http://192.168.1.64/onvif/device_service http://[fe80::1]/onvif/device_service</d:XAddrs>
<d:MetadataVersion>10</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#;

    #[test]
    fn probe_match_gives_endpoint_xaddrs_name_and_hardware() {
        let from: SocketAddr = "192.168.1.64:3702".parse().unwrap();
        let m = parse_matches(MATCH, "urn:uuid:ours", from);
        assert_eq!(m.len(), 1);
        let d = &m[0];
        assert_eq!(d.endpoint, "urn:uuid:4a2f-cam");
        assert_eq!(
            d.xaddrs,
            [
                "http://192.168.1.64/onvif/device_service",
                "http://[fe80::1]/onvif/device_service"
            ]
        );
        assert_eq!(d.name.as_deref(), Some("Gate East"));
        assert_eq!(d.hardware.as_deref(), Some("DS-2CD2143G2"));
        assert_eq!(d.location.as_deref(), Some("city/东门"));
    }

    #[test]
    fn answers_to_another_probe_and_garbage_are_ignored() {
        let from: SocketAddr = "192.168.1.64:3702".parse().unwrap();
        assert!(parse_matches(MATCH, "urn:uuid:someone-else", from).is_empty());
        assert!(parse_matches("<not xml", "urn:uuid:ours", from).is_empty());
    }

    #[test]
    fn the_probe_asks_for_network_video_transmitters() {
        let doc = xml::parse(&probe_message("urn:uuid:x")).unwrap();
        assert_eq!(
            doc.find("Types").unwrap().text,
            "dn:NetworkVideoTransmitter"
        );
        assert_eq!(doc.find("MessageID").unwrap().text, "urn:uuid:x");
    }
}
