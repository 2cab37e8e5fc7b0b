//! Clock integrity: evidence is only as good as its time.
//!
//! Two facts go with every event (see `rules::event::ClockInfo`):
//! - whether the box's clock is NTP-synchronised, and its offset when the kernel knows
//!   it ([`ntp_state`], read with `adjtimex(2)` in read-only mode: no privilege
//!   needed, no daemon asked);
//! - whether the clock jumped during the occurrence, found where media time is made
//!   (see `ingest::timeline`).
//!
//! Replays run on a fixed media-time anchor much faster than real time: their events
//! carry no clock state.

use serde::Serialize;

/// The kernel's view of the system clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NtpState {
    /// NTP-synchronised: the kernel's clock state is not `TIME_ERROR` and `STA_UNSYNC`
    /// is clear (set by chrony, ntpd or systemd-timesyncd while they discipline it).
    pub synchronised: bool,
    /// Offset the NTP discipline is still correcting, milliseconds (only meaningful
    /// while synchronised).
    pub offset_ms: Option<f64>,
    /// The kernel's maximum error estimate, milliseconds.
    pub max_error_ms: Option<f64>,
}

impl NtpState {
    /// A warning for health and the page when the clock is not synchronised.
    pub fn warning(&self) -> Option<String> {
        (!self.synchronised).then(|| {
            "the box's clock is not NTP-synchronised: event times may be wrong; check the \
             NTP server settings and that the box reaches it"
                .to_string()
        })
    }
}

/// Read the clock state with `adjtimex(2)` (modes = 0: read only).
#[cfg(target_os = "linux")]
pub fn ntp_state() -> NtpState {
    // SAFETY: `timex` is plain old data; all-zero is a valid value (modes = 0 asks the
    // kernel to change nothing and only fill the struct in).
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `tx` is a valid, exclusively borrowed `timex` for the duration of the call.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return NtpState {
            synchronised: false,
            offset_ms: None,
            max_error_ms: None,
        };
    }
    let synchronised = state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0;
    // `offset` is in microseconds, or nanoseconds with STA_NANO.
    let unit_ms = if tx.status & libc::STA_NANO != 0 {
        1e-6
    } else {
        1e-3
    };
    NtpState {
        synchronised,
        offset_ms: synchronised.then_some(tx.offset as f64 * unit_ms),
        // Always microseconds.
        max_error_ms: Some(tx.maxerror as f64 / 1000.0),
    }
}

/// Elsewhere there is no kernel NTP state to read: say unsynchronised.
#[cfg(not(target_os = "linux"))]
pub fn ntp_state() -> NtpState {
    NtpState {
        synchronised: false,
        offset_ms: None,
        max_error_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_clock_state_can_be_read_without_privilege() {
        let s = ntp_state();
        // Whatever this machine's state, the answer is consistent.
        assert_eq!(s.warning().is_some(), !s.synchronised);
        if s.synchronised {
            assert!(s.offset_ms.is_some());
        }
    }
}
