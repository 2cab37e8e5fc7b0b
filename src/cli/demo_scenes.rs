//! The demo's scenes: short videos composed from the sample media when the demo
//! starts, so a newcomer sees the product do its job within a minute or two:
//!
//! - `parked-car`: the car-park GIF (a real car drives into a bay and stops), then its
//!   last frame held 75 s with light sensor noise; looped by the demo's RTSP server, so
//!   the car "arrives" again every loop. With the demo's 15 s no-parking dwell it gives
//!   an illegal-parking event about half a minute after the camera starts, and the
//!   case ends when the loop restarts.
//! - `litter`: the empty room of the people sample (its frame at 22 s) held 8 s, then
//!   the same frame with a real bottle (cut from the bottle sample) on the floor for
//!   60 s, then empty again for 20 s: exposed garbage reported after the zone's 15 s.
//!
//! Like the scenario tests, these are honest composites of real pixels (the detector
//! sees a real car and a real bottle); nothing is committed: they are built from
//! `.deps/media` into a cache directory once, and rebuilt only when their recipe
//! (`RECIPE`) changes.

use std::path::{Path, PathBuf};
use streetwatch::camsim::picture::{Picture, Rect};
use streetwatch::camsim::scenario::{ScenarioSpec, Segment, compose, decode_pictures};

/// Bumped whenever a scene's composition changes, so a cached file is not reused.
const RECIPE: &str = "v1";

/// The scenes the demo config may name (`rtsp://…/scenes/<name>.mp4`).
pub const SCENES: &[&str] = &["parked-car", "litter"];

fn spec(fps: u32, gop_frames: u32) -> ScenarioSpec {
    ScenarioSpec {
        fps,
        hold_s: 0.0,
        gop_frames,
        noise: 2,
        bitrate: 400_000,
    }
}

fn need(media: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let p = media.join(name);
    anyhow::ensure!(
        p.is_file(),
        "{} is missing: run `make setup` (or pass --media DIR with the sample videos)",
        p.display()
    );
    Ok(p)
}

fn parked_car(media: &Path, out: &Path) -> anyhow::Result<()> {
    let frames = decode_pictures(
        &need(media, "person-bicycle-car-detection.gif")?,
        0,
        u64::MAX,
    )?;
    let last = frames
        .last()
        .map(|f| f.0.clone())
        .ok_or_else(|| anyhow::anyhow!("the car-park GIF has no frames"))?;
    compose(
        out,
        &spec(4, 8),
        &[
            Segment::Frames {
                frames: &frames,
                repeat: 1,
            },
            Segment::Hold {
                picture: &last,
                seconds: 75.0,
            },
        ],
    )?;
    Ok(())
}

/// The frame of `frames` shown at `t` seconds.
fn at(frames: &[(Picture, u64)], t: f64) -> Option<&Picture> {
    let mut acc = 0.0;
    for (p, d) in frames {
        acc += *d as f64 / 1e9;
        if acc > t {
            return Some(p);
        }
    }
    frames.last().map(|f| &f.0)
}

fn litter(media: &Path, out: &Path) -> anyhow::Result<()> {
    let room = decode_pictures(
        &need(media, "one-by-one-person-detection.mp4")?,
        250_000_000,
        23_000_000_000,
    )?;
    let empty = at(&room, 22.0)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the room sample has no frames"))?;
    // The bottle of bottle-detection.mp4 at 20.1 s (YOLOX-nano `bottle` ~0.9 there).
    let bottle = decode_pictures(
        &need(media, "bottle-detection.mp4")?,
        20_130_000_000,
        20_150_000_000,
    )?
    .last()
    .map(|f| f.0.crop(Rect::new(500, 100, 78, 220)))
    .ok_or_else(|| anyhow::anyhow!("the bottle sample has no frames"))?;
    let mut littered = empty.clone();
    // On the floor left of where the person stood (YOLOX-nano: `bottle` ~0.8).
    littered.paste(&bottle, 300, 190);
    compose(
        out,
        &spec(2, 4),
        &[
            Segment::Hold {
                picture: &empty,
                seconds: 8.0,
            },
            Segment::Hold {
                picture: &littered,
                seconds: 60.0,
            },
            Segment::Hold {
                picture: &empty,
                seconds: 20.0,
            },
        ],
    )?;
    Ok(())
}

/// The scene `name` under `dir`, built from `media` unless an up-to-date one is there.
pub fn scene(name: &str, media: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let out = dir.join(format!("{name}-{RECIPE}.mp4"));
    if out.metadata().is_ok_and(|m| m.len() > 0) {
        return Ok(out);
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    // Built beside and renamed: an interrupted build never leaves a short scene.
    let tmp = dir.join(format!(".{name}-{RECIPE}.{}.mp4", std::process::id()));
    let started = std::time::Instant::now();
    let built = match name {
        "parked-car" => parked_car(media, &tmp),
        "litter" => litter(media, &tmp),
        other => Err(anyhow::anyhow!(
            "unknown demo scene \"{other}\"; the demo knows {}",
            SCENES.join(", ")
        )),
    };
    if let Err(e) = built {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("building the demo scene {name}")));
    }
    std::fs::rename(&tmp, &out)?;
    tracing::info!(
        scene = name,
        file = %out.display(),
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "demo: scene built from the sample media"
    );
    Ok(out)
}
