//! Licence plates and the photo set, end to end with real components: scenarios built
//! at test time, `streetwatch replay` and the daemon (`streetwatch run` on a simulated
//! RTSP camera), YOLOX-nano for vehicles, the plate models from `make setup`.
//!
//! What is composited (no public footage shows a Chinese plate on a parked car): the
//! car park of the sample GIF, scaled to 1280x720 and emptied (the parked car covered
//! with asphalt from the same picture); the real car of GIF frame 35 (seen from behind
//! and the side, which YOLOX-nano finds at 0.9), scaled 3.5x so the camera looks
//! "zoomed in" on the bay; a blue plate rendered with the CJK font in the GA 36 layout,
//! pasted on its rear at the tilt of the bumper, 110 px wide (larger than a real plate
//! on a car of that size).
//! Frames are held with sensor noise and encoded with openh264 at 4 fps, GOP 2 s.

mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use streetwatch::camsim::picture::{Picture, Rect};
use streetwatch::camsim::plate::{PlateStyle, paste, quad, render};
use streetwatch::camsim::scenario::{ScenarioSpec, Segment, compose, decode_frames};
use support::{media, replay_config, replay_events};

const PLATE: &str = "粤B6K723";
const W: u32 = 1280;
const H: u32 = 720;
/// Where the car crop is pasted, and where it moves to after the occlusion.
const P1: (u32, u32) = (400, 220);
const P2: (u32, u32) = (670, 220);
const LOCATION: &str = "解放路88号东侧停车场";

/// The dwell and the least interval between the two wide shots: short, so the
/// scenarios are short, with the interval above the dwell so confirmation waits for it.
const DWELL_S: f64 = 6.0;
const INTERVAL_S: f64 = 10.0;

/// The empty car park and the plated car.
struct Scene {
    empty: Picture,
    car: Picture,
}

/// The scene, built once per test binary.
fn scene() -> &'static Scene {
    static SCENE: OnceLock<Scene> = OnceLock::new();
    SCENE.get_or_init(build_scene)
}

fn build_scene() -> Scene {
    let (w, h, frames) = decode_frames(&media("person-bicycle-car-detection.gif")).unwrap();
    let pic = |i: usize| Picture::from_rgb(w, h, frames[i].0.clone()).unwrap();
    // The last frame without its car (asphalt from the middle of the same picture).
    let mut empty = pic(frames.len() - 1);
    let patch = empty.crop(Rect::new(150, 150, 100, 90));
    empty.paste(&patch, 0, 20);
    let empty = empty.resized(W, H);
    // The car seen from behind and the side (frame 35), 3.5x.
    let mut car = pic(35).crop(Rect::new(0, 28, 125, 85)).resized(437, 297);
    let plate = render(PLATE, PlateStyle::Blue, 220.0 / 440.0).unwrap();
    paste(
        &mut car,
        &plate,
        quad(352.0, 185.0, 110.0, 110.0 * 140.0 / 440.0, 0.0, 0.0, -0.3),
    );
    Scene { empty, car }
}

fn with_car(s: &Scene, at: (u32, u32)) -> Picture {
    let mut p = s.empty.clone();
    p.paste(&s.car, at.0, at.1);
    p
}

fn encode(dir: &Path, name: &str, segments: &[Segment<'_>]) -> PathBuf {
    let out = dir.join(name);
    let spec = ScenarioSpec {
        fps: 4,
        hold_s: 0.0,
        gop_frames: 8,
        noise: 2,
        bitrate: 2_000_000,
    };
    compose(&out, &spec, segments).unwrap();
    out
}

/// A no-parking zone over the bay (both car positions), `DWELL_S` dwell, wide shots
/// at least `INTERVAL_S` apart, closed `leave_after_s` after the car was last seen.
fn zones(location: &str, leave_after_s: f64) -> String {
    format!(
        r#"[[cameras.zones]]
id = "bay"
name = "东侧车位"
location = "{location}"
polygon = [[0.25, 0.3], [0.98, 0.3], [0.98, 0.99], [0.25, 0.99]]
rules = [{{ type = "no_parking", dwell_s = {DWELL_S:.1}, evidence_interval_s = {INTERVAL_S:.1}, update_every_s = 300.0, leave_after_s = {leave_after_s:.1} }}]
"#
    )
}

/// Where the scenarios shared by several tests are kept (emptied once per run).
fn shared_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plates");
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

/// The plated car parked 30 s (its event and the clip 10 s past confirmation are done
/// before it leaves) then leaving, encoded once per test binary.
fn plated_video() -> &'static Path {
    static VIDEO: OnceLock<PathBuf> = OnceLock::new();
    VIDEO.get_or_init(|| {
        let s = scene();
        let parked = with_car(s, P1);
        encode(
            shared_dir(),
            "plated.mp4",
            &[
                Segment::Hold {
                    picture: &s.empty,
                    seconds: 2.0,
                },
                Segment::Hold {
                    picture: &parked,
                    seconds: 30.0,
                },
                Segment::Hold {
                    picture: &s.empty,
                    seconds: 8.0,
                },
            ],
        )
    })
}

/// `streetwatch replay` of [`plated_video`]: its events and evidence directory.
struct Replayed {
    events: Vec<Value>,
    evidence: PathBuf,
}

fn plated_replay() -> &'static Replayed {
    static REPLAYED: OnceLock<Replayed> = OnceLock::new();
    REPLAYED.get_or_init(|| {
        let dir = shared_dir().join("replay");
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = replay_config(&dir, "plates", "", ANALYSIS, &zones(LOCATION, 4.0));
        let evidence = dir.join("evidence");
        let events = replay_events(&cfg, plated_video(), &evidence);
        Replayed { events, evidence }
    })
}

const ANALYSIS: &str = "fps = 2.0";

/// The daemon's config for the plated camera on `url` (with `analysis_url` as its
/// substream when given), the same zone as the replays.
fn daemon_config(url: &str, analysis_url: Option<&str>) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sub = analysis_url
        .map(|u| format!("analysis_url = \"{u}\"\n"))
        .unwrap_or_default();
    format!(
        r#"[device]
id = "scenario-box"
division_code = "440802"

[inference]
models_dir = "{models}"
weights_dir = "{weights}"

[[cameras]]
id = "cam"
name = "Scenario camera"
url = "{url}"
{sub}[cameras.analysis]
{ANALYSIS}

{zones}"#,
        models = root.join("models").display(),
        weights = support::weights_dir().display(),
        zones = zones(LOCATION, 10.0),
    )
}

fn of<'a>(events: &'a [Value], phase: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "illegal_parking" && e["phase"] == phase)
        .collect()
}

fn media_of<'a>(ev: &'a Value, name: &str) -> &'a Value {
    ev["media"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no {name}: {:#}", ev["media"]))
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64
}

/// The largest mean difference of one pixel row.
fn worst_row(a: &[u8], b: &[u8], width: u32) -> f64 {
    let row = width as usize * 3;
    a.chunks(row)
        .zip(b.chunks(row))
        .map(|(x, y)| mean_abs_diff(x, y))
        .fold(0.0, f64::max)
}

/// The bottom `caption_px` rows of a picture file.
fn strip_of(path: &Path, caption_px: u32) -> (Vec<u8>, u32) {
    let img = image::open(path).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let raw = img.into_raw();
    (raw[((h - caption_px) * w * 3) as usize..].to_vec(), w)
}

/// The class names YOLOX-nano detects on each of `pictures` (`streetwatch detect`, the
/// product's detector path, run once over a directory of them).
fn detect(dir: &Path, cfg: &Path, pictures: &[&Picture]) -> Vec<Vec<String>> {
    let probe = dir.join("probe");
    std::fs::create_dir_all(&probe).unwrap();
    for (i, p) in pictures.iter().enumerate() {
        image::RgbImage::from_raw(p.width, p.height, p.rgb.clone())
            .unwrap()
            .save(probe.join(format!("{i}.png")))
            .unwrap();
    }
    // One line per picture, in file name order.
    let lines = support::json_lines(
        std::process::Command::new(support::bin())
            .args(["detect", "--json", "--model", "yolox-nano", "--config"])
            .arg(cfg)
            .arg(&probe),
    );
    assert_eq!(lines.len(), pictures.len());
    lines
        .iter()
        .map(|line| {
            line["detections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["class_name"].as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn a_parked_car_s_plate_is_read_exactly_and_its_photo_set_is_captioned() {
    let Replayed { events, evidence } = plated_replay();
    let started = of(events, "started");
    assert_eq!(started.len(), 1, "{events:#?}");
    let ev = started[0];
    let plate = &ev["subject"]["plate"];
    assert_eq!(plate["text"], PLATE, "{:#}", ev["subject"]);
    assert_eq!(plate["colour"], "blue");
    assert!(plate["reads"].as_u64().unwrap() >= 2, "{plate:#}");
    // The plate box is in main-stream pixels, on the car's rear.
    let x1 = plate["bbox"]["x1"].as_f64().unwrap();
    assert!(
        (f64::from(P1.0) + 250.0..f64::from(P1.0) + 350.0).contains(&x1),
        "{plate:#}"
    );
    let width = plate["width_px"].as_f64().unwrap();
    assert!((95.0..130.0).contains(&width), "{plate:#}");

    // The photo set.
    let set = &ev["photo_set"];
    assert_eq!(
        set["wide"],
        serde_json::json!(["first-stationary.jpg", "confirmation.jpg"])
    );
    let interval = set["interval_s"].as_f64().unwrap();
    assert!(
        interval >= INTERVAL_S,
        "wide shots {interval} s apart: {set:#}"
    );
    assert_eq!(set["required_interval_s"], INTERVAL_S);
    assert_eq!(set["plate_closeup"], "plate.jpg");
    assert_eq!(set["composite"], "composite.jpg");
    let id = ev["id"].as_str().unwrap();
    let dir_of = |name: &str| evidence.join(id).join(name);
    for name in [
        "first-stationary.jpg",
        "confirmation.jpg",
        "plate.jpg",
        "composite.jpg",
    ] {
        let m = media_of(ev, name);
        let img = image::open(dir_of(name)).unwrap();
        assert_eq!(
            (Some(u64::from(img.width())), Some(u64::from(img.height()))),
            (m["width"].as_u64(), m["height"].as_u64()),
            "{name}"
        );
        let caption_px = m["caption_px"].as_u64().unwrap() as u32;
        assert!(
            caption_px > 40 && caption_px < img.height() / 2,
            "{name}: {m:#}"
        );
        assert!(m["caption"].as_array().unwrap().len() >= 5, "{m:#}");
    }
    // Wide shots keep the camera's full picture above their strip.
    let wide = media_of(ev, "confirmation.jpg");
    assert_eq!(wide["width"], W);
    assert_eq!(
        wide["height"].as_u64().unwrap() - wide["caption_px"].as_u64().unwrap(),
        u64::from(H)
    );

    // Caption check: the strip is what the same font renders for the expected text.
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let at = streetwatch::ingest::MediaTime(wide["start_media_ns"].as_i64().unwrap());
    let start = streetwatch::ingest::MediaTime(ev["times"]["start_media_ns"].as_i64().unwrap());
    let caption = |location: &str| streetwatch::evidence::caption::Caption {
        at,
        tz,
        kind: streetwatch::rules::event::EventKind::IllegalParking,
        role: "确认违停".into(),
        location: location.into(),
        device_id: "scenario-box".into(),
        camera: "Scenario camera (cam)".into(),
        event_id: id.into(),
        plate: Some(format!("{PLATE}（蓝）")),
        dwell_s: Some(at.secs_since(start)),
    };
    let expected = caption(LOCATION).lines();
    assert_eq!(
        wide["caption"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect::<Vec<_>>(),
        expected
    );
    let (strip, w) = strip_of(
        &dir_of("confirmation.jpg"),
        wide["caption_px"].as_u64().unwrap() as u32,
    );
    let (rendered, h) = streetwatch::evidence::caption::render_strip(w, &expected).unwrap();
    assert_eq!(h, wide["caption_px"].as_u64().unwrap() as u32);
    // Compared row by row: a changed word shows in its line's rows, JPEG noise is
    // spread thin everywhere.
    let same = worst_row(&strip, &rendered, w);
    // A changed location changes the strip.
    let (moved, _) =
        streetwatch::evidence::caption::render_strip(w, &caption("人民路12号").lines()).unwrap();
    let other = worst_row(&strip, &moved, w);
    assert!(
        same < 8.0,
        "the strip differs from the rendered caption by {same} per row"
    );
    assert!(
        other > 3.0 * same + 5.0,
        "a changed location must change the strip ({same} vs {other})"
    );
    // `ended` carries the plate too, and the same event id.
    let ended = of(events, "ended");
    assert_eq!(ended.len(), 1, "{events:#?}");
    assert_eq!(ended[0]["id"], ev["id"]);
    assert_eq!(ended[0]["subject"]["plate"]["text"], PLATE);
}

/// The plated car, parked 24 s (its event starts meanwhile), is hidden 30 s by a
/// screen, then seen again moved 270 px (its box overlaps the old one by IoU ~0.2, too
/// little to continue the stay): its plate keeps it one stay, one event.
#[test]
fn a_plated_car_hidden_then_moved_keeps_one_stay() {
    let dir = tempfile::tempdir().unwrap();
    let s = scene();
    let first = with_car(s, P1);
    let mut hidden = first.clone();
    // A grey screen stands in front of the car. Not a vehicle: YOLOX-nano calls a
    // dark van-sized block a car, which the tracker would hand the parked car's track
    // to (the stay then never loses sight of it and ends when the car reappears).
    hidden.fill(Rect::new(380, 190, 480, 340), [118, 118, 116]);
    let moved = with_car(s, P2);
    let video = encode(
        dir.path(),
        "occluded.mp4",
        &[
            Segment::Hold {
                picture: &s.empty,
                seconds: 2.0,
            },
            Segment::Hold {
                picture: &first,
                seconds: 24.0,
            },
            Segment::Hold {
                picture: &hidden,
                seconds: 30.0,
            },
            Segment::Hold {
                picture: &moved,
                seconds: 20.0,
            },
            Segment::Hold {
                picture: &s.empty,
                seconds: 46.0,
            },
        ],
    );
    // Closed 40 s after the car was last seen: longer than the occlusion.
    let cfg = replay_config(dir.path(), "occluded", "", ANALYSIS, &zones(LOCATION, 40.0));
    // The screen really takes the car from the detector, which sees it at both spots.
    let vehicles: Vec<usize> = detect(dir.path(), &cfg, &[&first, &hidden, &moved])
        .into_iter()
        .map(|classes| {
            classes
                .iter()
                .filter(|c| ["car", "truck", "bus"].contains(&c.as_str()))
                .count()
        })
        .collect();
    assert_eq!(vehicles[0], 1, "the parked car is seen");
    assert_eq!(vehicles[1], 0, "the screen hides it");
    assert_eq!(vehicles[2], 1, "the car is seen again");
    let events = replay_events(&cfg, &video, &dir.path().join("evidence"));
    let started = of(&events, "started");
    let ended = of(&events, "ended");
    assert_eq!(started.len(), 1, "one stay, one event: {events:#?}");
    assert_eq!(ended.len(), 1, "{events:#?}");
    assert_eq!(started[0]["id"], ended[0]["id"]);
    assert_eq!(ended[0]["subject"]["plate"]["text"], PLATE);
    // The stay lasted from the first parking to the car leaving the second spot (74 s
    // in all; 54 s would be the first spot and the occlusion).
    let duration = ended[0]["duration_s"].as_f64().unwrap();
    assert!(
        duration > 68.0,
        "the stay spans both positions: {duration} s"
    );
}

/// The daemon on a simulated RTSP camera gives the same photo set as `replay`, and
/// the page finds the event by part of its plate.
#[test]
fn the_daemon_gives_the_same_photo_set_as_replay_and_the_page_finds_it_by_plate() {
    let video = plated_video();
    let cam = support::CamSim::start(
        support::free_port(),
        &[("/bay", video.display().to_string())],
        None,
    );
    let config = daemon_config(&cam.url("/bay"), None);
    let d = support::daemon::RunningDaemon::start(&config, "info");
    let (c, base, _) = d.page();
    let get = |path: &str| -> Value {
        c.get(format!("{base}{path}"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    // Replayed (or waited for) while the daemon watches the camera.
    let r = of(&plated_replay().events, "started")[0].clone();
    // The plate filter finds the event once its started phase is recorded.
    let found = support::wait_for(Duration::from_secs(110), || {
        let list = get("/api/events?plate=b6k");
        list["events"]
            .as_array()
            .and_then(|a| a.first().cloned())
            .filter(|e| e["plate"] == PLATE)
    })
    .unwrap_or_else(|| panic!("no event with plate {PLATE}:\n{}", d.log()));
    assert!(
        get("/api/events?plate=京A")["events"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let bad = c
        .get(format!("{base}/api/events?plate=%25"))
        .send()
        .unwrap();
    assert_eq!(bad.status(), 422);
    let detail = get(&format!("/api/events/{}", found["id"].as_str().unwrap()));
    let live = &detail["event"];
    assert_eq!(
        live["subject"]["plate"]["text"],
        r["subject"]["plate"]["text"]
    );
    assert_eq!(live["photo_set"]["wide"], r["photo_set"]["wide"]);
    assert_eq!(
        live["photo_set"]["plate_closeup"],
        r["photo_set"]["plate_closeup"]
    );
    assert_eq!(live["photo_set"]["composite"], r["photo_set"]["composite"]);
    assert_eq!(
        live["photo_set"]["required_interval_s"],
        r["photo_set"]["required_interval_s"]
    );
    // Names, kinds, caption lines, and the sizes of the pictures whose size does not
    // hang on the vehicle's box (crops differ by a pixel or two: the daemon analyses
    // the frames RTSP delivers, not the file's).
    let pictures = |e: &Value| -> Vec<(String, String, u64, usize)> {
        let mut v: Vec<_> = e["media"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["content_type"] == "image/jpeg")
            // The started phase's pictures: replay, faster than the media, may already
            // have the ended phase's snapshot in the event's list when it reports the
            // start; the daemon is asked at its start.
            .filter(|m| !m["name"].as_str().unwrap().starts_with("ended"))
            .map(|m| {
                let crop = m["kind"] == "crop" && m["name"] != "plate.jpg";
                (
                    m["name"].as_str().unwrap().to_string(),
                    m["kind"].as_str().unwrap().to_string(),
                    if crop {
                        0
                    } else {
                        m["width"].as_u64().unwrap()
                    },
                    m["caption"].as_array().map_or(0, Vec::len),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(pictures(live), pictures(&r));
    // The page can show the photo set: every picture is served.
    for m in detail["media"].as_array().unwrap() {
        if let Some(url) = m["url"].as_str() {
            let resp = c.get(format!("{base}{url}")).send().unwrap();
            assert!(resp.status().is_success(), "{url}");
        }
    }
}

/// A short accuracy sweep (the full one is `cargo bench --bench plates`): rendered
/// plates pasted on sample-media cars, read by the real models. Prints the table.
#[test]
fn rendered_plates_read_exactly_at_90_px_and_above() {
    use streetwatch::camsim::plate_eval::{Degrade, car_crops, sweep, table};
    use streetwatch::evidence::plate::PlateConfig;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = streetwatch::config::InferenceConfig {
        models_dir: root.join("models"),
        weights_dir: support::weights_dir(),
        ..Default::default()
    };
    let policy = PlateConfig::default();
    let reader =
        streetwatch::infer::plate::PlateReader::load(&cfg, &policy.detector, &policy.recogniser)
            .expect("plate models (make setup fetches them)");
    let mut det = streetwatch::infer::Detector::load(&cfg, "yolox-nano").unwrap();
    let mut cars = car_crops(&mut det, &media("person-bicycle-car-detection.gif"), 0.2, 3).unwrap();
    cars.extend(mp4_cars(&mut det));
    assert!(
        cars.len() >= 3,
        "cars found in the sample media: {}",
        cars.len()
    );
    let rows = sweep(
        &reader,
        &cars,
        &[60, 90, 140],
        &[PlateStyle::Blue, PlateStyle::Green],
        8,
        &Degrade::default(),
        &policy,
        7,
    )
    .unwrap();
    println!("{}", table(&rows));
    let rate = |w: u32| {
        let r: Vec<_> = rows.iter().filter(|r| r.width_px == w).collect();
        r.iter().map(|r| r.exact).sum::<usize>() as f64
            / r.iter().map(|r| r.plates).sum::<usize>() as f64
    };
    // 16 plates per width: one or two misses are noise, the 90 % goal is the bench's
    // (100 plates per row).
    assert!(rate(90) >= 0.85, "90 px: {:.2}", rate(90));
    assert!(rate(140) >= 0.85, "140 px: {:.2}", rate(140));
    // Reads the policy counts are right far more often than not.
    let counted: usize = rows.iter().map(|r| r.counted).sum();
    let right: usize = rows.iter().map(|r| r.counted_exact).sum();
    assert!(
        counted > 0 && right as f64 / counted as f64 >= 0.9,
        "{right}/{counted}"
    );
}

/// The two cars `car_crops(.., "car-detection.mp4", 0.2, 2)` takes (of its frames at
/// least 0.2 s apart, the first two with a car: the 35th and the 75th, about 18 s in),
/// detecting only those two frames instead of the 73 before them.
fn mp4_cars(det: &mut streetwatch::infer::Detector) -> Vec<Picture> {
    let frames = streetwatch::camsim::scenario::decode_pictures(
        &media("car-detection.mp4"),
        200_000_000,
        20_000_000_000,
    )
    .unwrap();
    let mut out = Vec::new();
    for i in [34, 74] {
        let p = &frames[i].0;
        let dets = det.detect_rgb(&p.rgb, p.width, p.height).unwrap();
        let d = dets
            .iter()
            .find(|d| {
                d.category.is_under("vehicle.car") && d.score >= 0.4 && d.bbox.width() >= 40.0
            })
            .unwrap_or_else(|| panic!("no car in frame {i}"));
        // car_crops' margin: a tenth of the box on each side.
        let b = d.bbox;
        let (mx, my) = (b.width() * 0.1, b.height() * 0.1);
        let x0 = (b.x1 - mx).max(0.0) as u32;
        let y0 = (b.y1 - my).max(0.0) as u32;
        let x1 = ((b.x2 + mx) as u32).min(p.width);
        let y1 = ((b.y2 + my) as u32).min(p.height);
        out.push(p.crop(Rect::new(x0, y0, x1 - x0, y1 - y0)));
    }
    let sizes: Vec<_> = out.iter().map(|c| (c.width, c.height)).collect();
    assert_eq!(sizes, [(135, 64), (182, 213)], "the cars car_crops finds");
    out
}

/// A camera with two streams: the plated car park scaled to 1920x1080 as its main
/// stream and to 640x360 as its substream, served by two `serve-rtsp --clock-aligned`
/// processes. The plate is 165 px wide in the main stream and 55 px in the substream,
/// below the 90 px the reader needs, so an exact read of a plate measured over 140 px
/// shows that the read and its close-up come from the main stream; the wide shots are
/// 1920x1080 and tagged `stream: main`.
#[test]
fn a_two_stream_camera_reads_the_plate_from_its_main_stream() {
    let dir = shared_dir().join("two-streams");
    std::fs::create_dir_all(&dir).unwrap();
    let (main, sub) = (dir.join("main.mp4"), dir.join("sub.mp4"));
    std::thread::scope(|s| {
        s.spawn(|| support::rescale(plated_video(), &main, (1920, 1080), 4_000_000));
        support::rescale(plated_video(), &sub, (640, 360), 500_000);
    });
    let msrv = support::CamSim::start_aligned(
        support::free_port(),
        &[("/main", main.display().to_string())],
    );
    let ssrv = support::CamSim::start_aligned(
        support::free_port(),
        &[("/sub", sub.display().to_string())],
    );
    let config = daemon_config(&msrv.url("/main"), Some(&ssrv.url("/sub")));
    let d = support::daemon::RunningDaemon::start(&config, "info");
    let (c, base, _) = d.page();
    let get = |path: &str| -> Value {
        c.get(format!("{base}{path}"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    // A case whose wide shots both come from the main stream. The 1920x1080 stream
    // may join later than the substream at start (on a loaded machine the first lap's
    // first shot can fall before the main ring has it: that shot then comes from the
    // substream, tagged `stream: analysis`); the video loops, so a later lap's case
    // has both from the main stream (and no phase flagged `main_stream_unavailable`).
    let main_wide = |ev: &Value| {
        ev["photo_set"]["wide"].as_array().is_some_and(|w| {
            w.len() >= 2
                && w.iter().all(|n| {
                    ev["media"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|m| m["name"] == *n && m["stream"] == "main" && m["width"] == 1920)
                })
        })
    };
    let ev = support::wait_for(Duration::from_secs(200), || {
        let list = get("/api/events?plate=b6k");
        list["events"]
            .as_array()?
            .iter()
            .filter(|e| e["plate"] == PLATE)
            .map(|e| get(&format!("/api/events/{}", e["id"].as_str().unwrap()))["event"].clone())
            .find(|ev| {
                main_wide(ev)
                    && ev["subject"]["plate"]["text"] == PLATE
                    && ev["main_stream_unavailable"] != true
            })
    })
    .unwrap_or_else(|| {
        panic!(
            "no event with plate {PLATE} and both wide shots from the main stream: {:#}\n{}",
            get("/api/events?plate=b6k"),
            d.log()
        )
    });
    let plate = &ev["subject"]["plate"];
    assert_eq!(plate["text"], PLATE, "{plate:#}");
    let width = plate["width_px"].as_f64().unwrap();
    assert!(
        width > 140.0,
        "the plate measured in main-stream pixels: {plate:#}"
    );
    // The close-up exists (cut around that 165 px read; the substream's 55 px plate
    // would have been `too_small`).
    let closeup = media_of(&ev, ev["photo_set"]["plate_closeup"].as_str().unwrap());
    assert_eq!(
        closeup["stream"], "main",
        "the close-up says its stream: {closeup:#}"
    );
    let wide = ev["photo_set"]["wide"].as_array().unwrap();
    assert!(wide.len() >= 2, "{:#}", ev["photo_set"]);
    for name in wide {
        let m = media_of(&ev, name.as_str().unwrap());
        assert_eq!(
            (m["width"].as_u64(), m["stream"].as_str()),
            (Some(1920), Some("main")),
            "{m:#}"
        );
    }
    assert!(ev["main_stream_unavailable"].is_null() || ev["main_stream_unavailable"] == false);
}
