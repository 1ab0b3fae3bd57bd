//! `vigil export`: writes the recording of one camera over a time range as a standard MP4 (or a
//! fragmented MP4), built from the index and segment files without re-encoding.

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use vigil_core::Time90k;
use vigil_store::Reader;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Camera name, as configured.
    #[arg(long)]
    camera: String,
    /// Stream of the camera.
    #[arg(long, default_value = "main")]
    stream: String,
    /// Start: RFC 3339 (`2024-06-14T17:30:00+02:00`, `...Z`) or local time `YYYY-MM-DD HH:MM:SS`.
    /// The export starts at the key frame at or before it.
    #[arg(long)]
    from: String,
    /// End (same formats).
    #[arg(long)]
    to: String,
    /// The recording index database.
    #[arg(long, env = "VIGIL_DB", conflicts_with = "config")]
    db: Option<PathBuf>,
    /// Vigil's configuration file; its `[storage]` table names the index database.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Write a fragmented MP4 (for players using Media Source Extensions) instead of a standard one.
    #[arg(long, conflicts_with = "evidence")]
    fragmented: bool,
    /// Write a signed evidence bundle into this new folder instead of a bare MP4: the MP4, a manifest
    /// (camera, site, range, the source segments' hashes, the export's hash, who, when, case, reason,
    /// audit entry), the site's public key and a signature. Check it with `vigil verify DIR`. Needs
    /// `--config`.
    #[arg(long, conflicts_with = "out")]
    evidence: Option<PathBuf>,
    /// The case an evidence export belongs to (written into its manifest and the audit log).
    #[arg(long, requires = "evidence")]
    case: Option<String>,
    /// Why the evidence was exported (written into its manifest and the audit log).
    #[arg(long, requires = "evidence")]
    reason: Option<String>,
    /// Blur these in every frame: `faces`, `plates` (comma-separated), `all` for both, `none`. The
    /// camera's privacy masks (from `--config`) are blacked out whatever this says. A redacted export is
    /// re-encoded; when nothing was found the camera's own bitstream is kept. Needs `--config`.
    #[arg(
        long,
        value_delimiter = ',',
        requires = "config",
        conflicts_with = "fragmented"
    )]
    redact: Vec<String>,
    /// Burn this text (who and when) into every frame. Needs `--config`.
    #[arg(long, requires = "config", conflicts_with = "fragmented")]
    watermark: Option<String>,
    /// Directory holding the face and plate models (default: ../shared/models, then the download cache).
    #[arg(long)]
    models: Option<PathBuf>,
    /// Output file.
    #[arg(required_unless_present = "evidence")]
    out: Option<PathBuf>,
}

/// What `--redact` and `--watermark` ask for; masks always.
fn redaction(args: &Args) -> anyhow::Result<vigil_core::Redaction> {
    let mut r = vigil_core::Redaction {
        masks: true,
        watermark: args.watermark.clone(),
        ..Default::default()
    };
    for item in &args.redact {
        match item.trim() {
            "faces" => r.faces = true,
            "plates" => r.plates = true,
            "all" => (r.faces, r.plates) = (true, true),
            "none" | "" => {}
            other => bail!("--redact {other:?}: say faces, plates, all or none"),
        }
    }
    Ok(r)
}

/// The privacy filter of `--config` (masks, face and plate models), on every core.
fn filter(args: &Args) -> anyhow::Result<Option<crate::redaction::ConfigRedactor>> {
    let Some(path) = &args.config else {
        return Ok(None);
    };
    let config = crate::cmd::config::load_or_report(path)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Some(crate::redaction::ConfigRedactor::new(
        &config,
        args.models.clone(),
        cores,
    )?))
}

/// Applies the privacy filter to the export at `path` with a progress bar; prints what it did.
fn redact_in_place(
    args: &Args,
    filter: Option<&crate::redaction::ConfigRedactor>,
    path: &Path,
) -> anyhow::Result<Option<vigil_core::RedactionReport>> {
    let what = redaction(args)?;
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template("redacting {bar:40} {percent}% eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = vigil_store::filter_in_place(
        filter.map(|f| f as &dyn vigil_store::ExportFilter),
        &args.camera,
        &what,
        path,
        &mut |p| bar.set_position((p * 1000.0) as u64),
    );
    bar.finish_and_clear();
    Ok(report?)
}

fn print_redaction(report: &Option<vigil_core::RedactionReport>) {
    let Some(r) = report else { return };
    if !r.reencoded {
        println!(
            "  redaction: nothing to blur or mask in {} frames; the camera's own video is kept",
            r.frames
        );
        return;
    }
    println!(
        "  redacted and re-encoded ({}): faces blurred in {} of {} frames, plates in {}, {} privacy mask(s){}",
        r.encoder.as_deref().unwrap_or("?"),
        r.frames_with_faces,
        r.frames,
        r.frames_with_plates,
        r.masks,
        if r.asked.watermark.is_some() {
            ", watermarked"
        } else {
            ""
        }
    );
}

/// Parses RFC 3339, or `YYYY-MM-DD HH:MM:SS` / `YYYY-MM-DDTHH:MM:SS` in the local time zone.
pub fn parse_time(s: &str) -> anyhow::Result<Time90k> {
    let ts = match s.trim().parse::<jiff::Timestamp>() {
        Ok(ts) => ts,
        Err(_) => {
            let dt: jiff::civil::DateTime = s.trim().parse().map_err(|e| {
                anyhow::anyhow!(
                    "{s:?} is not a time: use RFC 3339 (2024-06-14T17:30:00+02:00) or local \
                     YYYY-MM-DD HH:MM:SS ({e})"
                )
            })?;
            dt.to_zoned(jiff::tz::TimeZone::system())
                .with_context(|| format!("{s:?} does not exist in the local time zone"))?
                .timestamp()
        }
    };
    Ok(Time90k(
        (ts.as_nanosecond() * 9 / 100_000).clamp(i64::MIN as i128, i64::MAX as i128) as i64,
    ))
}

/// Formats a wall-clock time in the local time zone.
pub fn format_time(t: Time90k) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(t.0) * 100_000 / 9) {
        Ok(ts) => ts
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S%.3f %Z")
            .to_string(),
        Err(_) => format!("{} (90 kHz ticks)", t.0),
    }
}

fn db_path(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(db) = &args.db {
        return Ok(db.clone());
    }
    let Some(config) = &args.config else {
        bail!("say where the recordings are: --db INDEX.db or --config vigil.toml (or VIGIL_DB)");
    };
    let file = vigil_config::VigilConfig::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    match file.store_config() {
        Some(store) => Ok(store.db),
        None => bail!(
            "{}: no [storage] section, so no recordings",
            config.display()
        ),
    }
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let from = parse_time(&args.from).context("--from")?;
    let to = parse_time(&args.to).context("--to")?;
    if to <= from {
        bail!("--to ({}) must be after --from ({})", args.to, args.from);
    }
    let db = db_path(&args)?;
    let mut reader = Reader::open(&db)?;
    // With the configuration, encrypted segments open through its key store.
    if let Some(config) = &args.config {
        let file = crate::cmd::config::load_or_report(config)?;
        if file.data_dir.join("keys").exists() {
            let keys = crate::cmd::keys::open_key_store(&file)?;
            reader = reader.with_keys(std::sync::Arc::new(keys));
        }
    }
    let filter = filter(&args)?;
    if let Some(dir) = &args.evidence {
        return evidence(&args, &reader, filter.as_ref(), dir, from, to);
    }
    let Some(out) = &args.out else {
        bail!("say where to write the export: OUT.mp4 or --evidence DIR");
    };
    if args.fragmented
        && let Some(f) = &filter
        && vigil_store::ExportFilter::has_masks(f, &args.camera)
    {
        bail!(
            "camera {} has privacy masks, which a --fragmented export cannot apply: export a standard MP4",
            args.camera
        );
    }
    let export = if args.fragmented {
        reader.export_fragmented(&args.camera, &args.stream, from, to)?
    } else {
        reader.export(&args.camera, &args.stream, from, to)?
    };
    let report = write_atomically(out, &export, &mut |partial| {
        if args.fragmented {
            return Ok(None);
        }
        redact_in_place(&args, filter.as_ref(), partial)
    })?;
    println!(
        "{}: {} frames, {:.1} s of video, {:.1} MB, {} segment(s), {} .. {} ({})",
        out.display(),
        export.frames,
        export.duration.as_secs_f64(),
        export.file.len() as f64 / 1e6,
        export.segments,
        format_time(export.start),
        format_time(export.end),
        export.codec
    );
    if export.start < from {
        println!(
            "  starts {:.2} s before --from, at the preceding key frame",
            (from.0 - export.start.0) as f64 / 90_000.0
        );
    }
    for g in &export.gaps {
        println!(
            "  gap: nothing recorded from {} to {} (skipped, not filled)",
            format_time(g.start),
            format_time(g.end)
        );
    }
    for s in &export.skipped {
        println!("  left out {}: {}", s.file.display(), s.reason);
    }
    if export.truncated {
        println!("  stopped at a change of camera parameters (run again from there for the rest)");
    }
    print_redaction(&report);
    Ok(())
}

/// `--evidence DIR`: the export, its manifest, the site's public key and the signature, audited.
fn evidence(
    args: &Args,
    reader: &Reader,
    filter: Option<&crate::redaction::ConfigRedactor>,
    dir: &Path,
    from: Time90k,
    to: Time90k,
) -> anyhow::Result<()> {
    let Some(config_path) = &args.config else {
        bail!("--evidence needs --config: the site key and the audit log live in its data_dir");
    };
    let config = crate::cmd::config::load_or_report(config_path)?;
    let keys = crate::cmd::keys::open_key_store(&config)?;
    let key = keys.site_key()?;
    let data = crate::cmd::user::DataArgs {
        data: Some(config.data_dir.clone()),
        config: config_path.clone(),
    };
    let security = crate::cmd::user::open(&data)?;
    let who = crate::cmd::user::who();
    let request = vigil_store::evidence::EvidenceRequest {
        camera: args.camera.clone(),
        stream: args.stream.clone(),
        from,
        to,
        exported_by: who.clone(),
        case: args.case.clone(),
        reason: args.reason.clone(),
        site: site_name(),
        redaction: redaction(args)?,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let manifest = vigil_store::evidence::write_bundle(
        reader,
        dir,
        &request,
        &key,
        filter.map(|f| f as &dyn vigil_store::ExportFilter),
        &mut |sha| {
            let detail = serde_json::json!({
                "from": vigil_store::evidence::rfc3339(from),
                "to": vigil_store::evidence::rfc3339(to),
                "stream": args.stream,
                "sha256": sha,
                "case": args.case,
                "reason": args.reason,
                "bundle": dir.display().to_string(),
            })
            .to_string();
            security
                .audit(&who, "local", "export.evidence", &args.camera, &detail)
                .map(Some)
                .map_err(|e| format!("the export could not be audited: {e}"))
        },
        &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    );
    bar.finish_and_clear();
    let manifest =
        manifest.with_context(|| format!("writing the evidence bundle {}", dir.display()))?;
    println!(
        "{}: evidence bundle of {}/{}: {} ({} frames, {:.1} MB, SHA-256 {}), {} source segment(s), audit entry {}, signed by site key {}",
        dir.display(),
        manifest.camera,
        manifest.stream,
        manifest.video.file,
        manifest.video.frames,
        manifest.video.bytes as f64 / 1e6,
        manifest.video.sha256,
        manifest.segments.len(),
        manifest
            .audit_entry
            .map_or("-".to_string(), |a| a.to_string()),
        manifest.site.key_fingerprint
    );
    print_redaction(&manifest.redaction);
    println!("check it with: vigil verify {}", dir.display());
    Ok(())
}

/// The site's name in manifests: the host name.
fn site_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Writes to `OUT.partial` with a progress bar, lets `finish` change it (redaction), then renames, so a
/// failed export leaves no half file.
fn write_atomically<T>(
    out: &Path,
    export: &vigil_store::Export,
    finish: &mut dyn FnMut(&Path) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let bar = ProgressBar::new(export.file.len());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = (|| -> anyhow::Result<T> {
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        export
            .file
            .write_all(&mut w, &mut |done| bar.set_position(done))?;
        let file = w
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {}", partial.display()))?;
        file.sync_all()
            .with_context(|| format!("writing {}", partial.display()))?;
        drop(file);
        bar.finish_and_clear();
        let done = finish(&partial)?;
        std::fs::rename(&partial, out).with_context(|| format!("renaming to {}", out.display()))?;
        Ok(done)
    })();
    bar.finish_and_clear();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_both_forms() {
        let utc = parse_time("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(utc, Time90k(1_704_067_200 * 90_000));
        assert_eq!(parse_time("2024-01-01T02:00:00+02:00").unwrap(), utc);
        // local form: whatever the zone, it is within a day of UTC and round-trips
        let local = parse_time("2024-01-01 00:00:00").unwrap();
        assert!((local.0 - utc.0).abs() <= 26 * 3600 * 90_000);
        assert!(format_time(local).starts_with("2024-01-01 00:00:00.000"));
        let err = parse_time("yesterday").unwrap_err().to_string();
        assert!(
            err.contains("yesterday") && err.contains("RFC 3339"),
            "{err}"
        );
    }
}
