//! The `streetwatch` binary: the command line edge of the library. `anyhow` lives here
//! and nowhere else.

mod cli;

fn main() -> std::process::ExitCode {
    fixed_mmap_threshold();
    cli::main()
}

/// Allocations from 256 KiB up get their own mapping, returned to the system on free.
///
/// glibc starts with that threshold at 128 KiB but raises it to the size of every
/// mapped block freed, up to 32 MiB. The first analysis frame freed (3 MiB of 1080p
/// I420) therefore moves every later frame, decoded picture and evidence buffer into
/// the per-thread heaps, where the holes they leave are kept: with one thread set per
/// camera, RSS grew to more than twice the live heap. A fixed threshold stops the
/// raising. Measured with 32 keyframes-only 1080p25 cameras (debug build, 70 s):
/// 1431 MiB RSS without, 927 MiB with; in the release benchmark 1059 -> 822 MiB. The
/// price: every analysed frame is a fresh mapping whose pages fault in, ~8 % more CPU
/// at 5 fps (docs/performance.md; a per-camera buffer pool would avoid both). An
/// operator's own `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=…` wins.
fn fixed_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let chosen = std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("mmap_threshold"));
        if !chosen {
            // SAFETY: mallopt only changes the allocator's parameters; it is called
            // first thing in main, before any other thread exists, and 256 KiB is
            // within M_MMAP_THRESHOLD's valid range (at most 32 MiB on 64-bit).
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
            }
        }
    }
}
