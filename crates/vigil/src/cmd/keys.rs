//! `vigil keys`: the key store of `data_dir/keys/` (see `docs/security.md`, "Keys").
//!
//! - `vigil keys show`: where the master key comes from, its id, the site key's fingerprint and how
//!   every key file is held;
//! - `vigil keys rotate`: rewraps every data key under a new master key, then retires the old one
//!   (resumable; `vigil run` may keep recording meanwhile).

use crate::cmd::user::DataArgs;
use anyhow::Context;
use vigil_keys::{KeyStore, MasterSource};

/// `vigil keys` subcommands.
#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Show the master key's source and id, the site key's fingerprint and every key file.
    Show {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Rewrap every data key under a new master key, then retire the old one.
    Rotate {
        #[command(flatten)]
        data: DataArgs,
        /// The new master key when it is supplied rather than generated: `file:PATH`, `env:NAME` or
        /// `command:CMD` (then point `[keys] master` at it).
        #[arg(long)]
        new_master: Option<String>,
    },
}

/// The data directory and master key source of the configuration (or `--data` with a generated key).
fn source(data: &DataArgs) -> anyhow::Result<(std::path::PathBuf, MasterSource)> {
    if let Some(d) = &data.data {
        return Ok((d.clone(), MasterSource::Generated));
    }
    let config = crate::cmd::config::load_or_report(&data.config)?;
    Ok((config.data_dir.clone(), config.keys.master.clone()))
}

/// Runs `vigil keys ...`.
pub fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Show { data } => {
            let (dir, src) = source(&data)?;
            let store = KeyStore::open(&dir, &src).with_context(|| {
                format!("opening the key store in {}", dir.join("keys").display())
            })?;
            let site = store.site_key()?;
            println!("master key: {} (source: {src})", store.master_id());
            println!(
                "site key:   ed25519, fingerprint {} ({})",
                site.public().fingerprint(),
                store.dir().join(vigil_keys::SITE_PUB_FILE).display()
            );
            for k in store.list()? {
                let held = match &k.material {
                    vigil_keys::KeyMaterial::Plain => "plain".to_string(),
                    vigil_keys::KeyMaterial::Wrapped { by } => format!("wrapped by {by}"),
                };
                println!(
                    "  {:<24} {:<20} id {}  {held}",
                    k.path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    k.purpose,
                    k.id
                );
            }
            Ok(())
        }
        KeysCommand::Rotate { data, new_master } => {
            let (dir, src) = source(&data)?;
            let new = new_master
                .as_deref()
                .map(str::parse::<MasterSource>)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--new-master: {e}"))?;
            // The recording index's segment keys are rewrapped too (new ones are sealed under the new
            // master key meanwhile: `vigil run` may keep recording with a generated master key).
            let db = match &data.data {
                Some(_) => None,
                None => crate::cmd::config::load_or_report(&data.config)?
                    .store_config()
                    .map(|s| s.db)
                    .filter(|db| db.exists()),
            };
            if let Some(db) = &db
                && src != MasterSource::Generated
                && vigil_store::Store::in_use(db)
            {
                anyhow::bail!(
                    "`vigil run` is recording into {}: a supplied master key cannot change under it; stop it,                      rotate, point [keys] master at the new key, start it again",
                    db.display()
                );
            }
            let report = KeyStore::rotate_with(&dir, &src, new.as_ref(), &mut |rewrap| match &db {
                Some(db) => vigil_store::rewrap_segment_keys(db, rewrap)
                    .map_err(|e| vigil_keys::KeyError::Invalid(format!("{}: {e}", db.display()))),
                None => Ok(0),
            })
            .with_context(|| format!("rotating the master key of {}", dir.display()))?;
            if report.resumed {
                println!("resumed an interrupted rotation");
            }
            println!(
                "master key rotated: {} -> {}; {} key(s) rewrapped, {} segment key(s) rewrapped{}",
                report.old_master,
                report.new_master,
                report.rewrapped.len() + report.already.len(),
                report.rows,
                if report.plain.is_empty() {
                    String::new()
                } else {
                    format!(", not wrapped (plain): {}", report.plain.join(", "))
                }
            );
            match &new {
                Some(n) if *n != MasterSource::Generated => println!(
                    "now set `[keys] master = \"{n}\"` in the configuration: the old master key opens nothing any more"
                ),
                _ => println!(
                    "the old master key is retired; back up {} now",
                    dir.join("keys").join("master.key").display()
                ),
            }
            Ok(())
        }
    }
}

/// Opens the key store of a configuration (`data_dir/keys`, `[keys] master`), the error naming both.
pub fn open_key_store(config: &vigil_config::VigilConfig) -> anyhow::Result<KeyStore> {
    KeyStore::open(&config.data_dir, &config.keys.master).with_context(|| {
        format!(
            "opening the key store in {} ([keys] master = {:?})",
            config.data_dir.join("keys").display(),
            config.keys.master.to_string()
        )
    })
}
