//! A PTZ dome's pictures, composed at test time from the sample media, and the
//! `serve-rtsp` switching mount that serves them: one scene per preset and a blurred
//! pan while the dome travels. The simulated dome's position picks the clip
//! ([`super::onvif::PtzSim::with_picture`] writes the mount's select file).
//!
//! - Preset 1, the bay: the parking scenario (the car-park GIF, in which a real car
//!   drives into the bay at the top left and stops, then its last frame held).
//! - Preset 2, another kerb: the same car park seen after a turn. Composed from real
//!   pixels: the bay emptied with the patch of tarmac the GIF's first frame shows there
//!   (before the car came), the parked car pasted 230 px right and 110 px down, and the
//!   whole view shifted 80 px left and 30 px down (a 17 % shift: against preset 1's
//!   reference view it would be a `moved` camera). The car then stands at about
//!   x 0.31-0.50, y 0.64-0.89 of the picture, nothing stands in the bay.
//! - Moving: preset 1's picture panning towards preset 2 in four steps (20 px left and
//!   7 px down each), softened as a moving camera's exposure blurs it; one second,
//!   looped.
//!
//! Every clip is 480x270 H.264 at 4 fps with a keyframe every second, so the stream
//! joins a newly selected clip within a second.

use super::{Command, bin, media};
use std::path::{Path, PathBuf};
use streetwatch::camsim::picture::{Picture, Rect};
use streetwatch::camsim::scenario::{ScenarioSpec, Segment, compose, decode_pictures};

/// Frame rate, GOP (1 s), noise and bitrate of every dome clip (the same caps).
pub fn spec() -> ScenarioSpec {
    ScenarioSpec {
        fps: 4,
        hold_s: 0.0,
        gop_frames: 4,
        noise: 2,
        bitrate: 400_000,
    }
}

/// The car-park GIF's frames (a car drives into the bay at the top left and stops).
pub fn gif_frames() -> Vec<(Picture, u64)> {
    decode_pictures(&media("person-bicycle-car-detection.gif"), 0, u64::MAX)
        .expect("decode the car-park GIF")
}

/// What preset 2 sees (see the module's doc).
pub fn preset_2(frames: &[(Picture, u64)]) -> Picture {
    let (first, parked) = (&frames[0].0, &frames.last().unwrap().0);
    let bay = Rect::new(0, 20, 125, 90);
    let mut p = parked.clone();
    p.paste(&first.crop(bay), 0, 20);
    p.paste(&parked.crop(bay), 230, 130);
    p.moved(-80.0, 30.0, 0.0, 1.0)
}

/// The four pictures of the pan from preset 1 towards preset 2, a quarter second each.
pub fn moving(parked: &Picture) -> Vec<(Picture, u64)> {
    let (w, h) = (parked.width, parked.height);
    (1..=4)
        .map(|k| {
            let step = parked.moved(-20.0 * k as f32, 7.5 * k as f32, 0.0, 1.0);
            (step.resized(w / 6, h / 6).resized(w, h), 250_000_000)
        })
        .collect()
}

/// Two seconds of `picture` as a still camera films it: eight frames, a quarter
/// second each, with light sensor noise (±2 levels), so the encoder writes real
/// P-frames; looped, it stands for a still scene of any length at the cost of encoding
/// only (noise for every frame of a long hold is what composing spends most on).
pub fn still(picture: &Picture) -> Vec<(Picture, u64)> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    (0..8)
        .map(|_| {
            let mut p = picture.clone();
            for v in p.rgb.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *v = (i16::from(*v) + (seed % 5) as i16 - 2).clamp(0, 255) as u8;
            }
            (p, 250_000_000)
        })
        .collect()
}

/// The dome's clips, written under `dir`.
pub struct DomeScenes {
    pub preset_1: PathBuf,
    pub preset_2: PathBuf,
    pub moving: PathBuf,
}

impl DomeScenes {
    /// Composes the clips: preset 1 is the parking scenario held about `hold_s` (whole
    /// 2 s) after the car stopped, preset 2 a 10 s still (the server loops both).
    pub fn compose(dir: &Path, hold_s: f64) -> DomeScenes {
        let frames = gif_frames();
        let parked = still(&frames.last().unwrap().0);
        let kerb = still(&preset_2(&frames));
        let pan = moving(&frames.last().unwrap().0);
        let scenes = DomeScenes {
            preset_1: dir.join("dome-preset-1.mp4"),
            preset_2: dir.join("dome-preset-2.mp4"),
            moving: dir.join("dome-moving.mp4"),
        };
        let spec = spec();
        let run = |out: &Path, segments: &[Segment<'_>]| {
            compose(out, &spec, segments)
                .unwrap_or_else(|e| panic!("composing {}: {e}", out.display()));
        };
        let loop_of = |frames, repeat| Segment::Frames { frames, repeat };
        std::thread::scope(|s| {
            s.spawn(|| {
                run(
                    &scenes.preset_1,
                    &[
                        loop_of(&frames, 1),
                        loop_of(&parked, (hold_s / 2.0).ceil() as u32),
                    ],
                )
            });
            run(&scenes.preset_2, &[loop_of(&kerb, 5)]);
            run(&scenes.moving, &[loop_of(&pan, 1)]);
        });
        scenes
    }

    /// The `serve-rtsp --mount` source: preset tokens `1` and `2`, and the pan both
    /// while the dome moves and when it stands away from every preset.
    pub fn source(&self) -> String {
        format!(
            "switch:1={},2={},{}={},{}={}",
            self.preset_1.display(),
            self.preset_2.display(),
            super::onvif::MOVING,
            self.moving.display(),
            super::onvif::AWAY,
            self.moving.display()
        )
    }
}

/// A `serve-rtsp` serving `mount` from a switching `source` (`switch:NAME=FILE,...`)
/// whose clip `select` names (`--select-file`), optionally with credentials.
pub fn serve(
    mount: &str,
    source: &str,
    select: &Path,
    creds: Option<(&str, &str)>,
) -> super::CamSim {
    let sel = select.display().to_string();
    super::CamSim::start_args(
        Command::new(bin()),
        super::free_port(),
        &[(mount, source.to_string())],
        creds,
        &["--select-file", &sel],
    )
}
