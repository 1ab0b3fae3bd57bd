//! Axis-aligned boxes and points in pixel (or normalized) coordinates.

use serde::{Deserialize, Serialize};

/// A point in 2D (pixels, or normalized 0..1 coordinates where a caller says so).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point {
    /// Horizontal coordinate, growing to the right.
    pub x: f32,
    /// Vertical coordinate, growing downwards.
    pub y: f32,
}

impl Point {
    /// A point at (x, y).
    pub const fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }
}

/// An axis-aligned box as corners: (x1, y1) top-left, (x2, y2) bottom-right, x2 >= x1 and y2 >= y1.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

impl BBox {
    /// A box from its corners.
    pub const fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    /// A box from its top-left corner and size (the MOTChallenge `left, top, width, height` form).
    pub fn from_xywh(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self::new(x, y, x + w, y + h)
    }

    /// A box from its centre and size.
    pub fn from_cxcywh(cx: f32, cy: f32, w: f32, h: f32) -> Self {
        Self::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
    }

    /// Width (never negative).
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    /// Height (never negative).
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    /// Area (zero for empty or inverted boxes).
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Centre point.
    pub fn center(&self) -> Point {
        Point::new((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)
    }

    /// Bottom-centre point (where a standing person touches the ground).
    pub fn bottom_center(&self) -> Point {
        Point::new((self.x1 + self.x2) / 2.0, self.y2)
    }

    /// True when the box has no area.
    pub fn is_empty(&self) -> bool {
        self.width() <= 0.0 || self.height() <= 0.0
    }

    /// The overlap of two boxes (possibly empty).
    pub fn intersection(&self, other: &BBox) -> BBox {
        BBox::new(
            self.x1.max(other.x1),
            self.y1.max(other.y1),
            self.x2.min(other.x2),
            self.y2.min(other.y2),
        )
    }

    /// The smallest box holding both.
    pub fn union(&self, other: &BBox) -> BBox {
        BBox::new(
            self.x1.min(other.x1),
            self.y1.min(other.y1),
            self.x2.max(other.x2),
            self.y2.max(other.y2),
        )
    }

    /// Intersection over union, 0 when either box is empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let inter = self.intersection(other).area();
        if inter <= 0.0 {
            return 0.0;
        }
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// Fraction of this box's area covered by `other` (intersection over this box's area).
    pub fn coverage_by(&self, other: &BBox) -> f32 {
        let a = self.area();
        if a <= 0.0 {
            0.0
        } else {
            self.intersection(other).area() / a
        }
    }

    /// The box clipped to `[0, width] x [0, height]`.
    pub fn clip(&self, width: f32, height: f32) -> BBox {
        BBox::new(
            self.x1.clamp(0.0, width),
            self.y1.clamp(0.0, height),
            self.x2.clamp(0.0, width),
            self.y2.clamp(0.0, height),
        )
    }

    /// The box scaled by `sx` horizontally and `sy` vertically (about the origin).
    pub fn scale(&self, sx: f32, sy: f32) -> BBox {
        BBox::new(self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy)
    }

    /// The box moved by (dx, dy).
    pub fn translate(&self, dx: f32, dy: f32) -> BBox {
        BBox::new(self.x1 + dx, self.y1 + dy, self.x2 + dx, self.y2 + dy)
    }

    /// The box grown by `margin` on every side.
    pub fn expand(&self, margin: f32) -> BBox {
        BBox::new(
            self.x1 - margin,
            self.y1 - margin,
            self.x2 + margin,
            self.y2 + margin,
        )
    }

    /// True when every coordinate is finite.
    pub fn is_finite(&self) -> bool {
        self.x1.is_finite() && self.y1.is_finite() && self.x2.is_finite() && self.y2.is_finite()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_boxes_is_one_and_of_disjoint_is_zero() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
    }

    #[test]
    fn iou_of_half_overlap() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        let b = BBox::new(5.0, 0.0, 15.0, 10.0);
        // intersection 50, union 150
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn inverted_boxes_have_no_area() {
        let a = BBox::new(10.0, 10.0, 0.0, 0.0);
        assert_eq!(a.area(), 0.0);
        assert!(a.is_empty());
        assert_eq!(a.iou(&BBox::new(0.0, 0.0, 10.0, 10.0)), 0.0);
    }

    #[test]
    fn xywh_and_center_forms_agree() {
        let a = BBox::from_xywh(10.0, 20.0, 30.0, 40.0);
        let b = BBox::from_cxcywh(25.0, 40.0, 30.0, 40.0);
        assert_eq!(a, b);
        assert_eq!(a.bottom_center(), Point::new(25.0, 60.0));
    }
}
