//! Captioned evidence pictures and the photo set of a parking case (GA/T 832 practice):
//!
//! - at least two wide shots from the main stream, one when the vehicle is first seen
//!   stationary and one at confirmation, at least the zone's `evidence_interval_s`
//!   apart (the rule waits for it, see `rules::illegal_parking`);
//! - a plate close-up, cut from the main-stream frame of the best plate read;
//! - one composite picture, a 2x2 grid of the two wide shots, the close-up and an
//!   information panel, because many platforms take one image per case.
//!
//! Every picture carries the caption strip of [`super::caption`] below the scene.
//!
//! How the pieces meet: the analysis thread registers every evidence request here
//! ([`PhotoSets::begin`], in order, so the first one marks when the situation began);
//! picture jobs on the evidence thread decode their frames, read plates
//! ([`super::plate`]), write captioned pictures ([`run_picture`]) and leave their
//! plate reads here; when the collector releases an event's phases
//! ([`PhotoSets::complete`]) each phase gets `subject.plate` from the reads so far,
//! and the phase that carries the pictures also gets the close-up, the composite and
//! `photo_set`. The rules learn a stay's plate through [`PhotoSets::new_plates`], so
//! the same plate seen again after an occlusion stays one case.
//!
//! Bounded: at most `capacity` events are followed; the oldest is forgotten first.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use chrono_tz::Tz;

use super::EvidenceError;
use super::caption::{Caption, local_time};
use super::decode::RgbFrame;
use super::files::event_dir;
use super::labels::zones_of;
use super::plate::{FrameRead, PlateService, consensus};
use super::snapshot::{SnapshotSpec, crop, map_box, write_picture, write_snapshot};
use crate::draw::{Canvas, font};
use crate::infer::plate::{PlateRead, RgbView};
use crate::ingest::MediaTime;
use crate::ingest::camera::StreamRole;
use crate::rules::event::{
    Event, EventKind, MediaKind, MediaRef, Phase, PhotoSet, PlateInfo, PlateUnread,
    PlateUnreadReason,
};
use crate::rules::privacy::black_out_zones;
use crate::rules::zone::{Zone, ZoneRule};

/// Names of the photo set's pictures.
pub const FIRST_WIDE: &str = "first-stationary.jpg";
pub const CONFIRM_WIDE: &str = "confirmation.jpg";
pub const CLOSEUP: &str = "plate.jpg";
pub const COMPOSITE: &str = "composite.jpg";
/// Narrowest plate close-up: smaller crops are scaled up (no detail is added) so the
/// caption strip below them stays readable.
const CLOSEUP_MIN_W: u32 = 480;

/// Who took the pictures, for captions.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraCaption {
    pub device_id: String,
    /// Camera name, with its id when the two differ: "东门 (cam1)".
    pub camera: String,
    pub tz: Tz,
}

impl CameraCaption {
    pub fn new(device_id: &str, camera_id: &str, camera_name: &str, tz: Tz) -> Self {
        let camera = if camera_name.is_empty() || camera_name == camera_id {
            camera_id.to_string()
        } else {
            format!("{camera_name} ({camera_id})")
        };
        Self {
            device_id: device_id.into(),
            camera,
            tz,
        }
    }
}

/// What a picture job needs beyond its frame.
#[derive(Debug, Clone)]
pub struct PictureContext {
    pub camera: Arc<CameraCaption>,
    pub kind: EventKind,
    pub sets: Arc<PhotoSets>,
    /// Set when this picture reads the plate (wide shots of a parked motor vehicle).
    pub plates: Option<Arc<PlateService>>,
}

/// The best plate picture of an event so far.
#[derive(Debug, Clone)]
struct Closeup {
    rgb: Vec<u8>,
    w: u32,
    h: u32,
    read: PlateRead,
    at: MediaTime,
    /// The stream its frame came from (the substream when the main one was down).
    stream: Option<StreamRole>,
}

#[derive(Debug)]
struct Record {
    event_id: String,
    kind: EventKind,
    /// The earliest picture asked for: when the situation began.
    start: MediaTime,
    frames: Vec<FrameRead>,
    /// Pictures whose plate reads are in.
    pictures_read: u32,
    closeup: Option<Closeup>,
    /// Plates are read for this event (parked motor vehicle, reading on).
    reads_plates: bool,
    unavailable: Option<PlateUnread>,
    /// Close-up, composite and `photo_set` already attached.
    done: bool,
    /// The plate text last handed to the rules.
    announced: Option<String>,
}

#[derive(Debug)]
struct Inner {
    records: VecDeque<Record>,
    zones: Vec<Zone>,
    plates: Option<Arc<PlateService>>,
}

/// The photo-set records of one camera.
#[derive(Debug)]
pub struct PhotoSets {
    inner: Mutex<Inner>,
    /// Signalled when a picture's plate reads are in.
    read: Condvar,
    capacity: usize,
    camera: Arc<CameraCaption>,
    root: PathBuf,
    quality: u8,
}

impl PhotoSets {
    pub fn new(
        camera: Arc<CameraCaption>,
        root: PathBuf,
        quality: u8,
        plates: Option<Arc<PlateService>>,
        zones: Vec<Zone>,
        capacity: usize,
    ) -> Self {
        Self {
            inner: Mutex::new(Inner {
                records: VecDeque::new(),
                zones,
                plates,
            }),
            read: Condvar::new(),
            capacity: capacity.max(1),
            camera,
            root,
            quality,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn camera(&self) -> &Arc<CameraCaption> {
        &self.camera
    }

    /// The plate service, when this camera reads plates.
    pub fn plates(&self) -> Option<Arc<PlateService>> {
        self.lock().plates.clone()
    }

    /// Plate reading from now on (a zone reload that adds the first no-parking zone).
    pub fn set_plates(&self, plates: Option<Arc<PlateService>>) {
        self.lock().plates = plates;
    }

    /// The zones in force (hot reload).
    pub fn set_zones(&self, zones: Vec<Zone>) {
        self.lock().zones = zones;
    }

    /// An evidence request for `event_id` at `at` (analysis thread, in order).
    /// `vehicle_category` is the subject's category for parking pictures: plates are
    /// read for motor vehicles only.
    pub fn begin(&self, event_id: &str, kind: EventKind, at: MediaTime, motor_vehicle: bool) {
        let mut g = self.lock();
        let has_reader = g.plates.is_some();
        if let Some(r) = g.records.iter_mut().find(|r| r.event_id == event_id) {
            r.start = r.start.min(at);
            r.reads_plates |= motor_vehicle && has_reader;
            return;
        }
        if g.records.len() >= self.capacity {
            g.records.pop_front();
        }
        let unavailable = g.plates.as_ref().and_then(|p| p.unavailable());
        g.records.push_back(Record {
            event_id: event_id.to_string(),
            kind,
            start: at,
            frames: Vec::new(),
            pictures_read: 0,
            closeup: None,
            reads_plates: motor_vehicle && has_reader,
            unavailable,
            done: false,
            announced: None,
        });
    }

    /// When the situation of `event_id` began (its first picture).
    pub fn start_of(&self, event_id: &str) -> Option<MediaTime> {
        self.lock()
            .records
            .iter()
            .find(|r| r.event_id == event_id)
            .map(|r| r.start)
    }

    fn add(&self, event_id: &str, frames: Vec<FrameRead>, closeup: Option<Closeup>) {
        let mut g = self.lock();
        let Some(r) = g.records.iter_mut().find(|r| r.event_id == event_id) else {
            return;
        };
        r.frames.extend(frames);
        r.pictures_read += 1;
        self.read.notify_all();
        if let Some(c) = closeup {
            // The most confident read's picture; ties keep the earlier one.
            let better = r
                .closeup
                .as_ref()
                .is_none_or(|old| c.read.confidence > old.read.confidence);
            if better {
                r.closeup = Some(c);
            }
        }
    }

    /// Waits (at most `timeout`) until a picture of `event_id` has had its plate read;
    /// false on timeout or when the event is not followed.
    pub fn wait_read(&self, event_id: &str, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut g = self.lock();
        loop {
            match g.records.iter().find(|r| r.event_id == event_id) {
                Some(r) if r.pictures_read > 0 => return true,
                Some(_) => {}
                None => return false,
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            g = self
                .read
                .wait_timeout(g, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The event's plate so far: `None` when plates are not read for it.
    pub fn verdict(&self, event_id: &str) -> Option<Result<PlateInfo, PlateUnread>> {
        let g = self.lock();
        let r = g.records.iter().find(|r| r.event_id == event_id)?;
        verdict_of(r, g.plates.as_deref())
    }

    /// Plates agreed since the last call, as (event id, plate text), for the rules.
    pub fn new_plates(&self) -> Vec<(String, String)> {
        let mut g = self.lock();
        let mut out = Vec::new();
        let plates = g.plates.clone();
        let texts: Vec<Option<String>> = g
            .records
            .iter()
            .map(|r| {
                verdict_of(r, plates.as_deref())
                    .and_then(Result::ok)
                    .map(|p| p.text)
            })
            .collect();
        for (r, t) in g.records.iter_mut().zip(texts) {
            if let Some(t) = t
                && r.announced.as_deref() != Some(t.as_str())
            {
                r.announced = Some(t.clone());
                out.push((r.event_id.clone(), t));
            }
        }
        out
    }

    /// A candidate that never became an event.
    pub fn forget(&self, event_id: &str) {
        self.lock().records.retain(|r| r.event_id != event_id);
    }

    /// Fills released phases: `subject.plate` on parking phases, and on the phase that
    /// carries the pictures the close-up, the composite and `photo_set`. Ended events
    /// are forgotten afterwards.
    pub fn complete(&self, events: &mut [Event]) {
        for ev in events.iter_mut() {
            let (verdict, pending) = {
                let g = self.lock();
                let Some(r) = g.records.iter().find(|r| r.event_id == ev.id) else {
                    continue;
                };
                let has_pictures = ev
                    .media
                    .iter()
                    .any(|m| m.name == CONFIRM_WIDE || m.name == FIRST_WIDE);
                let pending = (r.kind == EventKind::IllegalParking && !r.done && has_pictures)
                    .then(|| (r.closeup.clone(), r.start, g.zones.clone()));
                (verdict_of(r, g.plates.as_deref()), pending)
            };
            match &verdict {
                Some(Ok(p)) => {
                    ev.subject.plate = Some(Some(p.clone()));
                    ev.subject.plate_unread = None;
                }
                Some(Err(u)) => {
                    ev.subject.plate = Some(None);
                    ev.subject.plate_unread = Some(u.clone());
                }
                None => {}
            }
            if let Some((closeup, start, zones)) = pending {
                match self.photo_set(ev, verdict.as_ref(), closeup.as_ref(), start, &zones) {
                    Ok(()) => {}
                    Err(e) => {
                        tracing::warn!(event = %ev.id, error = %e, "photo set incomplete");
                        ev.details
                            .insert("photo_set_error".into(), e.to_string().into());
                    }
                }
                let mut g = self.lock();
                if let Some(r) = g.records.iter_mut().find(|r| r.event_id == ev.id) {
                    r.done = true;
                }
            }
            if ev.phase == Phase::Ended {
                self.forget(&ev.id);
            }
        }
    }

    fn photo_set(
        &self,
        ev: &mut Event,
        verdict: Option<&Result<PlateInfo, PlateUnread>>,
        closeup: Option<&Closeup>,
        start: MediaTime,
        zones: &[Zone],
    ) -> Result<(), EvidenceError> {
        let dir = event_dir(&self.root, &ev.id);
        let wide: Vec<MediaRef> = [FIRST_WIDE, CONFIRM_WIDE]
            .iter()
            .filter_map(|n| ev.media.iter().find(|m| m.name == *n).cloned())
            .collect();
        let times: Vec<i64> = wide.iter().filter_map(|m| m.start_media_ns).collect();
        let interval_s = match (times.first(), times.last()) {
            (Some(a), Some(b)) if times.len() >= 2 => Some((b - a) as f64 / 1e9),
            _ => None,
        };
        let required_interval_s = ev.zone.as_ref().and_then(|z| {
            zones.iter().find(|q| q.id == z.id).and_then(|q| {
                q.rules.iter().find_map(|r| match r {
                    ZoneRule::NoParking {
                        dwell_s,
                        evidence_interval_s,
                        ..
                    } => Some(evidence_interval_s.unwrap_or(*dwell_s)),
                    _ => None,
                })
            })
        });
        let location = ev
            .zone
            .as_ref()
            .map(|z| {
                if z.location.is_empty() {
                    z.name.clone()
                } else {
                    z.location.clone()
                }
            })
            .unwrap_or_default();
        let plate_text = plate_caption(verdict);
        let at_of = |m: &MediaRef| MediaTime(m.start_media_ns.unwrap_or(start.0));
        let caption = |role: &str, at: MediaTime| Caption {
            at,
            tz: self.camera.tz,
            kind: ev.kind,
            role: role.into(),
            location: location.clone(),
            device_id: self.camera.device_id.clone(),
            camera: self.camera.camera.clone(),
            event_id: ev.id.clone(),
            plate: plate_text.clone(),
            dwell_s: Some(at.secs_since(start).max(0.0)),
        };
        let mut added = Vec::new();
        // The plate close-up, scaled up to a readable width.
        let closeup_pic = closeup.map(|c| {
            let (rgb, w, h) = upscale(&c.rgb, c.w, c.h, CLOSEUP_MIN_W);
            (rgb, w, h, c.at)
        });
        if let Some((rgb, w, h, at)) = &closeup_pic {
            let mut m = write_picture(
                &dir,
                CLOSEUP,
                MediaKind::Crop,
                rgb.clone(),
                *w,
                *h,
                Some(&caption("车牌特写", *at)),
                self.quality,
                Some(at.0),
            )?;
            m.stream = closeup.and_then(|c| c.stream);
            added.push(m);
        }
        // The composite: wide shots (without their strips), close-up, panel.
        let pictures: Vec<(Vec<u8>, u32, u32)> =
            wide.iter().filter_map(|m| load_scene(m).ok()).collect();
        let composite = if let Some((_, sw, sh)) = pictures.first() {
            let (cw, ch) = ((sw / 2).max(2), (sh / 2).max(2));
            let (w, h) = (cw * 2, ch * 2);
            let mut rgb = vec![24u8; (w * h * 3) as usize];
            let mut cells: Vec<(Vec<u8>, u32, u32)> = pictures.clone();
            while cells.len() < 2 {
                cells.push((vec![24; 12], 2, 2));
            }
            blit_fit(&mut rgb, w, 0, 0, cw, ch, &cells[0]);
            blit_fit(&mut rgb, w, cw, 0, cw, ch, &cells[cells.len() - 1]);
            if let Some((c, cwid, chei, _)) = &closeup_pic {
                blit_fit(&mut rgb, w, 0, ch, cw, ch, &(c.clone(), *cwid, *chei));
            } else if let Ok(f) = font() {
                let mut canvas = Canvas {
                    data: &mut rgb,
                    width: w,
                    height: h,
                };
                f.draw_fit(
                    &mut canvas,
                    0.0,
                    ch as f32,
                    cw as f32,
                    ch as f32,
                    "无车牌特写",
                    ch as f32 / 6.0,
                    [200, 200, 200],
                );
            }
            let first_at = wide.first().map(at_of).unwrap_or(start);
            let last_at = wide.last().map(at_of).unwrap_or(start);
            let lines = panel_lines(
                ev,
                verdict,
                &location,
                &self.camera,
                first_at,
                last_at,
                interval_s,
                required_interval_s,
            );
            draw_panel(&mut rgb, w, h, cw, ch, &lines);
            let m = write_picture(
                &dir,
                COMPOSITE,
                MediaKind::Snapshot,
                rgb,
                w,
                h,
                Some(&caption("合成", last_at)),
                self.quality,
                Some(last_at.0),
            )?;
            Some(m)
        } else {
            None
        };
        let set = PhotoSet {
            wide: wide.iter().map(|m| m.name.clone()).collect(),
            interval_s,
            required_interval_s,
            plate_closeup: added.first().map(|m| m.name.clone()),
            composite: composite.as_ref().map(|m| m.name.clone()),
        };
        ev.media.extend(added);
        ev.media.extend(composite);
        ev.photo_set = Some(set);
        Ok(())
    }
}

fn verdict_of(r: &Record, plates: Option<&PlateService>) -> Option<Result<PlateInfo, PlateUnread>> {
    if !r.reads_plates {
        return None;
    }
    if let Some(u) = &r.unavailable {
        return Some(Err(u.clone()));
    }
    Some(consensus(&r.frames, &plates?.cfg))
}

/// How a caption names the plate: "粤G12345（蓝）", or why there is none.
pub fn plate_caption(verdict: Option<&Result<PlateInfo, PlateUnread>>) -> Option<String> {
    match verdict? {
        Ok(p) => Some(format!("{}（{}）", p.text, p.colour.zh())),
        Err(u) => Some(format!("未识别（{}）", reason_zh(u.reason))),
    }
}

/// Chinese name of a missing-plate reason.
pub fn reason_zh(r: PlateUnreadReason) -> &'static str {
    match r {
        PlateUnreadReason::NoPlateVisible => "未见车牌",
        PlateUnreadReason::TooSmall => "车牌过小",
        PlateUnreadReason::LowConfidence => "置信度低",
        PlateUnreadReason::ReaderUnavailable => "识别模型不可用",
    }
}

/// Chinese role of a picture by its name.
fn role_of(name: &str, kind: EventKind) -> String {
    match (name, kind) {
        ("first-stationary", _) => "首次静止".into(),
        ("half-dwell", _) => "停留中".into(),
        ("confirmation", EventKind::IllegalParking) => "确认违停".into(),
        ("confirmation", _) => "确认".into(),
        ("ended", _) => "结束".into(),
        ("litter", _) => "乱扔垃圾".into(),
        ("garbage", _) => "暴露垃圾".into(),
        ("damage", _) => "道路破损".into(),
        (other, _) => other.to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
fn panel_lines(
    ev: &Event,
    verdict: Option<&Result<PlateInfo, PlateUnread>>,
    location: &str,
    cam: &CameraCaption,
    first: MediaTime,
    last: MediaTime,
    interval_s: Option<f64>,
    required_s: Option<f64>,
) -> Vec<String> {
    let mut l = vec![
        format!("{}取证", super::labels::kind_zh(ev.kind)),
        format!(
            "车牌：{}",
            plate_caption(verdict).unwrap_or_else(|| "—".into())
        ),
        format!("地点：{location}"),
        format!("首次静止：{}", local_time(first, cam.tz)),
        format!("确认违停：{}", local_time(last, cam.tz)),
    ];
    if let Some(i) = interval_s {
        let req = required_s.map_or(String::new(), |r| format!("（要求 ≥ {r:.0} 秒）"));
        l.push(format!("两张全景间隔：{i:.0} 秒{req}"));
    }
    l.push(format!("设备：{}", cam.device_id));
    l.push(format!("摄像机：{}", cam.camera));
    l.push(format!("事件：{}", ev.id));
    l
}

/// The information panel in the bottom-right cell.
fn draw_panel(rgb: &mut [u8], w: u32, h: u32, cw: u32, ch: u32, lines: &[String]) {
    let Ok(f) = font() else {
        return;
    };
    let mut c = Canvas {
        data: rgb,
        width: w,
        height: h,
    };
    c.fill(
        i64::from(cw),
        i64::from(ch),
        i64::from(w),
        i64::from(h),
        [16, 40, 90],
    );
    let pad = cw as f32 / 24.0;
    let avail_w = cw as f32 - 2.0 * pad;
    // Title and plate lines are larger; everything must fit the cell.
    let weights: Vec<f32> = (0..lines.len())
        .map(|i| if i < 2 { 1.5 } else { 1.0 })
        .collect();
    let total: f32 = weights.iter().sum::<f32>() * 1.25;
    let mut px = (ch as f32 - 2.0 * pad) / total / f.measure("国", 1.0).height.max(0.5);
    for (line, wgt) in lines.iter().zip(&weights) {
        let need = f.measure(line, px * wgt).width;
        if need > avail_w {
            px *= avail_w / need;
        }
    }
    let mut y = ch as f32 + pad;
    for (i, (line, wgt)) in lines.iter().zip(&weights).enumerate() {
        let size = px * wgt;
        let colour = if i == 1 {
            [255, 230, 80]
        } else {
            [255, 255, 255]
        };
        f.draw(&mut c, cw as f32 + pad, y, line, size, colour);
        y += f.measure(line, size).height * 1.25;
    }
}

/// The scene part of a written picture (its caption strip cut off).
fn load_scene(m: &MediaRef) -> Result<(Vec<u8>, u32, u32), EvidenceError> {
    let path = m
        .local_path
        .as_ref()
        .ok_or_else(|| EvidenceError::Jpeg(format!("{}: no local file", m.name)))?;
    let img = image::open(path)
        .map_err(|e| EvidenceError::Jpeg(format!("{}: {e}", path.display())))?
        .to_rgb8();
    let (w, h) = img.dimensions();
    let scene_h = h.saturating_sub(m.caption_px.unwrap_or(0)).max(1);
    let mut rgb = img.into_raw();
    rgb.truncate((w * scene_h * 3) as usize);
    Ok((rgb, w, scene_h))
}

fn upscale(rgb: &[u8], w: u32, h: u32, min_w: u32) -> (Vec<u8>, u32, u32) {
    if w >= min_w || w == 0 || h == 0 {
        return (rgb.to_vec(), w, h);
    }
    let nh = ((u64::from(h) * u64::from(min_w)) / u64::from(w)).max(1) as u32;
    let img = image::RgbImage::from_raw(w, h, rgb.to_vec()).expect("sizes match");
    let out = image::imageops::resize(&img, min_w, nh, image::imageops::FilterType::CatmullRom);
    (out.into_raw(), min_w, nh)
}

/// Draws `pic` scaled to fit (aspect kept, centred) into the cell at (x, y).
fn blit_fit(
    dst: &mut [u8],
    dst_w: u32,
    x: u32,
    y: u32,
    cw: u32,
    ch: u32,
    pic: &(Vec<u8>, u32, u32),
) {
    let (src, sw, sh) = pic;
    if *sw == 0 || *sh == 0 {
        return;
    }
    let scale = (cw as f32 / *sw as f32).min(ch as f32 / *sh as f32);
    let (nw, nh) = (
        ((*sw as f32 * scale) as u32).clamp(1, cw),
        ((*sh as f32 * scale) as u32).clamp(1, ch),
    );
    let Some(img) = image::RgbImage::from_raw(*sw, *sh, src.clone()) else {
        return;
    };
    let small = image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle);
    let (ox, oy) = (x + (cw - nw) / 2, y + (ch - nh) / 2);
    for row in 0..nh {
        let s = (row * nw * 3) as usize;
        let d = (((oy + row) * dst_w + ox) * 3) as usize;
        dst[d..d + (nw * 3) as usize].copy_from_slice(&small.as_raw()[s..s + (nw * 3) as usize]);
    }
}

/// The location text of the zone(s) the subject stands in.
fn location_of(zones: &[&Zone]) -> String {
    zones
        .iter()
        .find(|z| !z.location.is_empty())
        .map(|z| z.location.clone())
        .or_else(|| {
            zones.first().map(|z| {
                if z.name.is_empty() {
                    z.id.clone()
                } else {
                    z.name.clone()
                }
            })
        })
        .unwrap_or_default()
}

/// A picture job with context: privacy masking, plate reads on its frames (the last
/// of which is the picture's own), the captioned snapshot and crop.
pub fn run_picture(
    dir: &Path,
    event_id: &str,
    mut frames: Vec<RgbFrame>,
    spec: &SnapshotSpec<'_>,
    ctx: &PictureContext,
    stream: Option<StreamRole>,
) -> Result<Vec<MediaRef>, EvidenceError> {
    for f in &mut frames {
        black_out_zones(&mut f.data, f.width, f.height, spec.zones)?;
    }
    let main = frames.last().ok_or_else(|| EvidenceError::NothingInRing {
        what: spec.name.to_string(),
    })?;
    let (aw, ah) = if spec.analysis_w == 0 {
        (main.width, main.height)
    } else {
        (spec.analysis_w, spec.analysis_h)
    };
    let zones = zones_of(spec.zones, &spec.subject, None, aw, ah);
    let location = location_of(&zones);
    // Plate reads, on every decoded frame, in main-stream pixels.
    let mut own: Option<PlateRead> = None;
    if let Some(svc) = &ctx.plates {
        let mut reads = Vec::new();
        let mut best: Option<Closeup> = None;
        let mut failed = None;
        for f in &frames {
            let vehicle = map_box(
                &spec.subject,
                spec.analysis_w,
                spec.analysis_h,
                f.width,
                f.height,
            );
            let view = RgbView {
                data: &f.data,
                width: f.width,
                height: f.height,
            };
            match svc.read_frame(&view, &vehicle) {
                Ok(r) => {
                    if let Some(p) = r.counted()
                        && best
                            .as_ref()
                            .is_none_or(|b| p.confidence > b.read.confidence)
                    {
                        // The plate with room around it: the bumper and the vehicle's
                        // colour belong to the close-up.
                        let (rgb, w, h) =
                            crop(&f.data, f.width, f.height, &p.plate.bbox, (0.35, 0.9));
                        best = Some(Closeup {
                            rgb,
                            w,
                            h,
                            read: p.clone(),
                            at: f.time,
                            stream,
                        });
                    }
                    reads.push(r);
                }
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            tracing::warn!(event = %event_id, error = %e, "plate read failed");
        }
        own = best.as_ref().map(|b| b.read.clone());
        ctx.sets.add(event_id, reads, best);
    }
    let plate = if ctx.kind == EventKind::IllegalParking && ctx.sets.verdict(event_id).is_some() {
        Some(match (&own, &ctx.plates) {
            (Some(r), _) => format!("{}（{}）", r.text, r.colour.zh()),
            // A picture that reads plates says what its own frames gave; the others
            // (the car leaving) show what the case has agreed so far.
            (None, Some(_)) => "未识别".to_string(),
            (None, None) => plate_caption(ctx.sets.verdict(event_id).as_ref())
                .unwrap_or_else(|| "未识别".into()),
        })
    } else {
        None
    };
    let main = frames.pop().expect("checked above");
    let start = ctx.sets.start_of(event_id).unwrap_or(main.time);
    let caption = Caption {
        at: main.time,
        tz: ctx.camera.tz,
        kind: ctx.kind,
        role: role_of(spec.name, ctx.kind),
        location,
        device_id: ctx.camera.device_id.clone(),
        camera: ctx.camera.camera.clone(),
        event_id: event_id.to_string(),
        plate,
        dwell_s: Some(main.time.secs_since(start).max(0.0)),
    };
    write_snapshot(dir, main, spec, Some(&caption))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_is_named_with_its_id_when_they_differ() {
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(
            CameraCaption::new("d", "cam1", "东门", tz).camera,
            "东门 (cam1)"
        );
        assert_eq!(CameraCaption::new("d", "cam1", "", tz).camera, "cam1");
    }

    #[test]
    fn a_small_closeup_is_scaled_up_and_a_cell_is_filled_centred() {
        let (rgb, w, h) = upscale(&[200; 100 * 30 * 3], 100, 30, 480);
        assert_eq!((w, h, rgb.len()), (480, 144, 480 * 144 * 3));
        let mut dst = vec![0u8; 40 * 40 * 3];
        blit_fit(
            &mut dst,
            40,
            0,
            0,
            40,
            40,
            &(vec![255; 20 * 10 * 3], 20, 10),
        );
        // 40x20 picture centred vertically: rows 10..30 lit, row 5 dark.
        assert_eq!(dst[(5 * 40 + 20) * 3], 0);
        assert_eq!(dst[(20 * 40 + 20) * 3], 255);
    }
}
