//! Evidence jobs: evidence that can only be written later. A clip needs the post-roll,
//! which the camera has not sent yet when the event is confirmed; a snapshot needs the
//! ring to hold the frame. Jobs wait, *in media time*, until the ring's newest unit
//! reaches what they need, then run on the evidence thread, never on the analysis
//! thread.
//!
//! A camera with two streams cuts evidence from its main stream (full resolution).
//! While that stream is down (its supervisor says it is not online) and has not
//! reached the moment a job needs, the job falls back to the analysis stream's ring
//! (see [`DualRing`]); what it writes then says `stream: analysis` and its event is
//! marked `main_stream_unavailable`. Both streams are on one timeline (see
//! `ingest::timeline`), so a snapshot shows the instant the analysed frame showed, on
//! either stream, to within [`ALIGN_SLACK`].
//!
//! Memory is bounded twice: the submit channel has a fixed depth and the worker keeps
//! at most `max_pending_jobs` waiting jobs; beyond that a job is refused with
//! [`EvidenceError::Busy`] (reported through the completion callback) instead of
//! queued.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use gstreamer as gst;

use super::clip::{write_clip, write_redacted_clip};
use super::decode::{frame_at, frames_before};
use super::files::event_dir;
use super::photoset::{PictureContext, run_picture};
use super::snapshot::{SnapshotSpec, write_snapshot};
use super::{EvidenceConfig, EvidenceError};
use crate::infer::BBox;
use crate::ingest::camera::StreamRole;
use crate::ingest::pipeline::CameraShared;
use crate::ingest::timeline::ClockJump;
use crate::ingest::{EncodedRing, MediaTime, RingCut};
use crate::rules::EvidenceRequest;
use crate::rules::event::{MediaKind, MediaRef, MissingMedia};
use crate::rules::output::CaptureRequest;
use crate::rules::zone::Zone;

/// How far apart (media time) the same instant may be on a camera's two streams, and
/// so how far past its moment a snapshot looks for the nearest picture: both streams
/// are on the camera's NTP timeline, where one instant differs by milliseconds.
pub const ALIGN_SLACK: Duration = Duration::from_millis(100);

fn slack() -> f64 {
    ALIGN_SLACK.as_secs_f64()
}

/// Where jobs read encoded video from: a camera's ring, or any ring in tests.
pub trait RingSource: Send + Sync {
    /// Media time of the newest unit.
    fn newest(&self) -> Option<MediaTime>;
    fn cut(&self, from: MediaTime, to: MediaTime) -> Option<RingCut>;
    fn caps(&self) -> Option<gst::Caps>;
    /// Whether the stream delivers now. A job waits for an online stream to reach its
    /// moment; it falls back (see [`RingSource::fallback`]) only when it is not.
    fn online(&self) -> bool {
        true
    }
    /// For a camera with two streams: the analysis stream's ring, which evidence uses
    /// while this (main) stream is unavailable.
    fn fallback(&self) -> Option<&dyn RingSource> {
        None
    }
    /// Which of a camera's two streams this ring holds (`None`: its only stream).
    fn role(&self) -> Option<StreamRole> {
        None
    }
    /// The stream's picture size, from its caps.
    fn size(&self) -> Option<(u32, u32)> {
        let caps = self.caps()?;
        let s = caps.structure(0)?;
        Some((
            s.get::<i32>("width").ok()? as u32,
            s.get::<i32>("height").ok()? as u32,
        ))
    }
    /// The largest clock jump found on the camera's analysis stream since `start`
    /// (see `ingest::timeline`); `None` where nothing looks for jumps (replays).
    fn clock_jump_since(&self, _start: MediaTime) -> Option<ClockJump> {
        None
    }
}

impl RingSource for CameraShared {
    fn newest(&self) -> Option<MediaTime> {
        self.ring.lock().ok()?.newest().map(|u| u.time)
    }
    fn cut(&self, from: MediaTime, to: MediaTime) -> Option<RingCut> {
        self.ring.lock().ok()?.cut(from, to)
    }
    fn caps(&self) -> Option<gst::Caps> {
        self.ring_caps.lock().ok()?.clone()
    }
    fn online(&self) -> bool {
        self.online.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn clock_jump_since(&self, start: MediaTime) -> Option<ClockJump> {
        self.jumps.largest_since(start)
    }
}

/// The rings of a camera with two streams: the main stream's, with the analysis
/// stream's as the fallback.
pub struct DualRing {
    pub main: Arc<CameraShared>,
    analysis: AnalysisRing,
}

/// The analysis stream's ring, as a fallback.
struct AnalysisRing(Arc<CameraShared>);

impl DualRing {
    pub fn new(main: Arc<CameraShared>, analysis: Arc<CameraShared>) -> Self {
        Self {
            main,
            analysis: AnalysisRing(analysis),
        }
    }
}

impl RingSource for DualRing {
    fn newest(&self) -> Option<MediaTime> {
        self.main.newest()
    }
    fn cut(&self, from: MediaTime, to: MediaTime) -> Option<RingCut> {
        self.main.cut(from, to)
    }
    fn caps(&self) -> Option<gst::Caps> {
        self.main.caps()
    }
    fn online(&self) -> bool {
        self.main.online()
    }
    fn fallback(&self) -> Option<&dyn RingSource> {
        Some(&self.analysis)
    }
    fn role(&self) -> Option<StreamRole> {
        Some(StreamRole::Main)
    }
    fn clock_jump_since(&self, start: MediaTime) -> Option<ClockJump> {
        self.analysis.0.clock_jump_since(start)
    }
}

impl RingSource for AnalysisRing {
    fn newest(&self) -> Option<MediaTime> {
        self.0.newest()
    }
    fn cut(&self, from: MediaTime, to: MediaTime) -> Option<RingCut> {
        self.0.cut(from, to)
    }
    fn caps(&self) -> Option<gst::Caps> {
        self.0.caps()
    }
    fn online(&self) -> bool {
        self.0.online()
    }
    fn role(&self) -> Option<StreamRole> {
        Some(StreamRole::Analysis)
    }
}

/// A ring with fixed caps, for tools and tests.
#[derive(Debug)]
pub struct MemoryRing {
    pub ring: Mutex<EncodedRing>,
    pub caps: gst::Caps,
}

impl RingSource for MemoryRing {
    fn newest(&self) -> Option<MediaTime> {
        self.ring.lock().ok()?.newest().map(|u| u.time)
    }
    fn cut(&self, from: MediaTime, to: MediaTime) -> Option<RingCut> {
        self.ring.lock().ok()?.cut(from, to)
    }
    fn caps(&self) -> Option<gst::Caps> {
        Some(self.caps.clone())
    }
}

/// What a job produces.
#[derive(Debug, Clone)]
pub enum JobKind {
    Snapshot {
        name: String,
        at: MediaTime,
        subject: BBox,
        label: String,
        context: Vec<(BBox, String)>,
        analysis_w: u32,
        analysis_h: u32,
    },
    Clip {
        name: String,
        from: MediaTime,
        to: MediaTime,
    },
}

/// One piece of evidence to write for an event.
#[derive(Debug, Clone)]
pub struct EvidenceJob {
    pub event_id: String,
    pub kind: JobKind,
    /// `<evidence dir>/<event id>/`.
    pub dir: PathBuf,
    /// The camera's zones when the job was made (privacy masking).
    pub zones: Vec<Zone>,
    pub jpeg_quality: u8,
    pub redacted_clip: bool,
    /// What the ring held for this job when it was submitted (see [`Self::capture`]).
    pub captured: Option<RingCut>,
    /// The same from the fallback ring (the analysis stream of a camera with two).
    pub captured_fallback: Option<RingCut>,
    /// Captions, plate reads and the photo set (set by the camera's analysis; `None`
    /// writes plain snapshots, as tools and tests of the ring do).
    pub picture: Option<PictureContext>,
}

/// The outcome of a job, handed to the completion callback.
#[derive(Debug)]
pub struct JobResult {
    pub event_id: String,
    /// The files written.
    pub media: Vec<MediaRef>,
    /// The files the job was to write but could not, each with its reason; the event
    /// carries them as `media_missing` and the outbox counts them.
    pub missing: Vec<MissingMedia>,
}

impl JobResult {
    /// A job that wrote nothing: every file it expected is missing because of `error`.
    pub fn failed(event_id: &str, expected: &[(String, MediaKind)], error: &EvidenceError) -> Self {
        JobResult {
            event_id: event_id.to_string(),
            media: Vec::new(),
            missing: expected
                .iter()
                .map(|(name, kind)| missing(name, *kind, error))
                .collect(),
        }
    }

    /// The first problem, for a log line.
    pub fn error(&self) -> Option<String> {
        self.missing.first().map(|m| {
            format!(
                "{} ({}): {}",
                m.name,
                m.reason.as_str(),
                m.detail.as_deref().unwrap_or("")
            )
        })
    }
}

fn missing(name: &str, kind: MediaKind, e: &EvidenceError) -> MissingMedia {
    MissingMedia {
        name: name.to_string(),
        kind,
        reason: e.loss(),
        detail: Some(e.detail()),
    }
}

impl EvidenceJob {
    /// The job for a façade request, writing under `root/<event id>/`.
    pub fn from_request(
        req: &EvidenceRequest,
        root: &Path,
        zones: &[Zone],
        cfg: &EvidenceConfig,
    ) -> Self {
        let kind = match &req.capture {
            CaptureRequest::Snapshot { name, at, bbox } => JobKind::Snapshot {
                name: format!("{}{name}", req.prefix),
                at: *at,
                subject: *bbox,
                label: req.label.clone(),
                context: req.context.clone(),
                analysis_w: req.frame_w,
                analysis_h: req.frame_h,
            },
            CaptureRequest::Clip {
                name,
                center,
                pre_s,
                post_s,
            } => JobKind::Clip {
                name: format!("{}{name}", req.prefix),
                from: center.add_secs(-pre_s),
                to: center.add_secs(*post_s),
            },
        };
        Self {
            event_id: req.event_id.clone(),
            kind,
            dir: event_dir(root, &req.event_id),
            zones: zones.to_vec(),
            jpeg_quality: cfg.jpeg_quality,
            redacted_clip: cfg.redacted_clip,
            captured: None,
            captured_fallback: None,
            picture: None,
        }
    }

    /// Takes what the ring already holds for this job, at once. Units are shared
    /// (`Arc`), so this costs a lock and some pointer copies; it makes the job immune
    /// to the ring evicting its start while it waits for post-roll, and lets a file
    /// replay run faster than real time without losing snapshots.
    pub fn capture(&mut self, ring: &dyn RingSource) {
        self.captured = self.capture_from(ring);
        if let Some(fb) = ring.fallback() {
            self.captured_fallback = self.capture_from(fb);
        }
    }

    fn capture_from(&self, ring: &dyn RingSource) -> Option<RingCut> {
        let newest = ring.newest()?;
        let (from, to) = self.window();
        match &self.kind {
            JobKind::Snapshot { at, .. } if newest >= *at => ring.cut(from, to),
            JobKind::Snapshot { .. } => None,
            JobKind::Clip { .. } => ring.cut(from, newest.min(to)),
        }
    }

    /// The media time the job's units span: a clip's window; a snapshot's moment up
    /// to [`ALIGN_SLACK`] after it (the other stream's picture of the same instant may
    /// be stamped a little later).
    fn window(&self) -> (MediaTime, MediaTime) {
        match &self.kind {
            JobKind::Snapshot { at, .. } => (*at, at.add_secs(slack())),
            JobKind::Clip { from, to, .. } => (*from, *to),
        }
    }

    /// Extends the captured units with what arrived since, so a job waiting for
    /// post-roll never depends on the ring still holding its beginning: the worker
    /// tops jobs up on every poll, so it only has to poll once per ring span.
    pub fn top_up(&mut self, ring: &dyn RingSource) {
        let (from, to) = self.window();
        if self.captured.is_some() {
            self.captured = units_for(&self.captured, ring, from, to);
        }
        if let Some(fb) = ring.fallback()
            && self.captured_fallback.is_some()
        {
            self.captured_fallback = units_for(&self.captured_fallback, fb, from, to);
        }
    }

    /// The units to use from the main ring (see [`units_for`]).
    fn units_for(&self, ring: &dyn RingSource, from: MediaTime, to: MediaTime) -> Option<RingCut> {
        units_for(&self.captured, ring, from, to)
    }
}

/// The units to use: the captured head, extended with what the ring holds now after
/// the head's last unit (in decode order).
fn units_for(
    captured: &Option<RingCut>,
    ring: &dyn RingSource,
    from: MediaTime,
    to: MediaTime,
) -> Option<RingCut> {
    let Some(head) = captured else {
        return ring.cut(from, to);
    };
    let mut cut = head.clone();
    // The head's last unit, found again in the ring, is where the new units
    // continue; if the ring no longer has it, the clip ends with the head.
    if let (Some(last), Some(now)) = (head.units.last(), ring.cut(head.end, to))
        && let Some(i) = now
            .units
            .iter()
            .position(|u| u.pts_ns == last.pts_ns && u.dts_ns == last.dts_ns)
    {
        cut.units.extend(now.units[i + 1..].iter().cloned());
    }
    cut.units.retain(|u| u.time <= to);
    cut.end = cut.units.iter().map(|u| u.time).max().unwrap_or(cut.start);
    Some(cut)
}

impl EvidenceJob {
    /// Media time the ring must have reached before the job can run.
    pub fn needs_until(&self) -> MediaTime {
        match &self.kind {
            JobKind::Snapshot { at, .. } => *at,
            JobKind::Clip { to, .. } => *to,
        }
    }

    /// Whether `ring` holds what the job needs, or, while it is not online, its
    /// fallback does.
    pub fn ready(&self, ring: &dyn RingSource) -> bool {
        let reached = |r: &dyn RingSource| r.newest().is_some_and(|n| n >= self.needs_until());
        reached(ring) || (!ring.online() && ring.fallback().is_some_and(reached))
    }

    /// Whether to cut this job from the fallback ring: the main stream is not online
    /// and its ring does not hold the job's moment (a snapshot), or does not reach
    /// its end (a clip), while the fallback's does.
    fn use_fallback(&self, ring: &dyn RingSource) -> bool {
        let Some(fb) = ring.fallback() else {
            return false;
        };
        let (from, to) = self.window();
        let covers = |cut: Option<RingCut>| match &self.kind {
            JobKind::Snapshot { at, .. } => {
                cut.is_some_and(|c| c.start <= *at && c.end.secs_since(*at) >= -slack())
            }
            JobKind::Clip { to, .. } => cut.is_some_and(|c| c.end.secs_since(*to) >= -slack()),
        };
        let main = self.units_for(ring, from, to);
        if covers(main.clone()) {
            return false;
        }
        // An online main stream that lags is waited for (see `ready`); one whose ring
        // has a hole where the moment was (it reconnected since) is not.
        let lagging = ring.online() && ring.newest().is_none_or(|n| n < self.needs_until());
        if lagging {
            return false;
        }
        let fallback = units_for(&self.captured_fallback, fb, from, to);
        // A clip that neither ring holds whole (the fallback's head aged out while the
        // worker was busy) comes from the one that reaches further past the loss.
        let further = matches!(self.kind, JobKind::Clip { .. })
            && fallback
                .as_ref()
                .is_some_and(|f| main.as_ref().is_none_or(|m| f.end > m.end));
        further || covers(fallback)
    }

    /// The files this job writes, with their kind: what is missing if it fails.
    pub fn expected(&self) -> Vec<(String, MediaKind)> {
        match &self.kind {
            JobKind::Snapshot { name, .. } => vec![
                (format!("{name}.jpg"), MediaKind::Snapshot),
                (format!("{name}-crop.jpg"), MediaKind::Crop),
            ],
            JobKind::Clip { name, .. } => {
                let mut v = vec![(format!("{name}.mp4"), MediaKind::Clip)];
                if self.redacted_clip && self.zones.iter().any(Zone::is_privacy) {
                    v.push((format!("{name}-redacted.mp4"), MediaKind::Clip));
                }
                v
            }
        }
    }

    /// Writes the evidence from what the ring holds now; the first failure is the error.
    pub fn run(&self, ring: &dyn RingSource) -> Result<Vec<MediaRef>, EvidenceError> {
        let (media, mut errors) = self.produce(ring);
        match errors.drain(..).next() {
            Some((_, _, e)) => Err(e),
            None => Ok(media),
        }
    }

    /// Writes what it can from what the ring holds now: each file on its own, so a
    /// failure costs only the files it touched, and every expected file is either
    /// written or reported missing with its reason.
    pub fn outcome(&self, ring: &dyn RingSource) -> JobResult {
        let (media, errors) = self.produce(ring);
        JobResult {
            event_id: self.event_id.clone(),
            media,
            missing: errors
                .iter()
                .map(|(name, kind, e)| missing(name, *kind, e))
                .collect(),
        }
    }

    #[allow(clippy::type_complexity)]
    fn produce(
        &self,
        ring: &dyn RingSource,
    ) -> (Vec<MediaRef>, Vec<(String, MediaKind, EvidenceError)>) {
        let expected = self.expected();
        let all_failed = |e: EvidenceError| {
            let errors = expected
                .iter()
                .map(|(name, kind)| (name.clone(), *kind, clone_error(&e)))
                .collect();
            (Vec::new(), errors)
        };
        // The stream to cut from: the main one, unless it is down (see `use_fallback`).
        let (ring, captured, role) = if self.use_fallback(ring) {
            let fb = ring.fallback().expect("use_fallback checked it");
            (fb, &self.captured_fallback, fb.role())
        } else {
            (ring, &self.captured, ring.role())
        };
        let caps = match ring.caps() {
            Some(c) => c,
            None => return all_failed(EvidenceError::NoCaps),
        };
        let privacy = self.zones.iter().any(Zone::is_privacy);
        let mut media = Vec::new();
        let mut errors = Vec::new();
        match &self.kind {
            JobKind::Snapshot {
                name,
                at,
                subject,
                label,
                context,
                analysis_w,
                analysis_h,
            } => {
                let (from, to) = self.window();
                let result = units_for(captured, ring, from, to)
                    .ok_or_else(|| EvidenceError::NothingInRing { what: name.clone() })
                    .and_then(|cut| {
                        let spec = SnapshotSpec {
                            name,
                            subject: *subject,
                            label,
                            context,
                            analysis_w: *analysis_w,
                            analysis_h: *analysis_h,
                            zones: &self.zones,
                            jpeg_quality: self.jpeg_quality,
                        };
                        match &self.picture {
                            Some(ctx) => {
                                // Plate reads look at the picture's frame and the ones
                                // just before it, decoded in the same pass.
                                let n = ctx
                                    .plates
                                    .as_ref()
                                    .map_or(1, |p| p.cfg.frames_per_picture as usize);
                                let frames = frames_before(&caps, &cut.units, *at, n)?;
                                run_picture(&self.dir, &self.event_id, frames, &spec, ctx, role)
                            }
                            None => {
                                let frame = frame_at(&caps, &cut.units, *at)?;
                                write_snapshot(&self.dir, frame, &spec, None)
                            }
                        }
                    });
                match result {
                    Ok(m) => media.extend(m),
                    Err(e) => {
                        // The picture and its crop go together: one that was written
                        // before the other failed is removed, and both are reported
                        // missing (never a file on disk the outbox does not know).
                        for (file, _) in &expected {
                            let _ = std::fs::remove_file(self.dir.join(file));
                        }
                        return all_failed(e);
                    }
                }
            }
            JobKind::Clip { name, from, to } => {
                let Some(cut) = units_for(captured, ring, *from, *to) else {
                    return all_failed(EvidenceError::NothingInRing { what: name.clone() });
                };
                let file = format!("{name}.mp4");
                match write_clip(&self.dir, &file, &caps, &cut, privacy) {
                    Ok(m) => media.push(m),
                    Err(e) => errors.push((file, MediaKind::Clip, e)),
                }
                if privacy && self.redacted_clip {
                    let file = format!("{name}-redacted.mp4");
                    match write_redacted_clip(&self.dir, &file, &caps, &cut, &self.zones) {
                        Ok(m) => media.push(m),
                        Err(e) => errors.push((file, MediaKind::Clip, e)),
                    }
                }
            }
        }
        for m in &mut media {
            m.stream = role;
        }
        (media, errors)
    }
}

/// A copy of an error for a second file that failed for the same reason (the source
/// of an I/O error is rebuilt from its kind, OS code and text).
fn clone_error(e: &EvidenceError) -> EvidenceError {
    match e {
        EvidenceError::Io { path, source } => EvidenceError::Io {
            path: path.clone(),
            source: match source.raw_os_error() {
                Some(code) => std::io::Error::from_raw_os_error(code),
                None => std::io::Error::new(source.kind(), source.to_string()),
            },
        },
        EvidenceError::NothingInRing { what } => {
            EvidenceError::NothingInRing { what: what.clone() }
        }
        EvidenceError::NoCaps => EvidenceError::NoCaps,
        EvidenceError::Gst { stage, reason } => EvidenceError::Gst {
            stage,
            reason: reason.clone(),
        },
        EvidenceError::Jpeg(r) => EvidenceError::Jpeg(r.clone()),
        EvidenceError::Busy(n) => EvidenceError::Busy(*n),
        EvidenceError::DiskFull { path, reason } => EvidenceError::DiskFull {
            path: path.clone(),
            reason: reason.clone(),
        },
        other => EvidenceError::Gst {
            stage: "evidence",
            reason: other.to_string(),
        },
    }
}

enum Msg {
    Job(Box<EvidenceJob>),
    Stop,
}

/// The evidence thread of one camera.
pub struct EvidenceWorker {
    ring: Arc<dyn RingSource>,
    max_pending: usize,
    tx: SyncSender<Msg>,
    handle: Option<JoinHandle<()>>,
}

/// Poll interval while jobs wait for the ring.
const POLL: Duration = Duration::from_millis(200);

impl EvidenceWorker {
    /// Starts the worker. `on_done` runs on the worker thread for every job.
    pub fn spawn(
        ring: Arc<dyn RingSource>,
        max_pending: usize,
        on_done: impl FnMut(JobResult) + Send + 'static,
    ) -> Self {
        Self::spawn_with_heartbeat(ring, max_pending, None, on_done)
    }

    /// [`EvidenceWorker::spawn`] whose thread bumps `heartbeat` on every turn of its
    /// loop (the systemd watchdog notices a wedged evidence thread) and retires it when
    /// it stops on purpose.
    pub fn spawn_with_heartbeat(
        ring: Arc<dyn RingSource>,
        max_pending: usize,
        heartbeat: Option<crate::notify::Heartbeat>,
        mut on_done: impl FnMut(JobResult) + Send + 'static,
    ) -> Self {
        let max_pending = max_pending.max(1);
        let (tx, rx) = sync_channel::<Msg>(max_pending);
        let shared = ring.clone();
        let handle = std::thread::Builder::new()
            .name("evidence".into())
            .spawn(move || {
                worker(
                    rx,
                    shared.as_ref(),
                    max_pending,
                    heartbeat.as_ref(),
                    &mut on_done,
                );
                if let Some(h) = heartbeat {
                    h.retire();
                }
            })
            .expect("cannot start the evidence thread");
        Self {
            ring,
            max_pending,
            tx,
            handle: Some(handle),
        }
    }

    /// Captures what the ring holds for the job now (see [`EvidenceJob::capture`]) and
    /// hands it over without blocking; a full queue refuses it.
    pub fn submit(&self, mut job: EvidenceJob) -> Result<(), EvidenceError> {
        if job.captured.is_none() {
            job.capture(self.ring.as_ref());
        }
        match self.tx.try_send(Msg::Job(Box::new(job))) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                Err(EvidenceError::Busy(self.max_pending))
            }
        }
    }

    /// Runs every waiting job with what the ring holds, then stops.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            // A blocking send: the worker drains its channel while running jobs.
            let _ = self.tx.send(Msg::Stop);
            let _ = h.join();
        }
    }
}

impl Drop for EvidenceWorker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn worker(
    rx: Receiver<Msg>,
    ring: &dyn RingSource,
    max_pending: usize,
    heartbeat: Option<&crate::notify::Heartbeat>,
    on_done: &mut dyn FnMut(JobResult),
) {
    let mut pending: Vec<EvidenceJob> = Vec::new();
    let mut stopping = false;
    loop {
        if let Some(h) = heartbeat {
            h.bump();
        }
        match rx.recv_timeout(POLL) {
            Ok(Msg::Job(job)) => {
                if pending.len() >= max_pending {
                    on_done(JobResult::failed(
                        &job.event_id,
                        &job.expected(),
                        &EvidenceError::Busy(max_pending),
                    ));
                } else {
                    pending.push(*job);
                }
            }
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => stopping = true,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let mut i = 0;
        while i < pending.len() {
            if stopping || pending[i].ready(ring) {
                let job = pending.swap_remove(i);
                on_done(job.outcome(ring));
            } else {
                pending[i].top_up(ring);
                i += 1;
            }
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn clip_job(id: &str) -> EvidenceJob {
        EvidenceJob {
            event_id: id.into(),
            kind: JobKind::Clip {
                name: "clip".into(),
                from: MediaTime(0),
                to: MediaTime(10),
            },
            dir: PathBuf::from("/nonexistent"),
            zones: vec![],
            jpeg_quality: 85,
            redacted_clip: false,
            captured: None,
            captured_fallback: None,
            picture: None,
        }
    }

    #[test]
    fn jobs_beyond_the_pending_bound_are_refused_not_queued() {
        crate::gst_init();
        let ring = Arc::new(MemoryRing {
            ring: Mutex::new(EncodedRing::new(10.0, 1 << 20)),
            caps: gst::Caps::new_empty_simple("video/x-h264"),
        });
        let (tx, rx) = mpsc::channel();
        let worker = EvidenceWorker::spawn(ring, 1, move |r| {
            let _ = tx.send(r);
        });
        // The ring stays empty, so no job can ever become ready: only the bound
        // decides what happens to them.
        let mut refused = 0;
        for i in 0..5 {
            if worker.submit(clip_job(&format!("e{i}"))).is_err() {
                refused += 1;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        let busy: Vec<_> = rx.try_iter().collect();
        assert!(busy.iter().all(|r| r.media.is_empty()
            && r.missing.len() == 1
            && r.missing[0].reason == crate::rules::event::MediaLoss::Cap));
        assert_eq!(refused + busy.len(), 4, "one job waits, four are refused");
    }
}
