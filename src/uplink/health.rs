//! Health report published on `…/health` and rendered as Prometheus text for
//! `/metrics`. The daemon fills the camera and model parts through a provider closure;
//! the uplink fills outbox, disk, memory and temperature itself.

use super::outbox::{Backlog, DropCounters};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::Path;

/// One health report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub device_id: String,
    pub firmware_version: String,
    pub uptime_s: f64,
    /// RFC 3339 UTC time of the report.
    pub time: String,
    pub cameras: Vec<CameraHealth>,
    pub models: Vec<ModelHealth>,
    pub uplink: UplinkHealth,
    pub outbox: Backlog,
    pub dropped: DropCounters,
    pub disk: DiskHealth,
    /// Decided events on their way into the outbox, and any that were lost.
    #[serde(default)]
    pub events: EventsHealth,
    pub memory: MemoryHealth,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu_temp_c: Option<f64>,
    /// A/B firmware slot booted (RAUC) and the installed bundle's version, on boxes
    /// running the Yocto image; absent elsewhere.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub firmware_slot: Option<FirmwareSlot>,
    /// The box's clock (kernel NTP state): events are only as good as their time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub clock: Option<ClockHealth>,
}

/// The box's clock as health reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClockHealth {
    /// NTP-synchronised (from `adjtimex`).
    pub synchronised: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub offset_ms: Option<f64>,
    /// Set while the clock is not synchronised: event times may be wrong.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub warning: Option<String>,
}

impl ClockHealth {
    pub fn now() -> Self {
        let s = crate::clock::ntp_state();
        Self {
            synchronised: s.synchronised,
            offset_ms: s.offset_ms,
            warning: s.warning(),
        }
    }
}

/// A camera with two streams (`analysis_url`): each stream's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamsHealth {
    /// The main stream (`url`): ring, clips, snapshots.
    pub main: String,
    /// The analysis stream (`analysis_url`): what the detectors see.
    pub analysis: String,
    /// Evidence is cut from the analysis stream because the main stream is down.
    pub main_stream_unavailable: bool,
    /// Why the two streams do not pair (analysis stopped), while they do not.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pairing: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FirmwareSlot {
    /// Boot name of the running slot ("A" or "B"), from `rauc.slot=` on the kernel
    /// command line (set by the U-Boot boot script, see yocto/README.md).
    pub slot: String,
    /// `VERSION_ID` of /etc/os-release: the image's DISTRO_VERSION, which is also the
    /// RAUC bundle version.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bundle_version: Option<String>,
}

/// The running A/B slot, read from /proc/cmdline and /etc/os-release.
pub fn firmware_slot() -> Option<FirmwareSlot> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").ok()?;
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    parse_firmware_slot(&cmdline, &os_release)
}

/// [`firmware_slot`] on given texts.
pub fn parse_firmware_slot(cmdline: &str, os_release: &str) -> Option<FirmwareSlot> {
    let slot = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("rauc.slot="))?
        .to_string();
    let bundle_version = os_release.lines().find_map(|l| {
        l.strip_prefix("VERSION_ID=")
            .map(|v| v.trim_matches('"').to_string())
    });
    Some(FirmwareSlot {
        slot,
        bundle_version,
    })
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CameraHealth {
    pub id: String,
    /// e.g. "streaming", "reconnecting", "unreachable".
    pub status: String,
    pub fps: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_frame_age_s: Option<f64>,
    pub dropped_frames: u64,
    /// Set for a camera with two streams.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub streams: Option<StreamsHealth>,
    /// Scene integrity (PTZ, tampering; see docs/scene.md), once its analysis runs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scene: Option<SceneHealth>,
}

/// What health says about a camera's scene.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneHealth {
    /// Why its rules are paused now (`moving`, `tampering: blocked`, …); absent while
    /// they run.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rules_paused: Option<String>,
    /// Tampering conditions reported now (`moved`, `blocked`, `defocused`,
    /// `signal_lost`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tampering: Vec<String>,
    /// PTZ: the preset it stands at.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub preset: Option<String>,
    /// PTZ: moves the box made by itself since start (return home, patrol), and the
    /// last one (`<time> <preset> <reason>`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub box_moves: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_box_move: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelHealth {
    pub id: String,
    pub version: String,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UplinkHealth {
    pub connected: bool,
    /// Last connection or delivery error (never contains secrets).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_error: Option<String>,
    /// Event phases acknowledged by the broker since start.
    pub delivered: u64,
    /// Failed connection attempts since start (retries go on for ever).
    #[serde(default)]
    pub failed_connects: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskHealth {
    /// Bytes the outbox accounts against its cap.
    pub outbox_bytes: u64,
    pub cap_bytes: u64,
    /// Filesystem of the state directory.
    pub fs_free_bytes: u64,
    pub fs_total_bytes: u64,
    /// Why the outbox refused the last event (e.g. the disk is full), naming the
    /// directory and the fix; absent once a commit succeeds again.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// Delivered event phases kept as history (bounded by `uplink.history_days` and
    /// `history_rows`, not by the cap).
    #[serde(default)]
    pub history_rows: u64,
    /// Delivered event phases pruned from the history so far (not a loss).
    #[serde(default)]
    pub history_pruned: u64,
    /// The outbox database and its WAL on disk, history included.
    #[serde(default)]
    pub db_file_bytes: u64,
}

/// Decided events between the rules and the outbox (filled by the daemon).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventsHealth {
    /// Phases decided and waiting in memory for the outbox to take them (non-zero
    /// while the outbox cannot be opened or written, e.g. a full disk).
    pub pending: u64,
    /// How many may wait (`[events] queue_depth`); beyond that they are lost.
    pub capacity: u64,
    /// Whether the outbox is open. While it is not, decided events wait in memory.
    pub outbox_open: bool,
    /// Why the outbox cannot be opened or refuses commits, naming the fix.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub outbox_error: Option<String>,
    /// Sum of `lost`.
    pub lost_total: u64,
    /// Phases decided but never committed, by camera, kind and reason.
    pub lost: Vec<EventLoss>,
}

/// Decided event phases that never reached the outbox.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventLoss {
    pub camera: String,
    /// Event kind (`illegal_parking`, …).
    pub kind: String,
    /// `queue_full`: the in-memory queue overflowed while the outbox refused events;
    /// `shutdown`: still waiting when the daemon had to exit.
    pub reason: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryHealth {
    /// Resident set of this process.
    pub rss_bytes: u64,
    pub total_bytes: u64,
    pub available_bytes: u64,
}

/// Fills the daemon's part of a report (cameras, models). Called from the uplink's
/// thread, so it must be cheap and must not block.
pub type HealthProvider = std::sync::Arc<dyn Fn(&mut Health) + Send + Sync>;

/// Free and total bytes of the filesystem holding `dir`.
pub fn fs_space(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `st` points to writable memory of
    // the right type; statvfs only writes into it and we read it only on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    // The field types differ between targets (u32 on some 32-bit ones).
    #[allow(clippy::unnecessary_cast)]
    let (frsize, bavail, blocks) = (st.f_frsize as u64, st.f_bavail as u64, st.f_blocks as u64);
    Some((bavail * frsize, blocks * frsize))
}

/// Memory of this process and of the machine, from /proc.
pub fn memory() -> MemoryHealth {
    let mut m = MemoryHealth::default();
    if let Ok(s) = std::fs::read_to_string("/proc/self/status") {
        m.rss_bytes = kb_field(&s, "VmRSS:").unwrap_or(0);
    }
    if let Ok(s) = std::fs::read_to_string("/proc/meminfo") {
        m.total_bytes = kb_field(&s, "MemTotal:").unwrap_or(0);
        m.available_bytes = kb_field(&s, "MemAvailable:").unwrap_or(0);
    }
    m
}

fn kb_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU temperature in °C: the first thermal zone whose type looks like a CPU (or the
/// first zone at all); `None` where none is readable (VMs, containers).
pub fn cpu_temperature() -> Option<f64> {
    let zones = std::fs::read_dir("/sys/class/thermal").ok()?;
    let mut first = None;
    for z in zones.flatten() {
        let p = z.path();
        let Some(milli) = std::fs::read_to_string(p.join("temp"))
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok())
        else {
            continue;
        };
        let kind = std::fs::read_to_string(p.join("type")).unwrap_or_default();
        let c = milli / 1000.0;
        if kind.contains("cpu") || kind.contains("x86_pkg") || kind.contains("soc") {
            return Some(c);
        }
        first.get_or_insert(c);
    }
    first
}

fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} {kind}");
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The stable state word of a camera's status text for metric labels: `streaming`,
/// `reconnecting`, `failed`, `connecting`, `ended`, `stopped`, `model_unavailable`.
pub fn camera_state(status: &str) -> &'static str {
    const STATES: &[&str] = &[
        "streaming",
        "reconnecting",
        "failed",
        "connecting",
        "ended",
        "stopped",
        "backoff",
    ];
    if status.starts_with("model unavailable") {
        return "model_unavailable";
    }
    let first = status
        .split(|c: char| c.is_whitespace() || c == ':')
        .next()
        .unwrap_or("");
    STATES
        .iter()
        .find(|s| **s == first)
        .copied()
        .unwrap_or("other")
}

/// Prometheus text exposition (format 0.0.4) of the same figures as the health JSON.
pub fn render_metrics(h: &Health) -> String {
    let mut o = String::new();
    family(
        &mut o,
        "streetwatch_build_info",
        "gauge",
        "Firmware version.",
    );
    let _ = writeln!(
        o,
        "streetwatch_build_info{{device=\"{}\",firmware=\"{}\"}} 1",
        esc(&h.device_id),
        esc(&h.firmware_version)
    );
    family(
        &mut o,
        "streetwatch_uptime_seconds",
        "gauge",
        "Seconds since the process started.",
    );
    let _ = writeln!(o, "streetwatch_uptime_seconds {}", h.uptime_s);

    family(
        &mut o,
        "streetwatch_camera_up",
        "gauge",
        "1 when the camera is streaming.",
    );
    for c in &h.cameras {
        // `status` is the human text ("streaming H.264 768x432 at 12.8 fps"): the label
        // takes its stable first word, so the series does not change with the fps.
        let state = camera_state(&c.status);
        let _ = writeln!(
            o,
            "streetwatch_camera_up{{camera=\"{}\",status=\"{}\"}} {}",
            esc(&c.id),
            state,
            u8::from(state == "streaming")
        );
    }
    family(
        &mut o,
        "streetwatch_camera_fps",
        "gauge",
        "Decoded frames per second.",
    );
    for c in &h.cameras {
        let _ = writeln!(
            o,
            "streetwatch_camera_fps{{camera=\"{}\"}} {}",
            esc(&c.id),
            c.fps
        );
    }
    family(
        &mut o,
        "streetwatch_camera_last_frame_age_seconds",
        "gauge",
        "Age of the newest frame.",
    );
    for c in &h.cameras {
        if let Some(a) = c.last_frame_age_s {
            let _ = writeln!(
                o,
                "streetwatch_camera_last_frame_age_seconds{{camera=\"{}\"}} {a}",
                esc(&c.id)
            );
        }
    }
    family(
        &mut o,
        "streetwatch_camera_dropped_frames_total",
        "counter",
        "Frames dropped before analysis.",
    );
    for c in &h.cameras {
        let _ = writeln!(
            o,
            "streetwatch_camera_dropped_frames_total{{camera=\"{}\"}} {}",
            esc(&c.id),
            c.dropped_frames
        );
    }
    family(
        &mut o,
        "streetwatch_inference_latency_ms",
        "gauge",
        "Inference latency quantiles per model.",
    );
    for m in &h.models {
        for (q, v) in [("0.5", m.latency_p50_ms), ("0.95", m.latency_p95_ms)] {
            let _ = writeln!(
                o,
                "streetwatch_inference_latency_ms{{model=\"{}\",version=\"{}\",quantile=\"{q}\"}} {v}",
                esc(&m.id),
                esc(&m.version)
            );
        }
    }
    family(
        &mut o,
        "streetwatch_uplink_connected",
        "gauge",
        "1 while connected to the broker.",
    );
    let _ = writeln!(
        o,
        "streetwatch_uplink_connected {}",
        u8::from(h.uplink.connected)
    );
    family(
        &mut o,
        "streetwatch_uplink_delivered_total",
        "counter",
        "Event phases acknowledged by the broker since start.",
    );
    let _ = writeln!(
        o,
        "streetwatch_uplink_delivered_total {}",
        h.uplink.delivered
    );
    family(
        &mut o,
        "streetwatch_uplink_failed_connects_total",
        "counter",
        "Failed broker connection attempts since start.",
    );
    let _ = writeln!(
        o,
        "streetwatch_uplink_failed_connects_total {}",
        h.uplink.failed_connects
    );
    family(
        &mut o,
        "streetwatch_outbox_backlog_events",
        "gauge",
        "Event phases not yet fully delivered.",
    );
    let _ = writeln!(o, "streetwatch_outbox_backlog_events {}", h.outbox.events);
    family(
        &mut o,
        "streetwatch_outbox_backlog_bytes",
        "gauge",
        "Bytes not yet delivered.",
    );
    let _ = writeln!(o, "streetwatch_outbox_backlog_bytes {}", h.outbox.bytes);
    family(
        &mut o,
        "streetwatch_outbox_oldest_age_seconds",
        "gauge",
        "Age of the oldest undelivered event phase.",
    );
    let _ = writeln!(
        o,
        "streetwatch_outbox_oldest_age_seconds {}",
        h.outbox.oldest_age_s.unwrap_or(0.0)
    );
    family(
        &mut o,
        "streetwatch_evidence_dropped_total",
        "counter",
        "Evidence files that will not be delivered (never written, or deleted before delivery), by reason.",
    );
    for r in crate::rules::event::MediaLoss::ALL {
        let _ = writeln!(
            o,
            "streetwatch_evidence_dropped_total{{reason=\"{}\"}} {}",
            r.as_str(),
            h.dropped.evidence_dropped.get(r)
        );
    }
    family(
        &mut o,
        "streetwatch_evidence_missing_total",
        "counter",
        "Evidence files committed events expected but that were never written.",
    );
    let _ = writeln!(
        o,
        "streetwatch_evidence_missing_total {}",
        h.dropped.media_missing
    );
    family(
        &mut o,
        "streetwatch_evidence_orphans_removed_total",
        "counter",
        "Evidence files no committed event named, removed at start.",
    );
    let _ = writeln!(
        o,
        "streetwatch_evidence_orphans_removed_total {}",
        h.dropped.orphan_files_removed
    );
    family(
        &mut o,
        "streetwatch_evidence_dropped_bytes_total",
        "counter",
        "Bytes of committed evidence deleted before delivery.",
    );
    let _ = writeln!(
        o,
        "streetwatch_evidence_dropped_bytes_total {}",
        h.dropped.media_dropped_bytes
    );
    family(
        &mut o,
        "streetwatch_events_dropped_total",
        "counter",
        "Whole events dropped by the disk cap.",
    );
    let _ = writeln!(
        o,
        "streetwatch_events_dropped_total {}",
        h.dropped.events_dropped
    );
    family(
        &mut o,
        "streetwatch_events_pending",
        "gauge",
        "Decided event phases waiting in memory for the outbox.",
    );
    let _ = writeln!(o, "streetwatch_events_pending {}", h.events.pending);
    family(
        &mut o,
        "streetwatch_events_queue_capacity",
        "gauge",
        "Decided event phases that may wait in memory ([events] queue_depth).",
    );
    let _ = writeln!(o, "streetwatch_events_queue_capacity {}", h.events.capacity);
    family(
        &mut o,
        "streetwatch_outbox_open",
        "gauge",
        "1 while the outbox is open; 0 while decided events can only wait in memory.",
    );
    let _ = writeln!(
        o,
        "streetwatch_outbox_open {}",
        u8::from(h.events.outbox_open)
    );
    family(
        &mut o,
        "streetwatch_events_lost_total",
        "counter",
        "Decided event phases never committed to the outbox, by camera, kind and reason.",
    );
    for l in &h.events.lost {
        let _ = writeln!(
            o,
            "streetwatch_events_lost_total{{camera=\"{}\",kind=\"{}\",reason=\"{}\"}} {}",
            esc(&l.camera),
            esc(&l.kind),
            esc(&l.reason),
            l.count
        );
    }
    family(
        &mut o,
        "streetwatch_outbox_disk_bytes",
        "gauge",
        "Disk bytes counted against the outbox cap.",
    );
    let _ = writeln!(o, "streetwatch_outbox_disk_bytes {}", h.disk.outbox_bytes);
    family(
        &mut o,
        "streetwatch_outbox_disk_cap_bytes",
        "gauge",
        "Outbox disk cap.",
    );
    let _ = writeln!(o, "streetwatch_outbox_disk_cap_bytes {}", h.disk.cap_bytes);
    family(
        &mut o,
        "streetwatch_outbox_history_rows",
        "gauge",
        "Delivered event phases kept as history.",
    );
    let _ = writeln!(o, "streetwatch_outbox_history_rows {}", h.disk.history_rows);
    family(
        &mut o,
        "streetwatch_outbox_history_pruned_total",
        "counter",
        "Delivered event phases pruned from the history.",
    );
    let _ = writeln!(
        o,
        "streetwatch_outbox_history_pruned_total {}",
        h.disk.history_pruned
    );
    family(
        &mut o,
        "streetwatch_outbox_db_file_bytes",
        "gauge",
        "Outbox database and WAL on disk, history included.",
    );
    let _ = writeln!(
        o,
        "streetwatch_outbox_db_file_bytes {}",
        h.disk.db_file_bytes
    );
    family(
        &mut o,
        "streetwatch_fs_free_bytes",
        "gauge",
        "Free bytes on the state filesystem.",
    );
    let _ = writeln!(o, "streetwatch_fs_free_bytes {}", h.disk.fs_free_bytes);
    family(
        &mut o,
        "streetwatch_outbox_refusing",
        "gauge",
        "1 while the outbox refuses new events (e.g. the disk is full), else 0.",
    );
    let _ = writeln!(
        o,
        "streetwatch_outbox_refusing {}",
        u8::from(h.disk.error.is_some())
    );
    family(
        &mut o,
        "streetwatch_process_resident_memory_bytes",
        "gauge",
        "Resident memory of the process.",
    );
    let _ = writeln!(
        o,
        "streetwatch_process_resident_memory_bytes {}",
        h.memory.rss_bytes
    );
    family(
        &mut o,
        "streetwatch_memory_available_bytes",
        "gauge",
        "Memory available on the machine.",
    );
    let _ = writeln!(
        o,
        "streetwatch_memory_available_bytes {}",
        h.memory.available_bytes
    );
    if let Some(t) = h.cpu_temp_c {
        family(
            &mut o,
            "streetwatch_cpu_temperature_celsius",
            "gauge",
            "CPU temperature.",
        );
        let _ = writeln!(o, "streetwatch_cpu_temperature_celsius {t}");
    }
    if let Some(c) = &h.clock {
        family(
            &mut o,
            "streetwatch_clock_synchronised",
            "gauge",
            "1 when the box's clock is NTP-synchronised (event times are trustworthy).",
        );
        let _ = writeln!(
            o,
            "streetwatch_clock_synchronised {}",
            u8::from(c.synchronised)
        );
    }
    let dual: Vec<_> = h
        .cameras
        .iter()
        .filter_map(|c| c.streams.as_ref().map(|s| (c, s)))
        .collect();
    if !dual.is_empty() {
        family(
            &mut o,
            "streetwatch_camera_stream_up",
            "gauge",
            "Camera with two streams: 1 when that stream (main or analysis) is streaming.",
        );
        for (c, s) in dual {
            for (role, status) in [("main", &s.main), ("analysis", &s.analysis)] {
                let _ = writeln!(
                    o,
                    "streetwatch_camera_stream_up{{camera=\"{}\",stream=\"{role}\"}} {}",
                    esc(&c.id),
                    u8::from(status.starts_with("streaming"))
                );
            }
        }
    }
    if let Some(f) = &h.firmware_slot {
        family(
            &mut o,
            "streetwatch_firmware_slot_info",
            "gauge",
            "Booted A/B slot and bundle version (always 1).",
        );
        let _ = writeln!(
            o,
            "streetwatch_firmware_slot_info{{slot=\"{}\",bundle_version=\"{}\"}} 1",
            f.slot.replace('"', ""),
            f.bundle_version.as_deref().unwrap_or("").replace('"', "")
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_up_is_one_while_streaming_with_a_stable_status_label() {
        let h = Health {
            cameras: vec![
                CameraHealth {
                    id: "gate".into(),
                    status: "streaming H.264 768x432 at 12.8 fps".into(),
                    ..Default::default()
                },
                CameraHealth {
                    id: "lane".into(),
                    status: "reconnecting in 4.0 s: connection refused: nothing listens".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let text = render_metrics(&h);
        assert!(
            text.contains("streetwatch_camera_up{camera=\"gate\",status=\"streaming\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("streetwatch_camera_up{camera=\"lane\",status=\"reconnecting\"} 0"),
            "{text}"
        );
        assert_eq!(
            camera_state("model unavailable: no such model"),
            "model_unavailable"
        );
    }

    #[test]
    fn firmware_slot_comes_from_the_kernel_command_line_and_os_release() {
        let f = parse_firmware_slot(
            "console=ttyS2 root=PARTLABEL=rootfs_b ro rootwait rauc.slot=B",
            "ID=streetwatch\nVERSION_ID=\"0.1.0\"\n",
        )
        .unwrap();
        assert_eq!(f.slot, "B");
        assert_eq!(f.bundle_version.as_deref(), Some("0.1.0"));
        assert_eq!(parse_firmware_slot("root=/dev/sda1 ro", ""), None);
        let h = Health {
            firmware_slot: Some(f),
            ..Health::default()
        };
        assert!(
            render_metrics(&h)
                .contains("streetwatch_firmware_slot_info{slot=\"B\",bundle_version=\"0.1.0\"} 1")
        );
    }

    fn sample() -> Health {
        Health {
            device_id: "box-1".into(),
            firmware_version: "0.1.0".into(),
            uptime_s: 12.5,
            cameras: vec![CameraHealth {
                id: "cam\"1".into(),
                status: "streaming".into(),
                fps: 12.0,
                last_frame_age_s: Some(0.2),
                dropped_frames: 3,
                scene: None,
                streams: None,
            }],
            models: vec![ModelHealth {
                id: "det".into(),
                version: "1".into(),
                latency_p50_ms: 20.0,
                latency_p95_ms: 41.5,
            }],
            dropped: DropCounters {
                media_dropped: 2,
                media_dropped_bytes: 2048,
                events_dropped: 0,
                media_missing: 3,
                evidence_dropped: super::super::outbox::ReasonCounts {
                    disk_full: 4,
                    cap: 1,
                    write_failed: 0,
                },
                orphan_files_removed: 5,
                orphan_bytes_removed: 500,
            },
            cpu_temp_c: Some(55.0),
            events: EventsHealth {
                pending: 3,
                capacity: 3,
                outbox_open: true,
                outbox_error: Some("disk is full".into()),
                lost_total: 2,
                lost: vec![EventLoss {
                    camera: "gate".into(),
                    kind: "illegal_parking".into(),
                    reason: "queue_full".into(),
                    count: 2,
                }],
            },
            ..Default::default()
        }
    }

    #[test]
    fn metrics_are_valid_prometheus_text_exposition() {
        let text = render_metrics(&sample());
        let mut typed = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split(' ');
                typed.insert(it.next().unwrap().to_string());
                assert!(matches!(it.next(), Some("gauge" | "counter")), "{line}");
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            // name{labels} value
            let (series, value) = line.rsplit_once(' ').expect(line);
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad value: {line}"));
            let name = series.split('{').next().unwrap();
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}"
            );
            assert!(typed.contains(name), "sample before its TYPE: {line}");
            if let Some(labels) = series.strip_prefix(name)
                && !labels.is_empty()
            {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            }
        }
        assert!(text.contains("streetwatch_camera_dropped_frames_total{camera=\"cam\\\"1\"} 3"));
        assert!(text.contains("quantile=\"0.95\"} 41.5"));
        assert!(text.contains("streetwatch_evidence_dropped_total{reason=\"disk_full\"} 4"));
        assert!(text.contains("streetwatch_evidence_dropped_total{reason=\"cap\"} 1"));
        assert!(text.contains("streetwatch_evidence_dropped_total{reason=\"write_failed\"} 0"));
        assert!(text.contains("streetwatch_evidence_missing_total 3"));
        assert!(text.contains("streetwatch_evidence_orphans_removed_total 5"));
        assert!(text.contains(
            "streetwatch_events_lost_total{camera=\"gate\",kind=\"illegal_parking\",reason=\"queue_full\"} 2"
        ));
        assert!(text.contains("streetwatch_events_pending 3"));
        assert!(text.contains("streetwatch_outbox_open 1"));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn health_json_round_trips() {
        let h = sample();
        let back: Health = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn memory_and_disk_are_read_on_linux() {
        assert!(memory().rss_bytes > 0);
        let (free, total) = fs_space(Path::new("/")).unwrap();
        assert!(total >= free && total > 0);
    }
}
