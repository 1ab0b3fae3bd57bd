//! Object paths for the lifecycle view and playback overlays: while the analysis follows a track, where its
//! box touches the ground and its size are sampled (every [`EVERY_MS`], at most [`MAX_POINTS`] points: a long stay is thinned, its
//! first and latest points kept); when the track has not been seen for [`GONE_MS`] its path is handed
//! out once, to be published and stored with the events.

use std::collections::HashMap;
use vigil_core::{PathPoint, TrackId, TrackPath, TrackedObject};

/// A point at most this often per track.
pub const EVERY_MS: i64 = 400;
/// A track unseen this long is over.
pub const GONE_MS: i64 = 3_000;
/// Points kept per path at most.
pub const MAX_POINTS: usize = 300;

struct Open {
    class: String,
    first_ms: i64,
    last_ms: i64,
    points: Vec<PathPoint>,
}

/// One camera's paths being recorded.
pub struct PathRecorder {
    camera: String,
    open: HashMap<TrackId, Open>,
}

impl PathRecorder {
    /// A recorder for `camera`.
    pub fn new(camera: &str) -> Self {
        Self {
            camera: camera.to_string(),
            open: HashMap::new(),
        }
    }

    /// Takes an analysed frame (at `unix_ms`, `frame_size` pixels); returns the paths of tracks that
    /// ended.
    pub fn observe(
        &mut self,
        unix_ms: i64,
        tracks: &[TrackedObject],
        (w, h): (u32, u32),
        classes: &[String],
    ) -> Vec<TrackPath> {
        let (w, h) = (w.max(1) as f32, h.max(1) as f32);
        for t in tracks {
            let point = PathPoint {
                ms: unix_ms,
                x: ((t.bbox.x1 + t.bbox.x2) / 2.0 / w).clamp(0.0, 1.0),
                y: (t.bbox.y2 / h).clamp(0.0, 1.0),
                w: ((t.bbox.x2 - t.bbox.x1) / w).clamp(0.0, 1.0),
                h: ((t.bbox.y2 - t.bbox.y1) / h).clamp(0.0, 1.0),
            };
            let open = self.open.entry(t.id).or_insert_with(|| Open {
                class: classes
                    .get(t.class_id as usize)
                    .cloned()
                    .unwrap_or_else(|| format!("class {}", t.class_id)),
                first_ms: unix_ms,
                last_ms: unix_ms,
                points: Vec::new(),
            });
            open.last_ms = unix_ms;
            if open
                .points
                .last()
                .is_none_or(|p| unix_ms - p.ms >= EVERY_MS)
            {
                open.points.push(point);
                if open.points.len() > MAX_POINTS {
                    thin(&mut open.points);
                }
            }
        }
        let gone: Vec<TrackId> = self
            .open
            .iter()
            .filter(|(_, o)| unix_ms - o.last_ms >= GONE_MS)
            .map(|(id, _)| *id)
            .collect();
        gone.into_iter().filter_map(|id| self.finish(id)).collect()
    }

    /// Ends every open path (analysis pauses or stops).
    pub fn flush(&mut self) -> Vec<TrackPath> {
        let ids: Vec<TrackId> = self.open.keys().copied().collect();
        ids.into_iter().filter_map(|id| self.finish(id)).collect()
    }

    fn finish(&mut self, id: TrackId) -> Option<TrackPath> {
        let o = self.open.remove(&id)?;
        (o.points.len() >= 2).then(|| TrackPath {
            attributes: Default::default(),
            camera: self.camera.clone(),
            track: id,
            class: o.class,
            first_ms: o.first_ms,
            last_ms: o.last_ms,
            points: o.points,
        })
    }
}

/// Halves a path's points, keeping its first and latest.
fn thin(points: &mut Vec<PathPoint>) {
    let last = points.last().copied();
    let mut i = 0;
    points.retain(|_| {
        i += 1;
        i % 2 == 1
    });
    if let (Some(l), Some(kept)) = (last, points.last())
        && kept.ms != l.ms
    {
        points.push(l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::BBox;

    fn track(id: u64, x: f32) -> TrackedObject {
        TrackedObject {
            id,
            bbox: BBox {
                x1: x,
                y1: 10.0,
                x2: x + 20.0,
                y2: 60.0,
            },
            score: 0.9,
            class_id: 0,
            age: 5,
            matched: true,
        }
    }

    #[test]
    fn a_track_walking_across_leaves_one_sampled_path_when_it_is_gone() {
        let classes = vec!["person".to_string()];
        let mut r = PathRecorder::new("gate");
        let mut out = Vec::new();
        // 5 fps for 10 s, walking right.
        for i in 0..50 {
            out.extend(r.observe(i * 200, &[track(7, i as f32 * 2.0)], (200, 100), &classes));
        }
        assert!(out.is_empty(), "still tracked");
        // Gone: handed out once GONE_MS later, not before.
        out.extend(r.observe(9_800 + GONE_MS - 200, &[], (200, 100), &classes));
        assert!(out.is_empty());
        out.extend(r.observe(9_800 + GONE_MS, &[], (200, 100), &classes));
        assert_eq!(out.len(), 1);
        let p = &out[0];
        assert_eq!(
            (p.track, p.class.as_str(), p.camera.as_str()),
            (7, "person", "gate")
        );
        assert_eq!((p.first_ms, p.last_ms), (0, 9_800));
        // Every 400 ms: 25 points, the ground point (bottom middle), normalised.
        assert_eq!(p.points.len(), 25);
        assert!((p.points[0].x - 0.05).abs() < 1e-6 && (p.points[0].y - 0.6).abs() < 1e-6);
        assert!(p.points.windows(2).all(|w| w[1].x > w[0].x));
        assert!(
            r.observe(20_000, &[], (200, 100), &classes).is_empty(),
            "once"
        );
    }

    #[test]
    fn long_stays_are_thinned_and_a_pause_hands_out_what_is_open() {
        let classes = vec!["car".to_string()];
        let mut r = PathRecorder::new("lot");
        for i in 0..2_000 {
            r.observe(i * 400, &[track(1, (i % 100) as f32)], (200, 100), &classes);
        }
        let out = r.flush();
        assert_eq!(out.len(), 1);
        let p = &out[0];
        assert!(p.points.len() <= MAX_POINTS, "{}", p.points.len());
        assert_eq!(p.points.first().map(|p| p.ms), Some(0));
        assert_eq!(p.points.last().map(|p| p.ms), Some(1_999 * 400));
        assert!(p.points.windows(2).all(|w| w[1].ms > w[0].ms));
        // A single sighting is no path.
        r.observe(0, &[track(2, 0.0)], (200, 100), &classes);
        assert!(r.flush().is_empty());
    }
}
