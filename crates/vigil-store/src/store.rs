//! The store: opens the index and storage directories (exclusively), reconciles them, hands out one
//! recorder per stream, commits finished segments, and owns the background retention thread.

use crate::alerts::{AlertKind, Alerts, Severity, StorageAlert, lock};
use crate::config::StoreConfig;
use crate::error::{db_err, io_err};
use crate::frame_index::FrameIndex;
use crate::reconcile::{self, ReconcileReport};
use crate::recorder::{Recorder, RecorderStats};
use crate::retention::RetentionThread;
use crate::{StoreError, schema};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use vigil_core::VideoParams;
use vigil_core::latency::{LatencySummary, LatencyWindow};

/// Name of the marker file that ties a storage directory to its store.
pub(crate) const DIR_META: &str = ".vigil-dir";

/// A storage directory as the running store sees it.
pub(crate) struct DirState {
    pub id: i64,
    pub name: String,
    pub path: PathBuf,
    pub max_bytes: Option<u64>,
    pub min_free_bytes: u64,
    pub online: AtomicBool,
}

/// Usage counters and per-stream bookkeeping (the database is the truth; these mirror it).
#[derive(Default)]
pub(crate) struct State {
    pub dir_bytes: HashMap<i64, u64>,
    /// Segments committed to each directory in the last [`crate::status::RATE_WINDOW_MS`] (time ms, bytes),
    /// for the write rate and the days-until-full forecast.
    pub dir_writes: HashMap<i64, std::collections::VecDeque<(i64, u64)>>,
    /// How long making a segment durable took in each directory, by index in `Inner::dirs`, for the
    /// `slow_writes` condition (write_latency.rs).
    pub dir_latency: HashMap<usize, crate::write_latency::DirWrites>,
    pub camera_bytes: HashMap<i64, u64>,
    pub camera_budgets: HashMap<i64, u64>,
    /// Age limits per camera, in 90 kHz ticks.
    pub camera_max_age: HashMap<i64, i64>,
    pub camera_names: HashMap<i64, String>,
    pub next_seq: HashMap<i64, i64>,
    pub recorders: HashMap<i64, Arc<RecorderStats>>,
    /// The auditor's retention maximums (retention_limits.rs).
    pub limits: crate::RetentionLimits,
}

/// Shared by the store handle, recorders and the retention thread.
pub(crate) struct Inner {
    pub config: StoreConfig,
    pub db_path: PathBuf,
    pub db: Mutex<Connection>,
    /// A second connection for event writes (rows, snapshots, dead letters), so that a segment commit never
    /// queues behind an event batch for this mutex; SQLite's WAL then serializes only the commits.
    pub events_db: Mutex<Connection>,
    /// Recent segment commit times (lock wait included), for `/metrics`.
    pub commit_latency: Mutex<LatencyWindow>,
    pub dirs: Vec<DirState>,
    pub state: Mutex<State>,
    pub alerts: Alerts,
    /// Serializes retention passes and emergency deletions.
    pub retention_lock: Mutex<()>,
    pub retention_wake: crate::retention::Wake,
    /// Event-store state.
    pub events: crate::events::EventsState,
    /// The key chain heads are signed with (integrity/mod.rs).
    pub signing: Mutex<crate::integrity::Signing>,
    /// The key store segment keys are sealed under (crypt.rs); needed when `config.encrypt`.
    pub keys: Mutex<Option<Arc<vigil_keys::KeyStore>>>,
    _lock_file: File,
}

/// The recording store. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Store {
    inner: Arc<Inner>,
    retention: Option<RetentionThread>,
    /// Segments of an interrupted `vigil keys encrypt` that reconciliation finished at open.
    resumed_encryptions: usize,
}

/// The key store set on a store, if any.
pub(crate) fn lock_keys(inner: &Inner) -> Option<Arc<vigil_keys::KeyStore>> {
    lock(&inner.keys).clone()
}

/// A finished segment ready for the index.
pub(crate) struct NewSegment<'a> {
    pub stream_id: i64,
    pub camera_id: i64,
    pub dir: usize,
    pub seq: i64,
    pub file_name: &'a str,
    pub start_90k: i64,
    pub duration_90k: i64,
    pub media_duration_90k: i64,
    pub bytes: u64,
    pub checksum: u32,
    pub sha256: [u8; 32],
    pub run_start: bool,
    pub recovered: bool,
    pub sample_entry: &'a [u8],
    pub index: &'a FrameIndex,
}

impl Store {
    /// Opens (creating when new) the index and storage directories for recording: takes the store's
    /// lock, applies migrations, reconciles files with the index (see [`ReconcileReport`]) and starts
    /// background retention when configured.
    pub fn open(config: StoreConfig) -> Result<(Store, ReconcileReport), StoreError> {
        config.validate()?;
        if let Some(parent) = config.db.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let lock_path = PathBuf::from(format!("{}.lock", config.db.display()));
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        // A lock held for a moment by a forked child (between fork and exec, every process that
        // spawns a program briefly shares its parent's open files) or by a process that is exiting
        // is waited out; a running recorder holds it for good.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            match lock_file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::Locked { path: lock_path });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
            }
        }
        let db_path = config.db.clone();
        let conn = schema::open_rw(&db_path)?;
        let events_conn = schema::open_rw(&db_path)?;
        let db_path2 = db_path.clone();
        let e = db_err(&db_path2);
        let store_uuid = store_uuid(&conn).map_err(&e)?;
        let alerts = Alerts::default();
        let mut dirs = Vec::new();
        for d in &config.dirs {
            conn.execute(
                "INSERT INTO storage_dirs (name, path, uuid) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET path = excluded.path",
                params![d.name, d.path.to_string_lossy(), store_uuid],
            )
            .map_err(&e)?;
            let id: i64 = conn
                .query_row(
                    "SELECT id FROM storage_dirs WHERE name = ?1",
                    [&d.name],
                    |r| r.get(0),
                )
                .map_err(&e)?;
            let online = match check_dir(&d.path, &d.name, &store_uuid) {
                Ok(()) => true,
                Err(StoreError::Dir { reason, .. }) if reason.starts_with("missing") => {
                    alerts.raise(
                        AlertKind::DirOffline,
                        Severity::Critical,
                        Some(&d.name),
                        None,
                        format!(
                            "storage directory {} ({}) is missing or not mounted; its recordings are \
                             left alone and nothing is recorded there",
                            d.name,
                            d.path.display()
                        ),
                    );
                    false
                }
                Err(other) => return Err(other),
            };
            dirs.push(DirState {
                id,
                name: d.name.clone(),
                path: d.path.clone(),
                max_bytes: d.max_bytes,
                min_free_bytes: d.min_free_bytes,
                online: AtomicBool::new(online),
            });
        }
        let inner = Arc::new(Inner {
            config,
            db_path,
            db: Mutex::new(conn),
            events_db: Mutex::new(events_conn),
            commit_latency: Mutex::new(LatencyWindow::new(1024)),
            dirs,
            state: Mutex::new(State::default()),
            alerts,
            retention_lock: Mutex::new(()),
            retention_wake: Default::default(),
            events: Default::default(),
            signing: Default::default(),
            keys: Mutex::new(None),
            _lock_file: lock_file,
        });
        let report = reconcile::reconcile(&inner)?;
        inner.load_state()?;
        crate::events::on_open(&inner)?;
        if !report.damaged.is_empty() {
            inner.alerts.raise(
                AlertKind::DamagedSegments,
                Severity::Critical,
                None,
                None,
                format!(
                    "{} recorded segment(s) do not match the index (truncated or corrupted) and are \
                     not served: {}",
                    report.damaged.len(),
                    report
                        .damaged
                        .iter()
                        .take(5)
                        .map(|d| d.file.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        if !report.is_clean() {
            tracing::warn!("storage reconciliation: {report}");
        }
        let retention = inner
            .config
            .background_retention
            .then(|| RetentionThread::spawn(inner.clone()));
        Ok((
            Store {
                inner,
                retention,
                resumed_encryptions: report.encryptions_finished.len(),
            },
            report,
        ))
    }

    /// Starts recording a camera's stream (e.g. `"main"`). Creates the camera and stream in the index
    /// when new. One recorder per stream at a time.
    pub fn recorder(&self, camera: &str, stream: &str) -> Result<Recorder, StoreError> {
        let (camera_id, stream_id) = self.inner.ensure_stream(camera, stream)?;
        let dir = self.inner.pick_dir(camera)?;
        Recorder::start(
            self.inner.clone(),
            camera,
            stream,
            camera_id,
            stream_id,
            dir,
        )
    }

    /// Calls `f` for every alert raised from now on (from the thread that raises it: keep `f` short,
    /// e.g. forward into a channel).
    pub fn on_alert(&self, f: impl Fn(&StorageAlert) + Send + Sync + 'static) {
        self.inner.alerts.subscribe(Box::new(f));
    }

    /// How long the last 1024 segment commits took (waiting for the index included): the figure that
    /// says whether recording waits behind anything else writing to the index.
    pub fn segment_commit_latency(&self) -> LatencySummary {
        lock(&self.inner.commit_latency).summary()
    }

    /// A read-only view of the index for playback and export (its own database connection).
    pub fn reader(&self) -> Result<crate::Reader, StoreError> {
        let reader = crate::Reader::open(&self.inner.db_path)?;
        Ok(match lock(&self.inner.keys).clone() {
            Some(keys) => reader.with_keys(keys),
            None => reader,
        })
    }

    /// A connection of its own for one analysis thread's activity baselines.
    pub fn baselines(&self) -> Result<crate::PersistedBaselines, StoreError> {
        crate::BaselineStore::open(&self.inner.db_path).map(crate::PersistedBaselines::new)
    }

    /// Runs one retention pass now (the background thread does this on its own when enabled).
    pub fn run_retention(&self) -> Result<crate::RetentionReport, StoreError> {
        self.inner.run_retention()
    }

    /// Sets (or with `None` removes) a camera's byte budget, overriding the configuration.
    pub fn set_camera_budget(
        &self,
        camera: &str,
        max_bytes: Option<u64>,
    ) -> Result<(), StoreError> {
        let id = self.inner.ensure_camera(camera)?;
        let mut st = lock(&self.inner.state);
        match max_bytes {
            Some(b) => st.camera_budgets.insert(id, b),
            None => st.camera_budgets.remove(&id),
        };
        drop(st);
        self.inner.retention_wake.wake();
        Ok(())
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// Segments of an interrupted `vigil keys encrypt` that reconciliation finished when it opened.
    pub(crate) fn resumed_encryptions(&self) -> usize {
        self.resumed_encryptions
    }

    /// Stops background retention; recorders keep working until closed.
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(t) = self.retention.take() {
            t.stop();
        }
        if let Err(e) = self.sign_chain_heads() {
            tracing::warn!(error = %e, "could not sign the recording chain heads at close");
        }
    }

    /// True when a store (a running `vigil run`) holds the index at `db` open for recording.
    pub fn in_use(db: &Path) -> bool {
        let lock_path = PathBuf::from(format!("{}.lock", db.display()));
        match File::options().read(true).write(true).open(&lock_path) {
            Ok(f) => match f.try_lock() {
                Ok(()) => {
                    let _ = f.unlock();
                    false
                }
                Err(_) => true,
            },
            Err(_) => false,
        }
    }

    /// The key store that seals the data keys of encrypted segments (`[storage] encrypt`); set it before
    /// recording, else encrypted recording refuses to write.
    pub fn set_keys(&self, keys: Arc<vigil_keys::KeyStore>) {
        *lock(&self.inner.keys) = Some(keys);
    }

    /// Signs recording chain heads with the site's key from now on (recording.md R15): about once a
    /// minute per recording stream, and at close.
    pub fn set_site_key(&self, key: std::sync::Arc<vigil_keys::SiteKey>) {
        lock(&self.inner.signing).key = Some(key);
    }

    /// Signs the newest link of every stream whose head is not signed yet (done at close, so that a
    /// clean stop leaves nothing unsigned). Returns the number of heads signed; 0 without a site key.
    pub fn sign_chain_heads(&self) -> Result<usize, StoreError> {
        let inner = &self.inner;
        let mut signing = lock(&inner.signing);
        let Some(key) = signing.key.clone() else {
            return Ok(0);
        };
        let e = db_err(&inner.db_path);
        let mut conn = inner.db();
        let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
        let heads: Vec<(i64, i64, Vec<u8>)> = tx
            .prepare(
                "SELECT g.stream_id, g.seq, g.chain FROM segments g
                 WHERE g.chain IS NOT NULL
                   AND g.seq = (SELECT MAX(seq) FROM segments WHERE stream_id = g.stream_id)
                   AND NOT EXISTS (SELECT 1 FROM chain_heads h
                                   WHERE h.stream_id = g.stream_id AND h.seq = g.seq)",
            )
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(&e)?;
        let now_ms = vigil_core::time::now_unix_ms();
        let mut n = 0;
        for (stream_id, seq, chain) in heads {
            let Some(chain) = crate::integrity::as_link(Some(chain)) else {
                continue;
            };
            crate::integrity::sign_head(&tx, &key, stream_id, seq, &chain, now_ms).map_err(&e)?;
            signing.last_ms.insert(stream_id, now_ms);
            n += 1;
        }
        tx.commit().map_err(&e)?;
        Ok(n)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads or creates the store's identity.
fn store_uuid(conn: &Connection) -> rusqlite::Result<String> {
    if let Some(v) = conn
        .query_row("SELECT value FROM meta WHERE key = 'uuid'", [], |r| {
            r.get(0)
        })
        .optional()?
    {
        return Ok(v);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let v = format!("{:032x}", t ^ (u128::from(std::process::id()) << 96));
    conn.execute("INSERT INTO meta (key, value) VALUES ('uuid', ?1)", [&v])?;
    Ok(v)
}

/// Checks (or on first use writes) the marker file tying `path` to this store.
fn check_dir(path: &Path, name: &str, store_uuid: &str) -> Result<(), StoreError> {
    let dir_err = |reason: String| StoreError::Dir {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_dir() {
        return Err(dir_err("missing (not a directory, or not mounted)".into()));
    }
    let meta = path.join(DIR_META);
    let expected = format!("vigil-store {store_uuid} {name}\n");
    match std::fs::read_to_string(&meta) {
        Ok(found) => {
            let mut parts = found.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some("vigil-store"), Some(uuid)) if uuid == store_uuid => Ok(()),
                (Some("vigil-store"), Some(uuid)) => Err(dir_err(format!(
                    "belongs to another Vigil store ({uuid}, this index is {store_uuid}); refusing to \
                     touch its recordings"
                ))),
                _ => Err(dir_err(format!("{DIR_META} is not a Vigil marker file"))),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let tmp = path.join(format!("{DIR_META}.tmp"));
            let write = || -> std::io::Result<()> {
                let mut f = File::create(&tmp)?;
                std::io::Write::write_all(&mut f, expected.as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, &meta)?;
                crate::segment_file::sync_dir(path)
            };
            write().map_err(|e| dir_err(format!("cannot write {DIR_META}: {e}")))
        }
        Err(e) => Err(dir_err(format!("cannot read {DIR_META}: {e}"))),
    }
}

/// Free bytes available to this user on the filesystem holding `path`.
pub(crate) fn free_bytes(path: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Total bytes of the filesystem holding `path`.
pub(crate) fn total_bytes(path: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(s.f_blocks.saturating_mul(s.f_frsize))
}

impl Inner {
    pub(crate) fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        lock(&self.db)
    }

    /// The connection event writes use (see [`Inner::events_db`]).
    pub(crate) fn events_db(&self) -> std::sync::MutexGuard<'_, Connection> {
        lock(&self.events_db)
    }

    pub(crate) fn dir_index(&self, dir_id: i64) -> Option<usize> {
        self.dirs.iter().position(|d| d.id == dir_id)
    }

    /// Loads usage counters, sequence numbers and budgets from the index.
    fn load_state(&self) -> Result<(), StoreError> {
        self.load_usage()?;
        let limits = crate::retention_limits::load(&self.db()).map_err(db_err(&self.db_path))?;
        lock(&self.state).limits = limits;
        for c in &self.config.cameras {
            let id = self.ensure_camera(&c.name)?;
            if let Some(b) = c.max_bytes {
                lock(&self.state).camera_budgets.insert(id, b);
            }
            if let Some(days) = c.max_days {
                lock(&self.state)
                    .camera_max_age
                    .insert(id, i64::from(days) * 86_400 * 90_000);
            }
        }
        Ok(())
    }

    fn load_usage(&self) -> Result<(), StoreError> {
        let e = db_err(&self.db_path);
        let conn = self.db();
        let mut st = lock(&self.state);
        let mut q = conn
            .prepare("SELECT dir_id, SUM(bytes) FROM segments GROUP BY dir_id")
            .map_err(&e)?;
        for row in q
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .map_err(&e)?
        {
            let (d, b) = row.map_err(&e)?;
            st.dir_bytes.insert(d, b as u64);
        }
        let mut q = conn
            .prepare(
                "SELECT st.camera_id, SUM(s.bytes) FROM segments s
                 JOIN streams st ON st.id = s.stream_id GROUP BY st.camera_id",
            )
            .map_err(&e)?;
        for row in q
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .map_err(&e)?
        {
            let (c, b) = row.map_err(&e)?;
            st.camera_bytes.insert(c, b as u64);
        }
        let mut q = conn.prepare("SELECT id, name FROM cameras").map_err(&e)?;
        for row in q
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(&e)?
        {
            let (id, name) = row.map_err(&e)?;
            st.camera_names.insert(id, name);
        }
        Ok(())
    }

    pub(crate) fn ensure_camera(&self, camera: &str) -> Result<i64, StoreError> {
        let e = db_err(&self.db_path);
        let conn = self.db();
        conn.execute("INSERT OR IGNORE INTO cameras (name) VALUES (?1)", [camera])
            .map_err(&e)?;
        let id: i64 = conn
            .query_row("SELECT id FROM cameras WHERE name = ?1", [camera], |r| {
                r.get(0)
            })
            .map_err(&e)?;
        lock(&self.state)
            .camera_names
            .insert(id, camera.to_string());
        Ok(id)
    }

    /// Returns `(camera_id, stream_id)`, creating rows as needed.
    pub(crate) fn ensure_stream(
        &self,
        camera: &str,
        stream: &str,
    ) -> Result<(i64, i64), StoreError> {
        let camera_id = self.ensure_camera(camera)?;
        let e = db_err(&self.db_path);
        let conn = self.db();
        conn.execute(
            "INSERT OR IGNORE INTO streams (camera_id, name) VALUES (?1, ?2)",
            params![camera_id, stream],
        )
        .map_err(&e)?;
        let stream_id: i64 = conn
            .query_row(
                "SELECT id FROM streams WHERE camera_id = ?1 AND name = ?2",
                params![camera_id, stream],
                |r| r.get(0),
            )
            .map_err(&e)?;
        Ok((camera_id, stream_id))
    }

    /// The directory a camera records into: its configured one, else the online one with most space.
    fn pick_dir(&self, camera: &str) -> Result<usize, StoreError> {
        if let Some(name) = self
            .config
            .cameras
            .iter()
            .find(|c| c.name == camera)
            .and_then(|c| c.dir.as_ref())
        {
            return self
                .dirs
                .iter()
                .position(|d| &d.name == name)
                .ok_or_else(|| StoreError::Config(format!("unknown storage directory {name:?}")));
        }
        self.dirs
            .iter()
            .enumerate()
            .filter(|(_, d)| d.online.load(Ordering::Relaxed))
            .max_by_key(|(_, d)| free_bytes(&d.path).unwrap_or(0))
            .map(|(i, _)| i)
            .ok_or_else(|| StoreError::Config("no storage directory is online".into()))
    }

    /// The next unused segment sequence number of a stream.
    pub(crate) fn next_seq(&self, stream_id: i64) -> i64 {
        let mut st = lock(&self.state);
        let seq = st.next_seq.entry(stream_id).or_insert(1);
        let v = *seq;
        *seq += 1;
        v
    }

    /// A new random data key for segment `seq` of `stream_id`, sealed under the master key and stored
    /// in `segment_keys` (durably) before the caller writes anything with it.
    pub(crate) fn new_segment_key(&self, stream_id: i64, seq: i64) -> Result<[u8; 32], StoreError> {
        let keys = lock(&self.keys).clone().ok_or_else(|| {
            StoreError::Crypto(
                "[storage] encrypt is on but no key store is set: nothing is recorded in the clear"
                    .into(),
            )
        })?;
        let key = vigil_keys::random_bytes::<32>()?;
        let id = crate::crypt::SegmentKey::new(&key)?.id;
        let e = db_err(&self.db_path);
        keys.wrap_and(&key, &crate::crypt::key_aad(stream_id, seq), |w| {
            let mut conn = self.db();
            let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
            tx.execute(
                "INSERT OR REPLACE INTO segment_keys (stream_id, seq, key_id, master_id, nonce, sealed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![stream_id, seq, &id[..], w.by, &w.nonce[..], w.sealed],
            )
            .map_err(&e)?;
            tx.commit().map_err(&e)?;
            Ok::<_, StoreError>(())
        })?;
        Ok(key)
    }

    /// Inserts a finished segment (file already fsynced, directory too) in one transaction.
    pub(crate) fn commit_segment(&self, s: &NewSegment<'_>) -> Result<i64, StoreError> {
        let e = db_err(&self.db_path);
        let params_ = vigil_mp4::codec::video_params_from_sample_entry(s.sample_entry)?;
        let started = std::time::Instant::now();
        let mut conn = self.db();
        let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
        let entry_id = sample_entry_id(&tx, &params_).map_err(&e)?;
        let dir_id = self.dirs[s.dir].id;
        // The segment's link in its stream's chain (recording.md R15).
        let frame_index = s.index.encode();
        let (prev_seq, prev) = crate::integrity::prev_link(&tx, s.stream_id, s.seq).map_err(&e)?;
        let chain = crate::integrity::link(
            &prev,
            &crate::integrity::LinkFields {
                stream_id: s.stream_id,
                seq: s.seq,
                prev_seq,
                file_name: s.file_name,
                start_90k: s.start_90k,
                duration_90k: s.duration_90k,
                media_duration_90k: s.media_duration_90k,
                bytes: s.bytes as i64,
                frames: s.index.frames.len() as i64,
                key_frames: s.index.key_frames() as i64,
                run_start: s.run_start,
                recovered: s.recovered,
                reordered: s.index.has_composition_offsets(),
                sha256: &s.sha256,
                frame_index: &frame_index,
                sample_entry: &params_.sample_entry,
            },
        );
        tx.execute(
            "INSERT INTO segments (stream_id, dir_id, seq, file_name, start_90k, duration_90k,
                media_duration_90k, bytes, frames, key_frames, sample_entry_id, checksum, run_start,
                recovered, reordered, sha256, chain, prev_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            params![
                s.stream_id,
                dir_id,
                s.seq,
                s.file_name,
                s.start_90k,
                s.duration_90k,
                s.media_duration_90k,
                s.bytes as i64,
                s.index.frames.len() as i64,
                s.index.key_frames() as i64,
                entry_id,
                i64::from(s.checksum),
                s.run_start,
                s.recovered,
                s.index.has_composition_offsets(),
                &s.sha256[..],
                &chain[..],
                (prev_seq > 0).then_some(prev_seq),
            ],
        )
        .map_err(&e)?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO segment_frames (segment_id, frame_index) VALUES (?1, ?2)",
            params![id, frame_index],
        )
        .map_err(&e)?;
        let now_ms = vigil_core::time::now_unix_ms();
        let mut signing = lock(&self.signing);
        if signing.due(s.stream_id, now_ms)
            && let Some(key) = signing.key.clone()
        {
            crate::integrity::sign_head(&tx, &key, s.stream_id, s.seq, &chain, now_ms)
                .map_err(&e)?;
            signing.last_ms.insert(s.stream_id, now_ms);
        }
        drop(signing);
        tx.commit().map_err(&e)?;
        drop(conn);
        lock(&self.commit_latency).push(started.elapsed());
        let mut st = lock(&self.state);
        *st.dir_bytes.entry(dir_id).or_default() += s.bytes;
        let writes = st.dir_writes.entry(dir_id).or_default();
        writes.push_back((now_ms, s.bytes));
        while writes
            .front()
            .is_some_and(|(t, _)| now_ms - t > crate::status::RATE_WINDOW_MS)
        {
            writes.pop_front();
        }
        *st.camera_bytes.entry(s.camera_id).or_default() += s.bytes;
        let next = st.next_seq.entry(s.stream_id).or_insert(s.seq + 1);
        *next = (*next).max(s.seq + 1);
        drop(st);
        self.retention_wake.wake();
        Ok(id)
    }
}

/// Finds or inserts a sample entry row.
pub(crate) fn sample_entry_id(conn: &Connection, p: &VideoParams) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT OR IGNORE INTO sample_entries (codec, width, height, rfc6381_codec, data)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            p.codec.fourcc(),
            p.width,
            p.height,
            p.rfc6381_codec,
            p.sample_entry
        ],
    )?;
    conn.query_row(
        "SELECT id FROM sample_entries WHERE data = ?1",
        [&p.sample_entry],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn handles_can_be_shared_across_threads_and_tasks() {
        fn shareable<T: Send + Sync>() {}
        shareable::<super::Store>();
        shareable::<crate::Recorder>();
        shareable::<crate::Export>();
        fn sendable<T: Send>() {}
        sendable::<crate::Reader>();
    }
}
