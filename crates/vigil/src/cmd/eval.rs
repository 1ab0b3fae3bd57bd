//! `vigil eval …`: accuracy against ground truth.

pub mod anomaly;
pub mod colours;
pub mod count;
pub mod detect;
pub mod motion;
pub mod night;
pub mod track;

use clap::Subcommand;

/// The evaluations.
#[derive(Subcommand)]
pub enum EvalCommand {
    /// Person AP50 of the detector on MOT17 frames (full-frame and region/tiled modes).
    Detect(detect::Args),
    /// People-counting error per grid of tiles on MOT17 frames, the threshold cross-validated.
    Count(count::Args),
    /// Frame-level AUC of the learned normal on CUHK Avenue (learned on its normal training videos).
    Anomaly(anomaly::Args),
    /// Tracker MOTA / IDF1 / ID switches on MOTChallenge public detections.
    Track(track::Args),
    /// Motion-mask precision / recall / F1 on CDnet sequences.
    Motion(motion::Args),
    /// Person AP50 by day, at night (a documented night model) and at night brightened.
    Night(night::Args),
    /// Clothing and vehicle colour attributes against hand labels on the shared footage.
    Colours(colours::Args),
}

/// Runs one evaluation.
pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Detect(a) => detect::run(a),
        EvalCommand::Count(a) => count::run(a),
        EvalCommand::Anomaly(a) => anomaly::run(a),
        EvalCommand::Track(a) => track::run(a),
        EvalCommand::Motion(a) => motion::run(a),
        EvalCommand::Night(a) => night::run(a),
        EvalCommand::Colours(a) => colours::run(a),
    }
}
