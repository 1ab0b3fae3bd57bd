//! `vigil events --config vigil.toml --json`: every stored event as a JSON line, oldest first (the same
//! lines, with the same `id`, as `vigil hub events --json` prints for this site on the hub). Works while
//! `vigil run` runs (read-only connection).

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use vigil_uplink::wire::EventLine;

/// `vigil events` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The configuration file.
    #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
    pub config: PathBuf,
    /// One JSON object per line (the only format for now; kept for scripts that say so).
    #[arg(long)]
    pub json: bool,
    /// Only this camera's events.
    #[arg(long)]
    pub camera: Option<String>,
}

/// Runs `vigil events`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = crate::cmd::config::load_or_report(&args.config)?;
    let db = config
        .store_config()
        .map(|s| s.db)
        .context("this configuration has no event store (no [storage] and no recording camera)")?;
    if !db.exists() {
        anyhow::bail!(
            "no event store at {}: has `vigil run` run with this configuration?",
            db.display()
        );
    }
    let reader = vigil_store::EventReader::open(&db)?;
    let mut out = std::io::stdout().lock();
    for e in reader.all_events()? {
        if args.camera.as_ref().is_some_and(|c| *c != e.event.camera) {
            continue;
        }
        serde_json::to_writer(&mut out, &EventLine::from_stored(&e))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
