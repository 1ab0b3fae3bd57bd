//! What travels on `vigil run`'s event bus.

use crate::Payload;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use vigil_core::{Event, EventPhase};
use vigil_rules::{LineCounts, ZoneOccupancy};

/// One message on the event bus. Cloning is a reference count.
#[derive(Debug, Clone)]
pub enum Message {
    /// An event's start, update or end, with the snapshot taken for it.
    Event(Arc<EventMessage>),
    /// A camera's line counts and zone occupancy (state: the newest supersedes a queued one).
    Counts(Arc<CountsMessage>),
    /// A camera's status (state: the newest supersedes a queued one).
    Status(Arc<StatusMessage>),
    /// What a camera sees now besides events: motion, objects in view, now and then a picture (state: the
    /// newest supersedes a queued one).
    View(Arc<ViewMessage>),
    /// A person's appearance on a camera, once their track ended (for the event store).
    Appearance(Arc<vigil_core::Appearance>),
    /// The path an object took across a camera's picture, once its track ended (for the event store).
    TrackPath(Arc<vigil_core::TrackPath>),
}

/// An event and its snapshot.
#[derive(Debug, Clone)]
pub struct EventMessage {
    /// The event's whole current state (every phase carries all of it under one id).
    pub event: Event,
    /// JPEG images of the frame it came from, when this message has one (starts, better views).
    pub snapshot: Option<Snapshot>,
}

/// An event's snapshot: the whole frame and a crop around the object, as JPEG, privacy masks applied.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The whole frame.
    pub full: Bytes,
    /// The object with some context.
    pub crop: Option<Bytes>,
}

impl Snapshot {
    fn bytes(&self) -> usize {
        self.full.len() + self.crop.as_ref().map_or(0, Bytes::len)
    }
}

/// A camera's counters.
#[derive(Debug, Clone)]
pub struct CountsMessage {
    /// The camera.
    pub camera: String,
    /// Its lines' crossing counts.
    pub lines: Vec<LineCounts>,
    /// Its zones' occupancy.
    pub zones: Vec<ZoneOccupancy>,
}

/// A camera's status.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusMessage {
    /// The camera.
    pub camera: String,
    /// Its stream is connected.
    pub online: bool,
    /// Analysed (or received) frames per second.
    pub fps: f32,
    /// Why it is not online, or a degraded state.
    pub message: Option<String>,
}

/// What an analysed camera sees now, published on every change and at least once a second (so that a
/// consumer holding a state, like a motion sensor's off delay, sees time pass).
#[derive(Debug, Clone, PartialEq)]
pub struct ViewMessage {
    /// The camera.
    pub camera: String,
    /// Motion in this frame.
    pub motion: bool,
    /// Objects in view (confirmed tracks) per class name.
    pub in_view: BTreeMap<String, u32>,
    /// The frame as JPEG (privacy masks applied), every few seconds when asked for.
    pub picture: Option<Bytes>,
}

impl Payload for Message {
    fn weight(&self) -> usize {
        match self {
            Message::Event(e) => e.snapshot.as_ref().map_or(0, Snapshot::bytes),
            Message::View(v) => v.picture.as_ref().map_or(0, Bytes::len),
            Message::Appearance(a) => a.embedding.len() * 4,
            Message::TrackPath(p) => p.points.len() * 16,
            _ => 0,
        }
    }

    /// A queued update of an event is superseded by a newer update or by its end (keeping a snapshot the
    /// queued one had and the newer one lacks); counts and status by newer ones of the same camera.
    /// Starts are never merged: consumers see every event begin.
    fn absorb(&mut self, newer: &Self) -> bool {
        match (self, newer) {
            (Message::Event(queued), Message::Event(new)) => {
                let same = queued.event.id == new.event.id
                    && queued.event.phase == EventPhase::Update
                    && matches!(new.event.phase, EventPhase::Update | EventPhase::End);
                if same {
                    let snapshot = new.snapshot.clone().or_else(|| queued.snapshot.clone());
                    *queued = Arc::new(EventMessage {
                        event: new.event.clone(),
                        snapshot,
                    });
                }
                same
            }
            (Message::Counts(queued), Message::Counts(new)) if queued.camera == new.camera => {
                *queued = new.clone();
                true
            }
            (Message::Status(queued), Message::Status(new)) if queued.camera == new.camera => {
                *queued = new.clone();
                true
            }
            (Message::View(queued), Message::View(new)) if queued.camera == new.camera => {
                // A newer view without a picture keeps the queued one's picture.
                let picture = new.picture.clone().or_else(|| queued.picture.clone());
                *queued = Arc::new(ViewMessage {
                    picture,
                    ..(**new).clone()
                });
                true
            }
            _ => false,
        }
    }

    fn shed(&mut self) -> usize {
        match self {
            Message::View(v) if v.picture.is_some() => {
                let freed = v.picture.as_ref().map_or(0, Bytes::len);
                *v = Arc::new(ViewMessage {
                    picture: None,
                    ..(**v).clone()
                });
                freed
            }
            Message::Event(e) if e.snapshot.is_some() => {
                let freed = e.snapshot.as_ref().map_or(0, Snapshot::bytes);
                tracing::warn!(
                    event = %e.event.id,
                    camera = e.event.camera,
                    "event store behind: this event's snapshot was dropped to bound memory (the event is kept)"
                );
                *e = Arc::new(EventMessage {
                    event: e.event.clone(),
                    snapshot: None,
                });
                freed
            }
            _ => 0,
        }
    }
}
