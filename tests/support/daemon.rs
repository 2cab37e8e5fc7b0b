//! A real `streetwatch run` process for one test: config and log in a temp dir, killed
//! when the test ends. Fault tests signal it (SIGKILL, SIGTERM, SIGHUP) and read its log.

use super::{bin, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct RunningDaemon {
    pub child: Child,
    /// Holds the config file (`streetwatch.toml`), the log (`log`) and, for
    /// [`RunningDaemon::start`], the state directory (`state/`).
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    log: PathBuf,
}

impl RunningDaemon {
    /// Start on `config` (TOML text) with its state under a new temp dir and the page
    /// on a free loopback port (see [`with_state_dir`]).
    pub fn start(config: &str, rust_log: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let config = with_state_dir(config, &dir.join("state"));
        std::fs::write(dir.join("streetwatch.toml"), config).unwrap();
        let mut d = Self::spawn(&dir.join("streetwatch.toml"), &dir.join("log"), rust_log);
        d.dir = dir;
        d._tmp = Some(tmp);
        d
    }

    /// Start on an existing config file, logging to `log` (appended to, so a restart
    /// on the same state keeps the whole story in one file).
    pub fn spawn(config: &Path, log: &Path, rust_log: &str) -> Self {
        Self::spawn_env(config, log, Some(rust_log), &[])
    }

    /// [`RunningDaemon::spawn`] with extra environment variables (`NOTIFY_SOCKET`,
    /// test-only fault switches); `rust_log: None` leaves `RUST_LOG` unset, so the
    /// config's `[logging] level` is in force (and a reload can change it).
    pub fn spawn_env(
        config: &Path,
        log: &Path,
        rust_log: Option<&str>,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Self {
        Self::spawn_with(Command::new(bin()), config, log, rust_log, env)
    }

    /// The same with another `streetwatch` command line (e.g. the aarch64 build under
    /// qemu: `Command::new("scripts/aarch64/qemu.sh").arg(binary)`).
    pub fn spawn_with(
        mut cmd: Command,
        config: &Path,
        log: &Path,
        rust_log: Option<&str>,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        cmd.args(["run", "--config"]).arg(config);
        match rust_log {
            Some(l) => cmd.env("RUST_LOG", l),
            None => cmd.env_remove("RUST_LOG"),
        };
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.stderr(file).stdout(Stdio::null()).spawn().unwrap();
        RunningDaemon {
            child,
            dir: config.parent().unwrap().to_path_buf(),
            _tmp: None,
            log: log.to_path_buf(),
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("streetwatch.toml")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Wait until the log satisfies `pred`, or panic with the log.
    pub fn wait_log(&self, secs: u64, what: &str, pred: impl Fn(&str) -> bool) {
        wait_for(Duration::from_secs(secs), || {
            pred(&self.log()).then_some(())
        })
        .unwrap_or_else(|| panic!("{what}:\n{}", self.log()));
    }

    /// The page's base URL, from the "technician page listening" log line.
    pub fn base_url(&self) -> String {
        self.wait_log(30, "page listening", |l| {
            l.contains("technician page listening")
        });
        self.log()
            .lines()
            .find(|l| l.contains("technician page listening"))
            .and_then(|l| l.split("url=").nth(1))
            .and_then(|r| r.split_whitespace().next())
            .unwrap()
            .trim_end_matches('/')
            .to_string()
    }

    /// Waits (up to `limit_s`) until the first camera has analysed `n` frames, read
    /// from `/api/status` through a logged-in `page`; panics with the log otherwise.
    pub fn wait_analysed(
        &self,
        page: &reqwest::blocking::Client,
        base: &str,
        n: u64,
        limit_s: u64,
    ) {
        super::wait_for(std::time::Duration::from_secs(limit_s), || {
            let st: serde_json::Value = page
                .get(format!("{base}/api/status"))
                .send()
                .ok()?
                .json()
                .ok()?;
            (st["cameras"][0]["analysed"].as_u64()? >= n).then_some(())
        })
        .unwrap_or_else(|| panic!("no {n} frames analysed in {limit_s} s:\n{}", self.log()));
    }

    /// Log in to the daemon's page (first-run setup with the code from the state
    /// directory): a client, the base URL and the session's CSRF token.
    pub fn page(&self) -> (reqwest::blocking::Client, String, String) {
        let base = self.base_url();
        let code = std::fs::read_to_string(self.dir.join("state/web/setup-code")).unwrap();
        let c = reqwest::blocking::Client::builder()
            .cookie_store(true)
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let r = c
            .post(format!("{base}/api/setup"))
            .json(
                &serde_json::json!({"code": code.trim(), "password": "a-long-test-passphrase-42"}),
            )
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{:?}", r.text());
        let csrf = r.json::<serde_json::Value>().unwrap()["csrf_token"]
            .as_str()
            .unwrap()
            .to_string();
        (c, base, csrf)
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// SIGKILL, like a power cut, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait up to `secs`; the exit status, or None if it did not exit.
    pub fn stop_within(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        self.signal(libc::SIGTERM);
        wait_for(Duration::from_secs(secs), || self.child.try_wait().unwrap())
    }

    /// SIGTERM and wait (15 s); returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.stop_within(15).expect("exits on SIGTERM")
    }

    /// Resident set size in KiB from /proc, or None once the process is gone.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    }
}

impl Drop for RunningDaemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `config` with `device.state_dir` pointing at `state` and the web page on a free
/// loopback port (tests run in parallel; none may take the real 8443).
pub fn with_state_dir(config: &str, state: &Path) -> String {
    let c = config.replacen(
        "[device]\n",
        &format!("[device]\nstate_dir = \"{}\"\n", state.display()),
        1,
    );
    format!("{c}\n[web]\nlisten = \"127.0.0.1:0\"\n")
}
