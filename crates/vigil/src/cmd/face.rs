//! `vigil face`: face recognition from the command line (see `docs/security.md`, "Faces").
//!
//! - `vigil face match A.jpg B.jpg`: JSON with the similarity of the two faces and whether they are the
//!   same person at the threshold;
//! - `vigil face enrol --config vigil.toml --name NAME [--list L] PHOTO...`: a person on a watchlist, one
//!   sealed template per photo (audited `face.enrol`);
//! - `vigil face identify --config vigil.toml PHOTO`: the enrolled person the face matches, if any (audited
//!   `face.search`);
//! - `vigil face list --config vigil.toml`: who is enrolled (audited `face.view`);
//! - `vigil face erase --config vigil.toml --name NAME`: a person's biometric data deleted, with a report
//!   (audited `face.erase`).
//!
//! Each photo must hold exactly one face, at least [`MIN_FACE`] pixels wide.

use crate::cmd::user::DataArgs;
use crate::models::Assets;
use anyhow::Context;
use std::path::{Path, PathBuf};
use vigil_core::BgrImage;
use vigil_identity::FaceBook;
use vigil_pipeline::faces::FaceModels;
use vigil_vision::face_embed::{DEFAULT_THRESHOLD, FaceEmbedder, cosine};
use vigil_vision::faces::FaceDetector;
use vigil_vision::model::{MOBILEFACENET, YUNET};

pub use vigil_vision::face_embed::TRAINING_CAVEAT;
pub use vigil_vision::face_quality::MIN_FACE;

/// `vigil face` subcommands.
#[derive(clap::Subcommand)]
pub enum FaceCommand {
    /// Compare the faces of two photos: JSON with `similarity`, `same` and `threshold`.
    Match {
        /// The first photo (JPEG or PNG, one face).
        a: PathBuf,
        /// The second photo.
        b: PathBuf,
        /// Similarity at and above which they are the same person.
        #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
        threshold: f32,
        /// Where the models are (default: the shared models, then the download cache).
        #[arg(long)]
        models: Option<PathBuf>,
    },
    /// Enrol a person on a watchlist from photos of their face (one template per photo).
    Enrol {
        #[command(flatten)]
        data: DataArgs,
        /// Their name (unique).
        #[arg(long)]
        name: String,
        /// The watchlist.
        #[arg(long, default_value = "watchlist")]
        list: String,
        /// Photos, one face each.
        #[arg(required = true)]
        photos: Vec<PathBuf>,
        /// Where the models are.
        #[arg(long)]
        models: Option<PathBuf>,
    },
    /// Who, of the enrolled people, the face in a photo is: JSON with `match` (null when nobody).
    Identify {
        #[command(flatten)]
        data: DataArgs,
        /// The photo (one face).
        photo: PathBuf,
        /// Similarity at and above which it is a match.
        #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
        threshold: f32,
        /// Where the models are.
        #[arg(long)]
        models: Option<PathBuf>,
    },
    /// Everyone enrolled (names, lists, template counts).
    List {
        #[command(flatten)]
        data: DataArgs,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Erase a person's biometric data: their face templates and their enrolment.
    Erase {
        #[command(flatten)]
        data: DataArgs,
        /// Their name.
        #[arg(long)]
        name: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// YuNet and MobileFaceNet, loaded and verified, each on `threads` cores.
pub fn load_models(assets: &Assets, threads: usize) -> anyhow::Result<FaceModels> {
    let (p, b) = assets.load(&YUNET)?;
    let detector = FaceDetector::new(&assets.runtime, &p, &b, threads)?;
    let (p, b) = assets.load(&MOBILEFACENET)?;
    let embedder = FaceEmbedder::new(&assets.runtime, &p, &b, threads)?;
    Ok(FaceModels { detector, embedder })
}

/// The face models as the commands use them.
trait FaceModelsCli: Sized {
    fn for_cli(models: Option<PathBuf>) -> anyhow::Result<Self>;
    fn embed_photo(&mut self, photo: &Path) -> anyhow::Result<Vec<f32>>;
}

impl FaceModelsCli for FaceModels {
    /// For the command line: every core, the error pointing at the documentation.
    fn for_cli(models: Option<PathBuf>) -> anyhow::Result<FaceModels> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        load_models(&Assets::open(models)?, threads)
            .context("face recognition needs its models (see docs/security.md, Faces)")
    }

    /// The embedding of the one face in `photo`, or an error saying what is wrong with the photo.
    fn embed_photo(&mut self, photo: &Path) -> anyhow::Result<Vec<f32>> {
        embed_one_face(self, photo, &photo.display().to_string())
    }
}

/// The embedding of the one face in the image file `file` (called `what` in errors), or an error saying
/// what is wrong with it (`vigil_pipeline::faces::photo_template`'s rules).
fn embed_one_face(m: &mut FaceModels, file: &Path, what: &str) -> anyhow::Result<Vec<f32>> {
    let image: BgrImage = vigil_media::image_file::read_bgr(file)
        .with_context(|| format!("{what} is not a readable JPEG or PNG image"))?;
    Ok(vigil_pipeline::faces::photo_template(m, image, what)?)
}

/// The server's face enroller (`POST /api/faces/people`): the face models loaded on first use (one
/// core), each photo checked as `vigil face enrol` checks its photos.
pub struct ApiEnroller {
    models_dir: Option<PathBuf>,
    models: std::sync::OnceLock<Result<std::sync::Mutex<FaceModels>, String>>,
}

impl ApiEnroller {
    /// An enroller with the models of `models_dir` (default: the shared models, then the cache).
    pub fn new(models_dir: Option<PathBuf>) -> ApiEnroller {
        ApiEnroller {
            models_dir,
            models: std::sync::OnceLock::new(),
        }
    }
}

impl vigil_server::FaceEnroller for ApiEnroller {
    fn template(&self, photo: &[u8]) -> Result<Vec<f32>, String> {
        let models = self
            .models
            .get_or_init(|| {
                Assets::open(self.models_dir.clone())
                    .and_then(|a| load_models(&a, 1))
                    .map(std::sync::Mutex::new)
                    .map_err(|e| format!("the face models: {e:#}"))
            })
            .as_ref()
            .map_err(Clone::clone)?;
        let mut m = models.lock().unwrap_or_else(|p| p.into_inner());
        vigil_pipeline::faces::photo_bytes_template(&mut m, photo, "the photo")
            .map_err(|e| e.to_string())
    }
}

/// Deletes the `face_recognized` events naming `person` from the configuration's event store (when there
/// is one and `vigil run` does not hold it: then the Privacy page's erasure does it).
fn erase_matches(data: &DataArgs, person: &str) -> Result<(usize, usize), String> {
    if data.data.is_some() {
        return Ok((0, 0));
    }
    let config = crate::cmd::config::load_or_report(&data.config).map_err(|e| format!("{e:#}"))?;
    let Some(mut store_config) = config.store_config() else {
        return Ok((0, 0));
    };
    if !store_config.db.exists() {
        return Ok((0, 0));
    }
    if vigil_store::Store::in_use(&store_config.db) {
        return Err(
            "vigil run holds the event store: erase them from the Privacy page, or again with it stopped"
                .into(),
        );
    }
    store_config.background_retention = false;
    let (store, _) = vigil_store::Store::open(store_config).map_err(|e| e.to_string())?;
    let out = store.erase_face_matches(person).map_err(|e| e.to_string());
    store.close();
    out
}

fn open_book(data: &DataArgs) -> anyhow::Result<(FaceBook, PathBuf)> {
    let dir = data.dir()?;
    let keys = match &data.data {
        Some(_) => vigil_keys::KeyStore::open(&dir, &vigil_keys::MasterSource::Generated)?,
        None => {
            let config = crate::cmd::config::load_or_report(&data.config)?;
            crate::cmd::keys::open_key_store(&config)?
        }
    };
    let book = FaceBook::open(&dir, &keys)
        .with_context(|| format!("opening the identity database in {}", dir.display()))?;
    Ok((book, dir))
}

fn audit(data: &DataArgs, action: &str, target: &str, detail: &str) -> anyhow::Result<i64> {
    crate::cmd::user::open(data)?
        .audit(&crate::cmd::user::who(), "local", action, target, detail)
        .context("writing the audit log")
}

/// Runs `vigil face ...`.
pub fn run(command: FaceCommand) -> anyhow::Result<()> {
    match command {
        FaceCommand::Match {
            a,
            b,
            threshold,
            models,
        } => {
            let mut m = FaceModels::for_cli(models)?;
            let (ea, eb) = (m.embed_photo(&a)?, m.embed_photo(&b)?);
            let similarity = cosine(&ea, &eb);
            let out = serde_json::json!({
                "similarity": (similarity * 1000.0).round() / 1000.0,
                "same": similarity >= threshold,
                "threshold": threshold,
            });
            println!("{out}");
            Ok(())
        }
        FaceCommand::Enrol {
            data,
            name,
            list,
            photos,
            models,
        } => {
            let mut m = FaceModels::for_cli(models)?;
            let mut templates = Vec::new();
            for p in &photos {
                let source = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                templates.push((m.embed_photo(p)?, source));
            }
            let (mut book, _) = open_book(&data)?;
            let who = crate::cmd::user::who();
            book.enrol(&name, &list, &who, &templates)?;
            let entry = audit(
                &data,
                "face.enrol",
                name.trim(),
                &format!("list {list}, {} template(s)", templates.len()),
            )?;
            println!(
                "enrolled {} on {list} with {} template(s) (sealed at rest), audit entry {entry}",
                name.trim(),
                templates.len()
            );
            eprintln!("note: {}", TRAINING_CAVEAT);
            Ok(())
        }
        FaceCommand::Identify {
            data,
            photo,
            threshold,
            models,
        } => {
            let mut m = FaceModels::for_cli(models)?;
            let e = m.embed_photo(&photo)?;
            let (book, _) = open_book(&data)?;
            let found = book.best_match(&e, threshold)?;
            audit(
                &data,
                "face.search",
                found.as_ref().map_or("-", |f| f.name.as_str()),
                &format!(
                    "a photo searched against the watchlists: {}",
                    found
                        .as_ref()
                        .map_or("no match".into(), |f| format!("match {:.3}", f.score))
                ),
            )?;
            println!(
                "{}",
                serde_json::json!({ "match": found, "threshold": threshold })
            );
            Ok(())
        }
        FaceCommand::List { data, json } => {
            let (book, _) = open_book(&data)?;
            let people = book.people()?;
            audit(
                &data,
                "face.view",
                "watchlists",
                &format!("{} enrolled people listed", people.len()),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&people)?);
                return Ok(());
            }
            if people.is_empty() {
                println!("nobody is enrolled");
            }
            for p in &people {
                println!(
                    "{:<24} {:<16} {} template(s), enrolled {} by {}",
                    p.name,
                    p.list,
                    p.templates,
                    jiff::Timestamp::from_millisecond(p.enrolled)
                        .map_or(p.enrolled.to_string(), |t| format!("{t:.0}")),
                    p.by
                );
            }
            Ok(())
        }
        FaceCommand::Erase { data, name, json } => {
            let (mut book, dir) = open_book(&data)?;
            let gone = book.erase(&name)?;
            let matches = erase_matches(&data, &gone.name);
            let entry = audit(
                &data,
                "face.erase",
                &gone.name,
                &serde_json::json!({"list": gone.list, "templates": gone.templates,
                                    "matches": matches.as_ref().ok().map(|m| m.0)})
                .to_string(),
            )?;
            if json {
                let mut v = serde_json::to_value(&gone)?;
                v["audit_entry"] = entry.into();
                v["matches"] = matches.as_ref().ok().map(|m| m.0).into();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            println!(
                "biometric data of {} erased: {} face template(s) and the enrolment on {} deleted from {} \
                 (pages overwritten), audit entry {entry}",
                gone.name,
                gone.templates,
                gone.list,
                dir.join(vigil_identity::DB_FILE).display()
            );
            match matches {
                Ok((n, _)) => println!("{n} face_recognized event(s) naming them deleted"),
                Err(why) => eprintln!("their face_recognized events were not deleted: {why}"),
            }
            Ok(())
        }
    }
}
