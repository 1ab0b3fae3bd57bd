//! Exact-enough plane geometry for zones and lines in normalized image coordinates (0..1, y down).
//!
//! Orientation tests run in `f64` on `f32` inputs: differences of two `f32` values and products of two such
//! differences are exact in `f64` for coordinates in the 0..1 range, so "on the line" really means on it and
//! a point touching a vertex is seen as touching, not as slightly left or right of it.

use thiserror::Error;
use vigil_core::{BBox, Point};

/// Distance (normalized units) under which a point counts as lying on an edge. Far below a pixel of any
/// real frame (1e-7 of 4K is 0.0004 px), so it only absorbs rounding of pixel-to-normalized conversion.
pub const ON_EDGE_EPS: f64 = 1e-7;

/// Polygons with less area than this (fraction of the frame) are degenerate.
pub const MIN_POLYGON_AREA: f64 = 1e-7;

/// Why a list of points is not a usable polygon.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PolygonError {
    /// Fewer than three points.
    #[error("a polygon needs at least 3 points, {0} given")]
    TooFewPoints(usize),
    /// A coordinate is NaN or infinite.
    #[error("point {index} is not a finite number")]
    NotFinite {
        /// Index of the point.
        index: usize,
    },
    /// A point lies outside the frame (coordinates are fractions of the frame, 0..1).
    #[error(
        "point {index} [{x}, {y}] is outside the frame; coordinates are fractions of the frame (0..1)"
    )]
    OutOfFrame {
        /// Index of the point.
        index: usize,
        /// Its x.
        x: f32,
        /// Its y.
        y: f32,
    },
    /// Two consecutive points are the same, which makes a zero-length edge.
    #[error("points {index} and {next} are the same [{x}, {y}] (zero-length edge)")]
    RepeatedPoint {
        /// Index of the first point.
        index: usize,
        /// Index of the next point.
        next: usize,
        /// Its x.
        x: f32,
        /// Its y.
        y: f32,
    },
    /// The polygon has (almost) no area: all points on one line, or a sliver.
    #[error(
        "the polygon has no area ({area:.2e} of the frame); its points are (nearly) on one line"
    )]
    ZeroArea {
        /// Its absolute area as a fraction of the frame.
        area: f64,
    },
    /// Two edges cross or touch where they should not (edges named by their point indices).
    #[error(
        "the outline crosses itself: edge {}-{} crosses edge {}-{}; list the points in order around the outline",
        edge_a.0, edge_a.1, edge_b.0, edge_b.1
    )]
    SelfIntersecting {
        /// First edge, as (index of its start point, index of its end point).
        edge_a: (usize, usize),
        /// Second edge.
        edge_b: (usize, usize),
    },
}

/// Twice the signed area of triangle (a, b, c): positive when c is to the right of a->b on an image with
/// y down (counter-clockwise in mathematical axes), zero when collinear.
pub fn orient(a: Point, b: Point, c: Point) -> f64 {
    let (ax, ay) = (a.x as f64, a.y as f64);
    (b.x as f64 - ax) * (c.y as f64 - ay) - (b.y as f64 - ay) * (c.x as f64 - ax)
}

fn sign(v: f64) -> i8 {
    if v > 0.0 {
        1
    } else if v < 0.0 {
        -1
    } else {
        0
    }
}

/// True when `p` lies on the closed segment a-b (within [`ON_EDGE_EPS`]).
pub fn on_segment(p: Point, a: Point, b: Point) -> bool {
    let (px, py) = (p.x as f64, p.y as f64);
    let (ax, ay, bx, by) = (a.x as f64, a.y as f64, b.x as f64, b.y as f64);
    if px < ax.min(bx) - ON_EDGE_EPS
        || px > ax.max(bx) + ON_EDGE_EPS
        || py < ay.min(by) - ON_EDGE_EPS
        || py > ay.max(by) + ON_EDGE_EPS
    {
        return false;
    }
    let len = ((bx - ax).powi(2) + (by - ay).powi(2)).sqrt();
    if len == 0.0 {
        return (px - ax).abs() <= ON_EDGE_EPS && (py - ay).abs() <= ON_EDGE_EPS;
    }
    orient(a, b, p).abs() <= ON_EDGE_EPS * len
}

/// True when the closed segments p1-p2 and q1-q2 share at least one point (touching counts).
pub fn segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool {
    let d1 = sign(orient(q1, q2, p1));
    let d2 = sign(orient(q1, q2, p2));
    let d3 = sign(orient(p1, p2, q1));
    let d4 = sign(orient(p1, p2, q2));
    if d1 * d2 < 0 && d3 * d4 < 0 {
        return true;
    }
    (d1 == 0 && on_segment(p1, q1, q2))
        || (d2 == 0 && on_segment(p2, q1, q2))
        || (d3 == 0 && on_segment(q1, p1, p2))
        || (d4 == 0 && on_segment(q2, p1, p2))
}

/// A simple polygon (no holes, no self-crossing, non-zero area) in normalized image coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    points: Vec<Point>,
    bounds: BBox,
    area: f64,
}

impl Polygon {
    /// A validated polygon from its outline, in order around it (either winding; closing edge implied).
    pub fn new(points: Vec<Point>) -> Result<Self, PolygonError> {
        let n = points.len();
        if n < 3 {
            return Err(PolygonError::TooFewPoints(n));
        }
        for (index, p) in points.iter().enumerate() {
            if !p.x.is_finite() || !p.y.is_finite() {
                return Err(PolygonError::NotFinite { index });
            }
            if !(0.0..=1.0).contains(&p.x) || !(0.0..=1.0).contains(&p.y) {
                return Err(PolygonError::OutOfFrame {
                    index,
                    x: p.x,
                    y: p.y,
                });
            }
        }
        for i in 0..n {
            let j = (i + 1) % n;
            if points[i] == points[j] {
                return Err(PolygonError::RepeatedPoint {
                    index: i,
                    next: j,
                    x: points[i].x,
                    y: points[i].y,
                });
            }
        }
        let area = signed_area(&points).abs();
        // All points on one line: report that rather than the edges folding onto each other.
        if points
            .iter()
            .all(|&p| orient(points[0], points[1], p).abs() < 1e-12)
        {
            return Err(PolygonError::ZeroArea { area });
        }
        check_simple(&points)?;
        if area < MIN_POLYGON_AREA {
            return Err(PolygonError::ZeroArea { area });
        }
        let mut bounds = BBox::new(f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in &points {
            bounds = bounds.union(&BBox::new(p.x, p.y, p.x, p.y));
        }
        Ok(Self {
            points,
            bounds,
            area,
        })
    }

    /// The outline points.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Area as a fraction of the frame.
    pub fn area(&self) -> f64 {
        self.area
    }

    /// The smallest axis-aligned box holding the polygon.
    pub fn bounds(&self) -> BBox {
        self.bounds
    }

    /// True when `p` is inside or on the boundary (edges and vertices count as inside).
    pub fn contains(&self, p: Point) -> bool {
        let b = &self.bounds;
        let eps = ON_EDGE_EPS as f32;
        if p.x < b.x1 - eps || p.x > b.x2 + eps || p.y < b.y1 - eps || p.y > b.y2 + eps {
            return false;
        }
        let n = self.points.len();
        let mut inside = false;
        let (px, py) = (p.x as f64, p.y as f64);
        for i in 0..n {
            let a = self.points[i];
            let c = self.points[(i + 1) % n];
            if on_segment(p, a, c) {
                return true;
            }
            let (ax, ay, cx, cy) = (a.x as f64, a.y as f64, c.x as f64, c.y as f64);
            // Half-open rule: an edge counts when it spans py with one end strictly above and one at or
            // below, so a ray through a vertex is counted exactly once.
            if (ay > py) != (cy > py) {
                let x = ax + (py - ay) * (cx - ax) / (cy - ay);
                if px < x {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// Fraction (0..1) of the box's area that lies inside the polygon. Empty boxes give 0.
    pub fn overlap_fraction(&self, b: &BBox) -> f32 {
        let box_area = b.area() as f64;
        if box_area <= 0.0 || b.intersection(&self.bounds).is_empty() {
            return 0.0;
        }
        let clipped = clip_to_box(&self.points, b);
        if clipped.len() < 3 {
            return 0.0;
        }
        ((signed_area(&clipped).abs()) / box_area).clamp(0.0, 1.0) as f32
    }
}

/// Signed area (positive for clockwise on an image with y down).
fn signed_area(points: &[Point]) -> f64 {
    let n = points.len();
    let mut s = 0.0;
    for i in 0..n {
        let a = points[i];
        let b = points[(i + 1) % n];
        s += a.x as f64 * b.y as f64 - b.x as f64 * a.y as f64;
    }
    s / 2.0
}

/// Checks that no two edges meet except consecutive edges at their shared vertex.
fn check_simple(points: &[Point]) -> Result<(), PolygonError> {
    let n = points.len();
    let edge = |i: usize| (points[i], points[(i + 1) % n]);
    for i in 0..n {
        let (a1, a2) = edge(i);
        for j in i + 1..n {
            let (b1, b2) = edge(j);
            let adjacent_after = j == i + 1;
            let adjacent_before = i == 0 && j == n - 1;
            let crossing = if adjacent_after {
                // Edges a1-a2 and a2-b2 share a2: they overlap when b2 folds back onto a1-a2 or a1 onto a2-b2.
                folds_back(a1, a2, b2)
            } else if adjacent_before {
                // Edges b1-a1 (j) and a1-a2 (i) share a1.
                folds_back(b1, a1, a2)
            } else {
                segments_intersect(a1, a2, b1, b2)
            };
            if crossing {
                return Err(PolygonError::SelfIntersecting {
                    edge_a: (i, (i + 1) % n),
                    edge_b: (j, (j + 1) % n),
                });
            }
        }
    }
    Ok(())
}

/// For consecutive edges a-b and b-c: true when they overlap beyond the shared point b (a spike folding back).
fn folds_back(a: Point, b: Point, c: Point) -> bool {
    if orient(a, b, c) != 0.0 {
        return false;
    }
    let dot = (a.x as f64 - b.x as f64) * (c.x as f64 - b.x as f64)
        + (a.y as f64 - b.y as f64) * (c.y as f64 - b.y as f64);
    dot > 0.0
}

/// Clips a (possibly concave) polygon to an axis-aligned box (Sutherland-Hodgman; the area of the result is
/// exact even where concave parts leave zero-width bridges).
fn clip_to_box(points: &[Point], b: &BBox) -> Vec<Point> {
    let mut out: Vec<Point> = points.to_vec();
    let mut next = Vec::with_capacity(points.len() + 4);
    // (axis, bound, keep when coordinate >= bound)
    let planes = [
        (0, b.x1, true),
        (0, b.x2, false),
        (1, b.y1, true),
        (1, b.y2, false),
    ];
    for (axis, bound, keep_ge) in planes {
        next.clear();
        let n = out.len();
        if n == 0 {
            break;
        }
        let coord = |p: &Point| if axis == 0 { p.x } else { p.y };
        let inside = |p: &Point| {
            if keep_ge {
                coord(p) >= bound
            } else {
                coord(p) <= bound
            }
        };
        for i in 0..n {
            let cur = out[i];
            let prev = out[(i + n - 1) % n];
            let (ci, pi) = (inside(&cur), inside(&prev));
            if ci != pi {
                let t = (bound - coord(&prev)) / (coord(&cur) - coord(&prev));
                next.push(Point::new(
                    prev.x + t * (cur.x - prev.x),
                    prev.y + t * (cur.y - prev.y),
                ));
            }
            if ci {
                next.push(cur);
            }
        }
        std::mem::swap(&mut out, &mut next);
    }
    out
}

/// A directed segment p1 -> p2 used as a counting line. Side A is on the left of a walker going from p1 to
/// p2 as seen on the image (y down), side B on the right; signed distances are negative on A, positive on B.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// First point.
    pub p1: Point,
    /// Second point.
    pub p2: Point,
    len: f64,
}

impl Segment {
    /// A segment; `None` when its points coincide or are not finite.
    pub fn new(p1: Point, p2: Point) -> Option<Self> {
        let len =
            ((p2.x as f64 - p1.x as f64).powi(2) + (p2.y as f64 - p1.y as f64).powi(2)).sqrt();
        (len > 0.0 && len.is_finite()).then_some(Self { p1, p2, len })
    }

    /// Length in normalized units.
    pub fn length(&self) -> f64 {
        self.len
    }

    /// Signed perpendicular distance from the infinite line through the segment: < 0 on side A, > 0 on side B,
    /// exactly 0 on the line.
    pub fn signed_distance(&self, p: Point) -> f64 {
        orient(self.p1, self.p2, p) / self.len
    }

    /// Position of the projection of `p` along the segment: 0 at p1, 1 at p2.
    pub fn param(&self, p: Point) -> f64 {
        let dx = self.p2.x as f64 - self.p1.x as f64;
        let dy = self.p2.y as f64 - self.p1.y as f64;
        ((p.x as f64 - self.p1.x as f64) * dx + (p.y as f64 - self.p1.y as f64) * dy)
            / (self.len * self.len)
    }

    /// Where the step `from -> to` meets the infinite line, as a position along the segment (see
    /// [`Segment::param`]). `None` when the step stays strictly on one side. When the step lies on the line,
    /// the returned position is the part of the step closest to the segment (so a step along the line that
    /// overlaps the segment reports a position inside 0..1).
    pub fn step_crossing(&self, from: Point, to: Point) -> Option<f64> {
        let s0 = orient(self.p1, self.p2, from);
        let s1 = orient(self.p1, self.p2, to);
        if (s0 > 0.0 && s1 > 0.0) || (s0 < 0.0 && s1 < 0.0) {
            return None;
        }
        if s0 == 0.0 && s1 == 0.0 {
            let (t0, t1) = (self.param(from), self.param(to));
            let (lo, hi) = (t0.min(t1), t0.max(t1));
            return Some(if hi < 0.0 {
                hi
            } else if lo > 1.0 {
                lo
            } else {
                lo.max(0.0)
            });
        }
        let k = s0 / (s0 - s1);
        let x = from.x as f64 + (to.x as f64 - from.x as f64) * k;
        let y = from.y as f64 + (to.y as f64 - from.y as f64) * k;
        Some(self.param(Point::new(x as f32, y as f32)))
    }

    /// True when a position from [`Segment::param`] lies on the segment (ends included, within rounding).
    pub fn param_on_segment(&self, t: f64) -> bool {
        let tol = ON_EDGE_EPS / self.len;
        (-tol..=1.0 + tol).contains(&t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f32, y: f32) -> Point {
        Point::new(x, y)
    }

    fn square() -> Polygon {
        Polygon::new(vec![p(0.2, 0.2), p(0.6, 0.2), p(0.6, 0.6), p(0.2, 0.6)]).unwrap()
    }

    #[test]
    fn points_on_edges_and_vertices_are_inside() {
        let sq = square();
        for q in [
            p(0.2, 0.2),
            p(0.6, 0.6),
            p(0.4, 0.2),
            p(0.6, 0.4),
            p(0.4, 0.6),
            p(0.2, 0.4),
        ] {
            assert!(sq.contains(q), "{q:?} on the boundary must be inside");
        }
        assert!(sq.contains(p(0.4, 0.4)));
        assert!(!sq.contains(p(0.1, 0.2)), "on an edge's extension, outside");
        assert!(!sq.contains(p(0.61, 0.4)));
    }

    #[test]
    fn slanted_edge_point_computed_from_pixels_is_inside() {
        // Triangle with a slanted edge from (0,0) to (1,1); a point on it given in 1920x1080 pixels.
        let tri = Polygon::new(vec![p(0.0, 0.0), p(1.0, 1.0), p(0.0, 1.0)]).unwrap();
        let q = p(960.0 / 1920.0, 540.0 / 1080.0);
        assert!(tri.contains(q));
        assert!(!tri.contains(p(0.51, 0.5)));
    }

    #[test]
    fn ray_through_a_vertex_counts_once() {
        // A diamond: horizontal rays from points at the height of the left/right vertices pass through them.
        let d = Polygon::new(vec![p(0.5, 0.1), p(0.9, 0.5), p(0.5, 0.9), p(0.1, 0.5)]).unwrap();
        assert!(d.contains(p(0.5, 0.5)));
        assert!(!d.contains(p(0.05, 0.5)));
        assert!(!d.contains(p(0.95, 0.5)));
        // Concave "M" shape: a ray at the height of the inner notch vertex.
        let m = Polygon::new(vec![
            p(0.1, 0.9),
            p(0.1, 0.1),
            p(0.5, 0.5),
            p(0.9, 0.1),
            p(0.9, 0.9),
        ])
        .unwrap();
        assert!(!m.contains(p(0.5, 0.3)), "inside the notch is outside");
        assert!(m.contains(p(0.5, 0.5)), "the notch vertex itself");
        assert!(m.contains(p(0.3, 0.5)));
        assert!(m.contains(p(0.1, 0.1)), "the top-left vertex");
        assert!(!m.contains(p(0.15, 0.1)), "just above the notch edge");
        assert!(!m.contains(p(0.05, 0.5)));
    }

    #[test]
    fn self_intersecting_outline_is_rejected_naming_the_edges() {
        // A bow tie: edge 0-1 crosses edge 2-3.
        let e = Polygon::new(vec![p(0.1, 0.1), p(0.9, 0.9), p(0.9, 0.1), p(0.1, 0.9)]).unwrap_err();
        assert_eq!(
            e,
            PolygonError::SelfIntersecting {
                edge_a: (0, 1),
                edge_b: (2, 3)
            }
        );
        assert!(e.to_string().contains("edge 0-1 crosses edge 2-3"), "{e}");
    }

    #[test]
    fn outline_touching_itself_at_a_vertex_is_rejected() {
        // Point 4 lies on edge 0-1 (a pinched outline).
        let e = Polygon::new(vec![
            p(0.1, 0.1),
            p(0.9, 0.1),
            p(0.9, 0.9),
            p(0.5, 0.5),
            p(0.5, 0.1),
            p(0.1, 0.9),
        ])
        .unwrap_err();
        assert!(matches!(e, PolygonError::SelfIntersecting { .. }), "{e}");
        // A spike that folds back along its own edge.
        let e = Polygon::new(vec![p(0.1, 0.1), p(0.9, 0.1), p(0.5, 0.1), p(0.5, 0.9)]).unwrap_err();
        assert!(matches!(e, PolygonError::SelfIntersecting { .. }), "{e}");
    }

    #[test]
    fn degenerate_polygons_are_rejected() {
        assert_eq!(
            Polygon::new(vec![p(0.1, 0.1), p(0.2, 0.2)]).unwrap_err(),
            PolygonError::TooFewPoints(2)
        );
        assert!(matches!(
            Polygon::new(vec![p(0.1, 0.1), p(0.2, 0.2), p(0.3, 0.3)]).unwrap_err(),
            PolygonError::ZeroArea { .. }
        ));
        assert!(matches!(
            Polygon::new(vec![p(0.1, 0.1), p(0.1, 0.1), p(0.3, 0.3), p(0.1, 0.3)]).unwrap_err(),
            PolygonError::RepeatedPoint {
                index: 0,
                next: 1,
                ..
            }
        ));
        assert!(matches!(
            Polygon::new(vec![p(0.1, 0.1), p(1.5, 0.1), p(0.3, 0.3)]).unwrap_err(),
            PolygonError::OutOfFrame { index: 1, .. }
        ));
        assert!(matches!(
            Polygon::new(vec![p(0.1, f32::NAN), p(0.5, 0.1), p(0.3, 0.3)]).unwrap_err(),
            PolygonError::NotFinite { index: 0 }
        ));
    }

    #[test]
    fn overlap_fraction_of_boxes() {
        let sq = square();
        assert!((sq.overlap_fraction(&BBox::new(0.3, 0.3, 0.4, 0.4)) - 1.0).abs() < 1e-5);
        assert!((sq.overlap_fraction(&BBox::new(0.5, 0.3, 0.7, 0.4)) - 0.5).abs() < 1e-5);
        assert_eq!(sq.overlap_fraction(&BBox::new(0.7, 0.7, 0.8, 0.8)), 0.0);
        // Concave: box covering the notch of an "M" is partly outside.
        let m = Polygon::new(vec![
            p(0.1, 0.9),
            p(0.1, 0.1),
            p(0.5, 0.5),
            p(0.9, 0.1),
            p(0.9, 0.9),
        ])
        .unwrap();
        let f = m.overlap_fraction(&BBox::new(0.3, 0.1, 0.7, 0.5));
        // The notch (above y = x and y = 1 - x) takes 0.12 of the box's 0.16: 0.04 / 0.16 is inside.
        assert!((f - 0.25).abs() < 1e-4, "{f}");
    }

    #[test]
    fn segments_touching_at_endpoints_intersect() {
        let (a, b) = (p(0.2, 0.5), p(0.8, 0.5));
        assert!(
            segments_intersect(p(0.2, 0.4), p(0.2, 0.5), a, b),
            "ends on a vertex"
        );
        assert!(
            segments_intersect(p(0.5, 0.5), p(0.5, 0.6), a, b),
            "starts on the line"
        );
        assert!(
            segments_intersect(p(0.1, 0.5), p(0.3, 0.5), a, b),
            "collinear overlap"
        );
        assert!(
            !segments_intersect(p(0.0, 0.5), p(0.1, 0.5), a, b),
            "collinear, apart"
        );
        assert!(
            !segments_intersect(p(0.1, 0.4), p(0.1, 0.6), a, b),
            "crosses the extension"
        );
    }

    #[test]
    fn line_sides_follow_the_walker_convention() {
        // Drawn left to right: A is above (left hand of a walker going right on screen), B below.
        let s = Segment::new(p(0.2, 0.5), p(0.8, 0.5)).unwrap();
        assert!(s.signed_distance(p(0.5, 0.4)) < 0.0);
        assert!(s.signed_distance(p(0.5, 0.6)) > 0.0);
        assert_eq!(s.signed_distance(p(0.5, 0.5)), 0.0);
        assert!((s.signed_distance(p(0.5, 0.6)) - 0.1).abs() < 1e-6);
        // Drawn top to bottom: A is on the right of the image (a walker going down has left on screen right).
        let v = Segment::new(p(0.5, 0.1), p(0.5, 0.9)).unwrap();
        assert!(v.signed_distance(p(0.6, 0.5)) < 0.0);
        assert!(Segment::new(p(0.5, 0.5), p(0.5, 0.5)).is_none());
    }

    #[test]
    fn step_crossing_positions() {
        let s = Segment::new(p(0.2, 0.5), p(0.8, 0.5)).unwrap();
        let t = s.step_crossing(p(0.5, 0.4), p(0.5, 0.6)).unwrap();
        assert!((t - 0.5).abs() < 1e-6);
        assert!(s.step_crossing(p(0.5, 0.4), p(0.6, 0.45)).is_none());
        // Through the end vertex exactly.
        let t = s.step_crossing(p(0.8, 0.4), p(0.8, 0.6)).unwrap();
        assert!(s.param_on_segment(t));
        // Beyond the end.
        let t = s.step_crossing(p(0.9, 0.4), p(0.9, 0.6)).unwrap();
        assert!(!s.param_on_segment(t));
        // Along the line, overlapping the segment.
        let t = s.step_crossing(p(0.1, 0.5), p(0.3, 0.5)).unwrap();
        assert!(s.param_on_segment(t));
        let t = s.step_crossing(p(0.85, 0.5), p(0.95, 0.5)).unwrap();
        assert!(!s.param_on_segment(t));
    }
}
