//! Weekly schedules: when a zone rule is in force (e.g. no parking Mon–Fri 07:00–19:00).
//!
//! Evaluated at a [`MediaTime`] converted to local wall-clock time in the box's IANA
//! timezone, because signs on the street are written in local time, including across
//! daylight-saving changes where a zone has them.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Timelike};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::ingest::MediaTime;

/// Windows per schedule; a street sign never needs more, and the cap bounds the work
/// done per evaluation.
pub const MAX_WINDOWS: usize = 32;

const SECS_PER_DAY: u32 = 24 * 3600;

/// Why a schedule or timezone was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "\"{text}\" is not a time of day; use \"HH:MM\" from 00:00 to 23:59 (24:00 only as an end)"
    )]
    BadTime { text: String },
    #[error("schedule window {window} has no days; list some of mon, tue, wed, thu, fri, sat, sun")]
    NoDays { window: usize },
    #[error("schedule window {window} lists {day} twice")]
    DuplicateDay { window: usize, day: Day },
    #[error(
        "schedule window {window} starts and ends at {time}; use start = \"00:00\", end = \"24:00\" for a whole day"
    )]
    EmptyWindow { window: usize, time: TimeOfDay },
    #[error("schedule window {window} starts at 24:00; 24:00 is only valid as an end")]
    StartAtMidnightEnd { window: usize },
    #[error("schedule has {count} windows; at most {MAX_WINDOWS} are allowed")]
    TooManyWindows { count: usize },
    #[error("unknown timezone \"{name}\"; use an IANA name such as \"Asia/Shanghai\"")]
    UnknownTimezone { name: String },
}

/// Parses an IANA timezone name (`Asia/Shanghai`, `Europe/Berlin`).
pub fn parse_timezone(name: &str) -> Result<Tz, ScheduleError> {
    name.parse::<Tz>()
        .map_err(|_| ScheduleError::UnknownTimezone {
            name: name.to_string(),
        })
}

/// A day of the week, written `mon` … `sun` in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    /// Monday through Sunday.
    pub const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    pub fn from_weekday(w: chrono::Weekday) -> Self {
        Self::ALL[w.num_days_from_monday() as usize]
    }

    /// The day before (Monday's is Sunday).
    pub fn previous(self) -> Self {
        Self::ALL[(self as usize + 6) % 7]
    }

    pub fn as_str(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self as usize]
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A local time of day with minute resolution, `"HH:MM"` in configuration. `"24:00"`
/// is accepted so a window can run to the end of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay {
    /// Seconds since local midnight, 0..=86400.
    secs: u32,
}

impl TimeOfDay {
    /// `hour` 0..=23 (or 24 with `minute` 0), `minute` 0..=59.
    pub fn new(hour: u32, minute: u32) -> Option<Self> {
        let ok = (hour < 24 && minute < 60) || (hour == 24 && minute == 0);
        ok.then_some(Self {
            secs: hour * 3600 + minute * 60,
        })
    }

    pub fn secs_from_midnight(self) -> u32 {
        self.secs
    }
}

impl FromStr for TimeOfDay {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ScheduleError::BadTime {
            text: s.to_string(),
        };
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        let digits = |p: &str, max_len: usize| {
            !p.is_empty() && p.len() <= max_len && p.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(h, 2) || !digits(m, 2) || m.len() != 2 {
            return Err(bad());
        }
        let (h, m) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        TimeOfDay::new(h, m).ok_or_else(bad)
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = ScheduleError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<TimeOfDay> for String {
    fn from(t: TimeOfDay) -> String {
        t.to_string()
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.secs / 3600, self.secs % 3600 / 60)
    }
}

/// One weekly window. `days` are the days the window *starts* on; when `end` is before
/// `start` the window runs overnight into the next day (`fri 22:00–06:00` covers
/// Friday night until Saturday 06:00). `end` is exclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub days: Vec<Day>,
    pub start: TimeOfDay,
    pub end: TimeOfDay,
}

impl Window {
    fn validate(&self, index: usize) -> Result<(), ScheduleError> {
        if self.days.is_empty() {
            return Err(ScheduleError::NoDays { window: index });
        }
        for (i, d) in self.days.iter().enumerate() {
            if self.days[..i].contains(d) {
                return Err(ScheduleError::DuplicateDay {
                    window: index,
                    day: *d,
                });
            }
        }
        if self.start.secs == SECS_PER_DAY {
            return Err(ScheduleError::StartAtMidnightEnd { window: index });
        }
        if self.start == self.end {
            return Err(ScheduleError::EmptyWindow {
                window: index,
                time: self.start,
            });
        }
        Ok(())
    }

    /// Whether local weekday `day` at `secs` since local midnight is inside.
    fn contains(&self, day: Day, secs: u32) -> bool {
        let (start, end) = (self.start.secs, self.end.secs);
        if start < end {
            self.days.contains(&day) && start <= secs && secs < end
        } else {
            (self.days.contains(&day) && secs >= start)
                || (self.days.contains(&day.previous()) && secs < end)
        }
    }
}

/// A weekly schedule. Empty means always active, so rules without a schedule simply
/// leave it out of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Schedule {
    pub windows: Vec<Window>,
}

impl Schedule {
    /// The schedule that is always active.
    pub fn always() -> Self {
        Self::default()
    }

    pub fn is_always(&self) -> bool {
        self.windows.is_empty()
    }

    pub fn validate(&self) -> Result<(), ScheduleError> {
        if self.windows.len() > MAX_WINDOWS {
            return Err(ScheduleError::TooManyWindows {
                count: self.windows.len(),
            });
        }
        self.windows
            .iter()
            .enumerate()
            .try_for_each(|(i, w)| w.validate(i))
    }

    /// Whether the schedule is in force at `time`, read as local time in `tz`. In a
    /// spring-forward gap the skipped wall-clock hour simply never occurs; in the
    /// autumn fall-back the repeated hour is active both times.
    pub fn is_active(&self, time: MediaTime, tz: Tz) -> bool {
        if self.windows.is_empty() {
            return true;
        }
        let local = time.to_utc().with_timezone(&tz);
        let day = Day::from_weekday(local.weekday());
        let secs = local.num_seconds_from_midnight();
        self.windows.iter().any(|w| w.contains(day, secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> MediaTime {
        let t = chrono::Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
        MediaTime(t.timestamp_nanos_opt().unwrap())
    }

    fn schedule(toml_text: &str) -> Schedule {
        #[derive(Deserialize)]
        struct W {
            schedule: Schedule,
        }
        let s = toml::from_str::<W>(toml_text).unwrap().schedule;
        s.validate().unwrap();
        s
    }

    fn workdays_7_to_19() -> Schedule {
        schedule(
            r#"schedule = [{ days = ["mon","tue","wed","thu","fri"], start = "07:00", end = "19:00" }]"#,
        )
    }

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;
    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    #[test]
    fn empty_schedule_is_always_active() {
        let s = Schedule::always();
        assert!(s.is_always());
        assert!(s.is_active(utc(2026, 11, 21, 3, 0), SHANGHAI));
        assert!(s.validate().is_ok());
    }

    #[test]
    fn weekday_window_is_active_on_weekdays_in_local_time_only() {
        let s = workdays_7_to_19();
        // Fri 2026-11-20 10:00 Shanghai = 02:00 UTC.
        assert!(s.is_active(utc(2026, 11, 20, 2, 0), SHANGHAI));
        // Fri 06:59 local: before the window.
        assert!(!s.is_active(utc(2026, 11, 19, 22, 59), SHANGHAI));
        // Fri 07:00 local: start is inclusive.
        assert!(s.is_active(utc(2026, 11, 19, 23, 0), SHANGHAI));
        // Fri 19:00 local: end is exclusive.
        assert!(!s.is_active(utc(2026, 11, 20, 11, 0), SHANGHAI));
        // Fri 23:30 UTC is already Saturday 07:30 in Shanghai: weekend, inactive.
        assert!(!s.is_active(utc(2026, 11, 20, 23, 30), SHANGHAI));
    }

    #[test]
    fn weekend_window_is_active_only_at_weekends() {
        let s =
            schedule(r#"schedule = [{ days = ["sat","sun"], start = "00:00", end = "24:00" }]"#);
        assert!(
            s.is_active(utc(2026, 11, 20, 23, 30), SHANGHAI),
            "Sat 07:30 local"
        );
        assert!(
            s.is_active(utc(2026, 11, 22, 15, 59), SHANGHAI),
            "Sun 23:59 local"
        );
        assert!(
            !s.is_active(utc(2026, 11, 22, 16, 0), SHANGHAI),
            "Mon 00:00 local"
        );
        assert!(
            !s.is_active(utc(2026, 11, 20, 15, 59), SHANGHAI),
            "Fri 23:59 local"
        );
    }

    #[test]
    fn overnight_window_runs_into_the_next_day_from_its_start_day_only() {
        let s = schedule(r#"schedule = [{ days = ["fri"], start = "22:00", end = "06:00" }]"#);
        // Times are Shanghai local (UTC+8): local = utc + 8 h.
        assert!(s.is_active(utc(2026, 11, 20, 15, 0), SHANGHAI), "Fri 23:00");
        assert!(s.is_active(utc(2026, 11, 20, 19, 0), SHANGHAI), "Sat 03:00");
        assert!(
            !s.is_active(utc(2026, 11, 20, 22, 0), SHANGHAI),
            "Sat 06:00 (end exclusive)"
        );
        assert!(
            !s.is_active(utc(2026, 11, 20, 13, 0), SHANGHAI),
            "Fri 21:00"
        );
        assert!(
            !s.is_active(utc(2026, 11, 19, 19, 0), SHANGHAI),
            "Fri 03:00 follows Thursday"
        );
        assert!(
            !s.is_active(utc(2026, 11, 21, 15, 0), SHANGHAI),
            "Sat 23:00"
        );
    }

    #[test]
    fn berlin_window_follows_local_time_across_daylight_saving() {
        let s = schedule(
            r#"schedule = [{ days = ["mon","tue","wed","thu","fri","sat","sun"], start = "07:00", end = "19:00" }]"#,
        );
        // Winter (CET, UTC+1): 07:00 local is 06:00 UTC.
        assert!(!s.is_active(utc(2026, 1, 15, 5, 59), BERLIN));
        assert!(s.is_active(utc(2026, 1, 15, 6, 0), BERLIN));
        // Summer (CEST, UTC+2): 07:00 local is 05:00 UTC.
        assert!(s.is_active(utc(2026, 7, 15, 5, 0), BERLIN));
        assert!(!s.is_active(utc(2026, 7, 15, 17, 0), BERLIN), "19:00 CEST");
    }

    #[test]
    fn berlin_spring_gap_hour_never_occurs_and_autumn_hour_occurs_twice() {
        let s = schedule(r#"schedule = [{ days = ["sun"], start = "02:00", end = "03:00" }]"#);
        // 2026-03-29: clocks jump from 02:00 CET (01:00 UTC) to 03:00 CEST.
        assert!(!s.is_active(utc(2026, 3, 29, 0, 59), BERLIN), "01:59 CET");
        assert!(!s.is_active(utc(2026, 3, 29, 1, 0), BERLIN), "03:00 CEST");
        // 2026-10-25: 03:00 CEST (01:00 UTC) falls back to 02:00 CET.
        assert!(s.is_active(utc(2026, 10, 25, 0, 30), BERLIN), "02:30 CEST");
        assert!(s.is_active(utc(2026, 10, 25, 1, 30), BERLIN), "02:30 CET");
        assert!(!s.is_active(utc(2026, 10, 25, 2, 0), BERLIN), "03:00 CET");
    }

    #[test]
    fn times_parse_strictly_and_print_back() {
        assert_eq!("07:05".parse::<TimeOfDay>().unwrap().to_string(), "07:05");
        assert_eq!(
            "7:05".parse::<TimeOfDay>().unwrap().secs_from_midnight(),
            7 * 3600 + 300
        );
        assert_eq!(
            "24:00".parse::<TimeOfDay>().unwrap().secs_from_midnight(),
            SECS_PER_DAY
        );
        for bad in [
            "24:01", "12:60", "7", "07:5", "-1:00", "07:00:00", "ab:cd", "",
        ] {
            let e = bad.parse::<TimeOfDay>().unwrap_err();
            assert!(e.to_string().contains("HH:MM"), "{bad}: {e}");
        }
    }

    #[test]
    fn invalid_windows_are_refused_with_clear_messages() {
        let parse = |t: &str| {
            #[derive(Deserialize)]
            struct W {
                #[allow(dead_code)]
                schedule: Schedule,
            }
            toml::from_str::<W>(t).map(|w| w.schedule)
        };
        let e = parse(r#"schedule = [{ days = [], start = "07:00", end = "19:00" }]"#)
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e, ScheduleError::NoDays { window: 0 });
        let e = parse(r#"schedule = [{ days = ["mon"], start = "07:00", end = "07:00" }]"#)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("24:00"), "{e}");
        let e = parse(r#"schedule = [{ days = ["mon","mon"], start = "07:00", end = "08:00" }]"#)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("mon twice"), "{e}");
        let e = parse(r#"schedule = [{ days = ["mon"], start = "24:00", end = "08:00" }]"#)
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e, ScheduleError::StartAtMidnightEnd { window: 0 });
        assert!(
            parse(r#"schedule = [{ days = ["monday"], start = "07:00", end = "08:00" }]"#).is_err()
        );
        assert!(parse(r#"schedule = [{ days = ["mon"], start = "7h", end = "08:00" }]"#).is_err());
        assert!(
            parse(r#"schedule = [{ days = ["mon"], start = "07:00", end = "08:00", tz = "x" }]"#)
                .is_err()
        );
        let many = Schedule {
            windows: vec![
                Window {
                    days: vec![Day::Mon],
                    start: TimeOfDay::new(1, 0).unwrap(),
                    end: TimeOfDay::new(2, 0).unwrap(),
                };
                MAX_WINDOWS + 1
            ],
        };
        assert!(matches!(
            many.validate(),
            Err(ScheduleError::TooManyWindows { .. })
        ));
    }

    #[test]
    fn schedule_round_trips_through_toml() {
        let s = workdays_7_to_19();
        #[derive(Serialize, Deserialize)]
        struct W {
            schedule: Schedule,
        }
        let text = toml::to_string(&W {
            schedule: s.clone(),
        })
        .unwrap();
        assert!(text.contains("\"07:00\""), "{text}");
        assert_eq!(toml::from_str::<W>(&text).unwrap().schedule, s);
    }

    #[test]
    fn timezones_are_parsed_by_iana_name() {
        assert_eq!(parse_timezone("Asia/Shanghai").unwrap(), SHANGHAI);
        let e = parse_timezone("China/Beijing").unwrap_err();
        assert!(e.to_string().contains("China/Beijing"));
    }

    #[test]
    fn previous_day_wraps_from_monday_to_sunday() {
        assert_eq!(Day::Mon.previous(), Day::Sun);
        assert_eq!(Day::Sat.previous(), Day::Fri);
        assert_eq!(Day::from_weekday(chrono::Weekday::Sun), Day::Sun);
    }
}
