//! `vigil verify`: checks recordings and evidence.
//!
//! - `vigil verify recordings --config vigil.toml [--camera C] [--from T --to T]`: every segment
//!   file against its SHA-256, every index row against its link in the stream's hash chain, the signed
//!   chain heads against the site key. Exit 0 when everything matches; exit 1 naming every segment
//!   edited, removed or inserted and every index row edited. Reads the index read-only: it runs beside
//!   `vigil run`.
//! - `vigil verify DIR`: an evidence bundle written by `vigil export --evidence DIR`, with nothing but
//!   the folder. Exit 0 printing what was verified, or 1 naming the first file or field that fails.

use crate::cmd::export::{format_time, parse_time};
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::path::PathBuf;
use vigil_core::Time90k;
use vigil_store::evidence::verify_bundle;
use vigil_store::{VerifyScope, verify_recordings};

/// Arguments: a subcommand, or the folder of an evidence bundle.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    what: Option<VerifyCommand>,
    /// An evidence bundle's folder (from `vigil export --evidence DIR`); write `./recordings` for a
    /// folder of that name.
    dir: Option<PathBuf>,
}

/// `vigil verify` subcommands.
#[derive(clap::Subcommand)]
pub enum VerifyCommand {
    /// Check recorded segments against their hashes, the hash chain and the signed chain heads.
    Recordings {
        /// Vigil's configuration file.
        #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
        config: PathBuf,
        /// Only this camera.
        #[arg(long)]
        camera: Option<String>,
        /// Only segments ending after this time (RFC 3339 or local `YYYY-MM-DD HH:MM:SS`).
        #[arg(long)]
        from: Option<String>,
        /// Only segments starting before this time.
        #[arg(long)]
        to: Option<String>,
        /// Print the report as one JSON object (`problems` with `fault`, `camera`, `stream`, `seq`,
        /// `start_90k`, `file`, `detail`); the exit code is the same.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `vigil verify ...`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match (args.what, args.dir) {
        (
            Some(VerifyCommand::Recordings {
                config,
                camera,
                from,
                to,
                json,
            }),
            _,
        ) => recordings(&config, camera, from.as_deref(), to.as_deref(), json),
        (None, Some(dir)) => bundle(&dir),
        (None, None) => bail!(
            "say what to verify: `vigil verify recordings --config vigil.toml` or `vigil verify DIR` (an evidence bundle)"
        ),
    }
}

fn time_arg(name: &str, value: Option<&str>) -> anyhow::Result<Option<Time90k>> {
    value
        .map(|v| parse_time(v).with_context(|| name.to_string()))
        .transpose()
}

fn recordings(
    config: &std::path::Path,
    camera: Option<String>,
    from: Option<&str>,
    to: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let file = crate::cmd::config::load_or_report(config)?;
    let store = file.store_config().with_context(|| {
        format!(
            "{}: no [storage] section, so no recordings",
            config.display()
        )
    })?;
    let key = vigil_keys::KeyStore::public_key(&file.data_dir)?;
    let scope = VerifyScope {
        camera,
        from_90k: time_arg("--from", from)?.map(|t| t.0),
        to_90k: time_arg("--to", to)?.map(|t| t.0),
        dirs: store
            .dirs
            .iter()
            .map(|d| (d.name.clone(), d.path.clone()))
            .collect::<HashMap<_, _>>(),
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "hashing {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = verify_recordings(&store.db, &scope, key.as_ref(), &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let report = report.with_context(|| format!("checking {}", store.db.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        if report.problems.is_empty() {
            return Ok(());
        }
        bail!("{} problem(s) found", report.problems.len());
    }
    for p in &report.problems {
        let mut line = format!("{:<14} {}/{}", p.fault.as_str(), p.camera, p.stream);
        if let Some(seq) = p.seq {
            line.push_str(&format!(" segment {seq}"));
        }
        if let Some(t) = p.start_90k {
            line.push_str(&format!(" ({})", format_time(Time90k(t))));
        }
        if let Some(f) = &p.file {
            line.push_str(&format!(" {}", f.display()));
        }
        println!("{line}: {}", p.detail);
    }
    // Information, not problems: segments blurred on an erasure request (re-sealed with the reason).
    for r in &report.rewritten {
        let what = if r.kind == "blur" {
            "blurred"
        } else {
            r.kind.as_str()
        };
        println!(
            "{:<14} {}/{} segment {} ({}) {}: {what} on request: {} (at {})",
            what,
            r.camera,
            r.stream,
            r.seq,
            format_time(Time90k(r.start_90k)),
            r.file.display(),
            r.reason,
            jiff::Timestamp::from_millisecond(r.at_ms)
                .map_or(r.at_ms.to_string(), |t| format!("{t:.0}"))
        );
    }
    let signed = match (&report.key_id, report.newest_head_ms) {
        (None, _) if report.heads > 0 => format!(
            "{} signed heads NOT checked: no site public key in {}",
            report.heads,
            file.data_dir.join("keys").display()
        ),
        (_, None) => "no signed heads yet".to_string(),
        (Some(k), Some(at)) => format!(
            "{} signed heads checked with site key {k}, newest {}",
            report.heads,
            jiff::Timestamp::from_millisecond(at).map_or(at.to_string(), |t| format!("{t:.0}"))
        ),
        (None, Some(_)) => "no site key".to_string(),
    };
    let summary = format!(
        "{} segment(s) in {} stream(s) checked, {:.1} MB hashed; {signed}; {} after the newest signed head{}{}{}",
        report.segments,
        report.streams,
        report.bytes as f64 / 1e6,
        report.unsigned,
        if report.retained_away + report.erased > 0 {
            format!(
                "; {} deleted by retention, {} erased on request (recorded)",
                report.retained_away, report.erased
            )
        } else {
            String::new()
        },
        if report.rewritten.is_empty() {
            String::new()
        } else {
            format!("; {} blurred on request (recorded)", report.rewritten.len())
        },
        if report.before_integrity > 0 {
            format!(
                "; {} recorded before integrity (not checkable)",
                report.before_integrity
            )
        } else {
            String::new()
        },
    );
    if report.problems.is_empty() {
        println!("recordings OK: {summary}");
        Ok(())
    } else {
        bail!("{} problem(s) found: {summary}", report.problems.len())
    }
}

fn bundle(dir: &std::path::Path) -> anyhow::Result<()> {
    let v = verify_bundle(dir).map_err(|f| anyhow::anyhow!("{}: {f}", dir.display()))?;
    let m = &v.manifest;
    println!("evidence OK: {}", dir.display());
    println!(
        "  video      {} ({} bytes, {} frames, SHA-256 {})",
        m.video.file, m.video.bytes, m.video.frames, m.video.sha256
    );
    println!(
        "  camera     {}/{} at site {}",
        m.camera, m.stream, m.site.name
    );
    println!(
        "  recorded   {} to {}{}",
        m.video.recorded[0],
        m.video.recorded[1],
        if m.video.gaps.is_empty() {
            String::new()
        } else {
            format!(" ({} gap(s) with no recording)", m.video.gaps.len())
        }
    );
    println!(
        "  exported   by {} at {}{}{}{}",
        m.exported_by,
        m.exported_at,
        m.case
            .as_ref()
            .map(|c| format!(", case {c:?}"))
            .unwrap_or_default(),
        m.reason
            .as_ref()
            .map(|r| format!(", reason {r:?}"))
            .unwrap_or_default(),
        m.audit_entry
            .map(|a| format!(", audit entry {a}"))
            .unwrap_or_default()
    );
    println!(
        "  sources    {} segment(s) with their hashes and chain links",
        m.segments.len()
    );
    println!(
        "  signed by  site key {} (compare with the fingerprint the site publishes)",
        v.key.fingerprint()
    );
    Ok(())
}
