//! A real `mosquitto` for one test, on 127.0.0.1 with a free port, optionally with a
//! password file (made with `mosquitto_passwd`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Broker {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Broker {
    /// Start a broker; with `password` only that user may connect.
    pub fn start(password: Option<(&str, &str)>) -> Broker {
        Self::start_with(password, None)
    }

    /// A TLS listener serving `cert`/`key` signed by `ca` (PEM files); clients need
    /// no certificate.
    pub fn start_tls(ca: &Path, cert: &Path, key: &Path) -> Broker {
        Self::start_with(None, Some((ca, cert, key)))
    }

    /// A plain broker on a given port: the one a box was configured for while its
    /// broker was away (a fault test starts it once the outage is over).
    pub fn start_on(port: u16) -> Broker {
        Self::start_at(port, None, None)
    }

    fn start_with(password: Option<(&str, &str)>, tls: Option<(&Path, &Path, &Path)>) -> Broker {
        Self::start_at(super::free_port(), password, tls)
    }

    fn start_at(
        port: u16,
        password: Option<(&str, &str)>,
        tls: Option<(&Path, &Path, &Path)>,
    ) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let mut conf = format!(
            "user root\npersistence false\nlog_dest stderr\nlog_type error\nlistener {port} 127.0.0.1\n"
        );
        if let Some((ca, cert, key)) = tls {
            conf += &format!(
                "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate false\n",
                ca.display(),
                cert.display(),
                key.display()
            );
        }
        match password {
            Some((user, pass)) => {
                let file = dir.path().join("passwd");
                let st = Command::new("mosquitto_passwd")
                    .args(["-b", "-c"])
                    .arg(&file)
                    .args([user, pass])
                    .status()
                    .expect("mosquitto_passwd (Debian package mosquitto)");
                assert!(st.success());
                conf += &format!("allow_anonymous false\npassword_file {}\n", file.display());
            }
            None => conf += "allow_anonymous true\n",
        }
        let conf_path: PathBuf = dir.path().join("mosquitto.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("mosquitto (Debian package mosquitto)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker { child, port, dir }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Send `sig` to mosquitto: SIGSTOP makes a broker that stops answering while
    /// keeping its sessions (SIGCONT resumes it).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
