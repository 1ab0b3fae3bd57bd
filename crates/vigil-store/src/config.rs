//! Store configuration: the index database, the storage directories with their budgets, segment and
//! fragment lengths, and the clock-handling limits. Deserializes from the `[storage]` table of Vigil's
//! TOML configuration; byte sizes are integers or strings such as `"500 GB"` / `"8 MiB"`.

use crate::StoreError;
use serde::{Deserialize, Deserializer, Serialize};
use std::path::PathBuf;

/// Where and how recordings are stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The SQLite index file (WAL mode; keep it on a local disk, not on the storage directories). May be
    /// left out of a configuration file, where the caller fills in its default location before opening.
    #[serde(default)]
    pub db: PathBuf,
    /// Storage directories (at least one when opening; a configuration file may leave them out and let
    /// the caller fill in a default). Each stream records into one of them.
    #[serde(default)]
    pub dirs: Vec<DirConfig>,
    /// Per-camera byte budgets.
    #[serde(default)]
    pub cameras: Vec<CameraStorageConfig>,
    /// Target segment length in seconds; a segment ends at the first key frame after it.
    #[serde(default = "defaults::segment_seconds")]
    pub segment_seconds: f64,
    /// Longest fragment in seconds: at most this much video is held in memory per stream before it is
    /// written, and so at most this much is lost if the process is killed.
    #[serde(default = "defaults::fragment_seconds")]
    pub fragment_seconds: f64,
    /// How much to verify at start-up.
    #[serde(default)]
    pub verify: VerifyLevel,
    /// Run retention on a background thread (woken by every new segment and every `retention_interval_seconds`).
    #[serde(default = "defaults::yes")]
    pub background_retention: bool,
    /// Period of the background retention pass.
    #[serde(default = "defaults::retention_interval_seconds")]
    pub retention_interval_seconds: f64,
    /// Frames a recorder may queue before `append` waits (and `try_append` refuses).
    #[serde(default = "defaults::queue_frames")]
    pub queue_frames: usize,
    /// A camera frame duration above this (seconds) is a clock jump, not a real duration.
    #[serde(default = "defaults::max_frame_seconds")]
    pub max_frame_seconds: f64,
    /// Largest correction applied to recorded time per unit of media time to follow the local clock
    /// (parts per million).
    #[serde(default = "defaults::max_slew_ppm")]
    pub max_slew_ppm: u32,
    /// When camera-derived time and the local clock disagree by more than this (seconds), the next
    /// segment starts a new run anchored on the local clock instead of slewing.
    #[serde(default = "defaults::resync_seconds")]
    pub resync_seconds: f64,
    /// The event store: snapshots, how long events are kept, how much footage around them is kept.
    #[serde(default)]
    pub events: EventStoreConfig,
    /// Encrypt new segments at rest (AES-256-GCM, a data key per segment sealed under the master key;
    /// crypt.rs). On by default in a configuration file; [`StoreConfig::new`] leaves it off. Needs the
    /// key store ([`crate::Store::set_keys`]): without it, nothing is recorded rather than recorded
    /// unencrypted.
    #[serde(default = "defaults::yes")]
    pub encrypt: bool,
}

/// Settings of the event store (`[storage.events]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventStoreConfig {
    /// Directory of event snapshots (JPEG files); default: `snapshots` next to the index database.
    #[serde(default)]
    pub snapshot_dir: Option<PathBuf>,
    /// Footage kept before an event's start (seconds), as part of its keep-longer mark.
    #[serde(default = "defaults::roll_seconds")]
    pub pre_roll_seconds: f64,
    /// Footage kept after an event's end (seconds).
    #[serde(default = "defaults::roll_seconds")]
    pub post_roll_seconds: f64,
    /// Days an event, its snapshots and the preference for its footage are kept after it ends
    /// (events under an evidence hold are kept until the hold is released).
    #[serde(default = "defaults::event_retention_days")]
    pub retention_days: u32,
    /// Largest snapshot of one event (full frame and crop together).
    #[serde(
        default = "defaults::max_snapshot_bytes",
        deserialize_with = "de_bytes"
    )]
    pub max_snapshot_bytes: u64,
    /// Most dead letters kept; beyond it the oldest are dropped (with a warning).
    #[serde(default = "defaults::max_dead_letters")]
    pub max_dead_letters: u64,
}

impl Default for EventStoreConfig {
    fn default() -> Self {
        Self {
            snapshot_dir: None,
            pre_roll_seconds: defaults::roll_seconds(),
            post_roll_seconds: defaults::roll_seconds(),
            retention_days: defaults::event_retention_days(),
            max_snapshot_bytes: defaults::max_snapshot_bytes(),
            max_dead_letters: defaults::max_dead_letters(),
        }
    }
}

/// One storage directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirConfig {
    /// Short unique name (kept in the index; the path may change).
    pub name: String,
    /// The directory. It must exist; Vigil never creates a missing mount point.
    pub path: PathBuf,
    /// Byte budget for recordings here (`None`: only the free-space floor limits it).
    #[serde(default, deserialize_with = "de_opt_bytes")]
    pub max_bytes: Option<u64>,
    /// Free space to keep on the filesystem; below it the oldest unprotected recordings are deleted.
    #[serde(default = "defaults::min_free_bytes", deserialize_with = "de_bytes")]
    pub min_free_bytes: u64,
}

impl DirConfig {
    /// A directory with no byte budget and the default free-space floor.
    pub fn new(name: &str, path: impl Into<PathBuf>) -> Self {
        Self {
            name: name.to_string(),
            path: path.into(),
            max_bytes: None,
            min_free_bytes: defaults::min_free_bytes(),
        }
    }
}

/// A per-camera budget.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraStorageConfig {
    /// Camera name.
    pub name: String,
    /// Byte budget over all its streams and directories.
    #[serde(default, deserialize_with = "de_opt_bytes")]
    pub max_bytes: Option<u64>,
    /// Storage directory (by name) its streams record into; default: the one with most free space.
    #[serde(default)]
    pub dir: Option<String>,
    /// Age limit: recordings that ended more than this many days ago are deleted (footage under a live
    /// keep-longer mark or an evidence hold stays).
    #[serde(default)]
    pub max_days: Option<u32>,
}

/// How much of the recordings to check at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyLevel {
    /// Every file's length, plus the checksum of each stream's newest segment in each directory.
    #[default]
    Quick,
    /// Every file's length and checksum (reads all recordings).
    Full,
}

mod defaults {
    pub fn segment_seconds() -> f64 {
        60.0
    }
    pub fn fragment_seconds() -> f64 {
        1.0
    }
    pub fn yes() -> bool {
        true
    }
    pub fn retention_interval_seconds() -> f64 {
        30.0
    }
    pub fn queue_frames() -> usize {
        256
    }
    pub fn max_frame_seconds() -> f64 {
        5.0
    }
    pub fn max_slew_ppm() -> u32 {
        1000
    }
    pub fn resync_seconds() -> f64 {
        5.0
    }
    pub fn min_free_bytes() -> u64 {
        1 << 30
    }
    pub fn roll_seconds() -> f64 {
        10.0
    }
    pub fn event_retention_days() -> u32 {
        30
    }
    pub fn max_snapshot_bytes() -> u64 {
        4 << 20
    }
    pub fn max_dead_letters() -> u64 {
        10_000
    }
}

impl StoreConfig {
    /// A configuration with defaults for one directory, unencrypted (`encrypt` is on by default in a
    /// configuration file, off here).
    pub fn new(db: impl Into<PathBuf>, dir_name: &str, dir_path: impl Into<PathBuf>) -> Self {
        Self {
            db: db.into(),
            dirs: vec![DirConfig::new(dir_name, dir_path)],
            cameras: Vec::new(),
            segment_seconds: defaults::segment_seconds(),
            fragment_seconds: defaults::fragment_seconds(),
            verify: VerifyLevel::default(),
            background_retention: true,
            retention_interval_seconds: defaults::retention_interval_seconds(),
            queue_frames: defaults::queue_frames(),
            max_frame_seconds: defaults::max_frame_seconds(),
            max_slew_ppm: defaults::max_slew_ppm(),
            resync_seconds: defaults::resync_seconds(),
            events: EventStoreConfig::default(),
            encrypt: false,
        }
    }

    /// Checks the values; the error says which one is wrong.
    pub fn validate(&self) -> Result<(), StoreError> {
        let bad = |m: String| Err(StoreError::Config(m));
        if self.db.as_os_str().is_empty() {
            return bad("no index database path (db) configured".into());
        }
        if self.dirs.is_empty() {
            return bad("no storage directory configured".into());
        }
        for (i, d) in self.dirs.iter().enumerate() {
            if d.name.is_empty() {
                return bad(format!(
                    "storage directory {} has an empty name",
                    d.path.display()
                ));
            }
            if self.dirs[..i].iter().any(|o| o.name == d.name) {
                return bad(format!("storage directory name {:?} is used twice", d.name));
            }
        }
        if !(1.0..=3600.0).contains(&self.segment_seconds) {
            return bad(format!(
                "segment_seconds {} is not 1..3600",
                self.segment_seconds
            ));
        }
        if !(self.fragment_seconds > 0.0 && self.fragment_seconds <= self.segment_seconds) {
            return bad(format!(
                "fragment_seconds {} is not in (0, segment_seconds]",
                self.fragment_seconds
            ));
        }
        if self.queue_frames == 0 {
            return bad("queue_frames must be at least 1".into());
        }
        if self.max_frame_seconds.is_nan()
            || self.resync_seconds.is_nan()
            || self.max_frame_seconds <= 0.0
            || self.resync_seconds <= 0.0
        {
            return bad("max_frame_seconds and resync_seconds must be positive".into());
        }
        let ev = &self.events;
        for (name, v) in [
            ("pre_roll_seconds", ev.pre_roll_seconds),
            ("post_roll_seconds", ev.post_roll_seconds),
        ] {
            if !(0.0..=3600.0).contains(&v) {
                return bad(format!("events.{name} {v} is not 0..3600"));
            }
        }
        if ev.retention_days == 0 {
            return bad("events.retention_days must be at least 1".into());
        }
        if ev.max_snapshot_bytes == 0 {
            return bad("events.max_snapshot_bytes must be positive".into());
        }
        for c in &self.cameras {
            if let Some(dir) = &c.dir
                && !self.dirs.iter().any(|d| &d.name == dir)
            {
                return bad(format!(
                    "camera {:?} names unknown storage directory {dir:?}",
                    c.name
                ));
            }
        }
        Ok(())
    }
}

/// Parses a byte size: an integer, or a number with a unit (`B`, `kB`/`KB`, `MB`, `GB`, `TB` = powers of
/// 1000; `KiB`, `MiB`, `GiB`, `TiB` = powers of 1024).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a byte size (e.g. 500000000, \"500 MB\", \"8 GiB\")"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => return Err(format!("{s:?}: unknown unit {other:?}")),
    };
    Ok((value * mult as f64).round() as u64)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BytesRepr {
    Int(u64),
    Text(String),
}

fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match BytesRepr::deserialize(d)? {
        BytesRepr::Int(v) => Ok(v),
        BytesRepr::Text(s) => parse_bytes(&s).map_err(serde::de::Error::custom),
    }
}

fn de_opt_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de_bytes(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("123").unwrap(), 123);
        assert_eq!(parse_bytes("8 MiB").unwrap(), 8 << 20);
        assert_eq!(parse_bytes("1.5GB").unwrap(), 1_500_000_000);
        assert!(
            parse_bytes("12 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        let mut c = StoreConfig::new("/x/index.db", "a", "/x/a");
        c.validate().unwrap();
        c.dirs.push(c.dirs[0].clone());
        assert!(c.validate().unwrap_err().to_string().contains("used twice"));
        let mut c = StoreConfig::new("/x/index.db", "a", "/x/a");
        c.segment_seconds = 0.5;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("segment_seconds")
        );
        let mut c = StoreConfig::new("/x/index.db", "a", "/x/a");
        c.cameras.push(CameraStorageConfig {
            name: "door".into(),
            max_bytes: None,
            max_days: None,
            dir: Some("nope".into()),
        });
        assert!(c.validate().unwrap_err().to_string().contains("nope"));
    }
}
