//! Box health basics for the dashboard: uptime, versions, memory, disk. Read from
//! /proc and statvfs on each request (cheap; no background sampling to keep bounded).

use serde::Serialize;
use std::path::Path;

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
    }
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
    }
}
