//! Repair of one RTSP stream defect that splits pictures in two: parameter sets repeated
//! *between* the slices of one picture.
//!
//! GStreamer's `rtph264pay`/`rtph265pay` with `config-interval=-1` (the setting most
//! GStreamer-based cameras and servers use) send SPS/PPS before *every* IDR slice, not
//! once per picture. An encoder that cuts a picture into several slices (x264 with
//! `tune=zerolatency`, i.e. sliced threads; many IP cameras) then yields
//! `SPS PPS slice0 SPS PPS slice1` in one access unit. H.264 §7.4.1.2.3 (and H.265
//! §7.4.2.4.4) say a parameter set after a picture's slices starts a *new* access
//! unit, so `h264parse` correctly splits the picture in two: the second half has no
//! timestamp and no delta flag. Downstream that looked like a keyframe every frame at
//! the connection's start time ("GOP 1 frames (10.15 s)") and fed the decoder half
//! pictures, so detection ran on frames with garbage where the car stood.
//!
//! The depayloader splits the same way when asked for access units, so the repair takes
//! its NAL units one by one, each stamped with its RTP timestamp, and drops a parameter
//! set that carries the timestamp of a slice already seen: it sits inside a picture.
//! The parser then assembles whole pictures. Nothing is lost: the dropped sets repeat
//! the ones in front of the picture, and the parser puts SPS/PPS in front of every
//! keyframe anyway.

use super::frame::Codec;

/// Byte ranges of the NAL units of an Annex B byte stream: `(start, payload, end)`
/// where `start` is the first byte of the start code, `payload` the NAL header.
pub fn nal_units(data: &[u8]) -> Vec<(usize, usize, usize)> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            // A 4-byte start code is a zero byte plus the 3-byte one.
            let start = if i > 0 && data[i - 1] == 0 { i - 1 } else { i };
            starts.push((start, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(starts.len());
    for (k, &(start, payload)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(data.len(), |n| n.0);
        if payload < end {
            out.push((start, payload, end));
        }
    }
    out
}

/// What a NAL header says, for the repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NalKind {
    /// A coded slice of a picture.
    Slice,
    /// SPS, PPS (and VPS for H.265).
    ParameterSet,
    Other,
}

fn kind(codec: Codec, header: u8) -> NalKind {
    match codec {
        Codec::H264 => match header & 0x1f {
            1..=5 => NalKind::Slice,
            7 | 8 => NalKind::ParameterSet,
            _ => NalKind::Other,
        },
        Codec::H265 => match (header >> 1) & 0x3f {
            0..=31 => NalKind::Slice,
            32..=34 => NalKind::ParameterSet,
            _ => NalKind::Other,
        },
    }
}

/// Drops parameter sets inside a picture from a stream of NAL-aligned buffers.
#[derive(Debug)]
pub struct ParameterSetFilter {
    codec: Codec,
    /// Timestamp of the last slice that went through.
    slice_pts: Option<u64>,
}

/// What to do with one buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Drop,
    /// Several NAL units in one buffer, some of them dropped.
    Replace(Vec<u8>),
}

impl ParameterSetFilter {
    pub fn new(codec: Codec) -> Self {
        Self {
            codec,
            slice_pts: None,
        }
    }

    /// Judge one buffer (normally one NAL unit) with its timestamp.
    pub fn judge(&mut self, pts: Option<u64>, data: &[u8]) -> Verdict {
        let inside = pts.is_some() && pts == self.slice_pts;
        let units = nal_units(data);
        let verdict = match units.as_slice() {
            [] => Verdict::Keep,
            [(_, payload, _)] => match kind(self.codec, data[*payload]) {
                NalKind::ParameterSet if inside => Verdict::Drop,
                _ => Verdict::Keep,
            },
            _ => strip(self.codec, data, &units, inside).map_or(Verdict::Keep, Verdict::Replace),
        };
        if units
            .iter()
            .any(|&(_, p, _)| kind(self.codec, data[p]) == NalKind::Slice)
        {
            self.slice_pts = pts;
        }
        verdict
    }
}

/// The access unit without the parameter sets that follow its first slice, or `None`
/// when it has none (the common case: no copy).
pub fn strip_parameter_sets_between_slices(codec: Codec, au: &[u8]) -> Option<Vec<u8>> {
    strip(codec, au, &nal_units(au), false)
}

fn strip(
    codec: Codec,
    au: &[u8],
    units: &[(usize, usize, usize)],
    mut seen_slice: bool,
) -> Option<Vec<u8>> {
    let mut drop = Vec::new();
    for &(start, payload, end) in units {
        match kind(codec, au[payload]) {
            NalKind::Slice => seen_slice = true,
            NalKind::ParameterSet if seen_slice => drop.push((start, end)),
            _ => {}
        }
    }
    if drop.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(au.len());
    let mut at = 0;
    for (start, end) in drop {
        out.extend_from_slice(&au[at..start]);
        at = end;
    }
    out.extend_from_slice(&au[at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nal(header: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 1, header];
        v.extend_from_slice(body);
        v
    }

    /// SPS PPS SEI IDR-slice0 SPS PPS IDR-slice1, as rtph264pay config-interval=-1 sends
    /// an x264 zerolatency keyframe.
    fn split_idr() -> Vec<u8> {
        [
            nal(0x67, &[0x42, 0, 0x1e]),
            nal(0x68, &[0xce, 0x38]),
            nal(0x06, &[5, 1, 2]),
            nal(0x65, &[0x88, 0x84, 0, 0, 3, 0, 1]),
            nal(0x67, &[0x42, 0, 0x1e]),
            nal(0x68, &[0xce, 0x38]),
            nal(0x65, &[0x88, 0x21, 0xff]),
        ]
        .concat()
    }

    #[test]
    fn start_codes_of_both_lengths_are_found_and_emulation_prevention_is_not_one() {
        let au = [vec![0, 0, 1, 0x09, 0xf0], nal(0x65, &[0, 0, 3, 1, 7])].concat();
        let u = nal_units(&au);
        assert_eq!(u.len(), 2);
        assert_eq!(u[0], (0, 3, 5));
        assert_eq!(u[1], (5, 9, au.len()));
    }

    #[test]
    fn parameter_sets_between_slices_are_dropped_and_the_rest_is_kept_in_order() {
        let au = split_idr();
        let fixed = strip_parameter_sets_between_slices(Codec::H264, &au).unwrap();
        let kinds: Vec<u8> = nal_units(&fixed)
            .iter()
            .map(|&(_, p, _)| fixed[p] & 0x1f)
            .collect();
        assert_eq!(kinds, vec![7, 8, 6, 5, 5]);
        // Both slices intact, byte for byte.
        assert!(fixed.ends_with(&nal(0x65, &[0x88, 0x21, 0xff])));
        let repeated = nal(0x67, &[0x42, 0, 0x1e]).len() + nal(0x68, &[0xce, 0x38]).len();
        assert_eq!(fixed.len(), au.len() - repeated);
    }

    #[test]
    fn nal_by_nal_the_parameter_sets_inside_a_picture_are_dropped() {
        let au = split_idr();
        let mut f = ParameterSetFilter::new(Codec::H264);
        let mut kept = Vec::new();
        // Two pictures: the split keyframe at 0, a P picture at 250 ms, then the next
        // keyframe whose leading parameter sets must stay.
        let units: Vec<(u64, Vec<u8>)> = nal_units(&au)
            .into_iter()
            .map(|(s, _, e)| (0, au[s..e].to_vec()))
            .chain([(250, nal(0x41, &[1]))])
            .chain([
                (500, nal(0x67, &[2])),
                (500, nal(0x68, &[3])),
                (500, nal(0x65, &[4])),
            ])
            .collect();
        for (pts, n) in &units {
            match f.judge(Some(*pts), n) {
                Verdict::Keep => kept.push(n[4] & 0x1f),
                Verdict::Drop => {}
                Verdict::Replace(_) => panic!("one NAL per buffer"),
            }
        }
        assert_eq!(kept, vec![7, 8, 6, 5, 5, 1, 7, 8, 5]);
        // Several NAL units in one buffer after a slice of the same picture.
        let mut f = ParameterSetFilter::new(Codec::H264);
        assert_eq!(f.judge(Some(9), &nal(0x65, &[1])), Verdict::Keep);
        let two = [nal(0x67, &[2]), nal(0x68, &[3]), nal(0x65, &[4])].concat();
        assert_eq!(f.judge(Some(9), &two), Verdict::Replace(nal(0x65, &[4])));
        // Without timestamps nothing can be told apart: kept.
        let mut f = ParameterSetFilter::new(Codec::H264);
        f.judge(None, &nal(0x65, &[1]));
        assert_eq!(f.judge(None, &nal(0x67, &[2])), Verdict::Keep);
    }

    #[test]
    fn a_well_formed_access_unit_is_left_alone() {
        let au = [
            nal(0x67, &[1]),
            nal(0x68, &[2]),
            nal(0x65, &[3]),
            nal(0x65, &[4]),
        ]
        .concat();
        assert!(strip_parameter_sets_between_slices(Codec::H264, &au).is_none());
        let p = nal(0x41, &[9, 9]);
        assert!(strip_parameter_sets_between_slices(Codec::H264, &p).is_none());
    }

    #[test]
    fn h265_vps_sps_pps_between_slices_are_dropped() {
        // NAL header is two bytes; type in bits 1..6 of the first.
        let h = |t: u8| t << 1;
        let au = [
            nal(h(32), &[1, 0xaa]),
            nal(h(33), &[1, 0xbb]),
            nal(h(34), &[1, 0xcc]),
            nal(h(19), &[1, 0x11]),
            nal(h(33), &[1, 0xbb]),
            nal(h(34), &[1, 0xcc]),
            nal(h(19), &[1, 0x22]),
        ]
        .concat();
        let fixed = strip_parameter_sets_between_slices(Codec::H265, &au).unwrap();
        let kinds: Vec<u8> = nal_units(&fixed)
            .iter()
            .map(|&(_, p, _)| (fixed[p] >> 1) & 0x3f)
            .collect();
        assert_eq!(kinds, vec![32, 33, 34, 19, 19]);
    }
}
