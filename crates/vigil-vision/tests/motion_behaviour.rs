//! Behaviour of the motion detector on synthetic scenes with known truth: a textured background with
//! sensor noise, moving objects, lighting and exposure jumps, camera shake and bad input.

use vigil_core::{BBox, GrayImage};
use vigil_vision::motion::{MotionConfig, MotionDetector, MotionError, MotionOutput};

/// Deterministic noise source (xorshift) with a roughly Gaussian sum of uniforms.
struct Noise(u32);

impl Noise {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 >> 8) as f32 / (1u32 << 24) as f32
    }

    /// Zero-mean noise with standard deviation `sigma`.
    fn gauss(&mut self, sigma: f32) -> f32 {
        let s: f32 = (0..4).map(|_| self.uniform()).sum();
        (s - 2.0) * sigma * 1.732
    }
}

/// The background at scene point (x, y): smooth shading, stripes and blocks (edges for the shake test).
fn background(x: f32, y: f32) -> f32 {
    let shade = 60.0 + 0.25 * x + 0.3 * y;
    let stripes = if (x / 14.0).floor() as i32 % 2 == 0 {
        25.0
    } else {
        0.0
    };
    let blocks = if ((x / 40.0).floor() + (y / 30.0).floor()) as i32 % 2 == 0 {
        20.0
    } else {
        0.0
    };
    shade + stripes + blocks
}

/// Renders one frame: the background moved by `offset` (camera shake), objects drawn as flat
/// rectangles with their gray value, `light(v, x, y)` applied, then noise.
fn render(
    w: u32,
    h: u32,
    offset: (f32, f32),
    objects: &[(BBox, f32)],
    light: impl Fn(f32, f32, f32) -> f32,
    noise: &mut Noise,
) -> GrayImage {
    let mut data = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32, y as f32);
            let mut v = background(fx - offset.0, fy - offset.1);
            for (b, value) in objects {
                if fx >= b.x1 && fx < b.x2 && fy >= b.y1 && fy < b.y2 {
                    v = *value;
                }
            }
            data.push(
                (light(v, fx, fy) + noise.gauss(3.0))
                    .round()
                    .clamp(0.0, 255.0) as u8,
            );
        }
    }
    GrayImage::from_vec(w, h, data).unwrap()
}

fn still_frame(noise: &mut Noise) -> GrayImage {
    render(320, 180, (0.0, 0.0), &[], |v, _, _| v, noise)
}

fn detector() -> MotionDetector {
    MotionDetector::new(MotionConfig::default()).unwrap()
}

fn warm_up(det: &mut MotionDetector, noise: &mut Noise, frames: usize) {
    for _ in 0..frames {
        det.update(&still_frame(noise)).unwrap();
    }
}

#[test]
fn a_moving_rectangle_gives_one_box_around_it() {
    let mut noise = Noise(7);
    let mut det = detector();
    warm_up(&mut det, &mut noise, 20);
    for t in 0..30 {
        let truth = BBox::from_xywh(30.0 + 6.0 * t as f32, 70.0, 40.0, 30.0);
        let frame = render(
            320,
            180,
            (0.0, 0.0),
            &[(truth, 20.0)],
            |v, _, _| v,
            &mut noise,
        );
        let out = det.update(&frame).unwrap();
        assert!(!out.recalibrated, "frame {t}");
        if t < 2 {
            continue;
        }
        assert_eq!(out.boxes.len(), 1, "frame {t}: {:?}", out.boxes);
        let iou = out.boxes[0].iou(&truth);
        assert!(
            iou > 0.8,
            "frame {t}: box {:?} vs {truth:?}, IoU {iou:.2}",
            out.boxes[0]
        );
        // the mask covers the object and little else
        let inside = mask_pixels_in(&out, &truth);
        let total = out.mask.data().iter().filter(|&&v| v == 255).count();
        assert!(
            inside as f32 >= 0.9 * truth.area(),
            "frame {t}: {inside} px inside"
        );
        assert!(
            total - inside < 100,
            "frame {t}: {} px outside the object",
            total - inside
        );
        assert!(out.mask.data().iter().all(|&v| v == 0 || v == 255));
    }
}

fn mask_pixels_in(out: &MotionOutput, b: &BBox) -> usize {
    let mut n = 0;
    for y in b.y1 as u32..b.y2 as u32 {
        for x in b.x1 as u32..b.x2 as u32 {
            n += usize::from(out.mask.get(x, y) == 255);
        }
    }
    n
}

#[test]
fn a_static_scene_with_sensor_noise_gives_no_boxes() {
    let mut noise = Noise(11);
    let mut det = detector();
    for t in 0..60 {
        let out = det.update(&still_frame(&mut noise)).unwrap();
        assert!(out.boxes.is_empty(), "frame {t}: {:?}", out.boxes);
        assert!(
            out.changed_fraction < 0.001,
            "frame {t}: {}",
            out.changed_fraction
        );
        assert!(!out.recalibrated);
    }
}

#[test]
fn a_global_light_change_is_compensated_without_losing_the_model() {
    let mut noise = Noise(3);
    let mut det = detector();
    warm_up(&mut det, &mut noise, 30);
    // ambient light added and contrast lowered over the whole frame: brighter = 0.7 * before + 90
    let lit = |v: f32, _: f32, _: f32| 90.0 + 0.7 * v;
    for t in 0..10 {
        let out = det
            .update(&render(320, 180, (0.0, 0.0), &[], lit, &mut noise))
            .unwrap();
        assert!(!out.recalibrated, "frame {t}");
        assert!(out.boxes.is_empty(), "frame {t}: {:?}", out.boxes);
        assert!(
            (out.exposure_gain - 0.7).abs() < 0.03,
            "gain {}",
            out.exposure_gain
        );
        assert!(
            (out.exposure_offset - 90.0).abs() < 4.0,
            "offset {}",
            out.exposure_offset
        );
    }
}

/// Lights switched in a way no global map explains: a lamp ramp over the whole frame, and a lamp that
/// lights only the right half (the left half does not change at all).
#[test]
fn lights_switching_recalibrates_instead_of_flooding() {
    let ramp = |v: f32, x: f32, y: f32| v * (0.5 + 1.2 * x / 320.0) + 40.0 * (y / 180.0);
    let half = |v: f32, x: f32, _: f32| if x >= 160.0 { 1.6 * v } else { v };
    for (name, lamp) in [
        ("ramp", &ramp as &dyn Fn(f32, f32, f32) -> f32),
        ("half", &half),
    ] {
        let mut noise = Noise(3);
        let mut det = detector();
        warm_up(&mut det, &mut noise, 30);
        let mut recalibrated_at = None;
        for t in 0..30 {
            let out = det
                .update(&render(320, 180, (0.0, 0.0), &[], lamp, &mut noise))
                .unwrap();
            if out.recalibrated && recalibrated_at.is_none() {
                recalibrated_at = Some(t);
                assert!(
                    out.raw_changed_fraction > 0.25,
                    "{name}: {}",
                    out.raw_changed_fraction
                );
            }
            assert!(
                out.changed_fraction < 0.01,
                "{name} frame {t}: flood {}",
                out.changed_fraction
            );
            assert!(out.boxes.is_empty(), "{name} frame {t}: {:?}", out.boxes);
        }
        assert_eq!(
            recalibrated_at,
            Some(0),
            "{name}: the switching frame recalibrates"
        );
        // and motion is seen again right after
        let truth = BBox::from_xywh(100.0, 60.0, 40.0, 40.0);
        let out = det
            .update(&render(
                320,
                180,
                (0.0, 0.0),
                &[(truth, 20.0)],
                lamp,
                &mut noise,
            ))
            .unwrap();
        assert_eq!(out.boxes.len(), 1, "{name}: {:?}", out.boxes);
        assert!(out.boxes[0].iou(&truth) > 0.8, "{name}: {:?}", out.boxes[0]);
    }
}

#[test]
fn an_exposure_change_is_divided_out() {
    let mut noise = Noise(5);
    let mut det = detector();
    warm_up(&mut det, &mut noise, 30);
    for t in 0..20 {
        let out = det
            .update(&render(
                320,
                180,
                (0.0, 0.0),
                &[],
                |v, _, _| 1.3 * v,
                &mut noise,
            ))
            .unwrap();
        assert!(!out.recalibrated, "frame {t}");
        assert!(out.boxes.is_empty(), "frame {t}: {:?}", out.boxes);
        assert!(
            (out.exposure_gain - 1.3).abs() < 0.04,
            "gain {}",
            out.exposure_gain
        );
    }
}

#[test]
fn camera_shake_is_compensated() {
    let mut noise = Noise(9);
    let mut det = detector();
    warm_up(&mut det, &mut noise, 30);
    let truth = BBox::from_xywh(150.0, 40.0, 30.0, 50.0);
    for (t, offset) in [(5.0, -3.0), (-4.0, 6.0), (9.0, 2.0), (0.0, 0.0)]
        .iter()
        .enumerate()
    {
        let frame = render(
            320,
            180,
            *offset,
            &[(truth, 230.0)],
            |v, _, _| v,
            &mut noise,
        );
        let out = det.update(&frame).unwrap();
        assert_eq!(out.camera_shift, *offset, "frame {t}");
        assert_eq!(out.boxes.len(), 1, "frame {t}: {:?}", out.boxes);
        assert!(
            out.boxes[0].iou(&truth) > 0.8,
            "frame {t}: {:?}",
            out.boxes[0]
        );
    }
}

#[test]
fn large_frames_are_modelled_smaller_and_boxes_come_back_in_input_pixels() {
    let mut noise = Noise(13);
    let mut det = detector();
    for _ in 0..10 {
        det.update(&render(720, 480, (0.0, 0.0), &[], |v, _, _| v, &mut noise))
            .unwrap();
    }
    let truth = BBox::from_xywh(400.0, 200.0, 90.0, 60.0);
    let out = det
        .update(&render(
            720,
            480,
            (0.0, 0.0),
            &[(truth, 10.0)],
            |v, _, _| v,
            &mut noise,
        ))
        .unwrap();
    assert_eq!((out.mask.width(), out.mask.height()), (720, 480));
    assert_eq!(out.boxes.len(), 1, "{:?}", out.boxes);
    assert!(out.boxes[0].iou(&truth) > 0.85, "{:?}", out.boxes[0]);
}

#[test]
fn a_frame_size_change_rebuilds_the_model_without_panicking() {
    let mut noise = Noise(17);
    let mut det = detector();
    warm_up(&mut det, &mut noise, 5);
    let other = render(160, 90, (0.0, 0.0), &[], |v, _, _| v, &mut noise);
    let out = det.update(&other).unwrap();
    assert!(out.recalibrated);
    assert_eq!((out.mask.width(), out.mask.height()), (160, 90));
    assert!(out.boxes.is_empty());
    // and it keeps working at the new size
    let truth = BBox::from_xywh(40.0, 30.0, 20.0, 20.0);
    let out = det
        .update(&render(
            160,
            90,
            (0.0, 0.0),
            &[(truth, 220.0)],
            |v, _, _| v,
            &mut noise,
        ))
        .unwrap();
    assert_eq!(out.boxes.len(), 1, "{:?}", out.boxes);
    assert!(!out.recalibrated);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let mut det = detector();
    assert_eq!(
        det.update(&GrayImage::filled(4, 100, 0)).unwrap_err(),
        MotionError::FrameTooSmall {
            width: 4,
            height: 100
        }
    );
    assert!(det.update(&GrayImage::filled(0, 0, 0)).is_err());
    for bad in [
        MotionConfig {
            samples: 0,
            ..MotionConfig::default()
        },
        MotionConfig {
            min_matches: 40,
            ..MotionConfig::default()
        },
        MotionConfig {
            threshold: f32::NAN,
            ..MotionConfig::default()
        },
        MotionConfig {
            min_area: 2.0,
            ..MotionConfig::default()
        },
    ] {
        let err = MotionDetector::new(bad).err().unwrap();
        assert!(err.to_string().starts_with("motion config:"), "{err}");
    }
    // uniform frames (no texture, no noise) are fine too
    for v in [0, 255, 0] {
        det.update(&GrayImage::filled(64, 48, v)).unwrap();
    }
}

#[test]
fn settings_read_from_toml_keep_defaults_and_refuse_unknown_keys() {
    let c: MotionConfig = toml::from_str("threshold = 20.0\nclosing = 2\n").unwrap();
    assert_eq!(c.threshold, 20.0);
    assert_eq!(c.closing, 2);
    assert_eq!(c.samples, MotionConfig::default().samples);
    let err = toml::from_str::<MotionConfig>("treshold = 20.0\n").unwrap_err();
    assert!(err.to_string().contains("treshold"), "{err}");
}

#[test]
fn a_detector_can_move_to_a_pipeline_thread() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<MotionDetector>();
    send_and_sync::<MotionOutput>();
    let mut noise = Noise(21);
    let frames: Vec<GrayImage> = (0..3).map(|_| still_frame(&mut noise)).collect();
    let handle = std::thread::spawn(move || {
        let mut det = detector();
        frames
            .iter()
            .map(|f| det.update(f).unwrap().boxes.len())
            .sum::<usize>()
    });
    assert_eq!(handle.join().unwrap(), 0);
}

/// An object in the very first frame leaves a "ghost" (uncovered background the model has never seen)
/// when it moves away; the young model clears it within a couple of seconds of frames.
#[test]
fn a_ghost_of_the_first_frame_clears_quickly() {
    let mut noise = Noise(23);
    let mut det = detector();
    let parked = BBox::from_xywh(60.0, 60.0, 50.0, 40.0);
    det.update(&render(
        320,
        180,
        (0.0, 0.0),
        &[(parked, 15.0)],
        |v, _, _| v,
        &mut noise,
    ))
    .unwrap();
    let mut last_seen = None;
    for t in 0..40 {
        let out = det.update(&still_frame(&mut noise)).unwrap();
        if out.boxes.iter().any(|b| b.iou(&parked) > 0.1) {
            last_seen = Some(t);
        }
    }
    let last_seen =
        last_seen.expect("the ghost is reported at first: the model has not seen that road yet");
    assert!(last_seen < 25, "ghost still reported at frame {last_seen}");
}
