//! Event snapshots: the analysed frame an event came from, privacy masks blacked out, as a whole-frame JPEG
//! and a crop around the object. Encoded on the analysis thread (CPU only, a few milliseconds, only when
//! an event starts or finds a better view); written to disk by the event store's own writer.

use vigil_bus::Snapshot;
use vigil_core::{BBox, BgrImage, Event, EventPhase, TrackedObject};
use vigil_rules::{PrivacyMask, black_out_masks};

/// JPEG quality of event snapshots.
pub const SNAPSHOT_QUALITY: u8 = 85;

/// Whether `event`, from the frame of `frame_unix_ms`, wants a snapshot of that frame: when it starts, and
/// when its best view is this very frame.
pub fn wants_snapshot(event: &Event, frame_unix_ms: i64) -> bool {
    let best_now = event
        .best
        .as_ref()
        .is_some_and(|b| b.time.unix_ms == frame_unix_ms);
    event.phase == EventPhase::Start || (event.phase == EventPhase::Update && best_now)
}

/// The snapshot of `event` on `frame` (of `frame_unix_ms`, with its `tracks`), `masks` blacked out.
pub fn take_snapshot(
    event: &Event,
    frame: &BgrImage,
    tracks: &[TrackedObject],
    frame_unix_ms: i64,
    masks: &[PrivacyMask],
) -> Result<Snapshot, vigil_media::MediaError> {
    let mut image = frame.clone();
    black_out_masks(&mut image, masks);
    let full = vigil_media::encode::encode_jpeg(&image, SNAPSHOT_QUALITY)?;
    let crop = match snapshot_box(event, tracks, frame_unix_ms) {
        Some(b) => crop_around(&image, &b)
            .map(|c| vigil_media::encode::encode_jpeg(&c, SNAPSHOT_QUALITY))
            .transpose()?,
        None => None,
    };
    Ok(Snapshot {
        full: full.into(),
        crop: crop.map(Into::into),
    })
}

/// A camera's picture for its viewers (a Home Assistant camera entity): the whole frame as JPEG, `masks`
/// blacked out.
pub fn take_picture(
    frame: &BgrImage,
    masks: &[PrivacyMask],
) -> Result<bytes::Bytes, vigil_media::MediaError> {
    let mut image = frame.clone();
    black_out_masks(&mut image, masks);
    Ok(vigil_media::encode::encode_jpeg(&image, SNAPSHOT_QUALITY)?.into())
}

/// Where to crop an event's snapshot on the frame of `frame_unix_ms` with `tracks`: its best view's box
/// when the best view is this frame; otherwise where that object (or, after a change of track id, the
/// event's latest track) is in this frame, since a walking person is no longer where their best view was;
/// the best view's box when none of its tracks is in the frame.
pub fn snapshot_box(event: &Event, tracks: &[TrackedObject], frame_unix_ms: i64) -> Option<BBox> {
    let best = event.best.as_ref()?;
    if best.time.unix_ms == frame_unix_ms {
        return Some(best.bbox);
    }
    let now = |id: u64| tracks.iter().find(|t| t.id == id).map(|t| t.bbox);
    now(best.track_id)
        .or_else(|| event.track_ids.iter().rev().find_map(|&id| now(id)))
        .or(Some(best.bbox))
}

/// The object's box grown by 20% (at least 48 px a side), clipped to the frame; `None` when empty.
pub fn crop_around(image: &BgrImage, b: &BBox) -> Option<BgrImage> {
    let grow = (b.width().max(b.height()) * 0.2).max(8.0);
    let side_min = 48.0;
    let mut r = b.expand(grow);
    if r.width() < side_min {
        let c = r.center().x;
        r.x1 = c - side_min / 2.0;
        r.x2 = c + side_min / 2.0;
    }
    if r.height() < side_min {
        let c = r.center().y;
        r.y1 = c - side_min / 2.0;
        r.y2 = c + side_min / 2.0;
    }
    let r = r.clip(image.width() as f32, image.height() as f32);
    let (x, y) = (r.x1.floor() as u32, r.y1.floor() as u32);
    let (w, h) = (
        (r.x2.ceil() as u32).saturating_sub(x),
        (r.y2.ceil() as u32).saturating_sub(y),
    );
    image
        .crop(x, y, w.min(image.width() - x), h.min(image.height() - y))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::{BestObject, EventId, EventKind, EventTime, Time90k};

    fn at(unix_ms: i64) -> EventTime {
        EventTime {
            unix_ms,
            media: Time90k(unix_ms * 90),
        }
    }

    fn event(track_ids: Vec<u64>, best_track: u64, best_ms: i64) -> Event {
        Event {
            attributes: Default::default(),
            id: EventId::from_parts(1000, 1),
            camera: "c".into(),
            rule: "r".into(),
            kind: EventKind::Intrusion,
            phase: EventPhase::Start,
            class_name: "person".into(),
            objects: Vec::new(),
            track_ids,
            zone: None,
            line: None,
            start: at(0),
            last: at(2000),
            end: None,
            best: Some(BestObject {
                track_id: best_track,
                score: 0.9,
                bbox: BBox::new(10.0, 10.0, 50.0, 110.0),
                frame_w: 640,
                frame_h: 360,
                time: at(best_ms),
            }),
            description: String::new(),
        }
    }

    fn track(id: u64, x: f32) -> TrackedObject {
        TrackedObject {
            id,
            bbox: BBox::new(x, 20.0, x + 40.0, 120.0),
            score: 0.8,
            class_id: 0,
            age: 5,
            matched: true,
        }
    }

    #[test]
    fn snapshots_crop_where_the_object_is_in_the_frame_saved() {
        let best = BBox::new(10.0, 10.0, 50.0, 110.0);
        // The best view is this frame: its box.
        let e = event(vec![1], 1, 2000);
        assert_eq!(snapshot_box(&e, &[track(1, 300.0)], 2000), Some(best));
        // An earlier best view, the person walked on: where they are now.
        assert_eq!(
            snapshot_box(&e, &[track(2, 100.0), track(1, 300.0)], 2100),
            Some(track(1, 300.0).bbox)
        );
        // Re-found under a new id: the event's latest track.
        let e = event(vec![1, 7], 1, 1500);
        assert_eq!(
            snapshot_box(&e, &[track(7, 200.0)], 2100),
            Some(track(7, 200.0).bbox)
        );
        // Not in this frame: the best view's box; no best view: nothing.
        assert_eq!(snapshot_box(&e, &[track(3, 200.0)], 2100), Some(best));
        let mut none = e.clone();
        none.best = None;
        assert_eq!(snapshot_box(&none, &[track(7, 200.0)], 2100), None);
    }
}
