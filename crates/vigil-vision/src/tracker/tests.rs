use super::*;
use std::collections::BTreeSet;
use vigil_core::ClassId;

const PERSON: ClassId = 0;
const CAR: ClassId = 2;

fn det(x: f32, y: f32, w: f32, h: f32, score: f32) -> Detection {
    Detection::new(BBox::from_xywh(x, y, w, h), score, PERSON)
}

fn ids(objs: &[TrackedObject]) -> Vec<TrackId> {
    objs.iter().map(|o| o.id).collect()
}

/// The track whose box overlaps `b` most (IoU > 0.5), if any.
fn track_at(objs: &[TrackedObject], b: &BBox) -> Option<TrackId> {
    objs.iter()
        .map(|o| (o.bbox.iou(b), o.id))
        .filter(|(iou, _)| *iou > 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, id)| id)
}

#[test]
fn steadily_moving_box_keeps_one_id() {
    let mut t = ByteTracker::default();
    let mut seen = BTreeSet::new();
    for f in 0..120 {
        let d = det(
            100.0 + 6.0 * f as f32,
            200.0 + 1.5 * f as f32,
            40.0,
            100.0,
            0.9,
        );
        let out = t.update(&[d]);
        assert_eq!(out.len(), 1, "frame {f}");
        assert!(out[0].matched);
        assert!(
            out[0].bbox.iou(&d.bbox) > 0.8,
            "frame {f}: {:?}",
            out[0].bbox
        );
        assert_eq!(out[0].age, f as u32);
        seen.insert(out[0].id);
    }
    assert_eq!(seen.len(), 1);
}

#[test]
fn crossing_objects_keep_their_ids() {
    // Two people walking towards each other, one a little lower in the image (nearer the camera),
    // overlapping heavily while they pass.
    let mut t = ByteTracker::default();
    let a_at = |f: usize| BBox::from_xywh(100.0 + 7.0 * f as f32, 200.0, 50.0, 120.0);
    let b_at = |f: usize| BBox::from_xywh(500.0 - 7.0 * f as f32, 212.0, 54.0, 130.0);
    let mut id_a = None;
    let mut id_b = None;
    for f in 0..60 {
        let out = t.update(&[
            Detection::new(a_at(f), 0.95, PERSON),
            Detection::new(b_at(f), 0.92, PERSON),
        ]);
        assert_eq!(out.len(), 2, "frame {f}");
        let (a, b) = (track_at(&out, &a_at(f)), track_at(&out, &b_at(f)));
        assert!(a.is_some() && b.is_some() && a != b, "frame {f}: {out:?}");
        if f == 0 {
            (id_a, id_b) = (a, b);
        }
        assert_eq!((a, b), (id_a, id_b), "identity swap at frame {f}");
    }
    // They did cross: the boxes overlapped at some point.
    assert!((0..60).any(|f| a_at(f).iou(&b_at(f)) > 0.5));
}

#[test]
fn object_missing_a_few_frames_resumes_its_id() {
    let mut t = ByteTracker::default();
    let at = |f: usize| det(50.0 + 5.0 * f as f32, 300.0, 40.0, 100.0, 0.9);
    let mut first_id = None;
    for f in 0..30 {
        let out = t.update(&[at(f)]);
        first_id = Some(out[0].id);
    }
    // Occluded for 8 frames: nothing visible, but the track coasts on its prediction.
    for f in 30..38 {
        assert!(t.update(&[]).is_empty());
        let coasting = t.coasting();
        assert_eq!(ids(&coasting), vec![first_id.unwrap()]);
        assert!(!coasting[0].matched);
        // The prediction follows the motion.
        assert!(coasting[0].bbox.iou(&at(f).bbox) > 0.5, "frame {f}");
    }
    let out = t.update(&[at(38)]);
    assert_eq!(ids(&out), vec![first_id.unwrap()]);
    assert!(t.coasting().is_empty());
}

#[test]
fn lost_track_is_removed_after_its_buffer_scaled_by_frame_rate() {
    // At 15 fps a buffer of 60 frames at 30 fps lasts 30 frames.
    let mut t = ByteTracker::new(ByteTrackConfig {
        frame_rate: 15.0,
        ..ByteTrackConfig::default()
    });
    assert_eq!(t.config().max_frames_lost(), 30);
    let d = det(100.0, 100.0, 40.0, 100.0, 0.9);
    let first = t.update(&[d])[0].id;
    for _ in 0..30 {
        t.update(&[]);
    }
    assert_eq!(ids(&t.coasting()), vec![first]);
    t.update(&[]);
    assert!(t.coasting().is_empty());
    // The same place again is a new object with a new ID (confirmed on its second frame).
    t.update(&[d]);
    let again = t.update(&[d]);
    assert_eq!(again.len(), 1);
    assert!(again[0].id > first);
}

#[test]
fn low_score_detections_extend_tracks_but_never_start_them() {
    let mut t = ByteTracker::default();
    // Only low-score boxes: no track ever.
    for f in 0..20 {
        assert!(
            t.update(&[det(10.0 + f as f32, 10.0, 40.0, 100.0, 0.4)])
                .is_empty()
        );
    }
    assert!(t.coasting().is_empty() && t.predict_next().is_empty());

    // A confident track that becomes partly occluded (score drops) keeps its ID through low scores.
    let mut t = ByteTracker::default();
    let at = |f: usize, s: f32| det(100.0 + 4.0 * f as f32, 100.0, 40.0, 100.0, s);
    let id = t.update(&[at(0, 0.9)])[0].id;
    for f in 1..25 {
        let score = if f < 5 { 0.9 } else { 0.3 };
        let out = t.update(&[at(f, score)]);
        assert_eq!(ids(&out), vec![id], "frame {f}");
        assert!(out[0].matched);
    }
    // Below the low threshold the detection is ignored: the track coasts.
    assert!(t.update(&[at(25, 0.05)]).is_empty());
    assert_eq!(ids(&t.coasting()), vec![id]);
}

#[test]
fn new_track_is_confirmed_on_its_second_frame() {
    let mut t = ByteTracker::default();
    t.update(&[det(0.0, 0.0, 40.0, 100.0, 0.9)]);
    // A newcomer after the first frame is unconfirmed until seen again.
    let newcomer = det(500.0, 0.0, 40.0, 100.0, 0.9);
    let out = t.update(&[det(0.0, 0.0, 40.0, 100.0, 0.9), newcomer]);
    assert_eq!(out.len(), 1);
    let out = t.update(&[det(0.0, 0.0, 40.0, 100.0, 0.9), newcomer]);
    assert_eq!(ids(&out), vec![1, 2]);
    // A one-frame false positive never gets an ID: IDs stay dense.
    t.update(&[
        det(0.0, 0.0, 40.0, 100.0, 0.9),
        det(900.0, 0.0, 40.0, 100.0, 0.95),
    ]);
    t.update(&[det(0.0, 0.0, 40.0, 100.0, 0.9)]);
    t.update(&[
        det(0.0, 0.0, 40.0, 100.0, 0.9),
        det(900.0, 500.0, 40.0, 100.0, 0.95),
    ]);
    let out = t.update(&[
        det(0.0, 0.0, 40.0, 100.0, 0.9),
        det(900.0, 500.0, 40.0, 100.0, 0.95),
    ]);
    assert_eq!(ids(&out), vec![1, 3]);
    // Below the birth threshold (0.7) a high detection does not start a track.
    let weak = det(300.0, 300.0, 40.0, 100.0, 0.65);
    t.update(&[weak]);
    assert!(t.update(&[weak]).is_empty());
}

#[test]
fn ids_are_never_reused() {
    // Objects come and go at the same places for a long time; every confirmed track gets a fresh ID.
    let mut t = ByteTracker::default();
    let mut all_ids: Vec<TrackId> = Vec::new();
    let mut last_seen: std::collections::BTreeMap<TrackId, usize> = Default::default();
    for f in 0..640usize {
        let mut dets = Vec::new();
        for slot in 0..4usize {
            // Each slot is occupied for 80 frames, then empty for 80 frames (longer than the buffer).
            if (f / 80 + slot) % 2 == 0 {
                let x = 100.0 + 200.0 * slot as f32 + (f % 80) as f32;
                dets.push(det(x, 100.0, 40.0, 100.0, 0.9));
            }
        }
        for o in t.update(&dets) {
            if !last_seen.contains_key(&o.id) {
                all_ids.push(o.id);
            }
            last_seen.insert(o.id, f);
        }
    }
    // Each appearance of each slot is one track; IDs count up and were never given twice.
    let mut sorted = all_ids.clone();
    sorted.dedup();
    assert_eq!(sorted, all_ids);
    assert!(all_ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(all_ids.len(), 4 * 640 / 80 / 2);
}

#[test]
fn classes_are_never_associated_with_each_other() {
    let mut t = ByteTracker::default();
    let b = BBox::from_xywh(100.0, 100.0, 80.0, 80.0);
    let person = t.update(&[Detection::new(b, 0.9, PERSON)]);
    assert_eq!(person.len(), 1);
    // The same box, now called a car: not the person's track.
    let out = t.update(&[Detection::new(b, 0.9, CAR)]);
    assert!(out.is_empty(), "{out:?}");
    let out = t.update(&[Detection::new(b, 0.9, CAR)]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].class_id, CAR);
    assert_ne!(out[0].id, person[0].id);
    // Both live side by side in the same tracker.
    let out = t.update(&[Detection::new(b, 0.9, CAR), Detection::new(b, 0.9, PERSON)]);
    assert_eq!(out.len(), 2);
    assert_eq!(
        out.iter().find(|o| o.class_id == PERSON).map(|o| o.id),
        Some(person[0].id)
    );
}

#[test]
fn bad_detections_are_ignored() {
    let mut t = ByteTracker::default();
    let bad = [
        Detection::new(BBox::new(f32::NAN, 0.0, 10.0, 10.0), 0.9, PERSON),
        Detection::new(BBox::new(10.0, 10.0, 10.0, 50.0), 0.9, PERSON),
        Detection::new(BBox::new(0.0, 0.0, 10.0, 10.0), f32::NAN, PERSON),
        Detection::new(BBox::new(0.0, 0.0, f32::INFINITY, 10.0), 0.9, PERSON),
    ];
    for _ in 0..5 {
        assert!(t.update(&bad).is_empty());
    }
    let out = t.update(&[det(0.0, 0.0, 10.0, 10.0, 0.9)]);
    assert!(out.is_empty()); // unconfirmed on its first frame (not the tracker's first frame)
    assert_eq!(t.update(&[det(0.0, 0.0, 10.0, 10.0, 0.9)]).len(), 1);
}

#[test]
fn deterministic_and_predicts_ahead() {
    let run = || {
        let mut t = ByteTracker::default();
        let mut log = Vec::new();
        for f in 0..50usize {
            let dets: Vec<Detection> = (0..6)
                .map(|k| {
                    let x = 60.0 * k as f32 + 3.0 * f as f32 * if k % 2 == 0 { 1.0 } else { -1.0 };
                    det(x, 40.0 * (k % 3) as f32, 40.0, 100.0, 0.6 + 0.06 * k as f32)
                })
                .collect();
            log.push(t.update(&dets));
        }
        (log, t.predict_next())
    };
    let (a, next_a) = run();
    let (b, next_b) = run();
    assert_eq!(a, b);
    assert_eq!(next_a, next_b);
    // The look-ahead box moves the way the object moves.
    let last = a.last().unwrap();
    for o in &next_a {
        let now = last.iter().find(|l| l.id == o.id).unwrap();
        let dx = o.bbox.center().x - now.bbox.center().x;
        assert!(dx.abs() > 1.0 && dx.abs() < 5.0, "{dx}");
    }
}

#[test]
fn coasting_on_skipped_frames_keeps_ids_and_follows_the_motion() {
    // A box moving 8 px per frame, detected only on every other frame (the gated pipeline's cadence
    // while all motion is explained by live tracks): one ID throughout, predictions on the skipped frames
    // close to where the object really is, and nothing declared lost.
    let mut t = ByteTracker::default();
    let at = |f: u32| det(100.0 + 8.0 * f as f32, 200.0, 40.0, 100.0, 0.9);
    let mut seen = BTreeSet::new();
    for f in 0..4 {
        seen.extend(ids(&t.update(&[at(f)])));
    }
    assert!(!t.has_unconfirmed());
    for f in 4..60 {
        let out = if f % 2 == 0 {
            let out = t.update(&[at(f)]);
            assert!(out.iter().all(|o| o.matched), "frame {f}");
            out
        } else {
            let out = t.coast();
            assert!(out.iter().all(|o| !o.matched), "frame {f}");
            out
        };
        assert_eq!(out.len(), 1, "frame {f}");
        assert!(
            out[0].bbox.iou(&at(f).bbox) > 0.7,
            "frame {f}: {:?} vs {:?}",
            out[0].bbox,
            at(f).bbox
        );
        seen.extend(ids(&out));
    }
    assert_eq!(seen.len(), 1);
    assert!(t.coasting().is_empty());
}

#[test]
fn a_newborn_track_is_unconfirmed_until_its_second_detection() {
    let mut t = ByteTracker::new(ByteTrackConfig::default());
    t.update(&[]);
    t.update(&[det(10.0, 10.0, 40.0, 100.0, 0.9)]);
    assert!(t.has_unconfirmed());
    t.update(&[det(12.0, 10.0, 40.0, 100.0, 0.9)]);
    assert!(!t.has_unconfirmed());
}

#[test]
fn recovery_keeps_a_fast_object_whose_boxes_stop_overlapping() {
    // A person stands still, then walks off fast: 60 px per frame with a 40 px wide box, so consecutive
    // boxes do not overlap at all (a few analysed frames per second).
    let path: Vec<Detection> = (0..6)
        .map(|_| det(100.0, 100.0, 40.0, 100.0, 0.9))
        .chain((1..5).map(|k| det(100.0 + 60.0 * k as f32, 100.0, 40.0, 100.0, 0.9)))
        .collect();
    // Per frame: the ids reported.
    let run = |recover: f32| -> Vec<Vec<TrackId>> {
        let mut t = ByteTracker::new(ByteTrackConfig {
            recover_distance: recover,
            ..ByteTrackConfig::default()
        });
        path.iter().map(|d| ids(&t.update(&[*d]))).collect()
    };
    let without = run(0.0);
    assert!(
        without[6..].iter().any(|f| f.is_empty()),
        "without recovery the walk-off loses the object: {without:?}"
    );
    let with = run(1.0);
    let first = with[1][0];
    assert!(
        with[1..].iter().all(|f| f == &vec![first]),
        "with recovery one object throughout: {with:?}"
    );
    // A box far away (more than the gate) is a different object.
    let mut t = ByteTracker::new(ByteTrackConfig {
        recover_distance: 1.0,
        ..ByteTrackConfig::default()
    });
    for _ in 0..3 {
        t.update(&[det(100.0, 100.0, 40.0, 100.0, 0.9)]);
    }
    let before = ids(&t.update(&[det(100.0, 100.0, 40.0, 100.0, 0.9)]));
    let mut after = BTreeSet::new();
    for _ in 0..2 {
        after.extend(ids(&t.update(&[det(400.0, 100.0, 40.0, 100.0, 0.9)])));
    }
    assert!(
        !after.contains(&before[0]),
        "a jump of 3 heights is not the same object"
    );
}

/// A tracker with the defaults but these switches.
fn with(f: impl FnOnce(&mut ByteTrackConfig)) -> ByteTracker {
    let mut c = ByteTrackConfig::default();
    f(&mut c);
    ByteTracker::new(c)
}

#[test]
fn a_hidden_person_is_found_where_the_panning_camera_took_them() {
    // Four people stand still; from frame 20 the camera pans and everything moves 6 px per frame to the
    // left. Person D is hidden from frame 15 to 45, 25 frames into the pan (150 px away from where D was
    // last seen). The three visible people show the tracker the camera's motion; D's lost track moves
    // with them and is found under its ID. Without compensation it waits where D was and D comes back
    // under a new ID.
    let at = |slot: usize, f: usize| {
        let pan = 6.0 * f.saturating_sub(20) as f32;
        det(400.0 + 200.0 * slot as f32 - pan, 300.0, 40.0, 100.0, 0.9)
    };
    let run = |compensate: bool| -> (TrackId, TrackId) {
        let mut t = with(|c| c.motion_compensation = compensate);
        let mut d_before = None;
        for f in 0..46 {
            let dets: Vec<Detection> = (0..4)
                .filter(|&slot| slot != 3 || !(15..45).contains(&f))
                .map(|slot| at(slot, f))
                .collect();
            let out = t.update(&dets);
            if f == 14 {
                d_before = track_at(&out, &at(3, f).bbox);
            }
        }
        let out = t.update(&(0..4).map(|slot| at(slot, 46)).collect::<Vec<_>>());
        let _ = out;
        let out = t.update(&(0..4).map(|slot| at(slot, 47)).collect::<Vec<_>>());
        (d_before.unwrap(), track_at(&out, &at(3, 47).bbox).unwrap())
    };
    let (before, after) = run(true);
    assert_eq!(before, after, "with compensation D keeps its ID");
    let (before, after) = run(false);
    assert_ne!(
        before, after,
        "without compensation D would come back as someone new"
    );
}

#[test]
fn a_nearer_person_stepping_in_front_does_not_take_a_hidden_persons_id() {
    // A far person (100 px tall) stands still and disappears behind a nearer one (250 px tall, feet much
    // lower in the picture) who steps in front. Their boxes overlap by plain IoU enough for the far
    // person's lost track to take the nearer one's detection; their vertical extents do not agree, and
    // with the height-modulated overlap the nearer person gets their own track.
    let far = det(300.0, 200.0, 40.0, 100.0, 0.9);
    let near = det(290.0, 150.0, 70.0, 250.0, 0.9);
    let run = |height_iou: bool| -> (TrackId, Vec<TrackId>) {
        let mut t = with(|c| c.height_iou = height_iou);
        let mut far_id = 0;
        for _ in 0..10 {
            far_id = t.update(&[far])[0].id;
        }
        t.update(&[]);
        let mut near_ids = Vec::new();
        for _ in 0..3 {
            near_ids.extend(ids(&t.update(&[near])));
        }
        (far_id, near_ids)
    };
    let (far_id, near_ids) = run(true);
    assert!(
        !near_ids.is_empty() && !near_ids.contains(&far_id),
        "{far_id} {near_ids:?}"
    );
    let (far_id, near_ids) = run(false);
    assert!(
        near_ids.contains(&far_id),
        "plain IoU gives the hidden person's ID away"
    );
}

#[test]
fn momentum_prefers_the_detection_that_continues_the_walk() {
    // A person strolls right at 2 px per frame. On the next frame two equally sized boxes flank the
    // prediction: one 14 px behind it (behind where the person was 3 frames ago: a step back), one 15 px
    // ahead. By overlap alone the nearer one behind wins; with momentum the one ahead, which continues the
    // walk.
    let run = |momentum: f32| -> f32 {
        let mut t = with(|c| c.momentum = momentum);
        for f in 0..10 {
            t.update(&[det(100.0 + 2.0 * f as f32, 100.0, 40.0, 100.0, 0.9)]);
        }
        let predicted = t.predict_next()[0].bbox.x1;
        let out = t.update(&[
            det(predicted - 14.0, 100.0, 40.0, 100.0, 0.9),
            det(predicted + 15.0, 100.0, 40.0, 100.0, 0.9),
        ]);
        assert_eq!(out.len(), 1);
        out[0].bbox.x1 - predicted
    };
    assert!(run(0.0) < 0.0, "overlap alone takes the nearer box behind");
    assert!(run(0.4) > 0.0, "momentum takes the box ahead");
}

#[test]
fn a_person_who_stopped_while_hidden_is_found_where_last_seen() {
    // Walking right at 5 px per frame, hidden for 15 frames during which they stopped: the prediction
    // walked on 75 px (the box is 40 wide), the person reappears where they were last seen. Recovery by
    // the last observation keeps the ID.
    let run = |last_observation_iou: f32| -> (TrackId, TrackId) {
        let mut t = with(|c| {
            c.last_observation_iou = last_observation_iou;
            c.motion_compensation = false;
        });
        let at = |f: usize| det(100.0 + 5.0 * f as f32, 100.0, 40.0, 100.0, 0.9);
        let mut id = 0;
        for f in 0..20 {
            id = t.update(&[at(f)])[0].id;
        }
        for _ in 0..15 {
            t.update(&[]);
        }
        t.update(&[at(19)]);
        let out = t.update(&[at(19)]);
        (id, out[0].id)
    };
    let (before, after) = run(0.3);
    assert_eq!(before, after);
    let (before, after) = run(0.0);
    assert_ne!(before, after);
}

#[test]
fn speed_margin_keeps_a_fast_jerky_object() {
    // An object speeding up to 50 px per frame (40 px wide box) whose detections jump 35 px ahead of
    // and behind its path on alternate frames (a panning camera shaking, a few analysed frames per
    // second): the prediction and the detection often do not overlap at all. Grown by the track's
    // speed, they do, and the object keeps one ID; by plain overlap it falls apart into several.
    let run = |speed_margin: f32| -> BTreeSet<TrackId> {
        let mut t = with(|c| {
            c.speed_margin = speed_margin;
            c.match_thresh = 0.9;
        });
        let mut seen = BTreeSet::new();
        let mut x = 100.0;
        for f in 0..60 {
            x += (3.0 * f as f32).min(50.0);
            let jerk = (2.0 * f as f32).min(35.0) * if f % 2 == 0 { 1.0 } else { -1.0 };
            seen.extend(ids(&t.update(&[det(x + jerk, 100.0, 40.0, 100.0, 0.9)])));
        }
        seen
    };
    let with_margin = run(10.0);
    assert_eq!(with_margin.len(), 1, "{with_margin:?}");
    let plain = run(0.0);
    assert!(plain.len() > 1, "{plain:?}");
}
