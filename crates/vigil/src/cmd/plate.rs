//! `vigil plate read IMAGE`: finds the licence plate in a picture (LPD-YuNet, else PP-OCR's text detector)
//! and reads it (PP-OCRv6 tiny), printing JSON with `text` (letters and digits, upper case), `raw` (as
//! recognised), `confidence`, `corners` and `found_by`. A picture without a readable plate is an error.
//!
//! `vigil plate search QUERY --config vigil.toml [--match exact|prefix|fuzzy] [--camera C]`: the stored
//! `plate_read` events whose plate answers the query, newest first, as JSON lines (audited
//! `plate.search`, like the API's `GET /api/plates`).

use crate::models::Assets;
use anyhow::{Context, bail};
use std::path::PathBuf;
use vigil_identity::PlateMatch;
use vigil_vision::model::{LPD_YUNET, PPOCR_DET, PPOCR_DICT, PPOCR_REC};
use vigil_vision::plate_ocr::{PlateOcr, PlateReader, TextFinder};
use vigil_vision::plates::PlateDetector;

/// `vigil plate` subcommands.
#[derive(clap::Subcommand)]
pub enum PlateCommand {
    /// Read the licence plate in a picture (JPEG or PNG): JSON with `text` and `confidence`.
    Read {
        /// The picture.
        image: PathBuf,
        /// Where the models are (default: the shared models, then the download cache).
        #[arg(long)]
        models: Option<PathBuf>,
    },
    /// Find the plates read by the analysis: JSON lines of `plate_read` events, newest first.
    Search {
        /// The plate, or its beginning (separators and case do not matter; look-alikes such as O and 0
        /// are the same).
        query: String,
        /// The configuration (its event store and audit log).
        #[arg(long)]
        config: PathBuf,
        /// `exact`, `prefix`, or `fuzzy` (one character inserted, deleted or changed).
        #[arg(long = "match", value_enum, default_value_t = MatchArg::Exact)]
        how: MatchArg,
        /// Only this camera.
        #[arg(long)]
        camera: Option<String>,
        /// Matches at most.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

/// How `vigil plate search` compares plates.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum MatchArg {
    /// The same plate.
    Exact,
    /// Plates starting with the query.
    Prefix,
    /// The same plate or one character off.
    Fuzzy,
}

impl From<MatchArg> for PlateMatch {
    fn from(m: MatchArg) -> Self {
        match m {
            MatchArg::Exact => PlateMatch::Exact,
            MatchArg::Prefix => PlateMatch::Prefix,
            MatchArg::Fuzzy => PlateMatch::Fuzzy,
        }
    }
}

/// Loads the plate detector, the text detector and the recogniser from `assets`, on `threads` cores.
pub fn load(assets: &Assets, threads: usize) -> anyhow::Result<PlateOcr> {
    let runtime = &assets.runtime;
    let (p, b) = assets.load(&LPD_YUNET)?;
    let plates = PlateDetector::new(runtime, &p, &b, threads)?;
    let (p, b) = assets.load(&PPOCR_DET)?;
    let lines = TextFinder::new(runtime, &p, &b, threads)?;
    let (_, dict) = assets.load(&PPOCR_DICT)?;
    let dict = String::from_utf8(dict).context("the OCR dictionary is not UTF-8")?;
    let (p, b) = assets.load(&PPOCR_REC)?;
    let reader = PlateReader::new(runtime, &p, &b, &dict, threads)?;
    Ok(PlateOcr {
        plates,
        lines,
        reader,
    })
}

/// Runs `vigil plate ...`.
pub fn run(command: PlateCommand) -> anyhow::Result<()> {
    match command {
        PlateCommand::Read { image, models } => {
            let picture = vigil_media::image_file::read_bgr(&image).with_context(|| {
                format!("{} is not a readable JPEG or PNG image", image.display())
            })?;
            if picture.width() < 16 || picture.height() < 8 {
                bail!(
                    "{} is {}x{} pixels: too small to hold a plate",
                    image.display(),
                    picture.width(),
                    picture.height()
                );
            }
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let mut ocr = load(&Assets::open(models)?, threads)?;
            let Some(read) = ocr.read_image(&picture)? else {
                bail!("no licence plate found in {}", image.display());
            };
            println!("{}", serde_json::to_string(&read)?);
            Ok(())
        }
        PlateCommand::Search {
            query,
            config,
            how,
            camera,
            limit,
        } => search(&query, &config, how.into(), camera, limit),
    }
}

/// `vigil plate search`.
fn search(
    query: &str,
    config_path: &std::path::Path,
    how: PlateMatch,
    camera: Option<String>,
    limit: usize,
) -> anyhow::Result<()> {
    if vigil_identity::plates::canonical(query).is_empty() {
        bail!("{query:?} has no letter or digit: give a plate or its beginning");
    }
    let config = crate::cmd::config::load_or_report(config_path)?;
    let store = config
        .store_config()
        .context("this configuration records nothing, so it has no events")?;
    let reader = vigil_store::EventReader::open(&store.db)
        .with_context(|| format!("opening the event store {}", store.db.display()))?;
    let data = crate::cmd::user::DataArgs {
        data: Some(config.data_dir.clone()),
        config: config_path.to_path_buf(),
    };
    crate::cmd::user::open(&data)?
        .audit(
            &crate::cmd::user::who(),
            "local",
            "plate.search",
            "plates",
            &format!("{query:?} from the command line"),
        )
        .context("writing the audit log")?;
    let found = reader.search_plates(&vigil_store::PlateQuery {
        plate: query.to_string(),
        how,
        cameras: camera.map(|c| vec![c]),
        from_ms: None,
        to_ms: None,
        limit: limit.max(1),
        max_scan: usize::MAX,
    })?;
    for e in &found.events {
        println!("{}", serde_json::to_string(&e.event)?);
    }
    eprintln!(
        "{} plate event(s) found among {} looked at",
        found.events.len(),
        found.scanned
    );
    Ok(())
}
