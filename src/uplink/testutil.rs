//! Builders for tests and benches (not part of the stable API).

use crate::infer::BBox;
use crate::rules::event::*;
use sha2::{Digest, Sha256};
use std::path::Path;

/// A realistic illegal-parking event on `camera`; `n` makes ids and times distinct
/// and increasing.
pub fn sample_event(camera: &str, n: u32) -> Event {
    let t = crate::ingest::MediaTime::from_secs_f64(1_763_700_000.0 + n as f64);
    Event {
        schema: EVENT_SCHEMA.into(),
        id: new_event_id(t),
        kind: EventKind::IllegalParking,
        phase: Phase::Started,
        seq: 0,
        category: CategoryCode {
            code: "09009".into(),
            full_code: Some("44080209009".into()),
            kind: CodeKind::Matter,
            name: "机动车乱停放".into(),
            taxonomy: "GB/T 47678.5-2026".into(),
        },
        source: "video_ai".into(),
        device: DeviceRef {
            id: "box-test".into(),
            division_code: Some("440802".into()),
            firmware_version: crate::FIRMWARE_VERSION.into(),
        },
        camera: CameraRef {
            id: camera.into(),
            name: "人民大道东".into(),
            gb28181_id: None,
        },
        zone: Some(ZoneRef {
            id: "z1".into(),
            name: "禁停区".into(),
            location: "人民大道与海滨路交叉口东北角".into(),
            coordinates: None,
            grid_code: Some("440802001001001".into()),
            asset_id: None,
        }),
        times: EventTimes {
            start_media_ns: t.0,
            end_media_ns: None,
            start: rfc3339(t, chrono_tz::Asia::Shanghai),
            end: None,
            reported: rfc3339(t, chrono_tz::Asia::Shanghai),
        },
        subject: Subject {
            category: "vehicle.car".into(),
            class_name: "car".into(),
            score: 0.9,
            bbox: BBox::new(100.0, 200.5, 300.0, 400.0),
            bbox_norm: BBox::new(0.1, 0.2, 0.3, 0.4),
            track_id: 42,
            related_track_ids: vec![],
            plate: None,
            plate_unread: None,
        },
        duration_s: Some(372.5),
        description: Description {
            zh: "白色轿车在禁停区停放 6 分 12 秒".into(),
            en: "white car parked in a no-parking zone for 6 min 12 s".into(),
        },
        model: ModelRef {
            id: "detector".into(),
            version: "1".into(),
        },
        media: vec![MediaRef {
            name: "snapshot-1.jpg".into(),
            kind: MediaKind::Snapshot,
            content_type: "image/jpeg".into(),
            bytes: 3,
            sha256: hex::encode(Sha256::digest(b"abc")),
            width: Some(1920),
            height: Some(1080),
            start_media_ns: Some(t.0),
            end_media_ns: None,
            preroll_short: false,
            privacy_unredacted: false,
            stream: None,
            caption_px: None,
            caption: Vec::new(),
            local_path: None,
        }],
        photo_set: None,
        evidence_dropped: false,
        end_reason: None,
        media_missing: Vec::new(),
        main_stream_unavailable: false,
        clock: None,
        details: Default::default(),
        signature: None,
    }
}

/// Write `bytes` to `dir/name` and describe it as evidence (the evidence module's own
/// writer, so tests exercise the real fsync + digest path).
pub fn write_media(dir: &Path, name: &str, bytes: &[u8]) -> MediaRef {
    let (kind, content_type) = if name.ends_with(".mp4") {
        (MediaKind::Clip, "video/mp4")
    } else {
        (MediaKind::Snapshot, "image/jpeg")
    };
    crate::evidence::files::write_media(dir, name, kind, content_type, bytes).expect("write media")
}
