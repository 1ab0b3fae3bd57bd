//! The shared detector scheduler with the real detector on real frames: an overloaded pool gives every
//! camera the same rate (none starved, whatever its number of regions), says so in its status, batches frames
//! of different cameras into one call, and a camera that stops sending delays the others by at most the
//! batch deadline.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use vigil_core::{BBox, BgrImage};
use vigil_pipeline::{DetectorPool, PoolOptions};
use vigil_vision::detector::{Detector, DetectorConfig};
use vigil_vision::model::ModelStore;
use vigil_vision::runtime::Runtime;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn config(max_batch: usize) -> DetectorConfig {
    DetectorConfig {
        threads: Some(1),
        score_threshold: 0.2,
        max_batch,
        ..DetectorConfig::default()
    }
}

/// A pool of the built-in model `name` with these settings plus a real frame, or `None` after a visible
/// SKIP.
fn pool(
    name: &str,
    max_batch: usize,
    options: PoolOptions,
) -> Option<(Arc<DetectorPool>, Arc<BgrImage>, Runtime)> {
    let models = shared().join("models");
    let image = shared().join("footage/mot17-mini/train/MOT17-09-FRCNN/img1/000001.jpg");
    if !models.join("yolox_nano_416.onnx").is_file() || !image.is_file() {
        eprintln!("SKIP: ../shared models or footage absent");
        return None;
    }
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        eprintln!("SKIP: ORT_DYLIB_PATH not set (source dev/install-deps)");
        return None;
    }
    let runtime = Runtime::init(None).unwrap();
    let model = ModelStore::new(vec![models], None)
        .load_by_name(name)
        .unwrap();
    let pool = DetectorPool::with_options(&runtime, &model, config(max_batch), options).unwrap();
    assert_eq!(pool.max_batch(), max_batch);
    let image = vigil_media::image_file::read_bgr(&image).unwrap();
    Some((Arc::new(pool), Arc::new(image), runtime))
}

/// `n` (up to 18) squares of 416 px inside the 1920x1080 frame, six per row.
fn squares(n: usize) -> Vec<BBox> {
    (0..n)
        .map(|i| {
            let (x, y) = (
                100.0 + 300.0 * (i % 6) as f32,
                100.0 + 250.0 * (i / 6) as f32,
            );
            BBox::new(x, y, x + 416.0, y + 416.0)
        })
        .collect()
}

#[test]
fn an_overloaded_pool_gives_every_camera_the_same_rate() {
    let options = PoolOptions {
        workers: 1,
        batch_wait: Duration::from_millis(2),
    };
    // The small person detector (192 px input), so that a few seconds hold many rounds.
    let Some((pool, image, _rt)) = pool("person-192", 4, options) else {
        return;
    };
    // Six cameras that each want 50 detector frames per second (far more than one detector thread runs),
    // with 1, 2 or 3 regions per frame.
    let cameras = 6;
    let run_for = Duration::from_secs(6);
    let start = Arc::new(Barrier::new(cameras));
    let handles: Vec<_> = (0..cameras)
        .map(|i| {
            let (pool, image, start) = (pool.clone(), image.clone(), start.clone());
            std::thread::spawn(move || {
                let mut slot = pool.camera(&format!("cam{i}"), 50.0);
                let regions = squares(1 + i % 3);
                start.wait();
                let t = Instant::now();
                let mut frames = 0u32;
                while t.elapsed() < run_for {
                    slot.detect_regions(&image, &regions).unwrap();
                    slot.record_analysed();
                    frames += 1;
                }
                // Every camera still has its slot while the status is read.
                start.wait();
                let status = pool.status();
                start.wait();
                (frames, status)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let frames: Vec<u32> = results.iter().map(|r| r.0).collect();
    let (min, max) = (*frames.iter().min().unwrap(), *frames.iter().max().unwrap());
    eprintln!("detector frames per camera in {run_for:?}: {frames:?}");
    assert!(min >= 5, "the pool hardly ran: {frames:?}");
    // Start-time fair queueing serves each waiting camera once per round: counts differ by at most a
    // round or two (a camera may finish its last frame just after the clock ran out) and 15%.
    assert!(
        max - min <= 2.max(max * 15 / 100),
        "cameras were not served alike: {frames:?}"
    );

    // The status a camera saw at the end: everyone degraded to the same lower rate, and says so.
    let status = &results[0].1;
    assert_eq!(status.cameras.len(), cameras);
    let fair = status.fair_fps.expect("a common lower rate");
    for c in &status.cameras {
        assert!(c.degraded, "{c:?}");
        assert!(
            (c.analysed_fps - fair).abs() <= fair * 0.25 + 0.2,
            "{c:?} vs fair {fair}"
        );
        let health = c.health().unwrap();
        assert!(
            health.starts_with("analysis degraded: ") && health.ends_with(" fps of 50"),
            "{health}"
        );
    }
    // Cameras ran together: fewer calls than frames.
    assert!(status.calls < status.frames, "{status:?}");
}

#[test]
fn frames_of_two_cameras_run_in_one_call_and_give_their_own_detections() {
    let options = PoolOptions {
        workers: 1,
        batch_wait: Duration::ZERO,
    };
    let Some((pool, image, rt)) = pool("yolox-nano", 8, options) else {
        return;
    };
    let model = ModelStore::new(vec![shared().join("models")], None)
        .load_by_name("yolox-nano")
        .unwrap();
    let mut reference = Detector::new(&rt, &model, config(1)).unwrap();
    let until = |what: &str, f: &dyn Fn(&vigil_pipeline::PoolStatus) -> bool| {
        let t = Instant::now();
        while !f(&pool.status()) {
            assert!(t.elapsed() < Duration::from_secs(30), "never {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    };

    // Camera c keeps the detector busy with 16 regions (two calls of 8) while a and b queue theirs.
    let spawn = |name: &str, n: usize| {
        let mut slot = pool.camera(name, 5.0);
        let image = image.clone();
        std::thread::spawn(move || slot.detect_regions(&image, &squares(n)).unwrap())
    };
    let c = spawn("c", 16);
    until("running", &|s| s.running == 1);
    let a = spawn("a", 2);
    let b = spawn("b", 3);
    until("both queued", &|s| s.queued == 2);
    let (fa, fb, fc) = (a.join().unwrap(), b.join().unwrap(), c.join().unwrap());
    let after = pool.status();
    assert_eq!((after.frames, after.images), (3, 21));
    assert_eq!(after.calls, 3, "{after:?}");
    assert_eq!(fc.timings.calls, 2);
    assert_eq!(fa.timings.calls, 1);
    assert_eq!(fb.timings.calls, 1);

    for (found, n) in [(fa, 2), (fb, 3)] {
        let own = reference.detect_regions(&image, &squares(n)).unwrap();
        assert_eq!(found.detections.len(), own.detections.len());
        for (x, y) in found.detections.iter().zip(&own.detections) {
            assert_eq!(x.class_id, y.class_id);
            assert!((x.score - y.score).abs() < 1e-4);
            assert!(x.bbox.iou(&y.bbox) > 0.999, "{x:?} {y:?}");
        }
    }
}

#[test]
fn a_camera_that_stops_sending_delays_the_others_by_the_batch_deadline_at_most() {
    let options = PoolOptions {
        workers: 1,
        batch_wait: Duration::from_millis(400),
    };
    let Some((pool, image, _rt)) = pool("yolox-nano", 8, options) else {
        return;
    };
    let mut a = pool.camera("a", 5.0);
    let mut silent = pool.camera("silent", 5.0);
    // The silent camera sends once, then never again (its thread hangs, its stream died...).
    silent.detect_regions(&image, &squares(1)).unwrap();
    let t = Instant::now();
    let mut waits = Vec::new();
    for _ in 0..3 {
        a.detect_regions(&image, &squares(1)).unwrap();
        waits.push(a.last_wait());
    }
    let total = t.elapsed();
    eprintln!("queue waits {waits:?}, total {total:?}");
    // The first frame waits for the silent camera until the deadline (it sent less than a second ago)...
    assert!(waits[0] >= Duration::from_millis(350), "{waits:?}");
    assert!(waits[0] < Duration::from_millis(1500), "{waits:?}");
    // ...and no frame ever waits much past it, nor does the run stall.
    assert!(
        waits.iter().all(|w| *w < Duration::from_millis(1500)),
        "{waits:?}"
    );
    assert!(total < Duration::from_secs(10), "{total:?}");
    // Once the silent camera has been quiet for a second it is no longer waited for.
    std::thread::sleep(Duration::from_millis(1100));
    a.detect_regions(&image, &squares(1)).unwrap();
    assert!(
        a.last_wait() < Duration::from_millis(300),
        "{:?}",
        a.last_wait()
    );
    // A camera whose slot is gone is not waited for either, and the pool keeps serving.
    drop(silent);
    a.detect_regions(&image, &squares(2)).unwrap();
    assert_eq!(pool.status().cameras.len(), 1);
}
