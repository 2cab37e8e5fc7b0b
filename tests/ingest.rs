//! Camera ingest against real RTSP servers (gst-rtsp-server via `streetwatch
//! serve-rtsp`) and real sample videos.

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use streetwatch::config::{SupervisionConfig, Transport};
use streetwatch::ingest::pipeline::{AnalysisSpec, Anchor, Source};
use streetwatch::ingest::{Camera, CameraSpec, CameraStatus, Overflow, Pop, Reason};
use support::*;

fn rtsp_spec(
    id: &str,
    url: String,
    creds: Option<(&str, &str)>,
    analysis: Option<AnalysisSpec>,
) -> CameraSpec {
    CameraSpec {
        id: id.into(),
        source: Source::Rtsp {
            url,
            username: creds.map(|c| c.0.to_string()),
            password: creds.map(|c| c.1.to_string()),
            transport: Transport::Tcp,
            latency_ms: 100,
        },
        analysis_source: None,
        analysis,
        preroll_seconds: 10.0,
        preroll_max_bytes: 32 << 20,
        queue_depth: 4,
        supervision: SupervisionConfig {
            stall_timeout_s: 3.0,
            backoff_initial_s: 0.5,
            backoff_max_s: 2.0,
        },
        anchor: Anchor::WallClock,
        overflow: Overflow::DropOldest,
    }
}

fn file_spec(path: std::path::PathBuf, analysis: Option<AnalysisSpec>) -> CameraSpec {
    CameraSpec {
        id: "file".into(),
        source: Source::File { path },
        analysis_source: None,
        analysis,
        preroll_seconds: 10.0,
        preroll_max_bytes: 64 << 20,
        queue_depth: 8,
        supervision: SupervisionConfig::default(),
        anchor: Anchor::Fixed(1_700_000_000_000_000_000),
        overflow: Overflow::Block,
    }
}

fn analysis(fps: f64, keyframes_only: bool) -> Option<AnalysisSpec> {
    Some(AnalysisSpec {
        fps,
        keyframes_only,
        keyframe_max_gap_s: None,
        max_width: 0,
    })
}

fn wait_streaming(cam: &Camera, secs: u64) {
    let ok = wait_for(Duration::from_secs(secs), || {
        matches!(cam.status(), CameraStatus::Streaming { .. }).then_some(())
    });
    assert!(
        ok.is_some(),
        "camera {} not streaming: {}",
        cam.id(),
        cam.status()
    );
}

/// Drain a file camera until its source ends; returns the number of frames.
fn drain(cam: &Camera) -> usize {
    let mut n = 0;
    loop {
        match cam.frames().pop_timeout(Duration::from_secs(30)) {
            Pop::Item(_) => n += 1,
            Pop::Closed => return n,
            Pop::Timeout => panic!("file camera stalled: {}", cam.status()),
        }
    }
}

#[test]
fn frames_arrive_from_rtsp_at_the_analysis_rate_with_monotonic_media_time() {
    // car-detection.mp4 is 12.5 fps; ask for 5 analysis frames a second.
    let sim = CamSim::start(
        free_port(),
        &[("/car", media("car-detection.mp4").display().to_string())],
        None,
    );
    let cam = Camera::spawn(rtsp_spec(
        "car",
        sim.url("/car"),
        None,
        analysis(5.0, false),
    ));
    wait_streaming(&cam, 20);
    // Discard the first second (jitterbuffer start-up), then count for 6 s.
    let t_end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < t_end {
        let _ = cam.frames().pop_timeout(Duration::from_millis(100));
    }
    let mut frames = Vec::new();
    let t_end = Instant::now() + Duration::from_secs(6);
    while Instant::now() < t_end {
        if let Pop::Item(f) = cam.frames().pop_timeout(Duration::from_millis(100)) {
            frames.push(f);
        }
    }
    let rate = frames.len() as f64 / 6.0;
    assert!(
        (4.0..=6.0).contains(&rate),
        "analysis rate {rate} fps, expected 5 ± 1"
    );
    for w in frames.windows(2) {
        assert!(w[1].time > w[0].time, "media time must increase");
        let dt = w[1].time.secs_since(w[0].time);
        // 0.2 s apart at 5 fps; one frame dropped on a busy machine is tolerated (the
        // rate check above bounds how many), a burst or a stall of seconds is not.
        assert!((0.1..=0.65).contains(&dt), "frame spacing {dt} s");
    }
    let f = &frames[0];
    assert_eq!((f.width, f.height), (768, 432));
    // The decoder's own YUV 4:2:0, tightly packed (the detector letterboxes it
    // without converting the frame).
    assert!(
        matches!(
            f.format,
            streetwatch::ingest::PixelFormat::I420(_) | streetwatch::ingest::PixelFormat::Nv12(_)
        ),
        "{:?}",
        f.format
    );
    assert_eq!(f.data.len(), 768 * 432 * 3 / 2);
    assert_eq!(f.to_rgb().data.len(), 768 * 432 * 3);
    assert_eq!(&*f.camera_id, "car");
    // Media time is anchored to the wall clock once: it must be close to now.
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    assert!((now - frames.last().unwrap().time.0).abs() < 5_000_000_000);
}

#[test]
fn keyframes_only_decodes_exactly_the_keyframes_of_a_file() {
    let path = media("one-by-one-person-detection.mp4");
    // Independent count: demux the file separately and count keyframes.
    let clip = streetwatch::camsim::load_clip(&path).unwrap();
    let keyframes = clip.keyframes() as u64;
    assert!(keyframes > 10);

    let kf = Camera::spawn(file_spec(path.clone(), analysis(60.0, true)));
    let kf_frames = drain(&kf);
    let kf_decoded = kf.shared.stats.frames_decoded.load(Ordering::Relaxed);
    assert_eq!(
        kf_decoded, keyframes,
        "keyframes-only must decode exactly the keyframes"
    );
    assert_eq!(kf_frames as u64, keyframes);

    let full = Camera::spawn(file_spec(path, analysis(60.0, false)));
    let _ = drain(&full);
    let full_decoded = full.shared.stats.frames_decoded.load(Ordering::Relaxed);
    assert_eq!(
        full_decoded,
        clip.units.len() as u64,
        "full mode decodes every frame"
    );
    // The cost argument, on counts rather than time: a tenth of the decoding work.
    assert!(
        (kf_decoded as f64) < 0.15 * full_decoded as f64,
        "{kf_decoded} vs {full_decoded}"
    );
}

/// `analysis.fps = "auto"` for a parking camera decodes keyframes only while they come
/// at most `keyframe_max_gap_s` apart (`rules::rate`). A camera set to a 4 s GOP: the
/// second keyframe shows the gap, and from that keyframe on every unit is decoded and
/// one frame a second delivered; at a 5 s allowance the same file decodes only its
/// keyframes.
#[test]
fn keyframes_only_goes_over_to_every_frame_when_keyframes_are_further_apart_than_allowed() {
    use streetwatch::camsim::picture::Picture;
    use streetwatch::camsim::scenario::{ScenarioSpec, Segment, compose};
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("gop4.mp4");
    let picture = Picture::from_rgb(320, 180, vec![120; 320 * 180 * 3]).unwrap();
    let spec = ScenarioSpec {
        fps: 4,
        hold_s: 0.0,
        gop_frames: 16,
        noise: 2,
        bitrate: 200_000,
    };
    compose(
        &video,
        &spec,
        &[Segment::Hold {
            picture: &picture,
            seconds: 24.0,
        }],
    )
    .unwrap();
    let clip = streetwatch::camsim::load_clip(&video).unwrap();
    let (units, keys) = (clip.units.len() as u64, clip.keyframes() as u64);
    assert_eq!(
        (units, keys),
        (96, 6),
        "24 s at 4 fps, a keyframe every 4 s"
    );
    let with_gap = |max_gap_s: f64| {
        Camera::spawn(file_spec(
            video.clone(),
            Some(AnalysisSpec {
                fps: 1.0,
                keyframes_only: true,
                keyframe_max_gap_s: Some(max_gap_s),
                max_width: 0,
            }),
        ))
    };
    let cam = with_gap(2.0);
    let delivered = drain(&cam) as u64;
    let decoded = cam.shared.stats.frames_decoded.load(Ordering::Relaxed);
    // The first keyframe alone, then every unit from the second keyframe (at 4 s) on.
    assert_eq!(decoded, 1 + (units - 16), "decoded {decoded}");
    // 1 fps over the 20 s from the switch, plus the first keyframe.
    assert!((20..=22).contains(&delivered), "delivered {delivered}");
    let cam = with_gap(5.0);
    let delivered = drain(&cam) as u64;
    let decoded = cam.shared.stats.frames_decoded.load(Ordering::Relaxed);
    assert_eq!((decoded, delivered), (keys, keys));
}

#[test]
fn keyframes_only_over_rtsp_decodes_one_frame_per_gop() {
    let sim = CamSim::start(
        free_port(),
        &[(
            "/p",
            media("one-by-one-person-detection.mp4")
                .display()
                .to_string(),
        )],
        None,
    );
    // GStreamer's criticals in this process (the cameras are a child process): a
    // probe that drops the delta units the wrong way logs one per unit.
    static CRITICALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    streetwatch::gst_init();
    gstreamer::glib::log_set_handler(
        Some("GStreamer"),
        gstreamer::glib::LogLevels::LEVEL_CRITICAL,
        false,
        false,
        |_, _, message| {
            eprintln!("GStreamer critical: {message}");
            CRITICALS.fetch_add(1, Ordering::Relaxed);
        },
    );
    let cam = Camera::spawn(rtsp_spec("p", sim.url("/p"), None, analysis(30.0, true)));
    wait_streaming(&cam, 20);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        CRITICALS.load(Ordering::Relaxed),
        0,
        "dropping delta units logs no GStreamer critical"
    );
    let st = &cam.shared.stats;
    let (aus, kfs, dec) = (
        st.access_units.load(Ordering::Relaxed),
        st.keyframes.load(Ordering::Relaxed),
        st.frames_decoded.load(Ordering::Relaxed),
    );
    assert!(kfs >= 3, "{kfs} keyframes");
    // Decoded frames lag received keyframes by at most the one in flight.
    assert!(
        dec <= kfs && dec + 1 >= kfs,
        "decoded {dec}, keyframes {kfs}"
    );
    assert!(aus >= 8 * kfs, "{aus} units for {kfs} keyframes: GOP is 10");
}

#[test]
fn ring_holds_the_preroll_starts_on_a_keyframe_and_respects_its_byte_bound() {
    // 30 s of real video (car-detection.mp4, GOP 4.8 s) through the ring, no decoding.
    let mut spec = file_spec(media("car-detection.mp4"), None);
    spec.preroll_seconds = 10.0;
    let cam = Camera::spawn(spec);
    wait_for(Duration::from_secs(30), || {
        (cam.status() == CameraStatus::Ended).then_some(())
    })
    .unwrap();
    {
        let ring = cam.shared.ring.lock().unwrap();
        assert!(
            ring.available_preroll() >= 10.0,
            "{}",
            ring.available_preroll()
        );
        assert!(
            ring.available_preroll() <= 10.0 + 4.8 + 0.1,
            "{}",
            ring.available_preroll()
        );
        assert!(ring.oldest().unwrap().keyframe);
        assert_eq!(ring.gop_frames(), Some(60));
    }
    // Same stream, 25 s asked but only 1 MiB allowed (the clip is ~600 kbit/s).
    let mut spec = file_spec(media("car-detection.mp4"), None);
    spec.preroll_seconds = 25.0;
    spec.preroll_max_bytes = 1 << 20;
    let cam = Camera::spawn(spec);
    wait_for(Duration::from_secs(30), || {
        (cam.status() == CameraStatus::Ended).then_some(())
    })
    .unwrap();
    let ring = cam.shared.ring.lock().unwrap();
    assert!(ring.bytes() <= 1 << 20, "{} bytes", ring.bytes());
    assert!(ring.available_preroll() < 25.0);
    assert!(ring.oldest().unwrap().keyframe);
}

#[test]
fn killed_server_goes_to_backoff_and_resumes_while_the_other_camera_keeps_streaming() {
    let car = media("car-detection.mp4").display().to_string();
    let port_a = free_port();
    let mut sim_a = CamSim::start(port_a, &[("/a", car.clone())], None);
    let sim_b = CamSim::start(free_port(), &[("/b", car.clone())], None);
    let cam_a = Camera::spawn(rtsp_spec("a", sim_a.url("/a"), None, analysis(5.0, false)));
    let cam_b = Arc::new(Camera::spawn(rtsp_spec(
        "b",
        sim_b.url("/b"),
        None,
        analysis(5.0, false),
    )));
    wait_streaming(&cam_a, 20);
    wait_streaming(&cam_b, 20);

    // Watch camera B's frame gaps for the whole outage.
    let max_gap = Arc::new(Mutex::new(0.0f64));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (cam_b, max_gap, stop) = (cam_b.clone(), max_gap.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut last = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if let Pop::Item(_) = cam_b.frames().pop_timeout(Duration::from_millis(50)) {
                    let gap = last.elapsed().as_secs_f64();
                    let mut m = max_gap.lock().unwrap();
                    *m = m.max(gap);
                    last = Instant::now();
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    *max_gap.lock().unwrap() = 0.0;

    sim_a.kill();
    let killed = Instant::now();
    let reason = wait_for(Duration::from_secs(5), || cam_a.status().reason().cloned())
        .expect("camera A should report a reason within the stall timeout");
    assert!(
        killed.elapsed() <= Duration::from_secs(4),
        "took {:?}",
        killed.elapsed()
    );
    assert!(
        matches!(
            reason,
            Reason::EndOfStream | Reason::Stalled { .. } | Reason::ConnectionRefused
        ),
        "{reason:?}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(matches!(
        cam_a.status(),
        CameraStatus::Backoff { .. } | CameraStatus::Connecting
    ));

    let before = cam_a.shared.stats.frames_delivered.load(Ordering::Relaxed);
    let _sim_a2 = CamSim::start(port_a, &[("/a", car)], None);
    let back = Instant::now();
    wait_for(Duration::from_secs(10), || {
        (cam_a.shared.stats.frames_delivered.load(Ordering::Relaxed) > before).then_some(())
    })
    .expect("camera A should deliver frames again");
    assert!(
        back.elapsed() <= Duration::from_secs(5),
        "resumed after {:?}",
        back.elapsed()
    );

    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let gap = *max_gap.lock().unwrap();
    assert!(gap < 1.0, "camera B had a {gap:.2} s gap while A was down");
}

fn first_reason(spec: CameraSpec) -> Reason {
    let cam = Camera::spawn(spec);
    wait_for(Duration::from_secs(15), || cam.status().reason().cloned()).expect("a reason")
}

#[test]
fn wrong_password_reports_unauthorized() {
    let sim = CamSim::start(
        free_port(),
        &[("/car", media("car-detection.mp4").display().to_string())],
        Some(("admin", "right")),
    );
    let r = first_reason(rtsp_spec(
        "c",
        sim.url("/car"),
        Some(("admin", "wrong")),
        None,
    ));
    assert_eq!(r, Reason::Unauthorized);
    // And the right one streams.
    let cam = Camera::spawn(rtsp_spec(
        "c",
        sim.url("/car"),
        Some(("admin", "right")),
        None,
    ));
    wait_streaming(&cam, 20);
}

#[test]
fn unknown_path_reports_not_found_and_closed_port_connection_refused() {
    let sim = CamSim::start(
        free_port(),
        &[("/car", media("car-detection.mp4").display().to_string())],
        None,
    );
    assert_eq!(
        first_reason(rtsp_spec("c", sim.url("/nope"), None, None)),
        Reason::NotFound
    );
    let closed = format!("rtsp://127.0.0.1:{}/x", free_port());
    assert_eq!(
        first_reason(rtsp_spec("c", closed, None, None)),
        Reason::ConnectionRefused
    );
}

#[test]
fn mjpeg_camera_reports_unsupported_codec() {
    let sim = CamSim::start(free_port(), &[("/mj", "testsrc:jpeg".into())], None);
    let r = first_reason(rtsp_spec("c", sim.url("/mj"), None, analysis(5.0, false)));
    assert_eq!(r, Reason::UnsupportedCodec("MJPEG".into()));
}

#[test]
fn a_gif_file_reports_unsupported_codec_instead_of_panicking() {
    let r = first_reason(file_spec(
        media("person-bicycle-car-detection.gif"),
        analysis(5.0, false),
    ));
    assert!(
        matches!(r, Reason::UnsupportedCodec(ref c) if c == "GIF"),
        "{r:?}"
    );
}

#[test]
fn keyframes_only_outputs_each_keyframe_promptly_even_with_b_frames() {
    // bottle-detection.mp4 is High profile with B-frames and a 250-frame (8.4 s) GOP: a
    // decoder that keeps its reorder buffer would hold each keyframe for two GOPs.
    let sim = CamSim::start(
        free_port(),
        &[("/b", media("bottle-detection.mp4").display().to_string())],
        None,
    );
    let cam = Camera::spawn(rtsp_spec("b", sim.url("/b"), None, analysis(5.0, true)));
    wait_streaming(&cam, 20);
    let st = &cam.shared.stats;
    wait_for(Duration::from_secs(12), || {
        (st.keyframes.load(Ordering::Relaxed) >= 1).then_some(())
    })
    .expect("a keyframe");
    // A decoder holding its reorder buffer would keep the keyframe for a whole GOP
    // (8.4 s); 4 s tells that apart from a machine that is merely busy.
    let decoded = wait_for(Duration::from_secs(4), || {
        (st.frames_decoded.load(Ordering::Relaxed) >= st.keyframes.load(Ordering::Relaxed))
            .then_some(())
    });
    assert!(
        decoded.is_some(),
        "keyframe not decoded within 4 s of arriving (held for a GOP?)"
    );
    assert!(matches!(
        cam.frames().pop_timeout(Duration::from_secs(1)),
        Pop::Item(_)
    ));
}

/// Transcode the first seconds of a sample video to H.265 with GStreamer (x265enc).
fn make_h265(dir: &std::path::Path) -> std::path::PathBuf {
    use gstreamer::prelude::*;
    streetwatch::gst_init();
    let out = dir.join("car-h265.mp4");
    let desc = format!(
        "filesrc location={} ! qtdemux ! h264parse ! avdec_h264 ! identity eos-after=75 ! videoconvert \
         ! x265enc speed-preset=ultrafast key-int-max=25 tune=zerolatency ! h265parse ! mp4mux \
         ! filesink location={}",
        media("car-detection.mp4").display(),
        out.display()
    );
    let p = gstreamer::parse::launch(&desc).unwrap();
    p.set_state(gstreamer::State::Playing).unwrap();
    let bus = p.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gstreamer::ClockTime::from_seconds(120),
            &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
        )
        .expect("transcode finished");
    assert!(
        matches!(msg.view(), gstreamer::MessageView::Eos(_)),
        "{msg:?}"
    );
    p.set_state(gstreamer::State::Null).unwrap();
    out
}

#[test]
fn h265_streams_over_rtsp_like_h264() {
    let dir = tempfile::tempdir().unwrap();
    let h265 = make_h265(dir.path());
    let sim = CamSim::start(free_port(), &[("/hevc", h265.display().to_string())], None);
    let cam = Camera::spawn(rtsp_spec(
        "hevc",
        sim.url("/hevc"),
        None,
        analysis(5.0, false),
    ));
    wait_streaming(&cam, 20);
    match cam.status() {
        CameraStatus::Streaming {
            codec,
            width,
            height,
            ..
        } => {
            assert_eq!(codec, "H.265");
            assert_eq!((width, height), (768, 432));
        }
        other => panic!("{other}"),
    }
    let f = match cam.frames().pop_timeout(Duration::from_secs(5)) {
        Pop::Item(f) => f,
        other => panic!("no frame: {other:?}"),
    };
    assert_eq!((f.width, f.height), (768, 432));
    // The ring starts on an H.265 keyframe too.
    std::thread::sleep(Duration::from_secs(1));
    assert!(cam.shared.ring.lock().unwrap().oldest().unwrap().keyframe);
}
