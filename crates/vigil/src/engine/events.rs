//! Where events go: the event store (with snapshots, whose footage retention then keeps longer) and the
//! alert dispatcher (MQTT, webhooks, outputs). Failures are logged and counted; they never stop analysis.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::warn;
use vigil_alert::{AlertHandle, CameraStatus};
use vigil_core::{BBox, BgrImage, Event, EventPhase};
use vigil_rules::{LineCounts, PrivacyMask, ZoneOccupancy, black_out_masks};
use vigil_store::Store;

/// JPEG quality of event snapshots.
const SNAPSHOT_QUALITY: u8 = 85;

/// Delivers events and counts to the store and the alerts.
pub struct EventSink {
    store: Option<Arc<Store>>,
    alerts: Option<AlertHandle>,
    /// Events recorded.
    pub recorded: AtomicU64,
    /// Store or snapshot failures.
    pub failures: AtomicU64,
}

impl EventSink {
    /// A sink writing to `store` (when recording) and publishing to `alerts` (when configured).
    pub fn new(store: Option<Arc<Store>>, alerts: Option<AlertHandle>) -> Self {
        Self {
            store,
            alerts,
            recorded: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// Records and publishes one event. `frame` is the analysed frame it came from (for the snapshot),
    /// `frame_unix_ms` that frame's time; `masks` are the camera's privacy masks, blacked out in snapshots.
    pub fn handle(
        &self,
        event: &Event,
        frame: Option<&BgrImage>,
        frame_unix_ms: i64,
        masks: &[PrivacyMask],
    ) {
        if let Some(store) = &self.store {
            match store.record_event(event) {
                Ok(_) => {
                    self.recorded.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    warn!(
                        camera = event.camera,
                        rule = event.rule,
                        "event not stored: {e}"
                    );
                }
            }
            // A snapshot when the event starts, and again when its best view is this very frame.
            let best_now = event
                .best
                .as_ref()
                .is_some_and(|b| b.time.unix_ms == frame_unix_ms);
            let wanted =
                event.phase == EventPhase::Start || (event.phase == EventPhase::Update && best_now);
            if let (true, Some(frame)) = (wanted, frame)
                && let Err(e) = self.snapshot(store, event, frame, masks)
            {
                self.failures.fetch_add(1, Ordering::Relaxed);
                warn!(
                    camera = event.camera,
                    rule = event.rule,
                    "snapshot not saved: {e:#}"
                );
            }
        }
        if let Some(alerts) = &self.alerts {
            alerts.publish_event(event);
        }
    }

    fn snapshot(
        &self,
        store: &Store,
        event: &Event,
        frame: &BgrImage,
        masks: &[PrivacyMask],
    ) -> anyhow::Result<()> {
        let mut image = frame.clone();
        black_out_masks(&mut image, masks);
        let full = vigil_media::encode::encode_jpeg(&image, SNAPSHOT_QUALITY)?;
        let crop = match event.best.as_ref().map(|b| b.bbox) {
            Some(b) => crop_around(&image, &b)
                .map(|c| vigil_media::encode::encode_jpeg(&c, SNAPSHOT_QUALITY))
                .transpose()?,
            None => None,
        };
        store.save_snapshot(event.id, &full, crop.as_deref())?;
        Ok(())
    }

    /// Publishes line counts and zone occupancy (MQTT retained state).
    pub fn counts(&self, camera: &str, lines: &[LineCounts], zones: &[ZoneOccupancy]) {
        if let Some(alerts) = &self.alerts {
            alerts.publish_counts(camera, lines, zones);
        }
    }

    /// Publishes a camera's status (MQTT retained state).
    pub fn camera_status(&self, camera: &str, status: &CameraStatus) {
        if let Some(alerts) = &self.alerts {
            alerts.publish_camera_status(camera, status);
        }
    }
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
