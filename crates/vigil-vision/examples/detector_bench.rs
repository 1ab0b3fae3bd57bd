//! Detector speed: our per-stage timings against a bare ONNX Runtime session on the same model, threads and
//! input, interleaved run by run so machine noise hits both alike.
//!
//! ```text
//! source dev/install-deps
//! cargo run --release -p vigil-vision --example detector_bench -- [--spin] [MODEL] [RUNS] [THREADS...]
//! ```
//! Defaults: `yolox-nano`, 40 runs, threads 1 and 2, intra-op thread spinning off (the
//! detector's default; `--spin` turns it on for both sides). Frame: MOT17-09
//! frame 1 (1920x1080) from `../shared`.

use std::path::Path;
use std::time::Duration;
use vigil_vision::detector::{BareSession, Detector, DetectorConfig, StageTimings};
use vigil_vision::model::ModelStore;
use vigil_vision::runtime::Runtime;

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let spin = args.iter().any(|a| a == "--spin");
    args.retain(|a| a != "--spin");
    let model_name = args.first().cloned().unwrap_or_else(|| "yolox-nano".into());
    let runs: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(40);
    let threads: Vec<usize> = if args.len() > 2 {
        args[2..]
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?
    } else {
        vec![1, 2]
    };
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    let frame = shared.join("footage/mot17-mini/train/MOT17-09-FRCNN/img1/000001.jpg");
    let image = vigil_media::image_file::read_bgr(&frame)?;
    let runtime = Runtime::init(None)?;
    let model = ModelStore::new(vec![shared.join("models")], None).load_by_name(&model_name)?;

    println!(
        "{model_name} on {}x{}, {runs} runs, spinning {spin}, medians in ms",
        image.width(),
        image.height()
    );
    println!(
        "{:>7} {:>10} {:>10} {:>11} {:>10} {:>10} {:>12}",
        "threads", "preproc", "inference", "postproc", "total", "bare ORT", "ours/bare"
    );
    let mut rows = Vec::new();
    for &t in &threads {
        let config = DetectorConfig {
            threads: Some(t),
            intra_op_spinning: spin,
            ..DetectorConfig::default()
        };
        let mut det = Detector::new(&runtime, &model, config.clone())?;
        let mut bare = BareSession::new(&runtime, &model, &config)?;
        for _ in 0..3 {
            det.detect(&image)?;
            bare.run(det.input())?;
        }
        let mut stages: Vec<StageTimings> = Vec::with_capacity(runs);
        let mut bare_times = Vec::with_capacity(runs);
        for _ in 0..runs {
            stages.push(det.detect(&image)?.timings);
            bare_times.push(bare.run(det.input())?);
        }
        let pick = |f: fn(&StageTimings) -> Duration| median_ms(stages.iter().map(f).collect());
        let (pre, inf, post, total) = (
            pick(|s| s.preprocess),
            pick(|s| s.inference),
            pick(|s| s.postprocess),
            pick(|s| s.total()),
        );
        let bare_ms = median_ms(bare_times);
        println!(
            "{t:>7} {pre:>10.2} {inf:>10.2} {post:>11.2} {total:>10.2} {bare_ms:>10.2} {:>12.3}",
            inf / bare_ms
        );
        rows.push(format!(
            "{{\"threads\":{t},\"preprocess_ms\":{pre:.3},\"inference_ms\":{inf:.3},\"postprocess_ms\":{post:.3},\"total_ms\":{total:.3},\"bare_ort_ms\":{bare_ms:.3},\"inference_over_bare\":{:.4}}}",
            inf / bare_ms
        ));
    }
    println!(
        "{{\"bench\":\"detector\",\"model\":\"{model_name}\",\"runs\":{runs},\"spinning\":{spin},\"rows\":[{}]}}",
        rows.join(",")
    );
    Ok(())
}
