//! `vigil plate read IMAGE`: finds the licence plate in a picture (LPD-YuNet, else PP-OCR's text detector)
//! and reads it (PP-OCRv6 tiny), printing JSON with `text` (letters and digits, upper case), `raw` (as
//! recognised), `confidence`, `corners` and `found_by`. A picture without a readable plate is an error.

use crate::models::Assets;
use anyhow::{Context, bail};
use std::path::PathBuf;
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
    }
}
