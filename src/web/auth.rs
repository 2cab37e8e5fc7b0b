//! Who may change the box: the one-time setup code, the admin password (argon2id),
//! sessions with their CSRF tokens, and login rate limiting.
//!
//! There is no default password: a box on a street pole with `admin/admin` is found by
//! scanners within days. On first start a random setup code goes to the journal and to
//! a root-only file; whoever presents it first sets the password, and the code dies.
//!
//! Password hashing is the one expensive thing a stranger on the LAN can make the box
//! do (argon2id: 19 MiB and tens of milliseconds per try). [`HashGate`] bounds it for
//! the whole process: [`HASH_SLOTS`] hashes at once, each in a memory buffer that is
//! kept and reused, and [`InFlight`] allows one login/setup/password request per client
//! address at a time, so the per-address [`RateLimiter`] has recorded a failure before
//! that address can start the next hash. A flood is answered 429 at once instead of
//! queueing hashes (measured before: 200 concurrent wrong logins grew RSS by up to
//! 0.95 GiB, never returned, until systemd's MemoryMax killed the service).

use super::WebError;
use super::files::write_private;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The only account: a roadside box has one technician role.
pub const ADMIN: &str = "admin";
/// Shortest accepted admin password.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest accepted admin password (argon2 cost does not depend on it, but memory does).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Setup code alphabet without look-alikes (0/O, 1/I/L), read off a phone screen.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

#[derive(Serialize, Deserialize)]
struct AdminFile {
    username: String,
    /// PHC string, `$argon2id$v=19$…`.
    password_hash: String,
}

/// The admin credential and the setup code, on disk under the web state dir.
pub struct Credentials {
    admin_path: PathBuf,
    code_path: PathBuf,
    state: Mutex<CredState>,
}

enum CredState {
    /// Waiting for the first visit; holds the setup code.
    Setup(String),
    Ready {
        password_hash: String,
    },
}

impl Credentials {
    /// Load the admin hash, or (first start) create or reuse the setup code.
    pub fn open(dir: &Path) -> Result<Self, WebError> {
        let admin_path = dir.join("admin.json");
        let code_path = dir.join("setup-code");
        let io = |path: &Path, source| WebError::State {
            path: path.to_path_buf(),
            source,
        };
        let state = if admin_path.exists() {
            let text = std::fs::read_to_string(&admin_path).map_err(|e| io(&admin_path, e))?;
            let f: AdminFile = serde_json::from_str(&text)
                .map_err(|e| io(&admin_path, std::io::Error::other(e)))?;
            // A setup code left over from a crash between the two writes must not work.
            let _ = std::fs::remove_file(&code_path);
            CredState::Ready {
                password_hash: f.password_hash,
            }
        } else {
            // Reuse the code of an earlier start so the technician's note stays valid.
            let code = match std::fs::read_to_string(&code_path) {
                Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
                _ => {
                    let c = new_setup_code();
                    write_private(&code_path, format!("{c}\n").as_bytes())
                        .map_err(|e| io(&code_path, e))?;
                    c
                }
            };
            // The journal is root-readable only on the box; this is the intended channel.
            tracing::warn!(
                setup_code = %code,
                file = %code_path.display(),
                "web: no admin password yet; open the web page and enter this setup code"
            );
            CredState::Setup(code)
        };
        Ok(Self {
            admin_path,
            code_path,
            state: Mutex::new(state),
        })
    }

    pub fn setup_required(&self) -> bool {
        matches!(*self.state.lock().unwrap(), CredState::Setup(_))
    }

    /// Set the first admin password if `code` is the setup code. Slow (argon2): call
    /// from a blocking thread, with a slot of the [`HashGate`].
    pub fn setup(
        &self,
        code: &str,
        password: &str,
        slot: &mut HashSlot,
    ) -> Result<(), SetupRefused> {
        {
            let st = self.state.lock().unwrap();
            match &*st {
                CredState::Ready { .. } => return Err(SetupRefused::AlreadyDone),
                CredState::Setup(expected) => {
                    if !constant_time_eq(normalise_code(code).as_bytes(), expected.as_bytes()) {
                        return Err(SetupRefused::WrongCode);
                    }
                }
            }
        }
        let password_hash = hash_password(password, slot.memory());
        let mut st = self.state.lock().unwrap();
        // Two setups racing with the right code: only the first one wins.
        if !matches!(*st, CredState::Setup(_)) {
            return Err(SetupRefused::AlreadyDone);
        }
        self.save_admin(&password_hash)
            .map_err(|e| SetupRefused::Io(e.to_string()))?;
        let _ = std::fs::remove_file(&self.code_path);
        *st = CredState::Ready { password_hash };
        Ok(())
    }

    /// Write the admin file (0600) holding only the password hash.
    fn save_admin(&self, password_hash: &str) -> std::io::Result<()> {
        let file = AdminFile {
            username: ADMIN.into(),
            password_hash: password_hash.to_string(),
        };
        write_private(
            &self.admin_path,
            serde_json::to_string(&file).unwrap().as_bytes(),
        )
    }

    /// Replace the admin password (the caller checked the current one). Slow (argon2):
    /// call from a blocking thread, with a slot of the [`HashGate`].
    pub fn change(&self, new_password: &str, slot: &mut HashSlot) -> std::io::Result<()> {
        let password_hash = hash_password(new_password, slot.memory());
        let mut st = self.state.lock().unwrap();
        if !matches!(*st, CredState::Ready { .. }) {
            return Err(std::io::Error::other("the admin password is not set yet"));
        }
        self.save_admin(&password_hash)?;
        *st = CredState::Ready { password_hash };
        Ok(())
    }

    /// Check the admin password. Slow (argon2): call from a blocking thread, with a
    /// slot of the [`HashGate`].
    pub fn verify(&self, password: &str, slot: &mut HashSlot) -> bool {
        let hash = match &*self.state.lock().unwrap() {
            CredState::Ready { password_hash } => password_hash.clone(),
            CredState::Setup(_) => return false,
        };
        verify_password(password, &hash, slot.memory())
    }
}

/// Why a setup attempt failed.
#[derive(Debug)]
pub enum SetupRefused {
    WrongCode,
    AlreadyDone,
    Io(String),
}

/// Problems with a new admin password, as (message, hint).
pub fn check_password(password: &str) -> Result<(), (String, String)> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err((
            format!("the password has {n} characters; at least {MIN_PASSWORD_CHARS} are needed"),
            "use a longer passphrase".into(),
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err((
            format!("the password is longer than {MAX_PASSWORD_CHARS} characters"),
            "use a shorter passphrase".into(),
        ));
    }
    Ok(())
}

/// Hashes running at once in the whole process. Two: a technician's login still finds
/// a free slot while one attacker's hash runs, and two 19 MiB buffers are all the
/// memory hashing ever holds.
pub const HASH_SLOTS: usize = 2;
/// Largest argon2 memory a stored hash may ask for (KiB). The admin file is ours, but a
/// damaged or planted one must not make every login allocate gigabytes.
const MAX_M_COST_KIB: u32 = 64 * 1024;

/// Argon2 working memory, kept between hashes. Allocating 19 MiB per hash and freeing
/// it is what grew the heap: glibc raises its mmap threshold after the first free of a
/// large block, so later buffers came from per-thread arenas that are never returned to
/// the system. One buffer per slot, reused, keeps RSS flat.
#[derive(Default)]
pub struct HashMemory(Vec<Block>);

impl HashMemory {
    /// At least `blocks` blocks (grown once, never shrunk).
    fn blocks(&mut self, blocks: usize) -> &mut [Block] {
        if self.0.len() < blocks {
            self.0.resize(blocks, Block::default());
        }
        &mut self.0[..blocks]
    }
}

/// The process-wide bound on password hashing: [`HASH_SLOTS`] permits, each with its
/// buffer. [`HashGate::try_slot`] never waits: no free slot means "busy, try again".
#[derive(Clone)]
pub struct HashGate {
    permits: Arc<tokio::sync::Semaphore>,
    buffers: Arc<Mutex<Vec<HashMemory>>>,
}

impl Default for HashGate {
    fn default() -> Self {
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(HASH_SLOTS)),
            buffers: Arc::default(),
        }
    }
}

impl HashGate {
    /// A slot to hash in, or `None` when [`HASH_SLOTS`] hashes are already running.
    pub fn try_slot(&self) -> Option<HashSlot> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        // Never more buffers than permits: a slot takes one and gives it back on drop.
        let memory = self.buffers.lock().unwrap().pop().unwrap_or_default();
        Some(HashSlot {
            _permit: permit,
            memory: Some(memory),
            buffers: self.buffers.clone(),
        })
    }
}

/// Permission to run argon2, with the buffer to run it in; returned on drop.
pub struct HashSlot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    memory: Option<HashMemory>,
    buffers: Arc<Mutex<Vec<HashMemory>>>,
}

impl HashSlot {
    fn memory(&mut self) -> &mut HashMemory {
        self.memory.get_or_insert_with(HashMemory::default)
    }
}

impl Drop for HashSlot {
    fn drop(&mut self) {
        if let Some(m) = self.memory.take() {
            self.buffers.lock().unwrap().push(m);
        }
    }
}

/// Client addresses with a login, setup or password change in progress. A second
/// request from the same address while one runs is answered 429 at once, so the
/// [`RateLimiter`] sees each failure before the next attempt can start.
#[derive(Default)]
pub struct InFlight {
    set: Arc<Mutex<HashSet<IpAddr>>>,
}

impl InFlight {
    /// Mark `ip` busy until the guard drops; `None` when it already is.
    pub fn enter(&self, ip: IpAddr) -> Option<InFlightGuard> {
        self.set.lock().unwrap().insert(ip).then(|| InFlightGuard {
            ip,
            set: self.set.clone(),
        })
    }
}

pub struct InFlightGuard {
    ip: IpAddr,
    set: Arc<Mutex<HashSet<IpAddr>>>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.set.lock().unwrap().remove(&self.ip);
    }
}

/// argon2id v19 with the RFC 9106 second recommended parameters (19 MiB, 2 passes,
/// 1 lane; `Params::default()`): affordable on an ARM box, costly to brute-force.
fn argon2id(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for `password`, computed
/// in `memory`.
fn hash_password(password: &str, memory: &mut HashMemory) -> String {
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes is a valid salt length");
    let params = Params::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2id(params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt_bytes,
            &mut out,
            memory.blocks(params.block_count()),
        )
        .expect("argon2 with default parameters cannot fail");
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).expect("default parameters encode"),
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).expect("32 bytes is a valid output length")),
    }
    .to_string()
}

/// Whether `password` matches the PHC string `stored`, computed in `memory` with the
/// stored parameters.
fn verify_password(password: &str, stored: &str, memory: &mut HashMemory) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    if params.m_cost() > MAX_M_COST_KIB {
        tracing::error!(
            m_cost_kib = params.m_cost(),
            "web: the stored admin password hash asks for too much memory; set the password again"
        );
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory.blocks(blocks))
        .is_ok()
        && constant_time_eq(&out, expected.as_bytes())
}

fn new_setup_code() -> String {
    let mut rng = rand::rng();
    let chars: String = (0..12)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect();
    format!("{}-{}-{}", &chars[0..4], &chars[4..8], &chars[8..12])
}

/// Accept the code typed in lower case, with spaces, or without the dashes.
fn normalise_code(code: &str) -> String {
    let c: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if c.len() == 12 {
        format!("{}-{}-{}", &c[0..4], &c[4..8], &c[8..12])
    } else {
        c
    }
}

/// Compare secrets without leaking the position of the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    pub expires: Instant,
    /// Unix seconds of expiry, for the page.
    pub expires_unix: i64,
}

/// Sessions kept at once; the oldest is dropped beyond that (bounded memory even if
/// someone logs in in a loop).
const MAX_SESSIONS: usize = 32;

/// Live sessions, by cookie token. In memory only: a reboot logs everyone out.
pub struct Sessions {
    lifetime: Duration,
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            map: Mutex::default(),
        }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Start a session; returns its cookie token.
    pub fn create(&self, user: &str) -> (String, Session) {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap();
        map.retain(|_, s| s.expires > now);
        while map.len() >= MAX_SESSIONS {
            let oldest = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
                .unwrap();
            map.remove(&oldest);
        }
        let token = random_token();
        let s = Session {
            user: user.into(),
            csrf: random_token(),
            expires: now + self.lifetime,
            expires_unix: chrono::Utc::now().timestamp() + self.lifetime.as_secs() as i64,
        };
        map.insert(token.clone(), s.clone());
        (token, s)
    }

    pub fn get(&self, token: &str) -> Option<Session> {
        let mut map = self.map.lock().unwrap();
        match map.get(token) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(token);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, token: &str) {
        self.map.lock().unwrap().remove(token);
    }

    /// End every session but `keep` (after a password change).
    pub fn remove_others(&self, keep: &str) {
        self.map.lock().unwrap().retain(|t, _| t == keep);
    }
}

/// Failed attempts allowed before waiting starts.
const FREE_FAILURES: u32 = 3;
/// Longest wait between attempts.
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Client addresses tracked at once.
const MAX_TRACKED: usize = 4096;

struct Attempts {
    failures: u32,
    locked_until: Instant,
    last: Instant,
}

/// Per-client-IP exponential backoff for login and setup: after 3 failures the next
/// attempt must wait 1 s, then 2 s, 4 s, … up to 15 min. A success clears the record.
#[derive(Default)]
pub struct RateLimiter {
    map: Mutex<HashMap<IpAddr, Attempts>>,
}

impl RateLimiter {
    /// `Err(wait)` when `ip` must wait before trying again.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        match self.map.lock().unwrap().get(&ip) {
            Some(a) if a.locked_until > now => Err(a.locked_until - now),
            _ => Ok(()),
        }
    }

    pub fn failure(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap();
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            // Forget records idle longer than the longest lockout, then the oldest.
            map.retain(|_, a| now.duration_since(a.last) < MAX_LOCKOUT);
            if map.len() >= MAX_TRACKED
                && let Some(oldest) = map.iter().min_by_key(|(_, a)| a.last).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        let a = map.entry(ip).or_insert(Attempts {
            failures: 0,
            locked_until: now,
            last: now,
        });
        a.failures += 1;
        a.last = now;
        if a.failures >= FREE_FAILURES {
            let exp = (a.failures - FREE_FAILURES).min(20);
            let wait = Duration::from_secs(1u64 << exp).min(MAX_LOCKOUT);
            a.locked_until = now + wait;
        }
    }

    pub fn success(&self, ip: IpAddr) {
        self.map.lock().unwrap().remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_after_three_failures_and_doubles() {
        let r = RateLimiter::default();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        r.failure(ip);
        r.failure(ip);
        assert!(r.check(ip).is_ok());
        r.failure(ip);
        let w1 = r.check(ip).unwrap_err();
        assert!(w1 <= Duration::from_secs(1) && w1 > Duration::from_millis(500));
        r.failure(ip);
        let w2 = r.check(ip).unwrap_err();
        assert!(w2 > Duration::from_millis(1500), "{w2:?}");
        r.success(ip);
        assert!(r.check(ip).is_ok());
        assert!(r.check("10.0.0.10".parse().unwrap()).is_ok());
    }

    #[test]
    fn sessions_expire_and_stay_bounded() {
        let s = Sessions::new(Duration::from_millis(100));
        let (token, session) = s.create(ADMIN);
        assert_eq!(s.get(&token).unwrap().csrf, session.csrf);
        assert_ne!(token, session.csrf);
        std::thread::sleep(Duration::from_millis(150));
        assert!(s.get(&token).is_none());
        let long = Sessions::new(Duration::from_secs(60));
        let first = long.create(ADMIN).0;
        for _ in 0..MAX_SESSIONS {
            long.create(ADMIN);
        }
        assert_eq!(long.map.lock().unwrap().len(), MAX_SESSIONS);
        assert!(
            long.get(&first).is_none(),
            "the oldest session is dropped first"
        );
    }

    #[test]
    fn setup_code_is_normalised_and_has_no_lookalikes() {
        let c = new_setup_code();
        assert_eq!(c.len(), 14);
        assert!(!c.contains(['0', 'O', '1', 'I', 'L']), "{c}");
        assert_eq!(normalise_code(&c.to_lowercase().replace('-', " ")), c);
    }

    #[test]
    fn setup_works_once_then_password_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let creds = Credentials::open(dir.path()).unwrap();
        let code = std::fs::read_to_string(dir.path().join("setup-code")).unwrap();
        assert_eq!(
            super::super::files::mode(&dir.path().join("setup-code")).unwrap(),
            0o600
        );
        let gate = HashGate::default();
        let mut slot = gate.try_slot().unwrap();
        assert!(matches!(
            creds.setup("AAAA-BBBB-CCCC", "correct horse battery", &mut slot),
            Err(SetupRefused::WrongCode)
        ));
        creds
            .setup(code.trim(), "correct horse battery", &mut slot)
            .unwrap();
        assert!(!dir.path().join("setup-code").exists());
        assert!(matches!(
            creds.setup(code.trim(), "another password", &mut slot),
            Err(SetupRefused::AlreadyDone)
        ));
        assert!(creds.verify("correct horse battery", &mut slot));
        assert!(!creds.verify("wrong password", &mut slot));
        let again = Credentials::open(dir.path()).unwrap();
        assert!(!again.setup_required());
        assert!(again.verify("correct horse battery", &mut slot));
        let text = std::fs::read_to_string(dir.path().join("admin.json")).unwrap();
        assert!(text.contains("$argon2id$"), "{text}");
        assert!(!text.contains("correct horse"));
    }

    #[test]
    fn hashes_made_by_the_argon2_crate_still_verify_and_ours_verify_with_it() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let gate = HashGate::default();
        let mut slot = gate.try_slot().unwrap();
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let theirs = Argon2::default()
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password(
            "correct horse battery",
            &theirs,
            slot.memory()
        ));
        assert!(!verify_password(
            "correct horse batterY",
            &theirs,
            slot.memory()
        ));
        let ours = hash_password("correct horse battery", slot.memory());
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        Argon2::default()
            .verify_password(b"correct horse battery", &PasswordHash::new(&ours).unwrap())
            .unwrap();
        assert!(!verify_password("x", "not a phc string", slot.memory()));
        // A planted hash asking for 1 GiB is refused instead of allocated.
        let greedy = theirs.replace("m=19456", "m=1048576");
        assert!(!verify_password(
            "correct horse battery",
            &greedy,
            slot.memory()
        ));
    }

    #[test]
    fn the_hash_gate_has_two_slots_and_reuses_their_buffers() {
        let gate = HashGate::default();
        let mut a = gate.try_slot().unwrap();
        let b = gate.try_slot().unwrap();
        assert!(gate.try_slot().is_none(), "a third hash must wait");
        let _ = hash_password("correct horse battery", a.memory());
        let ptr = a.memory().0.as_ptr();
        drop(a);
        drop(b);
        assert_eq!(gate.buffers.lock().unwrap().len(), 2);
        // The buffer that hashed is handed out again instead of a new allocation.
        let (mut c, mut d) = (gate.try_slot().unwrap(), gate.try_slot().unwrap());
        let reused = [c.memory().0.as_ptr(), d.memory().0.as_ptr()];
        assert!(reused.contains(&ptr));
    }

    #[test]
    fn one_request_in_flight_per_address() {
        let f = InFlight::default();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let g = f.enter(ip).unwrap();
        assert!(f.enter(ip).is_none());
        assert!(f.enter("10.0.0.10".parse().unwrap()).is_some());
        drop(g);
        assert!(f.enter(ip).is_some());
    }
}
