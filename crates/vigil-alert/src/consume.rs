//! Alerts as a consumer of the event bus: a task on the I/O runtime that hands each event, count, status
//! and view message to the dispatcher (whose own queues, retries and dead letters take over from there).
//! Nothing here touches the disk, so an alert is never behind an event store write.

use crate::{AlertHandle, CameraStatus};
use vigil_bus::{Message, Subscription};

impl AlertHandle {
    /// Delivers every message of `subscription` until the bus closes. Run it as a tokio task. A message
    /// whose delivery panics is logged and counted on the subscription; the next one goes on.
    pub async fn consume(self, subscription: Subscription<Message>) {
        subscription
            .run_async(|m| match m {
                Message::Event(e) => {
                    // The event's picture (the crop around the object) for Home Assistant's image entity.
                    if let Some(s) = &e.snapshot {
                        let picture = s.crop.as_ref().unwrap_or(&s.full);
                        self.publish_event_snapshot(&e.event.camera, picture);
                    }
                    self.publish_event(&e.event);
                }
                Message::Counts(c) => self.publish_counts(&c.camera, &c.lines, &c.zones),
                Message::Status(s) => self.publish_camera_status(
                    &s.camera,
                    &CameraStatus {
                        online: s.online,
                        fps: s.fps,
                        message: s.message.clone(),
                    },
                ),
                Message::View(v) => {
                    self.publish_motion(&v.camera, v.motion);
                    self.publish_occupancy(&v.camera, &v.in_view);
                    if let Some(picture) = &v.picture {
                        self.publish_snapshot(&v.camera, picture);
                    }
                }
                // Appearances and paths are kept by the store, never sent out.
                Message::Appearance(_) | Message::TrackPath(_) => {}
            })
            .await;
    }
}
