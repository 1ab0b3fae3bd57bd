//! Camera links: which cameras a person walks between and how long that usually takes (`[[links.camera]]`
//! in `vigil.toml`), used to re-rank "where else was this person?".
//!
//! ```toml
//! [[links.camera]]
//! from = "gate"
//! to = "lobby"
//! transit = [20, 90]     # seconds from leaving "gate" to appearing on "lobby": the quickest and slowest usual
//! both_ways = true       # default: the walk back takes as long
//! ```
//!
//! Appearance alone cannot tell two people dressed alike apart; where they were can. A sighting on a
//! linked camera is judged by the gap between the two appearances ([`Transit`]): within the link's
//! usual range it *fits* and gains a little; sooner than the quickest walk it is *too soon* (nobody got
//! there that fast: most likely someone else) and loses much; later than the slowest it is *late* (a
//! stop on the way is possible) and loses a little. Cameras without a link, and the same camera, are
//! left as they are: a path through unwatched space is always possible. The adjustments are a prior
//! chosen by hand ([`Transit::adjustment`]), not learned, and the similarity itself is always reported
//! beside the score.

use serde::{Deserialize, Serialize};

/// Longest transit a link may state (one day, in seconds).
pub const MAX_TRANSIT_SECONDS: f64 = 86_400.0;

/// One `[[links.camera]]`: people walk from `from` to `to` in `transit` seconds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraLink {
    /// The camera a person leaves.
    pub from: String,
    /// The camera they appear on next.
    pub to: String,
    /// Seconds from the last sighting on `from` to the first on `to`: `[quickest, slowest]` usual.
    /// A quickest of 0 means the views overlap (a person may be on both at once).
    pub transit: [f64; 2],
    /// Whether people walk it the other way in the same time (default true).
    #[serde(default = "both_ways")]
    pub both_ways: bool,
}

fn both_ways() -> bool {
    true
}

/// How a sighting's time fits the links between its camera and the query's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transit {
    /// The gap is within the link's usual range.
    Fits,
    /// Sooner than the quickest usual walk (or at the same time on views that do not overlap).
    TooSoon,
    /// Later than the slowest usual walk.
    Late,
    /// No link between the two cameras in that direction.
    Unlinked,
    /// The same camera.
    SameCamera,
}

impl Transit {
    /// What the judgement adds to the appearance similarity to rank a sighting: +0.05 fits, -0.2 too
    /// soon, -0.05 late, 0 otherwise.
    pub fn adjustment(self) -> f32 {
        match self {
            Transit::Fits => 0.05,
            Transit::TooSoon => -0.2,
            Transit::Late => -0.05,
            Transit::Unlinked | Transit::SameCamera => 0.0,
        }
    }
}

/// A person's time on one camera (unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span<'a> {
    /// The camera.
    pub camera: &'a str,
    /// First seen.
    pub first_ms: i64,
    /// Last seen.
    pub last_ms: i64,
}

/// Every configured camera link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CameraLinks {
    links: Vec<CameraLink>,
}

impl CameraLinks {
    /// The links of `[[links.camera]]` (checked with [`CameraLinks::problems`] first).
    pub fn new(links: Vec<CameraLink>) -> CameraLinks {
        CameraLinks { links }
    }

    /// Whether no link is configured.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The usual transit (quickest, slowest, seconds) from camera `from` to camera `to`.
    fn transit(&self, from: &str, to: &str) -> Option<[f64; 2]> {
        self.links
            .iter()
            .find(|l| {
                (l.from == from && l.to == to) || (l.both_ways && l.from == to && l.to == from)
            })
            .map(|l| l.transit)
    }

    /// How `seen` fits the links from (or to) `query`: a later sighting is judged on the link from the
    /// query's camera to its own, an earlier one on the link the other way.
    pub fn judge(&self, query: Span<'_>, seen: Span<'_>) -> Transit {
        if query.camera == seen.camera {
            return Transit::SameCamera;
        }
        let after = seen.first_ms - query.last_ms;
        let before = query.first_ms - seen.last_ms;
        let (link, gap_ms) = if after >= before {
            (self.transit(query.camera, seen.camera), after)
        } else {
            (self.transit(seen.camera, query.camera), before)
        };
        let Some([quickest, slowest]) = link else {
            return Transit::Unlinked;
        };
        let gap = gap_ms as f64 / 1000.0;
        if quickest > 0.0 && gap < quickest {
            Transit::TooSoon
        } else if gap > slowest {
            Transit::Late
        } else {
            Transit::Fits
        }
    }

    /// What is wrong with the links, each as (index, problem); `cameras` are the configured names.
    pub fn problems(links: &[CameraLink], cameras: &[&str]) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for (i, l) in links.iter().enumerate() {
            for (what, name) in [("from", &l.from), ("to", &l.to)] {
                if !cameras.contains(&name.as_str()) {
                    out.push((i, format!("{what}: no [[camera]] is called {name:?}")));
                }
            }
            if l.from == l.to {
                out.push((i, "from and to are the same camera".into()));
            }
            let [quickest, slowest] = l.transit;
            if !(0.0..=MAX_TRANSIT_SECONDS).contains(&quickest)
                || !(quickest..=MAX_TRANSIT_SECONDS).contains(&slowest)
            {
                out.push((
                    i,
                    format!(
                        "transit: [quickest, slowest] seconds with 0 <= quickest <= slowest <= {MAX_TRANSIT_SECONDS}"
                    ),
                ));
            }
            let same = |o: &CameraLink| {
                (o.from == l.from && o.to == l.to)
                    || ((o.both_ways || l.both_ways) && o.from == l.to && o.to == l.from)
            };
            if links[..i].iter().any(same) {
                out.push((i, format!("{:?} -> {:?} is linked twice", l.from, l.to)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(from: &str, to: &str, transit: [f64; 2], both_ways: bool) -> CameraLink {
        CameraLink {
            from: from.into(),
            to: to.into(),
            transit,
            both_ways,
        }
    }

    fn span(camera: &str, first_s: i64, last_s: i64) -> Span<'_> {
        Span {
            camera,
            first_ms: first_s * 1000,
            last_ms: last_s * 1000,
        }
    }

    #[test]
    fn a_later_sighting_is_judged_on_the_walk_from_the_query_camera() {
        let links = CameraLinks::new(vec![link("gate", "lobby", [20.0, 90.0], false)]);
        let q = span("gate", 100, 110);
        assert_eq!(links.judge(q, span("lobby", 140, 150)), Transit::Fits);
        assert_eq!(links.judge(q, span("lobby", 115, 150)), Transit::TooSoon);
        assert_eq!(links.judge(q, span("lobby", 105, 150)), Transit::TooSoon);
        assert_eq!(links.judge(q, span("lobby", 300, 350)), Transit::Late);
        // One way only: from the lobby back to the gate is not linked.
        assert_eq!(links.judge(q, span("lobby", 10, 50)), Transit::Unlinked);
        assert_eq!(links.judge(q, span("yard", 140, 150)), Transit::Unlinked);
        assert_eq!(links.judge(q, span("gate", 140, 150)), Transit::SameCamera);
    }

    #[test]
    fn an_earlier_sighting_is_judged_on_the_walk_back_when_both_ways() {
        let links = CameraLinks::new(vec![link("gate", "lobby", [20.0, 90.0], true)]);
        let q = span("gate", 100, 110);
        assert_eq!(links.judge(q, span("lobby", 30, 60)), Transit::Fits);
        assert_eq!(links.judge(q, span("lobby", 30, 95)), Transit::TooSoon);
    }

    #[test]
    fn overlapping_views_fit_at_the_same_time() {
        let links = CameraLinks::new(vec![link("a", "b", [0.0, 5.0], true)]);
        assert_eq!(
            links.judge(span("a", 100, 110), span("b", 105, 120)),
            Transit::Fits
        );
    }

    #[test]
    fn fitting_ranks_above_too_soon_at_equal_similarity() {
        assert!(
            0.8 + Transit::Fits.adjustment() > 0.8 + Transit::Unlinked.adjustment()
                && 0.8 + Transit::Unlinked.adjustment() > 0.8 + Transit::Late.adjustment()
                && 0.8 + Transit::Late.adjustment() > 0.8 + Transit::TooSoon.adjustment()
        );
    }

    #[test]
    fn bad_links_are_named() {
        let links = vec![
            link("gate", "nowhere", [20.0, 90.0], true),
            link("gate", "gate", [0.0, 1.0], true),
            link("gate", "lobby", [90.0, 20.0], true),
            link("lobby", "gate", [1.0, 2.0], false),
        ];
        let p = CameraLinks::problems(&links, &["gate", "lobby"]);
        let text = format!("{p:?}");
        assert!(
            text.contains("(0, \"to: no [[camera]] is called \\\"nowhere\\\"\")"),
            "{text}"
        );
        assert!(
            text.contains("(1, \"from and to are the same camera\")"),
            "{text}"
        );
        assert!(text.contains("(2, \"transit"), "{text}");
        assert!(
            text.contains("(3, \"\\\"lobby\\\" -> \\\"gate\\\" is linked twice\")"),
            "{text}"
        );
    }
}
