//! `vigil hold`: evidence holds — footage that retention never deletes and erasure refuses until the
//! hold is released. Works while `vigil run` records. Every change is audited (`hold.add`, `hold.release`).

use crate::cmd::export::{format_time, parse_time};
use anyhow::{Context, bail};
use std::path::PathBuf;
use vigil_store::Holds;

/// `vigil hold` subcommands.
#[derive(clap::Subcommand)]
pub enum HoldCommand {
    /// Hold a camera's footage over a range (a case's evidence).
    Add {
        /// Vigil's configuration file.
        #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
        config: PathBuf,
        /// Camera name.
        #[arg(long)]
        camera: String,
        /// Start (RFC 3339 or local `YYYY-MM-DD HH:MM:SS`).
        #[arg(long)]
        from: String,
        /// End.
        #[arg(long)]
        to: String,
        /// What it is for (a case reference): shown in the list and the audit log.
        #[arg(long)]
        note: String,
    },
    /// List the holds.
    List {
        /// Vigil's configuration file.
        #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
        config: PathBuf,
    },
    /// Release a hold by id: retention may then delete that footage again.
    Release {
        /// Vigil's configuration file.
        #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
        config: PathBuf,
        /// The hold's id (from `vigil hold list`).
        id: i64,
    },
}

fn open(config: &std::path::Path) -> anyhow::Result<(Holds, vigil_config::VigilConfig)> {
    let file = crate::cmd::config::load_or_report(config)?;
    let store = file.store_config().with_context(|| {
        format!(
            "{}: no [storage] section, so no recordings",
            config.display()
        )
    })?;
    Ok((Holds::open(&store.db)?, file))
}

fn audit(
    config: &std::path::Path,
    file: &vigil_config::VigilConfig,
    action: &str,
    target: &str,
    detail: &str,
) -> anyhow::Result<i64> {
    let data = crate::cmd::user::DataArgs {
        data: Some(file.data_dir.clone()),
        config: config.to_path_buf(),
    };
    Ok(crate::cmd::user::open(&data)?.audit(
        &crate::cmd::user::who(),
        "local",
        action,
        target,
        detail,
    )?)
}

/// Runs `vigil hold ...`.
pub fn run(command: HoldCommand) -> anyhow::Result<()> {
    match command {
        HoldCommand::Add {
            config,
            camera,
            from,
            to,
            note,
        } => {
            let (from, to) = (
                parse_time(&from).context("--from")?,
                parse_time(&to).context("--to")?,
            );
            if note.trim().is_empty() {
                bail!("a hold needs a note (the case it is for)");
            }
            let (holds, file) = open(&config)?;
            let id = holds.add(&camera, from, to, note.trim())?;
            let detail = format!(
                "hold {id}: {} .. {} ({})",
                vigil_store::evidence::rfc3339(from),
                vigil_store::evidence::rfc3339(to),
                note.trim()
            );
            audit(&config, &file, "hold.add", &camera, &detail)?;
            println!(
                "hold {id} on {camera}: {} to {} ({}); release it with `vigil hold release {id}`",
                format_time(from),
                format_time(to),
                note.trim()
            );
        }
        HoldCommand::List { config } => {
            let (holds, _) = open(&config)?;
            let list = holds.list()?;
            if list.is_empty() {
                println!("no holds");
            }
            for h in list {
                println!(
                    "{:>5}  {:<16} {} .. {}  {}",
                    h.id,
                    h.camera.as_deref().unwrap_or("(all cameras)"),
                    format_time(h.start),
                    format_time(h.end),
                    h.note
                );
            }
        }
        HoldCommand::Release { config, id } => {
            let (holds, file) = open(&config)?;
            if !holds.release(id)? {
                bail!("there is no hold {id} (`vigil hold list` shows them)");
            }
            audit(&config, &file, "hold.release", &id.to_string(), "")?;
            println!("hold {id} released");
        }
    }
    Ok(())
}
