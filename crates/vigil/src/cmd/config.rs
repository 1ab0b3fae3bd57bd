//! `vigil config …`: check a `vigil.toml` before starting Vigil with it.

use anyhow::bail;
use clap::Subcommand;
use std::path::PathBuf;
use vigil_config::VigilConfig;
use vigil_core::config::{CameraRole, ConfigErrors};

/// Configuration commands.
#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Parse and check a configuration file: prints every problem with its line, field and source line
    /// (exit status 1), or a summary when it is valid.
    Check(CheckArgs),
}

/// Arguments of `vigil config check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The configuration file.
    #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
    pub config: PathBuf,
}

/// Runs a configuration command.
pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check(args) => check(&args),
    }
}

/// Reads and checks a configuration file.
pub fn load(path: &std::path::Path) -> Result<VigilConfig, ConfigErrors> {
    VigilConfig::load(path)
}

/// Reads and checks a configuration file, printing the located problems on failure.
pub fn load_or_report(path: &std::path::Path) -> anyhow::Result<VigilConfig> {
    match load(path) {
        Ok(config) => Ok(config),
        Err(errors) => {
            eprintln!("{errors}");
            let n = errors.diagnostics.len();
            bail!(
                "{}: {n} problem{}",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
        }
    }
}

fn check(args: &CheckArgs) -> anyhow::Result<()> {
    let config = load_or_report(&args.config)?;
    println!("{}: OK", args.config.display());
    println!("{}", summary(&config));
    Ok(())
}

/// A few lines describing a valid configuration (no secrets).
fn summary(config: &VigilConfig) -> String {
    let mut out = String::new();
    let enabled = config.cameras.iter().filter(|c| c.enabled).count();
    out.push_str(&format!(
        "cameras: {} ({} enabled, {} recording, {} analysed)\n",
        config.cameras.len(),
        enabled,
        config.recording_cameras().count(),
        config.analysed_cameras().count()
    ));
    for camera in &config.cameras {
        let roles: Vec<&str> = camera
            .roles
            .iter()
            .map(|r| match r {
                CameraRole::Record => "record",
                CameraRole::Analyze => "analyze",
            })
            .collect();
        let rules = config.rules_for(&camera.name);
        let ptz = match (&camera.onvif, &camera.autotrack) {
            (Some(_), Some(a)) => format!(", ONVIF (PTZ, events), autotrack to {:?}", a.preset),
            (Some(_), None) => ", ONVIF (PTZ, events)".to_string(),
            _ => String::new(),
        };
        out.push_str(&format!(
            "  {}{}: {} [{}]{}{}{ptz}\n",
            camera.name,
            if camera.enabled { "" } else { " (disabled)" },
            camera.main,
            roles.join(", "),
            if camera.username.is_some() {
                " (credentials set)"
            } else {
                ""
            },
            if rules.rule.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} rule(s), {} zone(s), {} line(s)",
                    rules.rule.len(),
                    rules.zone.len(),
                    rules.line.len()
                )
            },
        ));
    }
    match config.store_config() {
        Some(store) => {
            out.push_str(&format!("storage: index {}\n", store.db.display()));
            for dir in &store.dirs {
                out.push_str(&format!(
                    "  {}: {} ({})\n",
                    dir.name,
                    dir.path.display(),
                    dir.max_bytes
                        .map(|b| vigil_config::ByteSize(b).to_string())
                        .unwrap_or("no budget".into())
                ));
            }
        }
        None => out.push_str("storage: none (nothing is recorded)\n"),
    }
    let alerts = config.alert_config();
    out.push_str(&format!(
        "alerts: {}, {} webhook(s), {} output(s)\n",
        alerts
            .mqtt
            .as_ref()
            .map(|m| format!("MQTT {}:{}", m.host, m.port))
            .unwrap_or("no MQTT".into()),
        alerts.webhook.len(),
        alerts.output.len()
    ));
    out.push_str(&format!(
        "server: {}\nanalysis: {} ({} at {} fps)\ndata: {}",
        config.server.listen,
        if config.analysis.enabled { "on" } else { "off" },
        config.analysis.model,
        config.analysis.detect_fps,
        config.data_dir.display()
    ));
    out
}
