//! The gst-rtsp-server side of the simulated cameras.

use super::{CamsimError, Clip, ClipUnit, load_clip};
use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What a mount point serves.
#[derive(Debug, Clone)]
pub enum MountSource {
    /// An H.264/H.265 file, looped forever in real time without re-encoding.
    File(PathBuf),
    /// Several files of the same size, codec and frame rate, each with a name (a PTZ
    /// dome's picture per preset, and one while it moves): the server's select file
    /// ([`CamServerOptions::select_file`]) names the one served, and clients stay
    /// connected when it changes. Every clip loops on one common timeline, as if all
    /// of them were filmed at once, and the stream joins the newly selected clip at its
    /// next keyframe on that timeline (a wait of up to one GOP), so the decoder never
    /// sees a broken GOP and timestamps run on without a jump back. The first clip is
    /// served while the select file is missing or names no clip of the mount.
    Switch(Vec<(String, PathBuf)>),
    /// A live MJPEG test pattern: a codec streetwatch does not analyse, for error tests.
    TestPatternJpeg,
}

impl std::str::FromStr for MountSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "testsrc:jpeg" => Ok(MountSource::TestPatternJpeg),
            _ => match s.strip_prefix("switch:") {
                Some(list) => parse_switch(list),
                None => Ok(MountSource::File(PathBuf::from(s))),
            },
        }
    }
}

impl MountSource {
    /// The files served, with their names (a plain file's is empty).
    fn clips(&self) -> Vec<(String, PathBuf)> {
        match self {
            MountSource::File(f) => vec![(String::new(), f.clone())],
            MountSource::Switch(list) => list.clone(),
            MountSource::TestPatternJpeg => Vec::new(),
        }
    }
}

/// `NAME=FILE,NAME=FILE,...`; an entry without a name is named by its position (`1`,
/// `2`, ...).
fn parse_switch(list: &str) -> Result<MountSource, String> {
    let mut clips: Vec<(String, PathBuf)> = Vec::new();
    for (i, entry) in list.split(',').enumerate() {
        let (name, file) = match entry.split_once('=') {
            Some((n, f)) => (n.trim().to_string(), f),
            None => ((i + 1).to_string(), entry),
        };
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid || file.is_empty() {
            return Err(format!(
                "\"{entry}\": expected NAME=FILE (names of letters, digits, _ and -), e.g. switch:1=preset1.mp4,2=preset2.mp4,moving=pan.mp4"
            ));
        }
        if clips.iter().any(|(n, _)| *n == name) {
            return Err(format!("switch: the name \"{name}\" is given twice"));
        }
        clips.push((name, PathBuf::from(file)));
    }
    Ok(MountSource::Switch(clips))
}

#[derive(Debug, Clone)]
pub struct CamServerOptions {
    /// Bind address; tests and the demo use 127.0.0.1 only.
    pub address: String,
    /// 0 picks a free port.
    pub port: u16,
    /// Require RTSP basic/digest authentication with these credentials.
    pub credentials: Option<(String, String)>,
    /// Mount path (e.g. `/cam1`) and what it serves.
    pub mounts: Vec<(String, MountSource)>,
    /// Loop every file on the system's monotonic clock rather than from the moment a
    /// client connects: at any instant every mount (of this process or another) shows
    /// the same position of its clip, as a camera's main stream and substream show the
    /// same sensor picture. A stream then starts at the clip's next keyframe on that
    /// clock (a wait of up to one GOP).
    pub clock_aligned: bool,
    /// With `clock_aligned`: laps start at this monotonic-clock time (ns) plus whole
    /// laps, rather than at multiples of the clip's length, so a test can have a lap
    /// begin when it wants (every process given the same epoch stays aligned).
    pub clock_epoch_ns: u64,
    /// Which clip the [`MountSource::Switch`] mounts serve: the file holds a clip's
    /// name (surrounding whitespace ignored) and is read again every
    /// [`SELECT_POLL`]; a test's PTZ simulator writes it as its dome moves.
    pub select_file: Option<PathBuf>,
}

/// How often a switching mount reads its select file.
pub const SELECT_POLL: Duration = Duration::from_millis(100);

impl Default for CamServerOptions {
    fn default() -> Self {
        Self {
            address: "127.0.0.1".into(),
            port: 0,
            credentials: None,
            mounts: Vec::new(),
            clock_aligned: false,
            clock_epoch_ns: 0,
            select_file: None,
        }
    }
}

/// A running RTSP server; stops when dropped.
pub struct CamServer {
    port: u16,
    address: String,
    main_loop: glib::MainLoop,
    thread: Option<JoinHandle<()>>,
}

impl CamServer {
    pub fn start(opts: CamServerOptions) -> Result<Self, CamsimError> {
        crate::gst_init();
        let server = rtsp::RTSPServer::new();
        server.set_address(&opts.address);
        server.set_service(&opts.port.to_string());
        let mounts = server
            .mount_points()
            .ok_or_else(|| CamsimError::Server("no mount points".into()))?;
        if let Some((user, pass)) = &opts.credentials {
            let auth = rtsp::RTSPAuth::new();
            let token = rtsp::RTSPToken::builder()
                .field(rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
                .build();
            auth.add_basic(rtsp::RTSPAuth::make_basic(user, pass).as_str(), &token);
            server.set_auth(Some(&auth));
        }
        let aligned = opts.clock_aligned.then_some(opts.clock_epoch_ns);
        // Mounts of the same file share its units (the benchmark serves dozens).
        let mut clips: std::collections::HashMap<PathBuf, Arc<Clip>> = Default::default();
        for (path, source) in &opts.mounts {
            let factory = rtsp::RTSPMediaFactory::new();
            factory.set_shared(true);
            match source {
                MountSource::TestPatternJpeg => factory.set_launch(
                    "( videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=10/1 \
                     ! jpegenc ! rtpjpegpay name=pay0 pt=26 )",
                ),
                MountSource::File(_) | MountSource::Switch(_) => {
                    let named = source.clips();
                    let selector = match (source, &opts.select_file) {
                        (MountSource::Switch(_), Some(f)) => Some(f.clone()),
                        (MountSource::Switch(_), None) => {
                            return Err(CamsimError::Server(format!(
                                "mount {path} switches between pictures: give the select file (serve-rtsp --select-file FILE) that names the one to serve"
                            )));
                        }
                        _ => None,
                    };
                    let mut set = Vec::with_capacity(named.len());
                    for (name, file) in named {
                        let clip = match clips.get(&file) {
                            Some(c) => c.clone(),
                            None => {
                                let c = Arc::new(load_clip(&file)?);
                                clips.insert(file.clone(), c.clone());
                                c
                            }
                        };
                        set.push((name, file, clip));
                    }
                    check_same_caps(&set)?;
                    let feed_set = Arc::new(ClipSet {
                        clips: set.iter().map(|(n, _, c)| (n.clone(), c.clone())).collect(),
                        select: selector,
                    });
                    let clip = set[0].2.clone();
                    let pay = if clip.encoding == "H265" { "rtph265pay" } else { "rtph264pay" };
                    // config-interval=0: the clip's units already carry the parameter
                    // sets in front of every keyframe (load_clip parses with
                    // config-interval=-1). The payloader's own -1 would repeat them in
                    // front of every IDR *slice*, splitting multi-slice pictures (x264
                    // zerolatency) in two for any H.264-conformant receiver.
                    factory.set_launch(&format!(
                        "( appsrc name=src is-live=true format=time do-timestamp=false \
                         ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=2000000000 \
                         ! {pay} name=pay0 pt=96 config-interval=0 )"
                    ));
                    factory.connect_media_configure(move |_, media| {
                        let bin = media.element();
                        let Some(src) = bin
                            .downcast_ref::<gst::Bin>()
                            .and_then(|b| b.by_name("src"))
                            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
                        else {
                            return;
                        };
                        src.set_caps(Some(&clip.caps));
                        let set = feed_set.clone();
                        std::thread::Builder::new()
                            .name("camsim-feed".into())
                            .spawn(move || feed(src, set, aligned))
                            .expect("spawn feeder");
                    });
                }
            }
            if opts.credentials.is_some() {
                let role = gst::Structure::builder("user")
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                    .build();
                factory.add_role_from_structure(&role);
            }
            mounts.add_factory(path, factory);
        }
        let ctx = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let source_id = server.attach(Some(&ctx)).map_err(|e| {
            CamsimError::Server(format!(
                "cannot listen on {}:{}: {e}",
                opts.address, opts.port
            ))
        })?;
        let port = u16::try_from(server.bound_port()).unwrap_or(0);
        let ml = main_loop.clone();
        let thread = std::thread::Builder::new()
            .name("camsim-rtsp".into())
            .spawn(move || {
                ctx.with_thread_default(|| ml.run()).expect("own context");
                // Keep the server and its source alive exactly as long as the loop.
                // The source lives in our own context, not the default one.
                if let Some(src) = ctx.find_source_by_id(&source_id) {
                    src.destroy();
                }
                drop(server);
            })
            .map_err(|e| CamsimError::Server(e.to_string()))?;
        Ok(Self {
            port,
            address: opts.address,
            main_loop,
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rtsp://127.0.0.1:PORT/mount`.
    pub fn url(&self, mount: &str) -> String {
        format!("rtsp://{}:{}{}", self.address, self.port, mount)
    }
}

impl Drop for CamServer {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What one mount feeds: its clips (one for a plain file) and, for a switching mount,
/// the file that names the clip to serve.
struct ClipSet {
    clips: Vec<(String, Arc<Clip>)>,
    select: Option<PathBuf>,
}

impl ClipSet {
    /// The clip the select file names now (the first one when it names none).
    fn selected(&self) -> usize {
        let Some(f) = &self.select else { return 0 };
        let name = std::fs::read_to_string(f).unwrap_or_default();
        let name = name.trim();
        self.clips.iter().position(|(n, _)| n == name).unwrap_or(0)
    }
}

/// Size, codec and frame rate of a clip, which every clip of a switching mount shares
/// (the stream's caps are set once).
fn shape(
    clip: &Clip,
) -> (
    Option<i32>,
    Option<i32>,
    Option<gst::Fraction>,
    &'static str,
) {
    let s = clip.caps.structure(0);
    (
        s.and_then(|s| s.get::<i32>("width").ok()),
        s.and_then(|s| s.get::<i32>("height").ok()),
        s.and_then(|s| s.get::<gst::Fraction>("framerate").ok()),
        clip.encoding,
    )
}

fn check_same_caps(set: &[(String, PathBuf, Arc<Clip>)]) -> Result<(), CamsimError> {
    let describe = |c: &Clip| {
        let (w, h, fr, enc) = shape(c);
        format!(
            "{enc} {}x{} at {} fps",
            w.unwrap_or(0),
            h.unwrap_or(0),
            fr.map_or("?".to_string(), |f| format!("{}/{}", f.numer(), f.denom()))
        )
    };
    let (_, first_path, first) = &set[0];
    for (_, path, clip) in &set[1..] {
        if shape(clip) != shape(first) {
            return Err(CamsimError::Clip {
                path: path.clone(),
                reason: format!(
                    "is {} but {} is {}: the clips of a switching mount need the same codec, size and frame rate; re-encode them alike",
                    describe(clip),
                    first_path.display(),
                    describe(first)
                ),
            });
        }
    }
    Ok(())
}

/// Where a clip that loops on a timeline starting at running time `origin` (ns; laps
/// start at `origin` plus whole laps, `origin` may lie in the past) is joined at the
/// first keyframe due at or after `earliest`: that lap's start and the keyframe's
/// index, so that unit `i` of lap `k` is due at `origin + k * duration + dts(i)`.
fn join(clip: &Clip, origin: i128, earliest: i128) -> (i128, usize) {
    let d = i128::from(clip.duration_ns.max(1));
    let mut lap_start = earliest - (earliest - origin).rem_euclid(d);
    loop {
        if let Some(i) = clip
            .units
            .iter()
            .position(|u| u.keyframe && lap_start + i128::from(u.dts) >= earliest)
        {
            return (lap_start, i);
        }
        lap_start += d;
    }
}

/// A position in the feed: which clip, the running time its current lap started at,
/// and the next unit of that lap.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cursor {
    clip: usize,
    lap_start: i128,
    unit: usize,
}

impl Cursor {
    fn due(&self, set: &ClipSet) -> i128 {
        self.lap_start + i128::from(set.clips[self.clip].1.units[self.unit].dts)
    }

    fn advance(&mut self, set: &ClipSet) {
        let clip = &set.clips[self.clip].1;
        self.unit += 1;
        if self.unit == clip.units.len() {
            self.unit = 0;
            self.lap_start += i128::from(clip.duration_ns);
        }
    }
}

/// Decides, before each unit, which unit of which clip goes out next: the current
/// clip's, until a newly selected clip's keyframe is due (never earlier than the next
/// unit of the current clip and after every timestamp already sent), then that clip's.
struct Switcher {
    /// Running time of the common timeline's start.
    origin: i128,
    cur: Cursor,
    /// The selected clip's join point while the current clip plays on until it.
    pending: Option<Cursor>,
    /// The largest PTS or DTS sent so far.
    sent: i128,
}

impl Switcher {
    fn new(set: &ClipSet, origin: i128, earliest: i128, selected: usize) -> Self {
        let (lap_start, unit) = join(&set.clips[selected].1, origin, earliest);
        Self {
            origin,
            cur: Cursor {
                clip: selected,
                lap_start,
                unit,
            },
            pending: None,
            sent: i128::MIN,
        }
    }

    /// The select file names clip `want` now.
    fn select(&mut self, set: &ClipSet, want: usize) {
        if want == self.cur.clip {
            self.pending = None;
        } else if self.pending.is_none_or(|p| p.clip != want) {
            let earliest = self.cur.due(set).max(self.sent + 1);
            let (lap_start, unit) = join(&set.clips[want].1, self.origin, earliest);
            self.pending = Some(Cursor {
                clip: want,
                lap_start,
                unit,
            });
        }
    }

    /// The next unit to send (switching clips when the join point is due), the
    /// running time of its lap's start and its clip; the cursor moves past it.
    fn next<'a>(&mut self, set: &'a ClipSet) -> (&'a ClipUnit, i128, usize) {
        if let Some(p) = self.pending
            && p.due(set) <= self.cur.due(set)
        {
            self.cur = p;
            self.pending = None;
        }
        let c = self.cur;
        let unit = &set.clips[c.clip].1.units[c.unit];
        self.sent = self
            .sent
            .max(c.lap_start + i128::from(unit.pts))
            .max(c.lap_start + i128::from(unit.dts));
        self.cur.advance(set);
        (unit, c.lap_start, c.clip)
    }
}

/// Push the clips' units forever at real-time pace, with timestamps continuing across
/// loops and switches, until the media is torn down (push fails). `aligned` (an
/// epoch): laps start at that epoch plus multiples of a clip's length on the pipeline
/// clock (the system's monotonic clock, the same in every process), joined at the next
/// keyframe.
fn feed(src: gst_app::AppSrc, set: Arc<ClipSet>, aligned: Option<u64>) {
    // The clock and base time exist once the media goes to PLAYING.
    let (clock, base) = loop {
        if let (Some(clock), Some(base)) = (src.clock(), src.base_time())
            && src.current_state() == gst::State::Playing
        {
            break (clock, base);
        }
        std::thread::sleep(Duration::from_millis(10));
        if src.parent().is_none() {
            return;
        }
    };
    let now_rt = || i128::from(clock.time().saturating_sub(base).nseconds());
    // Running time of the timeline's start; before the media started when an aligned
    // lap began earlier (only units due after the media started are pushed).
    let earliest = now_rt() + 100_000_000;
    let origin = match aligned {
        Some(epoch) => i128::from(epoch) - i128::from(base.nseconds()),
        None => earliest,
    };
    let mut switcher = Switcher::new(&set, origin, earliest, set.selected());
    let mut last_poll = std::time::Instant::now();
    let lead = 50_000_000i128;
    let at = |t: i128| gst::ClockTime::from_nseconds(t.max(0) as u64);
    loop {
        if set.select.is_some() && last_poll.elapsed() >= SELECT_POLL {
            last_poll = std::time::Instant::now();
            switcher.select(&set, set.selected());
        }
        let (u, lap_start, _) = switcher.next(&set);
        let due = lap_start + i128::from(u.dts);
        let now = now_rt();
        if due > now + lead {
            std::thread::sleep(Duration::from_nanos((due - now - lead) as u64));
        }
        let mut buf = u.data.copy();
        {
            let b = buf.get_mut().expect("fresh copy is writable");
            b.set_pts(at(lap_start + i128::from(u.pts)));
            b.set_dts(at(due));
        }
        if src.push_buffer(buf).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clip of `n` units a quarter second apart, a keyframe every `gop`.
    fn clip(n: u64, gop: u64) -> Arc<Clip> {
        crate::gst_init();
        let q = 250_000_000;
        Arc::new(Clip {
            caps: gst::Caps::builder("video/x-h264").build(),
            encoding: "H264",
            units: (0..n)
                .map(|i| ClipUnit {
                    pts: i * q,
                    dts: i * q,
                    keyframe: i % gop == 0,
                    data: gst::Buffer::new(),
                })
                .collect(),
            duration_ns: n * q,
        })
    }

    fn set() -> ClipSet {
        ClipSet {
            clips: vec![("a".into(), clip(8, 4)), ("b".into(), clip(12, 4))],
            select: None,
        }
    }

    /// (clip, unit, due ms) of the next `n` units.
    fn take(s: &mut Switcher, set: &ClipSet, n: usize) -> Vec<(usize, usize, i128)> {
        (0..n)
            .map(|_| {
                let (u, lap, clip) = s.next(set);
                let unit = set.clips[clip]
                    .1
                    .units
                    .iter()
                    .position(|x| std::ptr::eq(x, u));
                (clip, unit.unwrap(), (lap + i128::from(u.dts)) / 1_000_000)
            })
            .collect()
    }

    #[test]
    fn a_switch_joins_the_new_clip_at_its_next_keyframe_on_the_common_timeline() {
        let set = set();
        let mut s = Switcher::new(&set, 0, 0, 0);
        assert_eq!(take(&mut s, &set, 3), [(0, 0, 0), (0, 1, 250), (0, 2, 500)]);
        // b's keyframes are due at 0, 1000, 2000 ms...: a plays on until b's at 1000.
        s.select(&set, 1);
        let got = take(&mut s, &set, 3);
        assert_eq!(got[0], (0, 3, 750));
        assert_eq!(got[1..], [(1, 4, 1000), (1, 5, 1250)]);
        // Back to a (8 units, a 2 s lap): its next keyframe after 1500 is lap 1's first.
        s.select(&set, 0);
        assert_eq!(
            take(&mut s, &set, 3),
            [(1, 6, 1500), (1, 7, 1750), (0, 0, 2000)]
        );
        // Asked for b and then for a again before b's keyframe came: a goes on.
        s.select(&set, 1);
        s.select(&set, 0);
        assert!(take(&mut s, &set, 8).iter().all(|u| u.0 == 0));
    }

    #[test]
    fn switching_back_and_forth_keeps_one_frame_step_and_starts_every_run_on_a_keyframe() {
        let set = set();
        // A timeline that began before the media did (clock-aligned laps).
        let mut s = Switcher::new(&set, -5_100_000_000, 0, 1);
        let mut last: Option<(usize, i128)> = None;
        for step in 0..200usize {
            if step % 7 == 3 {
                s.select(&set, (step / 7) % 2);
            }
            let (u, lap, clip) = s.next(&set);
            let due = lap + i128::from(u.dts);
            match last {
                None => assert!(u.keyframe, "the first unit is a keyframe"),
                Some((c, t)) => {
                    assert_eq!(due - t, 250_000_000, "step {step}: a gap or a jump back");
                    if c != clip {
                        assert!(u.keyframe, "step {step}: switched to a delta unit");
                    }
                }
            }
            last = Some((clip, due));
        }
    }

    #[test]
    fn switch_mounts_parse_named_or_numbered_clips_and_refuse_bad_lists() {
        let MountSource::Switch(c) = "switch:1=a.mp4,moving=b.mp4".parse().unwrap() else {
            panic!("not a switch");
        };
        assert_eq!(c[1], ("moving".to_string(), PathBuf::from("b.mp4")));
        let MountSource::Switch(c) = "switch:a.mp4,b.mp4".parse().unwrap() else {
            panic!("not a switch");
        };
        assert_eq!(c[1].0, "2");
        for bad in ["switch:", "switch:x=a.mp4,x=b.mp4", "switch:a b=c.mp4"] {
            assert!(bad.parse::<MountSource>().is_err(), "{bad}");
        }
    }
}
