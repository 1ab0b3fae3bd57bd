//! Tracker output: an object followed across frames with a stable identity.

use crate::detection::ClassId;
use crate::geometry::BBox;
use serde::{Deserialize, Serialize};

/// Stable identity of a track within one camera (never reused while the process lives).
pub type TrackId = u64;

/// A confirmed track as seen in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackedObject {
    /// Stable track identity.
    pub id: TrackId,
    /// Box in frame pixels (the tracker's estimate for this frame).
    pub bbox: BBox,
    /// Score of the detection matched in this frame (or the last one matched).
    pub score: f32,
    /// Class index (the class most often detected for this track).
    pub class_id: ClassId,
    /// Frames since the track was born.
    pub age: u32,
    /// True when a detection was matched to the track in this frame; false while it coasts on prediction.
    pub matched: bool,
}

/// A person as the analysis saw them on one camera from `first_ms` to `last_ms`: their track and mean
/// appearance embedding (re-identification, unit length), kept so that "where else was this person?" can
/// be asked later across cameras.
#[derive(Debug, Clone, PartialEq)]
pub struct Appearance {
    /// Camera name.
    pub camera: String,
    /// The track (after re-linking: the person's id on that camera).
    pub track: TrackId,
    /// First seen (unix ms).
    pub first_ms: i64,
    /// Last seen (unix ms).
    pub last_ms: i64,
    /// Mean appearance embedding, unit length.
    pub embedding: Vec<f32>,
}

/// One point of an object's path: where its box touched the ground (the middle of its bottom edge) and
/// the box's size, normalised to the frame (0..1), at `ms` (unix ms). The box is `x - w/2 .. x + w/2`
/// across and `y - h .. y` down.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PathPoint {
    /// When (unix ms).
    pub ms: i64,
    /// Across (0 left, 1 right).
    pub x: f32,
    /// Down (0 top, 1 bottom).
    pub y: f32,
    /// The box's width.
    pub w: f32,
    /// The box's height.
    pub h: f32,
}

/// The path an object took across one camera's picture while it was tracked, sampled (for the object
/// lifecycle view: the path over a snapshot, with the zones it entered and left).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackPath {
    /// Camera name.
    pub camera: String,
    /// The track.
    pub track: TrackId,
    /// Its class (`person`, `car`...).
    pub class: String,
    /// First seen (unix ms).
    pub first_ms: i64,
    /// Last seen (unix ms).
    pub last_ms: i64,
    /// The points, oldest first.
    pub points: Vec<PathPoint>,
    /// What the object looked like and how it moved (empty when unknown).
    #[serde(default, skip_serializing_if = "crate::Attributes::is_empty")]
    pub attributes: crate::Attributes,
}
