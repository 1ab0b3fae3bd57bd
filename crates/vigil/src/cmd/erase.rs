//! `vigil erase`: an erasure request — the footage of a camera over a time range deleted, whole segments
//! at a time, audited (`footage.erase`), with a report of exactly what went (see `vigil_store::ErasureReport`).
//! Footage under an evidence hold is refused. The store must not be recording (stop `vigil run` first).

use crate::cmd::export::{format_time, parse_time};
use anyhow::{Context, bail};
use std::path::PathBuf;
use vigil_store::Store;

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
