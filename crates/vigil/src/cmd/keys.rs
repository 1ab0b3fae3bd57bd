//! `vigil keys`: the key store of `data_dir/keys/` (see `docs/security.md`, "Keys").
//!
//! - `vigil keys show`: where the master key comes from, its id, the site key's fingerprint and how
//!   every key file is held;
//! - `vigil keys rotate`: rewraps every data key under a new master key, then retires the old one
//!   (resumable; `vigil run` may keep recording meanwhile);
//! - `vigil keys encrypt`: encrypts the segments recorded without encryption at rest, in place
//!   (resumable; `vigil run` must be stopped).

use crate::cmd::user::DataArgs;
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use vigil_keys::{KeyStore, MasterSource};
use vigil_store::{EncryptProgress, Store};

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
    /// Encrypt the recordings made without encryption at rest, in place (resumable; stop `vigil run`
    /// first).
    Encrypt {
        /// Vigil's configuration file.
        #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
        config: PathBuf,
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
        KeysCommand::Encrypt { config } => encrypt(&config),
    }
}

/// `vigil keys encrypt`: every plain segment encrypted under its own key, chains re-linked and their
/// signed heads signed again (`vigil_store::Store::encrypt_existing`), audited as `storage.encrypt`.
fn encrypt(path: &Path) -> anyhow::Result<()> {
    let config = crate::cmd::config::load_or_report(path)?;
    let mut store_config = config
        .store_config()
        .with_context(|| format!("{}: no [storage] section, so no recordings", path.display()))?;
    if Store::in_use(&store_config.db) {
        bail!(
            "`vigil run` is recording into {}: stop it first (encrypting rewrites the files it serves), \
             then run this again",
            store_config.db.display()
        );
    }
    let encrypt_on = store_config.encrypt;
    // Nothing but the migration touches the store meanwhile.
    store_config.background_retention = false;
    let keys = open_key_store(&config)?;
    let site = keys.site_key().context("the site signing key")?;
    let (store, opened) = Store::open(store_config).context("opening the recording store")?;
    if !opened.encryptions_finished.is_empty() || !opened.encryptions_undone.is_empty() {
        println!(
            "an interrupted run is resumed: {} segment(s) it had committed put in place, {} unfinished \
             copies removed",
            opened.encryptions_finished.len(),
            opened.encryptions_undone.len()
        );
    }
    let bar = ProgressBar::new(0);
    let style = |template: &str| {
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
    };
    bar.set_style(style(
        "verifying first {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ));
    let mut encrypting = false;
    let result = store.encrypt_existing(&keys, &site, &mut |p| {
        match *p {
            EncryptProgress::Verifying { hashed, total } => {
                bar.set_length(total);
                bar.set_position(hashed);
            }
            EncryptProgress::Segment {
                done,
                total,
                bytes_done,
                bytes_total,
                ..
            } => {
                if !encrypting {
                    encrypting = true;
                    bar.set_style(style(
                        "encrypting {bar:40} {msg} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    ));
                    bar.reset_eta();
                }
                bar.set_message(format!("{done}/{total} segments"));
                bar.set_length(bytes_total);
                bar.set_position(bytes_done);
            }
        }
        ControlFlow::Continue(())
    });
    bar.finish_and_clear();
    store.close();
    let report = result.context("encrypting the recordings")?;
    let data = crate::cmd::user::DataArgs {
        data: Some(config.data_dir.clone()),
        config: path.to_path_buf(),
    };
    let detail = serde_json::json!({
        "encrypted": report.encrypted,
        "bytes": report.bytes_before,
        "already_encrypted": report.already_encrypted,
        "resumed": report.resumed,
        "skipped": report.skipped.len(),
        "heads_resigned": report.heads_resigned,
    })
    .to_string();
    let entry = crate::cmd::user::open(&data)?.audit(
        &crate::cmd::user::who(),
        "local",
        "storage.encrypt",
        "recordings",
        &detail,
    )?;
    if report.encrypted == 0 && report.resumed == 0 {
        println!(
            "nothing to encrypt: {} segment(s) are encrypted already; audit entry {entry}",
            report.already_encrypted
        );
    } else {
        println!(
            "encrypted {} segment(s), {:.1} MB ({:.1} MB now); {} were encrypted already{}; {} signed \
             chain head(s) signed again; audit entry {entry}",
            report.encrypted,
            report.bytes_before as f64 / 1e6,
            report.bytes_after as f64 / 1e6,
            report.already_encrypted,
            if report.resumed > 0 {
                format!(", {} finished from an interrupted run", report.resumed)
            } else {
                String::new()
            },
            report.heads_resigned
        );
    }
    for s in &report.skipped {
        println!("  left plain: {}: {}", s.file.display(), s.reason);
    }
    if !encrypt_on {
        println!(
            "[storage] encrypt is false in {}: set it to true, or new recordings are written in the clear",
            path.display()
        );
    }
    Ok(())
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
