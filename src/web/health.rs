//! Box health basics for the dashboard: uptime, versions, CPU, memory, disk,
//! temperature. Read from /proc, /sys and statvfs on each request (cheap; no
//! background sampling to keep bounded). CPU usage is the busy share of the CPU time
//! between two requests, so the one number the page polls needs no thread.

use serde::Serialize;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Health {
    pub firmware: &'static str,
    /// Kernel release, from /proc.
    pub kernel: String,
    /// Seconds since the web server (and so the daemon) started.
    pub uptime_s: u64,
    /// Seconds since the box booted.
    pub system_uptime_s: u64,
    pub memory: Option<Memory>,
    pub disk: Option<Disk>,
    pub cpu: Option<Cpu>,
    /// CPU temperature in °C from the thermal zones; `None` where none is readable
    /// (VMs, containers).
    pub temperature_c: Option<f64>,
    /// The box's clock: the dashboard warns while it is not NTP-synchronised.
    pub clock: crate::uplink::ClockHealth,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cpu {
    /// Logical CPUs the load averages compare to.
    pub cores: usize,
    /// Load averages over 1, 5 and 15 minutes.
    pub load: [f64; 3],
    /// Busy share of all CPUs, 0..100, since the previous status request (or over a
    /// short sample on the first one).
    pub usage_percent: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Memory {
    pub total_bytes: u64,
    pub available_bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Disk {
    pub path: String,
    pub total_bytes: u64,
    pub available_bytes: u64,
}

pub fn read(started: std::time::Instant, state_dir: &Path) -> Health {
    Health {
        clock: crate::uplink::ClockHealth::now(),
        firmware: crate::FIRMWARE_VERSION,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        uptime_s: started.elapsed().as_secs(),
        system_uptime_s: std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
            .map(|s| s as u64)
            .unwrap_or(0),
        memory: memory(),
        disk: disk(state_dir),
        cpu: cpu(),
        temperature_c: crate::uplink::health::cpu_temperature(),
    }
}

/// Busy and total jiffies of all CPUs, from the first line of /proc/stat.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

fn parse_cpu_times(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    // idle + iowait are not busy; guest time is already inside user/nice.
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total - idle,
        total,
    })
}

fn usage_between(a: CpuTimes, b: CpuTimes) -> Option<f64> {
    let total = b.total.checked_sub(a.total)?;
    let busy = b.busy.checked_sub(a.busy)?;
    (total > 0).then(|| (busy as f64 * 100.0 / total as f64).clamp(0.0, 100.0))
}

fn cpu_times() -> Option<CpuTimes> {
    parse_cpu_times(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The previous request's reading and the usage it gave.
struct CpuReading {
    at: Instant,
    times: CpuTimes,
    usage: Option<f64>,
}

static LAST_CPU: Mutex<Option<CpuReading>> = Mutex::new(None);

/// Shortest span usage is measured over; shorter ones are mostly rounding (jiffies).
const MIN_CPU_SPAN: Duration = Duration::from_millis(250);

/// Busy share since the previous request. Requests closer together than
/// [`MIN_CPU_SPAN`] get the previous figure; only the very first one samples (sleeps
/// briefly, on a blocking thread, never the async runtime).
fn cpu_usage() -> Option<f64> {
    let mut last = LAST_CPU.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = &*last
        && r.at.elapsed() < MIN_CPU_SPAN
    {
        return r.usage;
    }
    let prev = match last.take() {
        Some(r) => r.times,
        None => {
            let t = cpu_times()?;
            std::thread::sleep(MIN_CPU_SPAN);
            t
        }
    };
    let now = cpu_times()?;
    let usage = usage_between(prev, now);
    *last = Some(CpuReading {
        at: Instant::now(),
        times: now,
        usage,
    });
    usage
}

fn cpu() -> Option<Cpu> {
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = loadavg
        .split_whitespace()
        .map(|x| x.parse::<f64>().unwrap_or(0.0));
    let load = [it.next()?, it.next()?, it.next()?];
    Some(Cpu {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load,
        usage_percent: cpu_usage(),
    })
}

fn memory() -> Option<Memory> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    };
    Some(Memory {
        total_bytes: field("MemTotal:")?,
        available_bytes: field("MemAvailable:")?,
    })
}

fn disk(path: &Path) -> Option<Disk> {
    // The state dir may not exist yet (first start); its nearest existing parent is on
    // the same file system in every layout we ship.
    let existing = path.ancestors().find(|p| p.exists())?;
    let (available_bytes, total_bytes) = crate::uplink::health::fs_space(existing)?;
    Some(Disk {
        path: existing.display().to_string(),
        total_bytes,
        available_bytes,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn health_reports_memory_and_disk_on_linux() {
        let h = super::read(std::time::Instant::now(), std::path::Path::new("/tmp/x/y"));
        assert!(h.memory.unwrap().total_bytes > 0);
        let d = h.disk.unwrap();
        assert!(d.total_bytes >= d.available_bytes && d.total_bytes > 0);
        assert_eq!(h.firmware, crate::FIRMWARE_VERSION);
        let cpu = h.cpu.unwrap();
        assert!(cpu.cores >= 1 && cpu.load.iter().all(|l| *l >= 0.0));
        let usage = cpu.usage_percent.expect("usage measured on Linux");
        assert!((0.0..=100.0).contains(&usage));
    }

    #[test]
    fn cpu_usage_is_the_busy_share_between_two_readings() {
        let a = super::parse_cpu_times("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        assert_eq!((a.busy, a.total), (200, 1000));
        let b = super::parse_cpu_times("cpu  250 0 150 1200 100 0 0 0 0 0\n").unwrap();
        assert_eq!(super::usage_between(a, b), Some(28.571428571428573));
        assert_eq!(super::usage_between(b, a), None, "counters never go back");
        assert_eq!(super::usage_between(a, a), None, "no time passed");
        assert!(super::parse_cpu_times("intr 1 2 3").is_none());
    }
}
