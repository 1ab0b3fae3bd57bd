//! Signed evidence bundles: `vigil export --evidence DIR` and `vigil verify DIR`.
//!
//! ```text
//! DIR/<camera>-<start>.mp4   the export, exactly as `vigil export` writes it
//! DIR/manifest.json          camera, site, range, the source segments' hashes and chain links, the
//!                            export's size and SHA-256, who exported it and when, case, reason, audit entry
//! DIR/manifest.sig           the SHA-256 of every field of the manifest, signed (Ed25519) by the site key
//! DIR/site.pub               the site's public key
//! ```
//!
//! The signature covers a digest of each leaf field of the manifest (`video.sha256`, `case`,
//! `segments[3].chain`, ...), so `vigil verify DIR` names the field that was changed, not only the file,
//! and needs nothing but the folder. A bundle re-signed with another key verifies only against that
//! key: the printed fingerprint is what to compare with the one the site publishes.

use crate::{Reader, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use vigil_core::Time90k;
use vigil_keys::{PublicKey, SiteKey};

/// The manifest's file name in a bundle.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The signature's file name.
pub const SIGNATURE_FILE: &str = "manifest.sig";
/// The public key's file name.
pub const PUBLIC_KEY_FILE: &str = "site.pub";

/// What an evidence bundle says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (1).
    pub vigil_evidence: u32,
    /// The site that recorded and signed it.
    pub site: SiteInfo,
    /// Camera name.
    pub camera: String,
    /// Stream name.
    pub stream: String,
    /// The range asked for (RFC 3339, UTC).
    pub requested: [String; 2],
    /// The exported video.
    pub video: VideoInfo,
    /// The recorded segments the video was built from, with their hashes and chain links (as
    /// `vigil verify recordings` checks them on the site).
    pub segments: Vec<SegmentSeal>,
    /// Who exported it (`cli:<account>` or a user of the web UI).
    pub exported_by: String,
    /// When (RFC 3339, UTC).
    pub exported_at: String,
    /// The case it belongs to, if any.
    pub case: Option<String>,
    /// Why it was exported.
    pub reason: Option<String>,
    /// The id of the audit entry that records the export.
    pub audit_entry: Option<i64>,
    /// What was blurred, masked or burned in (absent: the camera's own bitstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction: Option<vigil_core::RedactionReport>,
    /// The program that wrote it.
    pub tool: String,
}

/// The site in a manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteInfo {
    /// Its name (the host name unless configured).
    pub name: String,
    /// SHA-256 fingerprint of its public key.
    pub key_fingerprint: String,
}

/// The video file in a manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoInfo {
    /// File name in the bundle.
    pub file: String,
    /// Length in bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// Frames.
    pub frames: usize,
    /// Wall-clock time of the first and the end of the last frame (RFC 3339, UTC).
    pub recorded: [String; 2],
    /// Ranges inside it with no recording (skipped, not filled).
    pub gaps: Vec<[String; 2]>,
    /// RFC 6381 codec string.
    pub codec: String,
}

/// A source segment in a manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentSeal {
    /// Sequence number in its stream.
    pub seq: i64,
    /// Start (RFC 3339, UTC).
    pub start: String,
    /// SHA-256 of the segment file, hex (empty for segments recorded before integrity).
    pub sha256: String,
    /// Its link in the stream's hash chain, hex.
    pub chain: String,
}

/// What to export as evidence.
#[derive(Debug, Clone)]
pub struct EvidenceRequest {
    /// Camera.
    pub camera: String,
    /// Stream.
    pub stream: String,
    /// Start.
    pub from: Time90k,
    /// End.
    pub to: Time90k,
    /// Who asks.
    pub exported_by: String,
    /// Case.
    pub case: Option<String>,
    /// Reason.
    pub reason: Option<String>,
    /// Site name.
    pub site: String,
    /// Faces, plates, masks and watermark to apply before hashing (with `filter` of [`write_bundle`]).
    pub redaction: vigil_core::Redaction,
}

/// Formats a wall-clock time as RFC 3339 UTC with milliseconds.
pub fn rfc3339(t: Time90k) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(t.0) * 100_000 / 9)
        .map(|ts| format!("{ts:.3}"))
        .unwrap_or_else(|_| format!("{} (90 kHz ticks)", t.0))
}

/// Writes an evidence bundle into `dir` (created; it must not exist or be empty). `audit` records the
/// export (given the video's SHA-256) and returns the audit entry's id. Returns the manifest.
pub fn write_bundle(
    reader: &Reader,
    dir: &Path,
    req: &EvidenceRequest,
    key: &SiteKey,
    filter: Option<&dyn crate::ExportFilter>,
    audit: &mut dyn FnMut(&str) -> Result<Option<i64>, String>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Manifest, StoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    if dir.exists() && std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(StoreError::Config(format!(
            "{} exists and is not empty: an evidence bundle needs a folder of its own",
            dir.display()
        )));
    }
    vigil_keys::fsmode::create_private_dir(dir).map_err(|e| StoreError::Config(e.to_string()))?;
    let export = reader.export(&req.camera, &req.stream, req.from, req.to)?;
    let stamp = rfc3339(export.start)
        .replace([':', '-'], "")
        .replace(".000", "");
    let file_name = format!("{}-{}.mp4", req.camera, stamp);
    let path = dir.join(&file_name);
    let total = export.file.len();
    let mut hasher = HashingWriter {
        inner: std::io::BufWriter::with_capacity(
            1 << 20,
            vigil_keys::fsmode::private_file(&path, true).map_err(io(&path))?,
        ),
        sha: Sha256::new(),
    };
    export
        .file
        .write_all(&mut hasher, &mut |done| progress(done, total))?;
    let mut sha = hex::encode(hasher.sha.finalize());
    let file = hasher.inner.into_inner().map_err(|e| StoreError::Io {
        path: path.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io(&path))?;
    drop(file);
    let redaction = crate::filter_in_place(filter, &req.camera, &req.redaction, &path, &mut |p| {
        progress((p * total as f64) as u64, total)
    })?;
    let mut bytes = total;
    if redaction.as_ref().is_some_and(|r| r.reencoded) {
        let (len, digest) = crate::integrity::hash_file(&path, &mut |_| {}).map_err(io(&path))?;
        (bytes, sha) = (len, hex::encode(digest));
    }
    let segments = reader
        .seals(&req.camera, &req.stream, export.start, export.end)?
        .into_iter()
        .map(|s| SegmentSeal {
            seq: s.seq,
            start: rfc3339(s.start),
            sha256: s.sha256.map(hex::encode).unwrap_or_default(),
            chain: s.chain.map(hex::encode).unwrap_or_default(),
        })
        .collect();
    let audit_entry = audit(&sha).map_err(StoreError::Config)?;
    let manifest = Manifest {
        vigil_evidence: 1,
        site: SiteInfo {
            name: req.site.clone(),
            key_fingerprint: key.public().fingerprint(),
        },
        camera: req.camera.clone(),
        stream: req.stream.clone(),
        requested: [rfc3339(req.from), rfc3339(req.to)],
        video: VideoInfo {
            file: file_name,
            bytes,
            sha256: sha,
            frames: export.frames,
            recorded: [rfc3339(export.start), rfc3339(export.end)],
            gaps: export
                .gaps
                .iter()
                .map(|g| [rfc3339(g.start), rfc3339(g.end)])
                .collect(),
            codec: export.codec.clone(),
        },
        segments,
        exported_by: req.exported_by.clone(),
        exported_at: format!("{:.3}", jiff::Timestamp::now()),
        case: req.case.clone(),
        reason: req.reason.clone(),
        audit_entry,
        redaction,
        tool: format!("vigil {}", env!("CARGO_PKG_VERSION")),
    };
    let value = serde_json::to_value(&manifest).map_err(|e| StoreError::Config(e.to_string()))?;
    let text =
        serde_json::to_string_pretty(&value).map_err(|e| StoreError::Config(e.to_string()))?;
    let fields = field_digests(&value);
    let signature = key.sign(&signed_bytes(&fields));
    let sig = serde_json::json!({
        "vigil_signature": 1,
        "algorithm": "ed25519",
        "key_fingerprint": key.public().fingerprint(),
        "fields": fields,
        "signature": hex::encode(signature),
    });
    for (name, bytes) in [
        (MANIFEST_FILE, text + "\n"),
        (SIGNATURE_FILE, format!("{sig:#}\n")),
        (PUBLIC_KEY_FILE, key.public().to_file_text()),
    ] {
        vigil_keys::fsmode::write_private(&dir.join(name), bytes.as_bytes())
            .map_err(|e| StoreError::Config(e.to_string()))?;
    }
    vigil_keys::fsmode::sync_parent(&dir.join(MANIFEST_FILE))
        .map_err(|e| StoreError::Config(e.to_string()))?;
    Ok(manifest)
}

struct HashingWriter<W: Write> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The SHA-256 (hex) of every leaf of a JSON value, by path (`video.sha256`, `segments[0].seq`).
fn field_digests(v: &serde_json::Value) -> BTreeMap<String, String> {
    fn walk(v: &serde_json::Value, path: String, out: &mut BTreeMap<String, String>) {
        match v {
            serde_json::Value::Object(m) if !m.is_empty() => {
                for (k, x) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(x, p, out);
                }
            }
            serde_json::Value::Array(a) if !a.is_empty() => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{path}[{i}]"), out);
                }
            }
            leaf => {
                out.insert(path, hex::encode(Sha256::digest(leaf.to_string())));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(v, String::new(), &mut out);
    out
}

/// What the signature covers: a prefix and the field digests, one `path=digest` per line.
fn signed_bytes(fields: &BTreeMap<String, String>) -> Vec<u8> {
    let mut b = b"vigil evidence v1\n".to_vec();
    for (k, v) in fields {
        b.extend_from_slice(format!("{k}={v}\n").as_bytes());
    }
    b
}

/// Why a bundle does not verify: the first file, and field where there is one, that fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {why}", field.as_ref().map(|f| format!(" field `{f}`")).unwrap_or_default())]
pub struct BundleFault {
    /// The file (name within the bundle).
    pub file: String,
    /// The manifest field, when the fault is one.
    pub field: Option<String>,
    /// What is wrong.
    pub why: String,
}

fn fault(file: &str, field: Option<&str>, why: impl Into<String>) -> BundleFault {
    BundleFault {
        file: file.to_string(),
        field: field.map(str::to_string),
        why: why.into(),
    }
}

/// A bundle that verifies.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    /// Its manifest.
    pub manifest: Manifest,
    /// The key that signed it.
    pub key: PublicKey,
}

/// Checks a bundle with nothing but its folder: the signature with the bundled key, that key against
/// the manifest, every manifest field against its signed digest, and the video's length and hash.
pub fn verify_bundle(dir: &Path) -> Result<VerifiedBundle, BundleFault> {
    let read = |name: &str| -> Result<String, BundleFault> {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| fault(name, None, format!("cannot read: {e}")))
    };
    let text = read(MANIFEST_FILE)?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| fault(MANIFEST_FILE, None, format!("not JSON: {e}")))?;
    let key = PublicKey::from_file_text(&read(PUBLIC_KEY_FILE)?)
        .map_err(|why| fault(PUBLIC_KEY_FILE, None, why))?;
    let sig: serde_json::Value = serde_json::from_str(&read(SIGNATURE_FILE)?)
        .map_err(|e| fault(SIGNATURE_FILE, None, format!("not JSON: {e}")))?;
    let named = value["site"]["key_fingerprint"]
        .as_str()
        .unwrap_or_default();
    if named != key.fingerprint() || sig["key_fingerprint"].as_str() != Some(named) {
        return Err(fault(
            PUBLIC_KEY_FILE,
            None,
            format!(
                "the key (fingerprint {}) is not the site key the manifest and its signature name ({named}): \
                 the key was swapped",
                key.fingerprint()
            ),
        ));
    }
    let signed: BTreeMap<String, String> =
        serde_json::from_value(sig["fields"].clone()).map_err(|_| {
            fault(
                SIGNATURE_FILE,
                None,
                "the signed field digests are malformed",
            )
        })?;
    if !vigil_keys::verify_signature(
        &key,
        &signed_bytes(&signed),
        sig["signature"].as_str().unwrap_or_default(),
    ) {
        return Err(fault(
            SIGNATURE_FILE,
            None,
            "the signature does not verify with site.pub (the signature file was edited)",
        ));
    }
    let actual = field_digests(&value);
    for (path, digest) in &actual {
        match signed.get(path) {
            Some(d) if d == digest => {}
            Some(_) => {
                return Err(fault(
                    MANIFEST_FILE,
                    Some(path),
                    "changed after it was signed",
                ));
            }
            None => return Err(fault(MANIFEST_FILE, Some(path), "added after signing")),
        }
    }
    if let Some(path) = signed.keys().find(|p| !actual.contains_key(*p)) {
        return Err(fault(MANIFEST_FILE, Some(path), "removed after signing"));
    }
    let manifest: Manifest = serde_json::from_value(value).map_err(|e| {
        fault(
            MANIFEST_FILE,
            None,
            format!("not a Vigil evidence manifest: {e}"),
        )
    })?;
    let video = &manifest.video.file;
    if video.contains('/') || video.contains("..") {
        return Err(fault(
            MANIFEST_FILE,
            Some("video.file"),
            "not a file name in the bundle",
        ));
    }
    let (len, sha) = crate::integrity::hash_file(&dir.join(video), &mut |_| {})
        .map_err(|e| fault(video, None, format!("cannot read: {e}")))?;
    let sha = hex::encode(sha);
    if len != manifest.video.bytes {
        return Err(fault(
            video,
            None,
            format!(
                "{len} bytes, the manifest says {} (the file was {})",
                manifest.video.bytes,
                if len < manifest.video.bytes {
                    "truncated"
                } else {
                    "extended"
                }
            ),
        ));
    }
    if sha != manifest.video.sha256 {
        return Err(fault(
            video,
            None,
            "its SHA-256 differs from the manifest's: the video was altered",
        ));
    }
    Ok(VerifiedBundle { manifest, key })
}

/// The bundle's video path.
pub fn video_path(dir: &Path, manifest: &Manifest) -> PathBuf {
    dir.join(&manifest.video.file)
}

/// Writes the files of bundle `dir` (the MP4, manifest, signature, public key) into a zip archive at
/// `out` (stored, not compressed: video does not compress, and any unzip tool reads it), inside a
/// folder named `folder`. Zip without its 64-bit extension: a bundle over 4 GiB is refused with a
/// clear error (`vigil export --evidence` writes any size). Returns the archive's length.
pub fn zip_bundle(dir: &Path, folder: &str, out: &Path) -> Result<u64, StoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let file = vigil_keys::fsmode::private_file(out, true).map_err(io(out))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut central = Vec::new();
    let mut offset = 0u64;
    let too_big = || {
        StoreError::Config(
            "the evidence bundle is over 4 GiB, too big for a zip: write it with `vigil export --evidence DIR`"
                .into(),
        )
    };
    for name in &names {
        let path = dir.join(name);
        // CRC-32 and length first (the local header comes before the data).
        let (len, crc) = crate::segment_file::file_checksum(&path).map_err(io(&path))?;
        let entry = format!("{folder}/{name}");
        let (len32, off32) = (
            u32::try_from(len).map_err(|_| too_big())?,
            u32::try_from(offset).map_err(|_| too_big())?,
        );
        let mut local = Vec::with_capacity(30 + entry.len());
        local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        local.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]); // version, flags, stored, time, date (1980-01-01)
        local.extend_from_slice(&crc.to_le_bytes());
        local.extend_from_slice(&len32.to_le_bytes());
        local.extend_from_slice(&len32.to_le_bytes());
        local.extend_from_slice(&(entry.len() as u16).to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes());
        local.extend_from_slice(entry.as_bytes());
        w.write_all(&local).map_err(io(out))?;
        let mut f = std::fs::File::open(&path).map_err(io(&path))?;
        let copied = std::io::copy(&mut f, &mut w).map_err(io(out))?;
        if copied != len {
            return Err(StoreError::Config(format!(
                "{name} changed while it was zipped"
            )));
        }
        let mut c = Vec::with_capacity(46 + entry.len());
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]); // made by unix, needed, flags, stored, time, date
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(&len32.to_le_bytes());
        c.extend_from_slice(&len32.to_le_bytes());
        c.extend_from_slice(&(entry.len() as u16).to_le_bytes());
        c.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
        c.extend_from_slice(&((0o100600u32) << 16).to_le_bytes()); // external: a regular file, 0600
        c.extend_from_slice(&off32.to_le_bytes());
        c.extend_from_slice(entry.as_bytes());
        central.extend_from_slice(&c);
        offset += local.len() as u64 + len;
    }
    let central_at = u32::try_from(offset).map_err(|_| too_big())?;
    let mut end = Vec::with_capacity(22);
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&[0, 0, 0, 0]);
    end.extend_from_slice(&(names.len() as u16).to_le_bytes());
    end.extend_from_slice(&(names.len() as u16).to_le_bytes());
    end.extend_from_slice(&(central.len() as u32).to_le_bytes());
    end.extend_from_slice(&central_at.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    w.write_all(&central).map_err(io(out))?;
    w.write_all(&end).map_err(io(out))?;
    let file = w.into_inner().map_err(|e| StoreError::Io {
        path: out.to_path_buf(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io(out))?;
    Ok(offset + central.len() as u64 + end.len() as u64)
}

/// The site key a store signs with (for evidence written by the server).
impl crate::Store {
    /// The site's signing key, when set ([`crate::Store::set_site_key`]).
    pub fn site_key(&self) -> Option<std::sync::Arc<SiteKey>> {
        crate::alerts::lock(&self.inner().signing).key.clone()
    }

    /// Checks this store's recordings as `vigil verify recordings` does ([`crate::verify_recordings`]):
    /// its index read-only, its storage directories, the signed heads against its site key's public half.
    /// `progress` gets the bytes hashed and the bytes to hash. It runs beside recording.
    pub fn verify_recordings(
        &self,
        camera: Option<String>,
        from: Option<vigil_core::Time90k>,
        to: Option<vigil_core::Time90k>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<crate::IntegrityReport, StoreError> {
        let inner = self.inner();
        let scope = crate::VerifyScope {
            camera,
            from_90k: from.map(|t| t.0),
            to_90k: to.map(|t| t.0),
            dirs: inner
                .config
                .dirs
                .iter()
                .map(|d| (d.name.clone(), d.path.clone()))
                .collect(),
        };
        let key = self.site_key().map(|k| *k.public());
        crate::verify_recordings(&inner.db_path, &scope, key.as_ref(), progress)
    }
}
