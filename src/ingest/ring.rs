//! The encoded ring buffer: the last N seconds of a camera's compressed video, kept so
//! that an event clip can start *before* the event (pre-roll) without re-encoding.
//!
//! Eviction removes whole GOPs from the front, so the oldest entry is always a keyframe
//! and every cut starts decodable. The ring keeps just enough GOPs to cover the asked
//! pre-roll (plus the partial GOP that makes the cut land on a keyframe), and never more
//! bytes than its cap: when one GOP alone is over the cap the ring empties and refills
//! from the next keyframe rather than break the bound.

use super::frame::{AccessUnit, MediaTime};
use std::collections::VecDeque;

/// A cut from the ring, ready to be muxed into a clip.
#[derive(Debug, Clone)]
pub struct RingCut {
    /// Units in decode order; the first is a keyframe.
    pub units: Vec<AccessUnit>,
    /// Media time of the first unit (the keyframe the clip starts on).
    pub start: MediaTime,
    /// Media time of the last unit included.
    pub end: MediaTime,
    /// True when the ring could not reach back to the asked start (GOP or bounds).
    pub preroll_short: bool,
}

#[derive(Debug)]
pub struct EncodedRing {
    units: VecDeque<AccessUnit>,
    /// Indices (into `units`) of keyframes, ascending.
    keyframes: VecDeque<usize>,
    bytes: usize,
    max_seconds: f64,
    max_bytes: usize,
    /// Interval between the last two keyframes, seconds.
    last_gop_s: Option<f64>,
    last_keyframe_time: Option<MediaTime>,
    /// Units refused because the ring had no keyframe to start from.
    pub skipped_before_keyframe: u64,
    /// Units evicted for either bound.
    pub evicted: u64,
}

impl EncodedRing {
    pub fn new(max_seconds: f64, max_bytes: usize) -> Self {
        Self {
            units: VecDeque::new(),
            keyframes: VecDeque::new(),
            bytes: 0,
            max_seconds,
            max_bytes,
            last_gop_s: None,
            last_keyframe_time: None,
            skipped_before_keyframe: 0,
            evicted: 0,
        }
    }

    pub fn push(&mut self, au: AccessUnit) {
        if au.keyframe {
            if let Some(prev) = self.last_keyframe_time {
                let gop = au.time.secs_since(prev);
                if gop > 0.0 {
                    self.last_gop_s = Some(gop);
                }
            }
            self.last_keyframe_time = Some(au.time);
        }
        if self.units.is_empty() && !au.keyframe {
            self.skipped_before_keyframe += 1;
            return;
        }
        if au.keyframe {
            self.keyframes.push_back(self.units.len());
        }
        self.bytes += au.data.len();
        self.units.push_back(au);
        self.evict();
    }

    fn drop_front_gop(&mut self) {
        let end = self.keyframes.get(1).copied().unwrap_or(self.units.len());
        for _ in 0..end {
            if let Some(u) = self.units.pop_front() {
                self.bytes -= u.data.len();
                self.evicted += 1;
            }
        }
        self.keyframes.pop_front();
        for k in self.keyframes.iter_mut() {
            *k -= end;
        }
    }

    fn evict(&mut self) {
        while self.bytes > self.max_bytes && !self.units.is_empty() {
            self.drop_front_gop();
        }
        // Drop the oldest GOP only while the rest still covers the asked pre-roll.
        while let (Some(&second), Some(newest)) = (self.keyframes.get(1), self.units.back()) {
            if newest.time.secs_since(self.units[second].time) >= self.max_seconds {
                self.drop_front_gop();
            } else {
                break;
            }
        }
    }

    /// Drop everything (a new connection may change codec parameters).
    pub fn clear(&mut self) {
        self.units.clear();
        self.keyframes.clear();
        self.bytes = 0;
        self.last_keyframe_time = None;
    }

    pub fn len(&self) -> usize {
        self.units.len()
    }
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
    pub fn oldest(&self) -> Option<&AccessUnit> {
        self.units.front()
    }
    pub fn newest(&self) -> Option<&AccessUnit> {
        self.units.back()
    }
    /// Seconds of video the ring can offer before its newest unit.
    pub fn available_preroll(&self) -> f64 {
        match (self.units.front(), self.units.back()) {
            (Some(a), Some(b)) => b.time.secs_since(a.time),
            _ => 0.0,
        }
    }
    /// The camera's current GOP length in seconds, once two keyframes were seen.
    pub fn gop_seconds(&self) -> Option<f64> {
        self.last_gop_s
    }
    /// Units between the last two keyframes in the ring (the GOP length in frames).
    pub fn gop_frames(&self) -> Option<usize> {
        let n = self.keyframes.len();
        (n >= 2).then(|| self.keyframes[n - 1] - self.keyframes[n - 2])
    }
    /// True when the GOP is longer than the asked pre-roll: a clip may then start up
    /// to one GOP earlier than asked, and the ring holds up to twice the pre-roll.
    pub fn gop_exceeds_preroll(&self) -> bool {
        self.last_gop_s.is_some_and(|g| g > self.max_seconds)
    }

    /// Units from the last keyframe at or before `from` up to `to` (inclusive).
    pub fn cut(&self, from: MediaTime, to: MediaTime) -> Option<RingCut> {
        let first = self.keyframes.front()?;
        let mut start_idx = *first;
        let mut short = true;
        for &k in self.keyframes.iter() {
            if self.units[k].time <= from {
                start_idx = k;
                short = false;
            } else {
                break;
            }
        }
        let units: Vec<AccessUnit> = self
            .units
            .iter()
            .skip(start_idx)
            // Decode order: stop at the first unit past `to` so nothing after the cut is
            // referenced by what is kept.
            .take_while(|u| u.time <= to)
            .cloned()
            .collect();
        let start = units.first()?.time;
        let end = units.iter().map(|u| u.time).max()?;
        Some(RingCut {
            units,
            start,
            end,
            preroll_short: short,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A 25 fps stream with a keyframe every `gop` frames and `size`-byte units.
    fn unit(i: u64, gop: u64, size: usize) -> AccessUnit {
        AccessUnit {
            pts_ns: i * 40_000_000,
            dts_ns: None,
            duration_ns: Some(40_000_000),
            time: MediaTime((i * 40_000_000) as i64),
            keyframe: i.is_multiple_of(gop),
            data: Arc::from(vec![0u8; size]),
        }
    }

    #[test]
    fn ring_covers_the_preroll_and_starts_on_a_keyframe() {
        let mut r = EncodedRing::new(4.0, 100 << 20);
        for i in 0..(25 * 30) {
            r.push(unit(i, 50, 1000));
        }
        assert!(r.available_preroll() >= 4.0, "{}", r.available_preroll());
        assert!(
            r.available_preroll() < 4.0 + 2.0 + 0.05,
            "keeps at most one extra GOP"
        );
        assert!(r.oldest().unwrap().keyframe);
        assert_eq!(r.gop_seconds(), Some(2.0));
    }

    #[test]
    fn byte_bound_is_never_exceeded() {
        let mut r = EncodedRing::new(60.0, 200_000);
        for i in 0..2000 {
            r.push(unit(i, 25, 1500));
            assert!(r.bytes() <= 200_000);
            if let Some(o) = r.oldest() {
                assert!(o.keyframe);
            }
        }
        assert!(!r.is_empty());
    }

    #[test]
    fn a_gop_larger_than_the_byte_cap_empties_the_ring_instead_of_breaking_the_bound() {
        let mut r = EncodedRing::new(60.0, 10_000);
        for i in 0..30 {
            r.push(unit(i, 100, 1000));
            assert!(r.bytes() <= 10_000);
        }
    }

    #[test]
    fn units_before_the_first_keyframe_are_skipped() {
        let mut r = EncodedRing::new(10.0, 1 << 20);
        for i in 5..20 {
            r.push(unit(i, 10, 10));
        }
        assert_eq!(r.skipped_before_keyframe, 5);
        assert!(r.oldest().unwrap().keyframe);
    }

    #[test]
    fn cut_starts_at_last_keyframe_before_the_asked_start() {
        let mut r = EncodedRing::new(20.0, 100 << 20);
        for i in 0..(25 * 30) {
            r.push(unit(i, 50, 100));
        }
        // Ask from 20.9 s: the keyframe at or before is 20.0 s.
        let c = r
            .cut(
                MediaTime::from_secs_f64(20.9),
                MediaTime::from_secs_f64(25.0),
            )
            .unwrap();
        assert!(c.units[0].keyframe);
        assert_eq!(c.start, MediaTime::from_secs_f64(20.0));
        assert_eq!(c.end, MediaTime::from_secs_f64(25.0));
        assert!(!c.preroll_short);
        // Ask from before the ring's start: the cut starts at the oldest keyframe, flagged.
        let c = r
            .cut(
                MediaTime::from_secs_f64(0.5),
                MediaTime::from_secs_f64(25.0),
            )
            .unwrap();
        assert!(c.preroll_short);
        assert!(c.units[0].keyframe);
    }
}
