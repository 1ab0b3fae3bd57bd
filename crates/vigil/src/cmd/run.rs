//! `vigil run`: start every configured camera — recording, analysis, rules, events, alerts — and run until
//! SIGTERM or Ctrl-C, then shut down with every segment closed and indexed.

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
    let path = args.config.clone();
    let report = crate::running::run_with_reloads(
        &args.config,
        args.models,
        None,
        |config, engine, started, first| {
            if first {
                eprintln!(
                    "vigil: running {} camera(s) from {} (data in {}); stop with Ctrl-C or SIGTERM",
                    engine.cameras().len(),
                    path.display(),
                    config.data_dir.display()
                );
                crate::serve::announce_storage(config);
                crate::serve::announce(started);
            }
        },
    )?;
    eprintln!(
        "vigil: stopped ({} events recorded, {} restart(s) for configuration changes)",
        report.events_recorded, report.restarts
    );
    Ok(())
}
