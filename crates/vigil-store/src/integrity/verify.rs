//! `vigil verify recordings`: recomputes every segment's hash and chain link and checks the signed
//! heads, naming each segment whose file was edited or removed, each index row edited, each segment
//! inserted or removed without a record, and each signed head the index no longer matches.

use super::{LinkFields, as_link, hash_file, head_message, link};
use crate::StoreError;
use crate::error::db_err;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use vigil_keys::PublicKey;

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct VerifyScope {
    /// Only this camera.
    pub camera: Option<String>,
    /// Only segments ending after this time (90 kHz since the epoch).
    pub from_90k: Option<i64>,
    /// Only segments starting before this time.
    pub to_90k: Option<i64>,
    /// Storage directory paths by name, overriding the paths recorded in the index (a remounted disk).
    pub dirs: HashMap<String, PathBuf>,
}

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntegrityFault {
    /// The segment file's content differs from its hash in the index.
    FileEdited,
    /// The segment file is gone.
    FileMissing,
    /// The index row no longer matches its link in the chain.
    RowEdited,
    /// A segment that is not part of the chain.
    Inserted,
    /// A segment removed from the index (with no record of a deletion, or found missing at start-up).
    Removed,
    /// A signed chain head that the index no longer matches (the chain was rewritten).
    HeadMismatch,
    /// A chain head whose signature does not verify with the site key.
    BadSignature,
    /// A storage directory that is not there.
    DirMissing,
}

impl IntegrityFault {
    /// Short name (`file-edited`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FileEdited => "file-edited",
            Self::FileMissing => "file-missing",
            Self::RowEdited => "row-edited",
            Self::Inserted => "inserted",
            Self::Removed => "removed",
            Self::HeadMismatch => "head-mismatch",
            Self::BadSignature => "bad-signature",
            Self::DirMissing => "dir-missing",
        }
    }
}

/// One problem found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IntegrityProblem {
    /// Camera name.
    pub camera: String,
    /// Stream name.
    pub stream: String,
    /// The segment's sequence number in its stream, when the problem is about one.
    pub seq: Option<i64>,
    /// The segment's start (90 kHz since the epoch), when known.
    pub start_90k: Option<i64>,
    /// The file concerned, when there is one.
    pub file: Option<PathBuf>,
    /// What is wrong.
    pub fault: IntegrityFault,
    /// In words.
    pub detail: String,
}

/// A segment rewritten in place on purpose (erasure by blurring, `Store::blur`): information, not a
/// problem. Listed when its file is the one the rewrite sealed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RewrittenSegment {
    /// Camera name.
    pub camera: String,
    /// Stream name.
    pub stream: String,
    /// The segment's sequence number in its stream.
    pub seq: i64,
    /// Its start (90 kHz since the epoch).
    pub start_90k: i64,
    /// Its file.
    pub file: PathBuf,
    /// What was done (`blur`).
    pub kind: String,
    /// Why (the request's reference).
    pub reason: String,
    /// When (unix ms).
    pub at_ms: i64,
}

/// The result of a check.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IntegrityReport {
    /// Streams checked.
    pub streams: usize,
    /// Segments whose file and link were checked.
    pub segments: u64,
    /// Bytes hashed.
    pub bytes: u64,
    /// Segments recorded before integrity (no hash): not checkable.
    pub before_integrity: u64,
    /// Segments deleted by retention (recorded, not a problem).
    pub retained_away: u64,
    /// Segments erased on request (`Store::erase`; recorded with their reason, not a problem).
    pub erased: u64,
    /// Segments blurred on request (`Store::blur`; recorded with their reason, not a problem).
    pub rewritten: Vec<RewrittenSegment>,
    /// Signed chain heads checked.
    pub heads: u64,
    /// Newest signature (unix ms).
    pub newest_head_ms: Option<i64>,
    /// Segments after their stream's newest signed head (covered by the chain, not yet by a signature).
    pub unsigned: u64,
    /// Id of the key the heads were checked with.
    pub key_id: Option<String>,
    /// Everything found, in stream and sequence order.
    pub problems: Vec<IntegrityProblem>,
}

/// A segment row with what its link covers.
pub(crate) struct Row {
    pub(crate) seq: i64,
    pub(crate) prev_seq: Option<i64>,
    dir_id: i64,
    file_name: String,
    start_90k: i64,
    duration_90k: i64,
    media_duration_90k: i64,
    bytes: i64,
    frames: i64,
    key_frames: i64,
    run_start: bool,
    recovered: bool,
    reordered: bool,
    sha256: Option<Vec<u8>>,
    pub(crate) chain: Option<[u8; 32]>,
    frame_index: Vec<u8>,
    sample_entry: Vec<u8>,
}

impl Row {
    /// Its link after the link `prev`.
    pub(crate) fn link_after(&self, stream_id: i64, prev: &[u8; 32]) -> [u8; 32] {
        link(
            prev,
            &LinkFields {
                stream_id,
                seq: self.seq,
                prev_seq: self.prev_seq.unwrap_or(0),
                file_name: &self.file_name,
                start_90k: self.start_90k,
                duration_90k: self.duration_90k,
                media_duration_90k: self.media_duration_90k,
                bytes: self.bytes,
                frames: self.frames,
                key_frames: self.key_frames,
                run_start: self.run_start,
                recovered: self.recovered,
                reordered: self.reordered,
                sha256: self.sha256.as_deref().unwrap_or_default(),
                frame_index: &self.frame_index,
                sample_entry: &self.sample_entry,
            },
        )
    }
}

/// A stream's chain entry: a kept segment or one removed on purpose.
pub(crate) enum Entry {
    Row(Box<Row>),
    Removed {
        chain: Option<[u8; 32]>,
        removed_ms: i64,
        reason: String,
    },
}

impl Entry {
    fn chain(&self) -> Option<[u8; 32]> {
        match self {
            Entry::Row(r) => r.chain,
            Entry::Removed { chain, .. } => *chain,
        }
    }
}

/// Checks the recordings indexed in `db` (opened read-only: works while `vigil run` records) against
/// `key`, the site's public key (`None`: signed heads are reported as unverifiable). `progress` gets
/// (bytes hashed, bytes to hash).
pub fn verify_recordings(
    db: &Path,
    scope: &VerifyScope,
    key: Option<&PublicKey>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<IntegrityReport, StoreError> {
    let conn = crate::schema::open_ro(db)?;
    let e = db_err(db);
    if !crate::schema::has_integrity(&conn).map_err(&e)? {
        return Err(StoreError::Config(format!(
            "{}: this index predates recording integrity; start `vigil run` once to migrate it",
            db.display()
        )));
    }
    let dirs: HashMap<i64, (String, PathBuf)> = conn
        .prepare("SELECT id, name, path FROM storage_dirs")
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    (r.get(1)?, PathBuf::from(r.get::<_, String>(2)?)),
                ))
            })?
            .collect()
        })
        .map_err(&e)?;
    let streams: Vec<(i64, String, String)> = conn
        .prepare(
            "SELECT s.id, c.name, s.name FROM streams s JOIN cameras c ON c.id = s.camera_id
             WHERE ?1 IS NULL OR c.name = ?1 ORDER BY c.name, s.name",
        )
        .and_then(|mut s| {
            s.query_map([&scope.camera], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(&e)?;
    if let Some(c) = &scope.camera
        && streams.is_empty()
    {
        return Err(StoreError::Config(format!(
            "no recordings of camera {c:?} in the index"
        )));
    }
    let from = scope.from_90k.unwrap_or(i64::MIN);
    let to = scope.to_90k.unwrap_or(i64::MAX);
    let total: i64 = conn
        .query_row(
            "SELECT COALESCE(SUM(g.bytes), 0) FROM segments g JOIN streams s ON s.id = g.stream_id
             JOIN cameras c ON c.id = s.camera_id
             WHERE (?1 IS NULL OR c.name = ?1) AND g.start_90k < ?3
               AND g.start_90k + g.duration_90k > ?2 AND g.sha256 IS NOT NULL",
            params![scope.camera, from, to],
            |r| r.get(0),
        )
        .map_err(&e)?;
    let mut report = IntegrityReport {
        key_id: key.map(PublicKey::id),
        ..Default::default()
    };
    let mut missing_dirs = HashSet::new();
    let mut hashed = 0u64;
    for (stream_id, camera, stream) in streams {
        report.streams += 1;
        let problem =
            |seq: Option<i64>, start: Option<i64>, file: Option<PathBuf>, fault, detail| {
                IntegrityProblem {
                    camera: camera.clone(),
                    stream: stream.clone(),
                    seq,
                    start_90k: start,
                    file,
                    fault,
                    detail,
                }
            };
        let entries = load_entries(&conn, stream_id, from, to).map_err(&e)?;
        let inserted = inserted_rows(stream_id, &entries);
        let mut removed_named = HashSet::new();
        let chain_of = |seq: i64| -> rusqlite::Result<Option<Option<[u8; 32]>>> {
            if let Some(en) = entries.get(&seq) {
                return Ok(Some(en.chain()));
            }
            lookup_chain(&conn, stream_id, seq)
        };
        for (&seq, entry) in &entries {
            let r = match entry {
                Entry::Removed {
                    removed_ms, reason, ..
                } => {
                    if reason == REASON_RETENTION {
                        report.retained_away += 1;
                    } else if reason.starts_with(crate::erasure::REASON_ERASURE) {
                        report.erased += 1;
                    } else {
                        report.problems.push(problem(
                            Some(seq),
                            None,
                            None,
                            IntegrityFault::Removed,
                            format!("segment removed: {reason} (at unix ms {removed_ms})"),
                        ));
                    }
                    continue;
                }
                Entry::Row(r) => r,
            };
            if r.start_90k >= to || r.start_90k + r.duration_90k <= from {
                continue; // context for the links of the range, not in it
            }
            let (dir_name, dir_path) = match dirs.get(&r.dir_id) {
                Some((name, path)) => (
                    name.clone(),
                    scope
                        .dirs
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| path.clone()),
                ),
                None => (format!("#{}", r.dir_id), PathBuf::new()),
            };
            let path = dir_path.join(&r.file_name);
            let start = Some(r.start_90k);
            if inserted.contains(&seq) {
                report.problems.push(problem(
                    Some(seq),
                    start,
                    Some(path),
                    IntegrityFault::Inserted,
                    "segment inserted: it is not part of the chain".into(),
                ));
                continue;
            }
            let (Some(stored), Some(sha)) = (r.chain, r.sha256.as_deref()) else {
                report.before_integrity += 1;
                continue;
            };
            report.segments += 1;
            // The link.
            let prev = match r.prev_seq {
                None => Some([0u8; 32]),
                Some(p) => match chain_of(p).map_err(&e)? {
                    Some(c) => Some(c.unwrap_or([0; 32])),
                    None => {
                        removed_named.insert(p);
                        report.problems.push(problem(
                            Some(p),
                            None,
                            None,
                            IntegrityFault::Removed,
                            format!(
                                "segment removed from the index with no record of a deletion (segment {seq} \
                                 follows it in the chain)"
                            ),
                        ));
                        None
                    }
                },
            };
            if let Some(prev) = prev
                && r.link_after(stream_id, &prev) != stored
            {
                report.problems.push(problem(
                    Some(seq),
                    start,
                    Some(path.clone()),
                    IntegrityFault::RowEdited,
                    "index row edited: it no longer matches its link in the chain".into(),
                ));
            }
            // The file.
            if !dir_path.as_os_str().is_empty() && !dir_path.is_dir() {
                if missing_dirs.insert(dir_name.clone()) {
                    report.problems.push(problem(
                        None,
                        None,
                        Some(dir_path.clone()),
                        IntegrityFault::DirMissing,
                        format!("storage directory {dir_name} is not there (not mounted?)"),
                    ));
                }
                continue;
            }
            match hash_file(&path, &mut |n| {
                hashed += n;
                progress(hashed, total as u64);
            }) {
                Ok((len, digest)) => {
                    report.bytes += len;
                    if len != r.bytes as u64 {
                        report.problems.push(problem(
                            Some(seq),
                            start,
                            Some(path),
                            IntegrityFault::FileEdited,
                            format!("file edited: {len} bytes, the index says {}", r.bytes),
                        ));
                    } else if digest[..] != *sha {
                        report.problems.push(problem(
                            Some(seq),
                            start,
                            Some(path),
                            IntegrityFault::FileEdited,
                            "file edited: its SHA-256 differs from the index".into(),
                        ));
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    report.problems.push(problem(
                        Some(seq),
                        start,
                        Some(path),
                        IntegrityFault::FileMissing,
                        "segment file removed".into(),
                    ));
                }
                Err(err) => {
                    report.problems.push(problem(
                        Some(seq),
                        start,
                        Some(path),
                        IntegrityFault::FileMissing,
                        format!("segment file unreadable: {err}"),
                    ));
                }
            }
        }
        // Signed heads.
        let heads = load_heads(&conn, stream_id, &entries).map_err(&e)?;
        let mut newest_signed_seq = None;
        for h in heads {
            report.heads += 1;
            report.newest_head_ms = report.newest_head_ms.max(Some(h.signed_ms));
            let Some(key) = key else {
                continue;
            };
            let msg = head_message(stream_id, h.seq, &h.chain, h.signed_ms);
            if h.key_id != key.id() || !key.verify(&msg, &h.signature) {
                report.problems.push(problem(
                    Some(h.seq),
                    None,
                    None,
                    IntegrityFault::BadSignature,
                    format!(
                        "the chain head signed at unix ms {} does not verify with the site key {} (signed by {})",
                        h.signed_ms,
                        key.id(),
                        h.key_id
                    ),
                ));
                continue;
            }
            newest_signed_seq = newest_signed_seq.max(Some(h.seq));
            match chain_of(h.seq).map_err(&e)? {
                Some(Some(c)) if c[..] == h.chain[..] => {}
                Some(_) => report.problems.push(problem(
                    Some(h.seq),
                    None,
                    None,
                    IntegrityFault::HeadMismatch,
                    format!(
                        "the chain was rewritten at or before this segment: the head signed at unix ms {} \
                         no longer matches the index",
                        h.signed_ms
                    ),
                )),
                None if removed_named.contains(&h.seq) => {}
                None => report.problems.push(problem(
                    Some(h.seq),
                    None,
                    None,
                    IntegrityFault::Removed,
                    format!(
                        "segment removed from the index with no record of a deletion (its link was signed \
                         at unix ms {})",
                        h.signed_ms
                    ),
                )),
            }
        }
        let rewrites = load_rewrites(&conn, stream_id, &entries).map_err(&e)?;
        for (seq, kind, reason, at_ms, new_sha) in rewrites {
            let Some(Entry::Row(r)) = entries.get(&seq) else {
                continue;
            };
            let in_range = r.start_90k < to && r.start_90k + r.duration_90k > from;
            if !in_range || r.sha256.as_deref() != Some(&new_sha[..]) {
                continue; // out of scope, or edited since (named above)
            }
            let dir_path = dirs.get(&r.dir_id).map(|(name, path)| {
                scope
                    .dirs
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| path.clone())
            });
            report.rewritten.push(RewrittenSegment {
                camera: camera.clone(),
                stream: stream.clone(),
                seq,
                start_90k: r.start_90k,
                file: dir_path.unwrap_or_default().join(&r.file_name),
                kind,
                reason,
                at_ms,
            });
        }
        report.unsigned += entries
            .iter()
            .filter(|(s, en)| {
                matches!(en, Entry::Row(r) if r.chain.is_some())
                    && newest_signed_seq.is_none_or(|n| **s > n)
            })
            .count() as u64;
    }
    Ok(report)
}

/// Rows that were not part of the chain when the rows around them were linked:
/// - a later row's link skips over them (its `prev_seq` is before them);
/// - they have no hash and no link although an earlier segment of the stream has one (rows recorded
///   before integrity come before every row recorded with it);
/// - they claim the same predecessor as another row whose link verifies (a fork);
/// - their link is a copy of another row's.
fn inserted_rows(stream_id: i64, entries: &BTreeMap<i64, Entry>) -> HashSet<i64> {
    let mut inserted = HashSet::new();
    let rows: Vec<&Row> = entries
        .values()
        .filter_map(|e| match e {
            Entry::Row(r) => Some(&**r),
            Entry::Removed { .. } => None,
        })
        .collect();
    // A row's link verifies from the predecessor it names (unknown predecessors: assumed to).
    let genuine = |r: &Row| -> bool {
        let prev = r.prev_seq.unwrap_or(0);
        let prev_chain = match entries.get(&prev) {
            Some(e) => e.chain().unwrap_or([0; 32]),
            None if prev == 0 => [0; 32],
            None => return true,
        };
        r.chain == Some(r.link_after(stream_id, &prev_chain))
    };
    let mut chained_before = false;
    let mut chains: HashMap<[u8; 32], i64> = HashMap::new();
    let mut claims: HashMap<i64, Vec<&Row>> = HashMap::new();
    for r in &rows {
        if let Some(p) = r.prev_seq
            && genuine(r)
        {
            inserted.extend(entries.range(p + 1..r.seq).map(|(&s, _)| s));
        }
        match r.chain {
            None if chained_before => {
                inserted.insert(r.seq);
            }
            None => {}
            Some(c) => {
                chained_before = true;
                if chains.insert(c, r.seq).is_some() {
                    inserted.insert(r.seq);
                }
                claims.entry(r.prev_seq.unwrap_or(0)).or_default().push(r);
            }
        }
    }
    for claimants in claims.values().filter(|c| c.len() > 1) {
        let verified: Vec<bool> = claimants.iter().map(|r| genuine(r)).collect();
        if verified.iter().any(|&g| g) {
            for (r, g) in claimants.iter().zip(verified) {
                if !g {
                    inserted.insert(r.seq);
                }
            }
        }
    }
    inserted
}

/// The reason retention records for what it deletes.
pub(crate) const REASON_RETENTION: &str = "retention";

/// The stream's rows and removal records: those overlapping `[from, to)`, plus the entries just before
/// and after them (the links of the range need them).
pub(crate) fn load_entries(
    conn: &Connection,
    stream_id: i64,
    from: i64,
    to: i64,
) -> rusqlite::Result<BTreeMap<i64, Entry>> {
    let bounds: (Option<i64>, Option<i64>) = conn.query_row(
        "SELECT MIN(seq), MAX(seq) FROM segments
         WHERE stream_id = ?1 AND start_90k < ?3 AND start_90k + duration_90k > ?2",
        params![stream_id, from, to],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (Some(lo), Some(hi)) = bounds else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    let mut rows = conn.prepare(
        "SELECT g.seq, g.prev_seq, g.dir_id, g.file_name, g.start_90k, g.duration_90k,
                g.media_duration_90k, g.bytes, g.frames, g.key_frames, g.run_start, g.recovered,
                g.reordered, g.sha256, g.chain, f.frame_index, e.data
         FROM segments g JOIN segment_frames f ON f.segment_id = g.id
         JOIN sample_entries e ON e.id = g.sample_entry_id
         WHERE g.stream_id = ?1 AND g.seq BETWEEN ?2 AND ?3 ORDER BY g.seq",
    )?;
    let mut q = rows.query(params![stream_id, lo, hi])?;
    while let Some(r) = q.next()? {
        let seq: i64 = r.get(0)?;
        out.insert(
            seq,
            Entry::Row(Box::new(Row {
                seq,
                prev_seq: r.get::<_, Option<i64>>(1)?.filter(|&p| p > 0),
                dir_id: r.get(2)?,
                file_name: r.get(3)?,
                start_90k: r.get(4)?,
                duration_90k: r.get(5)?,
                media_duration_90k: r.get(6)?,
                bytes: r.get(7)?,
                frames: r.get(8)?,
                key_frames: r.get(9)?,
                run_start: r.get(10)?,
                recovered: r.get(11)?,
                reordered: r.get(12)?,
                sha256: r.get(13)?,
                chain: as_link(r.get(14)?),
                frame_index: r.get(15)?,
                sample_entry: r.get(16)?,
            })),
        );
    }
    let mut removed = conn.prepare(
        "SELECT seq, chain, removed_ms, reason FROM removed_segments
         WHERE stream_id = ?1 AND seq BETWEEN ?2 AND ?3",
    )?;
    let mut q = removed.query(params![stream_id, lo, hi])?;
    while let Some(r) = q.next()? {
        out.insert(
            r.get(0)?,
            Entry::Removed {
                chain: as_link(r.get(1)?),
                removed_ms: r.get(2)?,
                reason: r.get(3)?,
            },
        );
    }
    Ok(out)
}

/// The stored link of `seq` (kept or removed on purpose): `None` when neither table has it.
pub(crate) fn lookup_chain(
    conn: &Connection,
    stream_id: i64,
    seq: i64,
) -> rusqlite::Result<Option<Option<[u8; 32]>>> {
    let found: Option<Option<Vec<u8>>> = conn
        .query_row(
            "SELECT chain FROM segments WHERE stream_id = ?1 AND seq = ?2
             UNION ALL SELECT chain FROM removed_segments WHERE stream_id = ?1 AND seq = ?2",
            params![stream_id, seq],
            |r| r.get(0),
        )
        .optional()?;
    Ok(found.map(as_link))
}

/// A rewrite record: `(seq, kind, reason, at_ms, new SHA-256)`.
type Rewrite = (i64, String, String, i64, Vec<u8>);

/// The newest rewrite record of each segment among the loaded entries; none in an index from before
/// such records.
fn load_rewrites(
    conn: &Connection,
    stream_id: i64,
    entries: &BTreeMap<i64, Entry>,
) -> rusqlite::Result<Vec<Rewrite>> {
    let (Some((&lo, _)), Some((&hi, _))) = (entries.first_key_value(), entries.last_key_value())
    else {
        return Ok(Vec::new());
    };
    if !crate::schema::has_rewritten_segments(conn)? {
        return Ok(Vec::new());
    }
    let mut s = conn.prepare(
        "SELECT seq, kind, reason, at_ms, new_sha256 FROM rewritten_segments w
         WHERE stream_id = ?1 AND seq BETWEEN ?2 AND ?3
           AND id = (SELECT MAX(id) FROM rewritten_segments x
                     WHERE x.stream_id = w.stream_id AND x.seq = w.seq)
         ORDER BY seq",
    )?;
    s.query_map(params![stream_id, lo, hi], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })?
    .collect()
}

struct Head {
    seq: i64,
    chain: Vec<u8>,
    signed_ms: i64,
    key_id: String,
    signature: Vec<u8>,
}

/// The signed heads of a stream within the loaded entries' range.
fn load_heads(
    conn: &Connection,
    stream_id: i64,
    entries: &BTreeMap<i64, Entry>,
) -> rusqlite::Result<Vec<Head>> {
    let (Some((&lo, _)), Some((&hi, _))) = (entries.first_key_value(), entries.last_key_value())
    else {
        return Ok(Vec::new());
    };
    let mut s = conn.prepare(
        "SELECT seq, chain, signed_ms, key_id, signature FROM chain_heads
         WHERE stream_id = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq, signed_ms",
    )?;
    s.query_map(params![stream_id, lo, hi], |r| {
        Ok(Head {
            seq: r.get(0)?,
            chain: r.get(1)?,
            signed_ms: r.get(2)?,
            key_id: r.get(3)?,
            signature: r.get(4)?,
        })
    })?
    .collect()
}
