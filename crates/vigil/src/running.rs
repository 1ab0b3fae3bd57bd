//! The running system's life: start the engine (cameras, recording, analysis, alerts) and the server on
//! a configuration file, run until a signal (or a deadline), and restart both in-process, with the file
//! as it is then, whenever the configuration is saved from the browser with a change that the running
//! analysis cannot take on its own (a camera added, a setting changed). `vigil run` and `vigil demo` run
//! through here.

use crate::cmd::config::load_or_report;
use crate::engine::{Engine, EngineOptions};
use crate::serve::Started;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vigil_config::VigilConfig;

/// How a configuration change that needs it reaches the loop: at most one waiting.
const RELOAD_QUEUE: usize = 1;

/// What a whole run did.
pub struct RunReport {
    /// The configuration it ended with.
    pub config: VigilConfig,
    /// Event messages stored, over every restart.
    pub events_recorded: u64,
    /// In-process restarts for configuration changes.
    pub restarts: u32,
}

/// Runs `config_path` until SIGTERM, Ctrl-C or `until`; `on_start` is called after each start (the
/// first with `true`).
pub fn run_with_reloads(
    config_path: &Path,
    models_dir: Option<PathBuf>,
    until: Option<Instant>,
    mut on_start: impl FnMut(&VigilConfig, &Engine, &Started, bool),
) -> anyhow::Result<RunReport> {
    let mut config = load_or_report(config_path)?;
    let mut events_recorded = 0;
    let mut restarts = 0;
    loop {
        let engine = Engine::start(
            &config,
            EngineOptions {
                models_dir: models_dir.clone(),
            },
        )?;
        let (reload, mut reloads) = tokio::sync::mpsc::channel(RELOAD_QUEUE);
        let (engine, started) =
            crate::serve::start_or_shut_down(engine, &config, config_path, Some(reload))?;
        crate::uplink::outbox_off_unless_linked(&config, &engine);
        let uplink = match crate::uplink::start(&config, config_path, &engine, started.security()) {
            Ok(u) => u,
            Err(e) => {
                // The site runs on without its hub: recording, analysis and alerts are untouched.
                eprintln!("vigil: the uplink to the hub did not start: {e:#}");
                None
            }
        };
        on_start(&config, &engine, &started, restarts == 0);
        let waited = engine.wait_for_stop_or_reload(until, &mut reloads);
        started.stop(engine.runtime());
        let report = engine.shutdown();
        if let Some(u) = uplink {
            // The engine's last events (those it closed on the way out) go up if the hub is there.
            u.stop(std::time::Duration::from_secs(5));
        }
        events_recorded += report.events_recorded;
        if !report.panicked.is_empty() {
            anyhow::bail!(
                "threads failed while running: {}",
                report.panicked.join(", ")
            );
        }
        match waited? {
            Some(why) => {
                // The file was checked before it was saved; read it again as it is now.
                config = load_or_report(config_path)?;
                restarts += 1;
                eprintln!("vigil: configuration changed ({why}): restarted with it");
            }
            None => {
                return Ok(RunReport {
                    config,
                    events_recorded,
                    restarts,
                });
            }
        }
    }
}
