//! Vigil domain types shared by every crate: geometry, images, detections, tracks, events, time and latency
//! figures.
//!
//! This crate holds data and the small, exact operations on it (IoU, crops, time conversion).
//! It has no I/O and no heavy dependencies, so every other crate can use it.

pub mod account;
pub mod assign;
pub mod attributes;
pub mod coco;
pub mod config;
pub mod controls;
pub mod detection;
pub mod embedding;
pub mod event;
pub mod geometry;
pub mod image;
pub mod latency;
pub mod media;
pub mod privacy;
pub mod severity;
pub mod thread;
pub mod time;
pub mod track;

pub use attributes::{Attributes, Colour, Heading};
pub use controls::{CameraControls, Switch};
pub use detection::{ClassId, Detection};
pub use event::{
    BIOMETRIC_KINDS, BestObject, ClassCount, CrossingDirection, Event, EventId, EventKind,
    EventPhase, EventTime, HEALTH_STATES, INFO_HEALTH_STATES, IR_MODE, ONVIF_SIGNALS, OTHER_KINDS,
    RULE_KINDS, STREAM_HEALTH_STATES, health_rule, onvif_rule,
};
pub use geometry::{BBox, Point};
pub use image::{BgrImage, GrayImage, ImageError};
pub use media::{EncodedFrame, VideoCodec, VideoParams};
pub use privacy::{Redaction, RedactionReport};
pub use severity::Severity;
pub use time::{TICKS_PER_SECOND, Time90k};
pub use track::{Appearance, PathPoint, TrackId, TrackPath, TrackedObject};
