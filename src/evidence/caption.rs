//! The caption strip burned into every evidence picture (GA/T 832 practice: date and
//! time with the UTC offset, place, device, event, plate, dwell).
//!
//! The strip is added *below* the picture, on an extended canvas, never over the
//! scene: the platform can tell the burned-in text from what the camera saw, and
//! `MediaRef.caption_px` says how many bottom rows it takes. The same lines are carried
//! as text in `MediaRef.caption`, so the words are signed with the event and a
//! receiver can re-render the strip to check it ([`render_strip`] is deterministic for
//! a given font, width and lines).

use chrono_tz::Tz;

use crate::draw::{Canvas, FontError, font};
use crate::ingest::MediaTime;
use crate::rules::event::EventKind;

use super::labels::kind_zh;

/// Strip background and text colours.
const STRIP_BG: [u8; 3] = [0, 0, 0];
const STRIP_FG: [u8; 3] = [255, 255, 255];

/// What a picture's caption says.
#[derive(Debug, Clone, PartialEq)]
pub struct Caption {
    /// When the picture was taken (its frame's media time).
    pub at: MediaTime,
    pub tz: Tz,
    pub kind: EventKind,
    /// The picture's role, e.g. "首次静止".
    pub role: String,
    /// Location text (事发位置) of the zone; the zone's name when it has none.
    pub location: String,
    pub device_id: String,
    /// Camera name, with its id when the two differ.
    pub camera: String,
    pub event_id: String,
    /// Parking only: the plate as read (`Some("粤G12345（蓝）")`) or `Some("未识别")`.
    pub plate: Option<String>,
    /// Seconds the situation has lasted at this picture.
    pub dwell_s: Option<f64>,
}

/// `hh:mm:ss` of a duration.
pub fn hms(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Date and time with the UTC offset, e.g. "2026-11-21 08:00:25 +08:00".
pub fn local_time(at: MediaTime, tz: Tz) -> String {
    at.to_utc()
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

impl Caption {
    /// The caption's text lines.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "{}  {}  {}",
                local_time(self.at, self.tz),
                kind_zh(self.kind),
                self.role
            ),
            format!("地点：{}", self.location),
            format!("设备：{}  摄像机：{}", self.device_id, self.camera),
            format!("事件：{}", self.event_id),
        ];
        let dwell_word = if self.kind == EventKind::IllegalParking {
            "已停留"
        } else {
            "已持续"
        };
        let dwell = self.dwell_s.map(|d| format!("{dwell_word}：{}", hms(d)));
        match (&self.plate, dwell) {
            (Some(p), Some(d)) => lines.push(format!("车牌：{p}  {d}")),
            (Some(p), None) => lines.push(format!("车牌：{p}")),
            (None, Some(d)) => lines.push(d),
            (None, None) => {}
        }
        lines
    }
}

/// Text size for a picture `width` pixels wide: readable on a phone, 5 lines at most
/// a fifth of a 16:9 picture.
pub fn text_px(width: u32) -> f32 {
    (width as f32 / 48.0).clamp(14.0, 44.0)
}

/// Splits lines wider than `max_w` at character boundaries (a long location).
fn wrap(lines: &[String], px: f32, max_w: f32) -> Result<Vec<String>, FontError> {
    let f = font()?;
    let mut out = Vec::new();
    for line in lines {
        let mut cur = String::new();
        for ch in line.chars() {
            cur.push(ch);
            if f.measure(&cur, px).width > max_w && cur.chars().count() > 1 {
                cur.pop();
                out.push(std::mem::take(&mut cur));
                cur.push(ch);
            }
        }
        out.push(cur);
    }
    Ok(out)
}

/// Renders the strip for a picture `width` pixels wide: tightly packed RGB rows,
/// returned with its height.
pub fn render_strip(width: u32, lines: &[String]) -> Result<(Vec<u8>, u32), FontError> {
    let f = font()?;
    let px = text_px(width);
    let pad = (px / 2.0).round();
    let lines = wrap(lines, px, width as f32 - 2.0 * pad)?;
    let line_h = (f.measure("国Ag", px).height * 1.1).ceil();
    let height = (line_h * lines.len() as f32 + 2.0 * pad).ceil() as u32;
    let mut data = vec![0u8; (width * height * 3) as usize];
    {
        let mut c = Canvas {
            data: &mut data,
            width,
            height,
        };
        c.fill(0, 0, i64::from(width), i64::from(height), STRIP_BG);
        for (i, line) in lines.iter().enumerate() {
            f.draw(&mut c, pad, pad + i as f32 * line_h, line, px, STRIP_FG);
        }
    }
    Ok((data, height))
}

/// A picture with its strip appended below: (RGB, width, height, strip rows).
pub struct Captioned {
    pub rgb: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub caption_px: u32,
    pub lines: Vec<String>,
}

/// Appends the caption strip below `rgb` (`width` x `height`).
pub fn append(
    mut rgb: Vec<u8>,
    width: u32,
    height: u32,
    caption: &Caption,
) -> Result<Captioned, FontError> {
    let lines = caption.lines();
    let (strip, strip_h) = render_strip(width, &lines)?;
    rgb.extend_from_slice(&strip);
    Ok(Captioned {
        rgb,
        width,
        height: height + strip_h,
        caption_px: strip_h,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caption(location: &str) -> Caption {
        Caption {
            at: MediaTime::from_secs_f64(1_795_132_825.0),
            tz: chrono_tz::Asia::Shanghai,
            kind: EventKind::IllegalParking,
            role: "确认违停".into(),
            location: location.into(),
            device_id: "box-1".into(),
            camera: "东门".into(),
            event_id: "019aa6f2-0000-7000-8000-000000000000".into(),
            plate: Some("粤G12345（蓝）".into()),
            dwell_s: Some(65.2),
        }
    }

    #[test]
    fn the_lines_name_time_with_offset_place_device_event_plate_and_dwell() {
        let l = caption("解放路与人民路交叉口东北角").lines();
        assert!(l[0].ends_with("+08:00  违停  确认违停"), "{}", l[0]);
        assert_eq!(l[1], "地点：解放路与人民路交叉口东北角");
        assert_eq!(l[2], "设备：box-1  摄像机：东门");
        assert!(l[3].starts_with("事件：019aa6f2"));
        assert_eq!(l[4], "车牌：粤G12345（蓝）  已停留：00:01:05");
    }

    #[test]
    fn the_strip_goes_below_the_picture_and_a_changed_location_changes_it() {
        let pic = vec![90u8; 640 * 360 * 3];
        let a = append(pic.clone(), 640, 360, &caption("解放路")).unwrap();
        assert_eq!(a.height, 360 + a.caption_px);
        assert_eq!(&a.rgb[..pic.len()], &pic[..], "the scene is untouched");
        let (strip, h) = render_strip(640, &a.lines).unwrap();
        assert_eq!(h, a.caption_px);
        assert_eq!(
            &a.rgb[pic.len()..],
            &strip[..],
            "rendering is deterministic"
        );
        let b = append(pic.clone(), 640, 360, &caption("人民路")).unwrap();
        assert_ne!(a.rgb, b.rgb);
    }

    #[test]
    fn a_long_location_wraps_instead_of_running_off() {
        let long = "很长的地点".repeat(30);
        let a = append(vec![0; 320 * 10 * 3], 320, 10, &caption(&long)).unwrap();
        let one = append(vec![0; 320 * 10 * 3], 320, 10, &caption("短")).unwrap();
        assert!(a.caption_px > one.caption_px);
    }
}
