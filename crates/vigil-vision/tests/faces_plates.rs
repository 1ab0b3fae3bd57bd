//! Faces (YuNet) and licence plates (LPD-YuNet) on real footage and a drawn plate.

mod common;

use common::{setup, shared, store};
use vigil_core::{BBox, BgrImage};
use vigil_media::VideoSource;
use vigil_media::convert::Converter;
use vigil_media::draw::{draw_text, fill_rect, text_size};
use vigil_vision::detector::DetectorError;
use vigil_vision::faces::FaceDetector;
use vigil_vision::model::{LPD_YUNET, YUNET};
use vigil_vision::plates::PlateDetector;

/// Every 10th frame of a shared clip.
fn frames(clip: &str) -> Vec<BgrImage> {
    frames_every(clip, 10)
}

/// Every `step`-th frame of a shared clip (frames 0, `step`, `2 * step`...).
fn frames_every(clip: &str, step: usize) -> Vec<BgrImage> {
    let mut src = VideoSource::open(shared().join("footage").join(clip)).expect("clip opens");
    let mut conv = Converter::new();
    let mut out = Vec::new();
    let mut n = 0;
    while let Some(f) = src.next_frame().expect("clip decodes") {
        if n % step == 0 {
            out.push(f.bgr(&mut conv, f.width(), f.height()).expect("bgr"));
        }
        n += 1;
    }
    out
}

#[test]
fn yunet_finds_the_faces_of_the_shared_clips() {
    let Some((rt, dir)) = setup("yunet_finds_the_faces_of_the_shared_clips") else {
        return;
    };
    let (path, bytes) = store(&dir).load_asset(&YUNET).expect("yunet verified");
    let mut faces = FaceDetector::new(&rt, &path, &bytes, 2).expect("session");
    // Counted by eye on the clips: three people facing the camera in the corridor, four pupils in front.
    for (clip, people) in [
        ("intel/face-demographics-walking-and-pause.mp4", 3),
        ("intel/classroom.mp4", 4),
    ] {
        for (i, img) in frames(clip).iter().enumerate() {
            let found = faces.detect(img).expect("detects");
            assert_eq!(found.len(), people, "{clip} frame {}: {found:?}", i * 10);
            for f in &found {
                assert!(f.score >= 0.6 && f.bbox.x2 <= img.width() as f32);
                let (cx, cy) = f.landmarks[2];
                let b = f.bbox;
                assert!(
                    cx > b.x1 && cx < b.x2 && cy > b.y1 && cy < b.y2,
                    "{clip}: the nose {cx},{cy} is outside its face {b:?}"
                );
            }
        }
    }
    // Nobody in an empty grey picture.
    assert!(
        faces
            .detect(&BgrImage::filled(640, 360, 120))
            .expect("detects")
            .is_empty()
    );
}

/// A grey scene with a dark car and a plate of `bg` with `fg` letters, and where the plate is.
fn drawn_plate(bg: [u8; 3], fg: [u8; 3]) -> (BgrImage, BBox) {
    let mut img = BgrImage::filled(640, 480, 110);
    fill_rect(&mut img, 170, 200, 300, 200, [60, 60, 70]);
    let (tw, th) = text_size("AB 123 CD", 1);
    let (pw, ph) = (tw + 12, th + 8);
    let (px, py) = (320 - pw as i64 / 2, 330);
    fill_rect(&mut img, px, py, pw, ph, bg);
    draw_text(&mut img, px + 6, py + 4, "AB 123 CD", fg, 1);
    let b = BBox::new(
        px as f32,
        py as f32,
        (px + pw as i64) as f32,
        (py + ph as i64) as f32,
    );
    (img, b)
}

#[test]
fn lpd_yunet_finds_a_drawn_plate_and_nothing_on_an_empty_car() {
    let Some((rt, dir)) = setup("lpd_yunet_finds_a_drawn_plate_and_nothing_on_an_empty_car") else {
        return;
    };
    let (path, bytes) = store(&dir)
        .load_asset(&LPD_YUNET)
        .expect("lpd-yunet verified");
    let mut plates = PlateDetector::new(&rt, &path, &bytes, 2).expect("session");
    // A blue plate with white letters, as the model was trained on.
    let (img, truth) = drawn_plate([200, 60, 20], [255, 255, 255]);
    let found = plates.detect(&img).expect("detects");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].bbox.iou(&truth) > 0.5,
        "{:?} vs {truth:?}",
        found[0].bbox
    );
    // The same car without its plate.
    let (mut empty, _) = drawn_plate([60, 60, 70], [60, 60, 70]);
    fill_rect(&mut empty, 0, 0, 1, 1, [110, 110, 110]);
    assert!(plates.detect(&empty).expect("detects").is_empty());
}

#[test]
fn a_detector_model_given_as_the_face_model_is_refused_by_name() {
    let Some((rt, dir)) = setup("a_detector_model_given_as_the_face_model_is_refused_by_name")
    else {
        return;
    };
    let path = dir.join("yolox_nano_416.onnx");
    let bytes = std::fs::read(&path).expect("yolox");
    let mut faces = FaceDetector::new(&rt, &path, &bytes, 1).expect("it loads");
    match faces.detect(&BgrImage::filled(64, 64, 0)) {
        Err(DetectorError::Run { reason, .. }) => {
            assert!(
                reason.contains("cls_8") || reason.contains("input"),
                "{reason}"
            )
        }
        other => panic!("expected a run error, got {other:?}"),
    }
}

/// MobileFaceNet on aligned YuNet faces of the shared clips with faces (corridor: three people; classroom:
/// four pupils): the same face ten frames later is the same person, two faces of one frame are not.
/// Identities come from the video itself: a face's match in the next sampled frame is the one whose box
/// moved least (people move little and stay apart), so no labels are needed. The shipped threshold
/// ([`vigil_vision::face_embed::DEFAULT_THRESHOLD`]) was set on the corridor clip; the classroom clip is the
/// held-out check. Prints the score distributions.
#[test]
fn mobilefacenet_tells_the_same_face_from_another_on_the_shared_clips() {
    use vigil_vision::face_embed::{DEFAULT_THRESHOLD, FaceEmbedder, align, cosine};
    use vigil_vision::model::MOBILEFACENET;
    let Some((rt, dir)) =
        setup("mobilefacenet_tells_the_same_face_from_another_on_the_shared_clips")
    else {
        return;
    };
    let (path, bytes) = store(&dir).load_asset(&YUNET).expect("yunet verified");
    let mut faces = FaceDetector::new(&rt, &path, &bytes, 2).expect("session");
    let (path, bytes) = store(&dir)
        .load_asset(&MOBILEFACENET)
        .expect("mobilefacenet verified");
    let mut embedder = FaceEmbedder::new(&rt, &path, &bytes, 2).expect("session");
    for clip in [
        "intel/face-demographics-walking-and-pause.mp4",
        "intel/classroom.mp4",
    ] {
        let mut prev: Vec<(BBox, Vec<f32>)> = Vec::new();
        let (mut same, mut other) = (Vec::new(), Vec::new());
        for img in frames(clip) {
            let mut now = Vec::new();
            for f in faces.detect(&img).expect("detects") {
                let e = embedder.embed(&align(&img, &f.landmarks)).expect("embeds");
                assert_eq!(e.len(), 128);
                now.push((f.bbox, e));
            }
            for (i, (_, a)) in now.iter().enumerate() {
                for (_, b) in &now[i + 1..] {
                    other.push(cosine(a, b));
                }
            }
            let centre = |x: &BBox| ((x.x1 + x.x2) / 2.0, (x.y1 + x.y2) / 2.0);
            for (b, e) in &now {
                let (cx, cy) = centre(b);
                let d = |z: &BBox| (centre(z).0 - cx).hypot(centre(z).1 - cy);
                if let Some((_, pe)) = prev.iter().min_by(|x, y| d(&x.0).total_cmp(&d(&y.0))) {
                    same.push(cosine(e, pe));
                }
            }
            prev = now;
        }
        let stats = |v: &mut Vec<f32>| {
            v.sort_by(f32::total_cmp);
            (v[0], v[v.len() / 2], v[v.len() - 1])
        };
        let (s_min, s_med, _) = stats(&mut same);
        let (_, o_med, o_max) = stats(&mut other);
        let false_rejects = same.iter().filter(|s| **s < DEFAULT_THRESHOLD).count();
        let false_accepts = other.iter().filter(|s| **s >= DEFAULT_THRESHOLD).count();
        println!(
            "{clip}: same person 10 frames apart: {} pairs, min {s_min:.2}, median {s_med:.2}; two people of one \
             frame: {} pairs, median {o_med:.2}, max {o_max:.2}; at {DEFAULT_THRESHOLD}: {false_rejects} false \
             rejects, {false_accepts} false accepts",
            same.len(),
            other.len()
        );
        assert!(same.len() >= 10 && other.len() >= 10, "{clip}");
        // Faces 20-60 pixels wide: different people score far higher (about 0.5) than on the model's own
        // check (0.03 on large faces), which is why the threshold is not the model's 0.31. No stranger may
        // pass for someone else; a missed match is the price (the classroom's small faces, held out).
        assert_eq!(false_accepts, 0, "{clip}");
        assert!(
            s_med > o_med + 0.2,
            "{clip}: same median {s_med}, other median {o_med}"
        );
        if clip.contains("face-demographics") {
            assert!(s_min > o_max, "{clip}: same >= {s_min}, others <= {o_max}");
            assert_eq!(false_rejects, 0, "{clip}");
        } else {
            // Faces under 20 pixels wide: at least half the same-person pairs are still recognised.
            assert!(
                false_rejects * 2 <= same.len(),
                "{clip}: {false_rejects} of {}",
                same.len()
            );
        }
    }
}

// Bounds of `mobilefacenet_verification_figures_on_tracked_identities_of_the_shared_clips`: what it
// printed (onnxruntime 1.31, 2-core CPU), with margin. Corridor (in-sample): EER 1.3%, TAR@FAR1% 98.6%,
// TAR at 0.75 88.7%. Classroom (held out): EER 11.3%, TAR at 0.75 58.1%, FAR at 0.75 0.13% (4 of 3174).
// Both: EER 7.8%, FAR at 0.75 0.09%.
const EER_CORRIDOR_MAX: f64 = 0.03;
const TAR_AT_FAR1_CORRIDOR_MIN: f64 = 0.95;
const TAR_CORRIDOR_MIN: f64 = 0.80;
const EER_CLASSROOM_MAX: f64 = 0.16;
const TAR_CLASSROOM_MIN: f64 = 0.50;
const FAR_CLASSROOM_MAX: f64 = 0.005;
const EER_BOTH_MAX: f64 = 0.11;
const FAR_BOTH_MAX: f64 = 0.0025;

/// A face seen in a sampled frame: the frame's number in the clip, its box and its embedding.
struct Seen {
    frame: usize,
    bbox: BBox,
    embedding: Vec<f32>,
}

fn centre(b: &BBox) -> (f32, f32) {
    ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0)
}

/// Chains the faces of consecutive sampled frames into identities by least box motion: nearest pairs
/// first, each face joins the identity whose latest box centre is nearest, one face per identity and
/// frame, and only when that centre is less than the latest box's width away (the people of the shared
/// clips move a few pixels between samples and stand or sit more than a face width apart). A face that
/// joins no identity starts a new one.
fn track(per_frame: Vec<Vec<Seen>>) -> Vec<Vec<Seen>> {
    let mut ids: Vec<Vec<Seen>> = Vec::new();
    for now in per_frame {
        let mut links = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let Some(last) = id.last() else {
                continue;
            };
            let (lx, ly) = centre(&last.bbox);
            for (j, s) in now.iter().enumerate() {
                let (x, y) = centre(&s.bbox);
                let d = (x - lx).hypot(y - ly);
                if d < last.bbox.width() {
                    links.push((d, i, j));
                }
            }
        }
        links.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut id_taken = vec![false; ids.len()];
        let mut joins: Vec<Option<usize>> = vec![None; now.len()];
        for (_, i, j) in links {
            if !id_taken[i] && joins[j].is_none() {
                id_taken[i] = true;
                joins[j] = Some(i);
            }
        }
        for (s, join) in now.into_iter().zip(joins) {
            match join {
                Some(i) => ids[i].push(s),
                None => ids.push(vec![s]),
            }
        }
    }
    ids
}

/// An impostor pair: its score, the identity and frame of each face, and the narrower face's width.
struct Impostor {
    score: f32,
    a: (usize, usize),
    b: (usize, usize),
    narrower: f32,
}

/// Cosines of every pair of faces of one identity (genuine pairs) and of every pair of faces of two
/// different identities (impostor pairs, with who and where), whatever their frames.
fn pair_scores(ids: &[Vec<Seen>]) -> (Vec<f32>, Vec<Impostor>) {
    use vigil_vision::face_embed::cosine;
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (a, id) in ids.iter().enumerate() {
        for (i, x) in id.iter().enumerate() {
            for y in &id[i + 1..] {
                genuine.push(cosine(&x.embedding, &y.embedding));
            }
            for (b, other) in ids.iter().enumerate().skip(a + 1) {
                for y in other {
                    impostor.push(Impostor {
                        score: cosine(&x.embedding, &y.embedding),
                        a: (a, x.frame),
                        b: (b, y.frame),
                        narrower: x.bbox.width().min(y.bbox.width()),
                    });
                }
            }
        }
    }
    (genuine, impostor)
}

/// TAR at a target FAR: the threshold is the impostor score at that quantile (the `k + 1`-th highest,
/// `k = floor(far * impostors)`), and a pair is accepted when it scores above it, so `k` impostor pairs
/// pass. With fewer than `1 / far` impostor pairs `k` is 0: the target is not resolvable and the figure
/// is the TAR at FAR 0 (above the highest impostor score).
struct AtFar {
    target: f64,
    threshold: f32,
    tar: f64,
    far: f64,
    resolvable: bool,
}

/// Verification figures of genuine and impostor scores.
struct Verification {
    genuine: usize,
    impostor: usize,
    at_far: Vec<AtFar>,
    /// Equal error rate: over all thresholds `t` (every score, accepted at `>= t`, and +inf), the least
    /// `max(FAR(t), FRR(t))`, i.e. where the two curves cross on the discrete sweep.
    eer: f64,
    eer_threshold: f32,
    /// TAR and FAR at the shipped threshold (accepted at `>=`, as the product does).
    tar_shipped: f64,
    far_shipped: f64,
}

fn verification(genuine: &[f32], impostor: &[f32], shipped: f32) -> Verification {
    let mut gen_sorted = genuine.to_vec();
    let mut imp_sorted = impostor.to_vec();
    gen_sorted.sort_by(f32::total_cmp);
    imp_sorted.sort_by(f32::total_cmp);
    let (g, n) = (gen_sorted.len() as f64, imp_sorted.len() as f64);
    // Rates when accepting scores `>= t`.
    let far = |t: f32| (imp_sorted.len() - imp_sorted.partition_point(|s| *s < t)) as f64 / n;
    let frr = |t: f32| gen_sorted.partition_point(|s| *s < t) as f64 / g;
    let at_far = [0.01, 0.001]
        .iter()
        .map(|&target| {
            let k = (target * n).floor() as usize;
            let threshold = imp_sorted[imp_sorted.len() - 1 - k.min(imp_sorted.len() - 1)];
            let above = |v: &[f32]| (v.len() - v.partition_point(|s| *s <= threshold)) as f64;
            AtFar {
                target,
                threshold,
                tar: above(&gen_sorted) / g,
                far: above(&imp_sorted) / n,
                resolvable: k >= 1,
            }
        })
        .collect();
    let (mut eer, mut eer_threshold) = (f64::INFINITY, f32::INFINITY);
    for t in gen_sorted
        .iter()
        .chain(&imp_sorted)
        .copied()
        .chain([f32::INFINITY])
    {
        let worse = far(t).max(frr(t));
        if worse < eer {
            (eer, eer_threshold) = (worse, t);
        }
    }
    Verification {
        genuine: gen_sorted.len(),
        impostor: imp_sorted.len(),
        at_far,
        eer,
        eer_threshold,
        tar_shipped: 1.0 - frr(shipped),
        far_shipped: far(shipped),
    }
}

fn print_verification(name: &str, v: &Verification, shipped: f32) {
    let mut line = format!(
        "{name}: {} genuine pairs, {} impostor pairs",
        v.genuine, v.impostor
    );
    for a in &v.at_far {
        if a.resolvable {
            line += &format!(
                "; TAR@FAR{}% {:.1}% (threshold {:.3}, FAR reached {:.2}%)",
                a.target * 100.0,
                a.tar * 100.0,
                a.threshold,
                a.far * 100.0
            );
        } else {
            line += &format!(
                "; TAR@FAR{}% n/a: only {} impostor pairs, TAR@FAR0 {:.1}% (above the highest impostor \
                 score {:.3})",
                a.target * 100.0,
                v.impostor,
                a.tar * 100.0,
                a.threshold
            );
        }
    }
    line += &format!(
        "; EER {:.2}% (threshold {:.3}); at {shipped}: TAR {:.1}%, FAR {:.2}%",
        v.eer * 100.0,
        v.eer_threshold,
        v.tar_shipped * 100.0,
        v.far_shipped * 100.0
    );
    println!("{line}");
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Face verification figures on the shared clips with faces: TAR at FAR 1% and 0.1%, EER, and TAR/FAR at
/// the shipped threshold ([`vigil_vision::face_embed::DEFAULT_THRESHOLD`], set on the corridor clip, so
/// corridor is in-sample; the classroom clip is held out), plus the cost per face.
///
/// Labels: every 2nd frame of each clip; YuNet faces, aligned and embedded; identities are chains of
/// least box motion between consecutive sampled frames ([`track`]), checked by looking at the clips
/// (corridor: three people standing side by side, walking slowly towards the camera, faces 30-60 px wide;
/// classroom: four pupils seated at their desks, faces under 20 px, the camera still). The identities,
/// their face counts and where they start and end are printed so the labelling can be checked. Every pair
/// of faces of one identity is a genuine pair, every pair of faces of two identities (any frames) an
/// impostor pair. Pairs are far from independent (3 and 4 people, neighbouring frames nearly identical):
/// the rates describe these clips, not a population.
#[test]
fn mobilefacenet_verification_figures_on_tracked_identities_of_the_shared_clips() {
    use std::time::Instant;
    use vigil_vision::face_embed::{DEFAULT_THRESHOLD, FaceEmbedder, align};
    use vigil_vision::face_quality::MIN_FACE;
    use vigil_vision::model::MOBILEFACENET;
    const TEST: &str =
        "mobilefacenet_verification_figures_on_tracked_identities_of_the_shared_clips";
    const STEP: usize = 2;
    // Clip, people counted by eye, role of the clip for the shipped threshold.
    let clips = [
        (
            "intel/face-demographics-walking-and-pause.mp4",
            3,
            "in-sample",
        ),
        ("intel/classroom.mp4", 4, "held out"),
    ];
    let Some((rt, dir)) = setup(TEST) else {
        return;
    };
    if let Some((clip, _, _)) = clips
        .iter()
        .find(|c| !shared().join("footage").join(c.0).is_file())
    {
        eprintln!("SKIP {TEST}: footage {clip} not found (../shared/footage absent)");
        return;
    }
    let (path, bytes) = store(&dir).load_asset(&YUNET).expect("yunet verified");
    let mut faces = FaceDetector::new(&rt, &path, &bytes, 2).expect("session");
    let (path, bytes) = store(&dir)
        .load_asset(&MOBILEFACENET)
        .expect("mobilefacenet verified");
    let mut embedder = FaceEmbedder::new(&rt, &path, &bytes, 2).expect("session");
    let (mut all_genuine, mut all_impostor) = (Vec::new(), Vec::new());
    let (mut detect_ms, mut embed_ms) = (Vec::new(), Vec::new());
    let mut total_faces = 0;
    for (clip, people, role) in clips {
        let images = frames_every(clip, STEP);
        // Warm-up: the first runs of a session allocate.
        for _ in 0..3 {
            let found = faces.detect(&images[0]).expect("detects");
            if let Some(f) = found.first() {
                embedder
                    .embed(&align(&images[0], &f.landmarks))
                    .expect("embeds");
            }
        }
        let mut per_frame = Vec::new();
        for (n, img) in images.iter().enumerate() {
            let t = Instant::now();
            let found = faces.detect(img).expect("detects");
            detect_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let mut now = Vec::new();
            for f in found {
                let t = Instant::now();
                let embedding = embedder.embed(&align(img, &f.landmarks)).expect("embeds");
                embed_ms.push(t.elapsed().as_secs_f64() * 1e3);
                now.push(Seen {
                    frame: n * STEP,
                    bbox: f.bbox,
                    embedding,
                });
            }
            per_frame.push(now);
        }
        let ids = track(per_frame);
        let faces_here: usize = ids.iter().map(Vec::len).sum();
        total_faces += faces_here;
        println!(
            "{clip} ({role}): one frame in {STEP}, {} frames, {faces_here} faces, {} identities",
            images.len(),
            ids.len()
        );
        for (i, id) in ids.iter().enumerate() {
            let (Some(first), Some(last)) = (id.first(), id.last()) else {
                continue;
            };
            let (fx, fy) = centre(&first.bbox);
            let (lx, ly) = centre(&last.bbox);
            let mut widths: Vec<f64> = id.iter().map(|s| f64::from(s.bbox.width())).collect();
            println!(
                "  identity {i}: {} faces, median width {:.0} px, frame {} centre ({fx:.0},{fy:.0}) -> frame {} \
                 centre ({lx:.0},{ly:.0})",
                id.len(),
                median(&mut widths),
                first.frame,
                last.frame
            );
        }
        // The labelling matches what is seen: one identity per person, each followed through (nearly) every
        // sampled frame.
        assert_eq!(ids.len(), people, "{clip}: identities");
        for id in &ids {
            assert!(
                id.len() * 10 >= images.len() * 9,
                "{clip}: an identity in {} of {} frames",
                id.len(),
                images.len()
            );
        }
        let (genuine, mut impostor) = pair_scores(&ids);
        impostor.sort_by(|x, y| y.score.total_cmp(&x.score));
        let top: Vec<String> = impostor
            .iter()
            .take(5)
            .map(|p| {
                format!(
                    "{:.3} (identity {} frame {}, {} frame {}; narrower face {:.0} px)",
                    p.score, p.a.0, p.a.1, p.b.0, p.b.1, p.narrower
                )
            })
            .collect();
        println!("  highest impostor pairs: {}", top.join(", "));
        // The product matches no face narrower than MIN_FACE: among the pairs it would score, no stranger
        // passes for someone else at the shipped threshold, in-sample or held out.
        let matchable = impostor.iter().filter(|p| p.narrower >= MIN_FACE);
        let (matchable_pairs, matchable_accepts) = matchable.fold((0, 0), |(n, a), p| {
            (n + 1, a + usize::from(p.score >= DEFAULT_THRESHOLD))
        });
        println!(
            "  impostor pairs of two faces at least {MIN_FACE} px wide (the product's floor): {matchable_pairs}, \
             {matchable_accepts} accepted at {DEFAULT_THRESHOLD}"
        );
        assert_eq!(
            matchable_accepts, 0,
            "{clip}: strangers accepted at {DEFAULT_THRESHOLD}"
        );
        let impostor: Vec<f32> = impostor.iter().map(|p| p.score).collect();
        let v = verification(&genuine, &impostor, DEFAULT_THRESHOLD);
        print_verification(&format!("{clip} ({role})"), &v, DEFAULT_THRESHOLD);
        if role == "in-sample" {
            // Where the threshold was set, no stranger passes at all.
            assert_eq!(v.far_shipped, 0.0, "{clip}: FAR at {DEFAULT_THRESHOLD}");
            assert!(
                v.at_far[0].tar >= TAR_AT_FAR1_CORRIDOR_MIN,
                "{clip}: TAR@FAR1% {}",
                v.at_far[0].tar
            );
            assert!(v.eer <= EER_CORRIDOR_MAX, "{clip}: EER {}", v.eer);
            assert!(
                v.tar_shipped >= TAR_CORRIDOR_MIN,
                "{clip}: TAR at {DEFAULT_THRESHOLD} {}",
                v.tar_shipped
            );
        } else {
            // Faces 12-20 px wide, all under the product's floor: a few strangers pass (one 12 px face of
            // a back-row pupil against the other back-row pupil), but rarely.
            assert!(
                v.far_shipped <= FAR_CLASSROOM_MAX,
                "{clip}: FAR at {DEFAULT_THRESHOLD} {}",
                v.far_shipped
            );
            assert!(v.eer <= EER_CLASSROOM_MAX, "{clip}: EER {}", v.eer);
            assert!(
                v.tar_shipped >= TAR_CLASSROOM_MIN,
                "{clip}: TAR at {DEFAULT_THRESHOLD} {}",
                v.tar_shipped
            );
        }
        all_genuine.extend(genuine);
        all_impostor.extend(impostor);
    }
    let v = verification(&all_genuine, &all_impostor, DEFAULT_THRESHOLD);
    print_verification("both clips (pairs within each clip)", &v, DEFAULT_THRESHOLD);
    assert!(
        v.far_shipped <= FAR_BOTH_MAX,
        "both clips: FAR at {DEFAULT_THRESHOLD} {}",
        v.far_shipped
    );
    assert!(v.eer <= EER_BOTH_MAX, "both clips: EER {}", v.eer);
    let (detect, embed) = (median(&mut detect_ms), median(&mut embed_ms));
    println!(
        "cost ({} frames, {total_faces} faces, 2 threads each): YuNet detect (640x640 input) median {detect:.1} ms per \
         frame; align + MobileFaceNet median {embed:.1} ms per face; a frame of n faces costs {detect:.1} + n x \
         {embed:.1} ms",
        detect_ms.len()
    );
    assert!(detect > 0.0 && embed > 0.0);
}

/// Plates rendered onto real frames (synthetic: white plates with black letters in the bitmap font of
/// `vigil_media::draw`, pasted onto frames of the shared car clip), at widths from 60 to 300 pixels, clean
/// and blurred with JPEG noise: read by the whole chain (`PlateOcr`: plate detector, else the text
/// detector, then the recogniser). Prints the exact-read rate per width; asserts the wide ones are read.
#[test]
fn rendered_plates_are_read_on_real_frames() {
    use vigil_media::encode::encode_jpeg;
    use vigil_vision::model::{PPOCR_DET, PPOCR_DICT, PPOCR_REC};
    use vigil_vision::plate_ocr::{PlateOcr, PlateReader, TextFinder};
    let Some((rt, dir)) = setup("rendered_plates_are_read_on_real_frames") else {
        return;
    };
    let s = store(&dir);
    let (p, b) = s.load_asset(&LPD_YUNET).expect("lpd");
    let plates = PlateDetector::new(&rt, &p, &b, 2).expect("session");
    let (p, b) = s.load_asset(&PPOCR_DET).expect("det");
    let lines = TextFinder::new(&rt, &p, &b, 2).expect("session");
    let (p, b) = s.load_asset(&PPOCR_REC).expect("rec");
    let (_, dict) = s.load_asset(&PPOCR_DICT).expect("dict");
    let dict = String::from_utf8(dict.to_vec()).expect("utf-8");
    let reader = PlateReader::new(&rt, &p, &b, &dict, 2).expect("session");
    let mut ocr = PlateOcr {
        plates,
        lines,
        reader,
    };
    let backgrounds = frames("intel/car-detection.mp4");
    let texts = [
        "KX58RTY", "AB123CD", "MH12DE14", "B7734XZ", "GT5012", "LR69KPN",
    ];
    let tmp = tempfile::tempdir().expect("tmp");
    let mut rows = Vec::new();
    for width in [60u32, 80, 100, 140, 200, 300] {
        let mut read = 0;
        let mut total = 0;
        for (i, text) in texts.iter().enumerate() {
            for noisy in [false, true] {
                // The plate at scale 4, then resized to `width` and pasted bottom centre.
                let (tw, th) = text_size(text, 4);
                let mut plate = BgrImage::filled(tw + 24, th + 16, 245);
                draw_text(&mut plate, 12, 8, text, [20, 20, 20], 4);
                let h = (width * plate.height() / plate.width()).max(4);
                let small = resize(&plate, width, h);
                let mut img = backgrounds[i % backgrounds.len()].clone();
                let (x0, y0) = ((img.width() - width) / 2, img.height() * 2 / 3);
                paste(&mut img, &small, x0, y0);
                if noisy {
                    img = box_blur(&img);
                    let path = tmp.path().join("noisy.jpg");
                    std::fs::write(&path, encode_jpeg(&img, 35).expect("jpeg")).expect("write");
                    img = vigil_media::image_file::read_bgr(&path).expect("read");
                }
                let got = ocr.read_image(&img).expect("reads");
                total += 1;
                if got.as_ref().is_some_and(|g| g.text.text == *text) {
                    read += 1;
                }
            }
        }
        rows.push((width, read, total));
    }
    for (w, r, t) in &rows {
        println!("plate {w:>3} px wide: {r}/{t} read exactly");
    }
    let wide: usize = rows.iter().filter(|r| r.0 >= 140).map(|r| r.1).sum();
    let wide_total: usize = rows.iter().filter(|r| r.0 >= 140).map(|r| r.2).sum();
    assert!(
        wide * 10 >= wide_total * 8,
        "plates 140 px and wider: {wide}/{wide_total} read"
    );
}

/// Bilinear resize (the test's own, to stay independent of the code under test).
fn resize(img: &BgrImage, w: u32, h: u32) -> BgrImage {
    let mut out = BgrImage::filled(w, h, 0);
    let (sx, sy) = (
        img.width() as f32 / w as f32,
        img.height() as f32 / h as f32,
    );
    let stride = out.stride();
    for y in 0..h {
        for x in 0..w {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, img.width() as f32 - 1.0);
            let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, img.height() as f32 - 1.0);
            let (x0, y0) = (fx as u32, fy as u32);
            let (x1, y1) = (
                (x0 + 1).min(img.width() - 1),
                (y0 + 1).min(img.height() - 1),
            );
            let (tx, ty) = (fx.fract(), fy.fract());
            for c in 0..3 {
                let v = f32::from(img.get(x0, y0)[c]) * (1.0 - tx) * (1.0 - ty)
                    + f32::from(img.get(x1, y0)[c]) * tx * (1.0 - ty)
                    + f32::from(img.get(x0, y1)[c]) * (1.0 - tx) * ty
                    + f32::from(img.get(x1, y1)[c]) * tx * ty;
                out.data_mut()[y as usize * stride + x as usize * 3 + c] = v.round() as u8;
            }
        }
    }
    out
}

fn paste(dst: &mut BgrImage, src: &BgrImage, x0: u32, y0: u32) {
    let stride = dst.stride();
    for y in 0..src.height().min(dst.height() - y0) {
        for x in 0..src.width().min(dst.width() - x0) {
            let i = (y0 + y) as usize * stride + (x0 + x) as usize * 3;
            dst.data_mut()[i..i + 3].copy_from_slice(&src.get(x, y));
        }
    }
}

/// A 3x3 box blur.
fn box_blur(img: &BgrImage) -> BgrImage {
    let mut out = img.clone();
    let stride = out.stride();
    for y in 1..img.height() - 1 {
        for x in 1..img.width() - 1 {
            for c in 0..3 {
                let mut sum = 0u32;
                for dy in 0..3 {
                    for dx in 0..3 {
                        sum += u32::from(img.get(x + dx - 1, y + dy - 1)[c]);
                    }
                }
                out.data_mut()[y as usize * stride + x as usize * 3 + c] = (sum / 9) as u8;
            }
        }
    }
    out
}

/// Re-identification on MOT17-mini: in each sequence, the people of the first frame are the gallery and
/// the same people in the last frame (4 to 8 frames later; ground-truth boxes, pedestrians at least half
/// visible and 64 pixels tall) are the queries; a query is right when its nearest gallery embedding is the
/// same identity (rank-1). No parameter is tuned, so there is no held-out split. Prints each sequence.
#[test]
fn reid_finds_the_same_people_again_across_frames_on_mot17_mini() {
    use vigil_vision::face_embed::cosine;
    use vigil_vision::model::REID;
    use vigil_vision::reid::ReidEmbedder;
    let Some((rt, dir)) = setup("reid_finds_the_same_people_again_across_frames_on_mot17_mini")
    else {
        return;
    };
    let root = shared().join("footage/mot17-mini/train");
    let (p, b) = store(&dir).load_asset(&REID).expect("reid verified");
    let mut reid = ReidEmbedder::new(&rt, &p, &b, 2).expect("session");
    let (mut right, mut total) = (0, 0);
    let (mut same, mut other): (Vec<f32>, Vec<f32>) = (Vec::new(), Vec::new());
    let mut seqs: Vec<_> = std::fs::read_dir(&root)
        .expect("mot17-mini")
        .map(|e| e.expect("entry").path())
        .collect();
    seqs.sort();
    for seq in seqs {
        let gt = vigil_eval::motchallenge::read_gt(&seq.join("gt/gt.txt")).expect("gt");
        let mut frames: Vec<u32> = std::fs::read_dir(seq.join("img1"))
            .expect("img1")
            .filter_map(|e| e.ok()?.path().file_stem()?.to_str()?.parse().ok())
            .collect();
        frames.sort_unstable();
        let (Some(&first), Some(&last)) = (frames.first(), frames.last()) else {
            continue;
        };
        let people = |frame: u32| -> Vec<(i64, BBox)> {
            gt.iter()
                .filter(|g| {
                    g.frame == frame
                        && g.is_positive()
                        && g.visibility >= 0.5
                        && g.bbox.height() >= 64.0
                })
                .map(|g| (g.id, g.bbox))
                .collect()
        };
        let image = |frame: u32| {
            vigil_media::image_file::read_bgr(&seq.join(format!("img1/{frame:06}.jpg")))
                .expect("frame")
        };
        let (img_a, img_b) = (image(first), image(last));
        let gallery: Vec<(i64, Vec<f32>)> = people(first)
            .iter()
            .map(|(id, b)| (*id, reid.embed(&img_a, b).expect("embeds")))
            .collect();
        let (mut seq_right, mut seq_total) = (0, 0);
        for (id, b) in people(last) {
            if !gallery.iter().any(|(g, _)| *g == id) {
                continue;
            }
            let q = reid.embed(&img_b, &b).expect("embeds");
            for (g, e) in &gallery {
                if *g == id {
                    same.push(cosine(&q, e));
                } else {
                    other.push(cosine(&q, e));
                }
            }
            let best = gallery
                .iter()
                .max_by(|x, y| cosine(&q, &x.1).total_cmp(&cosine(&q, &y.1)))
                .map(|(g, _)| *g);
            seq_total += 1;
            seq_right += usize::from(best == Some(id));
        }
        println!(
            "{}: {seq_right}/{seq_total} rank-1 (gallery {} people, frames {first} and {last})",
            seq.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
            gallery.len()
        );
        right += seq_right;
        total += seq_total;
    }
    println!("rank-1 over MOT17-mini: {right}/{total}");
    // The distributions the re-linking threshold (vigil_pipeline::relink) is read from.
    same.sort_by(f32::total_cmp);
    other.sort_by(f32::total_cmp);
    let at = |v: &[f32], q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!(
        "same person: {} pairs, min {:.3}, 5th percentile {:.3}, median {:.3}; different people: {} pairs, \
         median {:.3}, 99th percentile {:.3}, max {:.3}",
        same.len(),
        at(&same, 0.0),
        at(&same, 0.05),
        at(&same, 0.5),
        other.len(),
        at(&other, 0.5),
        at(&other, 0.99),
        at(&other, 1.0)
    );
    assert!(total >= 50, "only {total} queries");
    assert!(right * 100 >= total * 90, "rank-1 {right}/{total}");
}
