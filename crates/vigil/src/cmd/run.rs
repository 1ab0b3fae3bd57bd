//! `vigil run`: start every configured camera — recording, analysis, rules, events, alerts — and run until
//! SIGTERM or Ctrl-C, then shut down with every segment closed and indexed.

use crate::cmd::config::load_or_report;
use crate::engine::{Engine, EngineOptions};
use std::path::PathBuf;

/// Arguments of `vigil run`.
#[derive(clap::Args)]
pub struct Args {
    /// The configuration file.
    #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
    pub config: PathBuf,
    /// Directory holding the model files (default: ../shared/models, then the download cache).
    #[arg(long)]
    pub models: Option<PathBuf>,
}

/// Runs `vigil run`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = load_or_report(&args.config)?;
    let engine = Engine::start(
        &config,
        EngineOptions {
            models_dir: args.models,
        },
    )?;
    let (engine, started) = crate::serve::start_or_shut_down(engine, &config, &args.config)?;
    eprintln!(
        "vigil: running {} camera(s) from {} (data in {}); stop with Ctrl-C or SIGTERM",
        engine.cameras().len(),
        args.config.display(),
        config.data_dir.display()
    );
    crate::serve::announce_storage(&config);
    crate::serve::announce(&started);
    let waited = engine.wait_for_signal();
    started.stop(engine.runtime());
    waited?;
    let report = engine.shutdown();
    eprintln!(
        "vigil: stopped ({} events recorded)",
        report.events_recorded
    );
    if !report.panicked.is_empty() {
        anyhow::bail!(
            "threads failed while running: {}",
            report.panicked.join(", ")
        );
    }
    Ok(())
}
