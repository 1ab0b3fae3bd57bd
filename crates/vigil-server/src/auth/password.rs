//! Password hashing (argon2id, m = 19 MiB, t = 2, p = 1: the OWASP baseline, ~125 ms per hash on one
//! core), the [`HashGate`] that bounds how many run at once (on threads of their own, at a lower CPU
//! priority), and strength rules.

use crate::error::ServerError;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 12;
/// Longest password accepted (hashing cost is bounded).
pub const MAX_LENGTH: usize = 256;

/// Common passwords of 12+ characters (and their obvious variants), refused whatever else they have.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "password1234",
    "password12345",
    "password123!",
    "passwordpassword",
    "qwertyuiop12",
    "qwertyuiopasdf",
    "qwerty123456",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "iloveyou1234",
    "letmein12345",
    "welcome12345",
    "administrator",
    "admin1234567",
    "adminadmin12",
    "changeme1234",
    "abcdefghijkl",
    "abc123456789",
    "trustno1trustno1",
    "football1234",
    "baseball1234",
    "sunshine1234",
    "princess1234",
    "starwars1234",
    "monkey123456",
    "dragon123456",
    "superman1234",
    "correcthorsebatterystaple",
    "vigilvigilvigil",
    "surveillance",
    "security1234",
    "camera123456",
];

/// Memory of one hash, in KiB.
const M_COST: u32 = 19_456;

fn hasher() -> Argon2<'static> {
    // Constant, valid parameters: Params::new only fails outside argon2's documented bounds.
    let params = Params::new(M_COST, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of an argon2id hash of `password` with a random salt.
pub fn hash(password: &str) -> Result<String, ServerError> {
    let salt = SaltString::encode_b64(&super::random_bytes::<16>()?)
        .map_err(|e| ServerError::Invalid(format!("salt: {e}")))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServerError::Invalid(format!("hashing failed: {e}")))
}

/// Whether `password` matches the stored hash (a malformed hash matches nothing), computed in
/// `memory` (grown to the hash's memory cost when smaller), so that repeated checks reuse one buffer
/// instead of allocating 19 MiB each.
pub fn verify(stored: &str, password: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(h) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(h.algorithm), Params::try_from(&h))
    else {
        return false;
    };
    let version = match h.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..blocks])
        .is_ok()
        && Output::new(out).is_ok_and(|o| o == expected)
}

/// A hash nobody has the password of.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash("an unguessable dummy that no account has").unwrap_or_default())
}

/// Spends the time of one verification against a hash nobody has the password of, so that an unknown
/// user name costs the same as a wrong password.
pub fn verify_dummy(password: &str, memory: &mut Vec<Block>) {
    let _ = verify(dummy_hash(), password, memory);
}

/// Bounds the password hashing that requests can start: at most `concurrency` hashes at once, each on
/// a thread of the gate's own that keeps its 19 MiB buffer (so memory stays at `concurrency` x 19 MiB
/// however many requests come) and runs at a lower CPU priority (nice [`HASH_NICE`], Linux), so that
/// under a flood of logins the rest of the server is served first; at most `max_waiting` requests are
/// queued, for up to `max_wait`; past that a request is refused ([`Busy`]: answered 503 with
/// `Retry-After`).
pub struct HashGate {
    permits: Arc<Semaphore>,
    concurrency: usize,
    workers: Mutex<Option<mpsc::Sender<Job>>>,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
}

/// The nice value of the hashing threads.
pub const HASH_NICE: i32 = 10;

/// A verification for a hashing thread.
struct Job {
    stored: String,
    password: String,
    reply: mpsc::SyncSender<bool>,
}

/// No hashing slot became free in time (see [`HashGate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// The right to run one hash (on the gate's threads) until dropped.
pub struct HashSlot {
    _permit: OwnedSemaphorePermit,
    jobs: mpsc::Sender<Job>,
}

impl HashSlot {
    /// Whether `password` matches `stored` (see [`verify`]), computed on a hashing thread; blocks
    /// until it is done (call it from a blocking task).
    pub fn verify(&mut self, stored: &str, password: &str) -> bool {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job {
            stored: stored.to_string(),
            password: password.to_string(),
            reply,
        };
        // A hashing thread that is gone (it panicked) matches nothing.
        self.jobs.send(job).is_ok() && answer.recv().unwrap_or(false)
    }

    /// One verification's worth of time against a dummy hash (see [`verify_dummy`]).
    pub fn verify_dummy(&mut self, password: &str) {
        let _ = self.verify(dummy_hash(), password);
    }
}

/// Counts a queued request while it waits (also when its future is dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Lowers the calling thread's CPU priority to [`HASH_NICE`] (Linux: the nice value is per thread).
fn lower_priority() {
    if let Err(e) = vigil_core::thread::lower_priority(HASH_NICE) {
        tracing::debug!("password hashing keeps its CPU priority: {e}");
    }
}

impl HashGate {
    /// A gate for `concurrency` hashes at once (at least 1) and `max_waiting` queued requests that
    /// wait up to `max_wait`. Its threads start with the first slot and end with the gate.
    pub fn new(concurrency: usize, max_waiting: usize, max_wait: Duration) -> Arc<HashGate> {
        let concurrency = concurrency.max(1);
        Arc::new(HashGate {
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            workers: Mutex::new(None),
            waiting: AtomicUsize::new(0),
            max_waiting,
            max_wait,
        })
    }

    /// Hashes that may run at once by default: half the cores (the other half keeps serving
    /// requests), at least 1, at most 8.
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get() / 2)
            .clamp(1, 8)
    }

    /// The job queue of the hashing threads, starting them the first time.
    fn jobs(&self) -> Option<mpsc::Sender<Job>> {
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = workers.as_ref() {
            return Some(tx.clone());
        }
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..self.concurrency {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("vigil-hash-{n}"))
                .spawn(move || {
                    lower_priority();
                    let mut memory = Vec::new();
                    loop {
                        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok(job) = job else { return };
                        let ok = verify(&job.stored, &job.password, &mut memory);
                        let _ = job.reply.send(ok);
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("starting a password hashing thread: {e}");
                if n == 0 {
                    return None;
                }
            }
        }
        *workers = Some(tx.clone());
        Some(tx)
    }

    /// Waits for a slot (queued for at most `max_wait`, behind at most `max_waiting` others).
    pub async fn slot(self: &Arc<Self>) -> Result<HashSlot, Busy> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(Busy);
                }
                let _waiting = Waiting(&self.waiting);
                match tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned())
                    .await
                {
                    Ok(Ok(p)) => p,
                    _ => return Err(Busy),
                }
            }
        };
        let jobs = self.jobs().ok_or(Busy)?;
        Ok(HashSlot {
            _permit: permit,
            jobs,
        })
    }

    /// How long a refused request should wait before trying again (seconds).
    pub fn retry_after(&self) -> u64 {
        self.max_wait.as_secs().max(1)
    }
}

/// Checks the strength rules: at least [`MIN_LENGTH`] characters, at most [`MAX_LENGTH`], at least 5
/// different characters, not containing the user name, not a common password.
pub fn check_strength(username: &str, password: &str) -> Result<(), ServerError> {
    let weak = |m: &str| Err(ServerError::WeakPassword(m.to_string()));
    let n = password.chars().count();
    if n < MIN_LENGTH {
        return weak(&format!("use at least {MIN_LENGTH} characters"));
    }
    if n > MAX_LENGTH {
        return weak(&format!("use at most {MAX_LENGTH} characters"));
    }
    let lower = password.to_lowercase();
    let mut distinct: Vec<char> = lower.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 5 {
        return weak("use more different characters");
    }
    let user = username.to_lowercase();
    if user.chars().count() >= 3 && lower.contains(&user) {
        return weak("do not put the user name into the password");
    }
    let squashed: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
    if COMMON
        .iter()
        .any(|c| *c == lower || *c == squashed || lower.starts_with(c))
    {
        return weak("this password is too common");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_rules() {
        assert!(check_strength("alice", "short").is_err());
        assert!(check_strength("alice", "alice-is-my-name-1").is_err());
        assert!(check_strength("alice", "Password1234").is_err());
        assert!(check_strength("alice", "aaaaaaaaaaaaaaaa").is_err());
        assert!(check_strength("alice", "correct horse battery staple").is_err());
        assert!(check_strength("alice", "tulip-orbit-42-canyon").is_ok());
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("tulip-orbit-42-canyon").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let mut memory = Vec::new();
        assert!(verify(&h, "tulip-orbit-42-canyon", &mut memory));
        assert_eq!(memory.len(), M_COST as usize, "one block per KiB");
        assert!(!verify(&h, "tulip-orbit-42-canyoN", &mut memory));
        assert!(!verify("not a hash", "x", &mut memory));
        // The reused buffer gives the same answers as a fresh one, and as argon2's own verifier.
        use argon2::PasswordVerifier;
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(
            hasher()
                .verify_password(b"tulip-orbit-42-canyon", &parsed)
                .is_ok()
        );
        assert!(verify(&h, "tulip-orbit-42-canyon", &mut memory));
        // Other parameters (an older hash) verify too.
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let old = weak
            .hash_password(b"old-secret-123", &salt)
            .unwrap()
            .to_string();
        assert!(verify(&old, "old-secret-123", &mut Vec::new()));
        assert!(!verify(&old, "old-secret-124", &mut memory));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_gate_bounds_concurrent_hashes_and_refuses_past_its_queue() {
        let gate = HashGate::new(2, 1, Duration::from_secs(2));
        let a = gate.slot().await.unwrap();
        let _b = gate.slot().await.unwrap();
        // The third waits in the queue; the fourth finds the queue full.
        let g = gate.clone();
        let third = tokio::spawn(async move { g.slot().await.map(|_| ()) });
        tokio::task::yield_now().await;
        assert_eq!(gate.slot().await.err(), Some(Busy));
        drop(a);
        assert_eq!(third.await.unwrap(), Ok(()));
        // A queued request gives up after max_wait.
        let _c = gate.slot().await.unwrap();
        let t = tokio::time::Instant::now();
        assert_eq!(gate.slot().await.err(), Some(Busy));
        assert_eq!(t.elapsed(), Duration::from_secs(2));
        assert_eq!(gate.waiting.load(Ordering::Acquire), 0);
    }

    #[test]
    fn slots_verify_on_low_priority_threads_of_their_own() {
        let gate = HashGate::new(1, 0, Duration::from_secs(1));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let h = hash("tulip-orbit-42-canyon").unwrap();
        let mut slot = rt.block_on(gate.slot()).unwrap();
        assert!(slot.verify(&h, "tulip-orbit-42-canyon"));
        assert!(!slot.verify(&h, "tulip-orbit-42-canyoN"));
        #[cfg(target_os = "linux")]
        {
            // /proc/self/task/TID/stat: field 19 is the nice value.
            let nice: Vec<i64> = std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|t| {
                    let dir = t.ok()?.path();
                    let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
                    (comm.trim() == "vigil-hash-0").then_some(())?;
                    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                    let after = stat.rsplit_once(')')?.1;
                    after.split_whitespace().nth(16)?.parse().ok()
                })
                .collect();
            assert!(nice.contains(&i64::from(HASH_NICE)), "{nice:?}");
        }
    }
}
