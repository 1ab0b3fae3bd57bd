//! `vigil erase`: an erasure request — the footage of a camera over a time range deleted, whole segments
//! at a time, audited (`footage.erase`), with a report of exactly what went (see `vigil_store::ErasureReport`).
//!
//! With `--blur` the footage stays but every face and licence plate in it is blurred, and the camera's
//! privacy masks blacked out, in the recording itself (`vigil_store::Store::blur` with the configuration's
//! redactor, `crate::redaction::ConfigRedactor`): whole segments re-encoded at their own frame times, the
//! integrity chain re-linked and re-signed, each segment recorded as blurred on request with the reason
//! (`vigil verify recordings` lists them), audited as `footage.erase` with `"mode": "blur"`, with a report
//! of every segment, its size before and after, and the faces and plates blurred
//! (`vigil_store::BlurReport`). It needs the face and plate models (`--models DIR`), and refuses, changing
//! nothing, when the camera's recordings fail their integrity check.
//!
//! Footage under an evidence hold is refused. The store must not be recording (stop `vigil run` first).

use crate::cmd::export::{format_time, parse_time};
use anyhow::{Context, bail};
use std::path::PathBuf;
use std::sync::Arc;
use vigil_store::{BlurProgress, BlurReport, Store};

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Vigil's configuration file.
    #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
    config: PathBuf,
    /// Camera name.
    #[arg(long)]
    camera: String,
    /// Start of the range to erase (RFC 3339 or local `YYYY-MM-DD HH:MM:SS`).
    #[arg(long)]
    from: String,
    /// End of the range.
    #[arg(long)]
    to: String,
    /// Why (the request's reference): recorded in the audit log and the integrity chain.
    #[arg(long)]
    reason: String,
    /// Blur every face and licence plate in the footage (and black out the camera's privacy masks),
    /// in the recording itself, instead of deleting it.
    #[arg(long)]
    blur: bool,
    /// Directory holding the face and plate models, for `--blur` (default: ../shared/models, then the
    /// download cache).
    #[arg(long, requires = "blur")]
    models: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `vigil erase`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let from = parse_time(&args.from).context("--from")?;
    let to = parse_time(&args.to).context("--to")?;
    let config = crate::cmd::config::load_or_report(&args.config)?;
    let store_config = config.store_config().with_context(|| {
        format!(
            "{}: no [storage] section, so no recordings",
            args.config.display()
        )
    })?;
    if Store::in_use(&store_config.db) {
        bail!(
            "`vigil run` is recording into {}: stop it first (an erasure deletes files it may be writing)",
            store_config.db.display()
        );
    }
    if args.blur {
        return blur(&args, &config, store_config, from, to);
    }
    let (store, _) = Store::open(store_config).context("opening the recording store")?;
    let report = store
        .erase(&args.camera, from, to, &args.reason)
        .with_context(|| format!("erasing {}'s footage", args.camera))?;
    store.close();
    let data = crate::cmd::user::DataArgs {
        data: Some(config.data_dir.clone()),
        config: args.config.clone(),
    };
    let detail = report.audit_detail().to_string();
    let entry = crate::cmd::user::open(&data)?.audit(
        &crate::cmd::user::who(),
        "local",
        "footage.erase",
        &args.camera,
        &detail,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "erasure of {} requested for {} to {} ({}), audit entry {entry}",
        report.camera,
        format_time(from),
        format_time(to),
        report.reason
    );
    match report.erased {
        None => println!(
            "no footage was recorded in that range; {} event(s) with {} snapshot file(s) erased",
            report.events, report.snapshots
        ),
        Some((a, b)) => {
            println!(
                "erased {} segment(s), {:.1} MB, whole segments from {} to {}, and {} event(s) with {} snapshot file(s):",
                report.segments.len(),
                report.bytes as f64 / 1e6,
                format_time(a),
                format_time(b),
                report.events,
                report.snapshots
            );
            for s in &report.segments {
                println!(
                    "  {} .. {}  {} ({} bytes)",
                    format_time(s.start),
                    format_time(s.end),
                    s.file,
                    s.bytes
                );
            }
        }
    }
    Ok(())
}

/// `vigil erase --blur`.
fn blur(
    args: &Args,
    config: &vigil_config::VigilConfig,
    mut store_config: vigil_store::StoreConfig,
    from: vigil_core::Time90k,
    to: vigil_core::Time90k,
) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rewriter = crate::redaction::ConfigRedactor::new(config, args.models.clone(), cores)?;
    rewriter.require_models()?;
    let keys = crate::cmd::keys::open_key_store(config)?;
    let site = keys.site_key().context("the site signing key")?;
    // Nothing but the blurring touches the store meanwhile.
    store_config.background_retention = false;
    let (store, opened) = Store::open(store_config).context("opening the recording store")?;
    if !opened.blurs_finished.is_empty() || !opened.blurs_undone.is_empty() {
        eprintln!(
            "an interrupted blurring was found: {} segment(s) it had committed put in place, {} unfinished \
             copies removed",
            opened.blurs_finished.len(),
            opened.blurs_undone.len()
        );
    }
    store.set_keys(Arc::new(keys));
    store.set_site_key(Arc::new(site));
    let mut verifying = false;
    let result = store.blur(
        &args.camera,
        from,
        to,
        &args.reason,
        &rewriter,
        &mut |p| match *p {
            BlurProgress::Verifying { .. } if !verifying => {
                verifying = true;
                eprintln!("verifying the recordings of {} first", args.camera);
            }
            BlurProgress::Verifying { .. } => {}
            BlurProgress::Segment {
                index,
                total,
                file,
                fraction: 0.0,
            } => {
                eprintln!("blurring segment {index}/{total}: {}", file.display());
            }
            BlurProgress::Segment { .. } => {}
        },
    );
    store.close();
    let report = result.with_context(|| format!("blurring {}'s footage", args.camera))?;
    let data = crate::cmd::user::DataArgs {
        data: Some(config.data_dir.clone()),
        config: args.config.clone(),
    };
    let detail = report.audit_detail().to_string();
    let entry = crate::cmd::user::open(&data)?.audit(
        &crate::cmd::user::who(),
        "local",
        "footage.erase",
        &args.camera,
        &detail,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_blur(&report, from, to, entry);
    Ok(())
}

/// The printable report of an erasure by blurring.
fn print_blur(report: &BlurReport, from: vigil_core::Time90k, to: vigil_core::Time90k, entry: i64) {
    println!(
        "erasure by blurring of {} requested for {} to {} ({}), audit entry {entry}",
        report.camera,
        format_time(from),
        format_time(to),
        report.reason
    );
    if report.events > 0 {
        println!(
            "{} event(s) of the range deleted with {} snapshot file(s) (their stills showed the person as recorded)",
            report.events, report.snapshots
        );
    }
    let Some((a, b)) = report.blurred else {
        println!("no footage was recorded in that range: nothing blurred");
        return;
    };
    println!(
        "blurred {} of {} segment(s), whole segments from {} to {}: {} frame(s) looked at, {} face(s) in \
         {} frame(s) and {} plate(s) in {} frame(s) blurred, {} privacy mask(s) blacked out{}; {:.1} MB \
         re-encoded into {:.1} MB; {} signed chain head(s) signed again",
        report.rewritten,
        report.segments.len(),
        format_time(a),
        format_time(b),
        report.frames,
        report.faces,
        report.frames_with_faces,
        report.plates,
        report.frames_with_plates,
        report.masks,
        report
            .encoder
            .as_ref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default(),
        report.bytes_before as f64 / 1e6,
        report.bytes_after as f64 / 1e6,
        report.heads_resigned
    );
    for s in &report.segments {
        println!(
            "  {} .. {}  {} {}: {} frames, {} faces, {} plates, {} -> {} bytes",
            format_time(s.start),
            format_time(s.end),
            s.stream,
            s.file,
            s.frames,
            s.faces,
            s.plates,
            s.bytes_before,
            s.bytes_after,
        );
        if !s.rewritten {
            println!("    nothing to blur: left as recorded");
        }
    }
    for (file, why) in &report.skipped {
        println!("  left as it was (damaged, never served): {file}: {why}");
    }
}
