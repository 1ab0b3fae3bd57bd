//! Per-region cost of one ONNX Runtime call at batch 1, 4 and 8: what batching regions across cameras buys.
//!
//! ```text
//! source dev/install-deps
//! cargo run --release -p vigil-vision --example batch_cost -- [MODEL] [ROUNDS] [THREADS...]
//! ```
//! Defaults: `yolox-nano`, 15 rounds, threads 1 and 2. The regions are eight 416 px squares of a real frame
//! (MOT17-09 frame 1, 1920x1080, from `../shared`), letterboxed once. Each round runs, interleaved so that
//! machine noise hits all alike: the eight regions one by one on the unmodified model (a bare session, the
//! reference), one by one on the model with the dynamic batch axis, and as batches of 4 and of 8. Printed:
//! median milliseconds per region of the `run` call alone and the ratio to batch 1 on the unmodified model.

use std::path::Path;
use std::time::Duration;
use vigil_core::BBox;
use vigil_vision::detector::{BareSession, Detector, DetectorConfig};
use vigil_vision::model::ModelStore;
use vigil_vision::runtime::Runtime;

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model_name = args.first().cloned().unwrap_or_else(|| "yolox-nano".into());
    let rounds: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(15);
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
    let regions: Vec<BBox> = (0..8)
        .map(|i| {
            let (x, y) = (
                100.0 + 400.0 * (i % 4) as f32,
                100.0 + 500.0 * (i / 4) as f32,
            );
            BBox::new(x, y, x + 416.0, y + 416.0)
        })
        .collect();

    println!(
        "{model_name}: {rounds} rounds of 8 regions; median ms per region of the run call (ratio to batch 1 on the unmodified model)"
    );
    println!(
        "{:>7} {:>16} {:>16} {:>16} {:>16}",
        "threads", "batch 1 (orig.)", "batch 1", "batch 4", "batch 8"
    );
    for &t in &threads {
        let config = DetectorConfig {
            threads: Some(t),
            max_batch: 8,
            ..DetectorConfig::default()
        };
        let mut det = Detector::new(&runtime, &model, config.clone())?;
        if det.max_batch() != 8 {
            return Err(format!("{model_name} could not be given a batch axis").into());
        }
        let mut bare = BareSession::new(&runtime, &model, &config)?;
        let mut prep = det.preparer();
        let mut frame = prep.regions(&image, &regions)?;
        // The letterboxed regions, as the detector feeds them.
        let mut run =
            |det: &mut Detector, batch: usize| -> Result<Duration, Box<dyn std::error::Error>> {
                det.set_max_batch(batch);
                let before = frame.timings().inference;
                det.run_frames(&mut [&mut frame])?;
                Ok(frame.timings().inference - before)
            };
        let first = {
            det.set_max_batch(1);
            det.detect_regions(&image, &regions[..1])?;
            det.input().to_vec()
        };
        let (mut orig, mut b1, mut b4, mut b8) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds + 1 {
            let o: Duration = (0..8)
                .map(|_| bare.run(&first))
                .sum::<Result<Duration, _>>()?;
            let one = run(&mut det, 1)?;
            let four = run(&mut det, 4)?;
            let eight = run(&mut det, 8)?;
            if round > 0 {
                // The first round warms every path up.
                orig.push(o / 8);
                b1.push(one / 8);
                b4.push(four / 8);
                b8.push(eight / 8);
            }
        }
        let base = median_ms(orig.clone());
        let cell = |v: Vec<Duration>| {
            let m = median_ms(v);
            format!("{m:.2} ({:.3})", m / base.max(1e-9))
        };
        println!(
            "{t:>7} {:>16} {:>16} {:>16} {:>16}",
            cell(orig),
            cell(b1),
            cell(b4),
            cell(b8)
        );
    }
    Ok(())
}
