//! The status loop of `vigil run`: every 10 seconds each camera's stream and analysis status goes on the
//! event bus (and judges the stream's health), and the server's figures (detector speed, CPU, storage)
//! go to the alerts.

use super::CameraRuntime;
use std::sync::Arc;
use std::time::Duration;
use vigil_alert::{AlertHandle, ServerStatus};
use vigil_bus::{EventBus, Message, StatusMessage};
use vigil_media::rtsp::StreamState;
use vigil_pipeline::health::StreamSample;
use vigil_store::Store;

/// The server's figures from the cameras' analysis and the store's directories.
fn server_status(
    cameras: &[CameraRuntime],
    storage: Option<vigil_store::StorageStatus>,
    cpu_percent: f64,
) -> ServerStatus {
    let detector: Vec<f64> = cameras
        .iter()
        .filter_map(|c| c.analysis.as_ref())
        .map(|a| a.snapshot().0.detector_ms)
        .filter(|ms| *ms > 0.0)
        .collect();
    let online = cameras
        .iter()
        .filter(|c| {
            c.sub
                .as_ref()
                .or(c.main.as_ref())
                .is_some_and(|s| s.snapshot().state == StreamState::Connected)
        })
        .count();
    ServerStatus {
        detector_ms: (!detector.is_empty())
            .then(|| detector.iter().sum::<f64>() / detector.len() as f64),
        cpu_percent,
        storage_used_bytes: storage
            .as_ref()
            .map(|s| s.dirs.iter().map(|d| d.used_bytes).sum()),
        storage_free_bytes: storage
            .as_ref()
            .map(|s| s.dirs.iter().filter_map(|d| d.free_bytes).sum()),
        cameras_online: online as u32,
        cameras: cameras.len() as u32,
        storage_problems: storage
            .as_ref()
            .map(|s| s.active_alerts.iter().map(|a| a.message.clone()).collect())
            .unwrap_or_default(),
    }
}

/// Publishes each camera's status (online, analysed fps) on the bus, and the server's figures (detector
/// speed, CPU, storage) to the alerts, every 10 seconds.
pub(super) async fn publish_status(
    cameras: Vec<CameraRuntime>,
    bus: EventBus,
    alerts: Option<AlertHandle>,
    store: Option<Arc<Store>>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    let mut cpu = (
        std::time::Instant::now(),
        vigil_pipeline::stats::process_cpu_time(),
    );
    loop {
        tick.tick().await;
        if let Some(alerts) = &alerts {
            let storage = match store.clone() {
                Some(s) => tokio::task::spawn_blocking(move || s.status().ok())
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            let now = (
                std::time::Instant::now(),
                vigil_pipeline::stats::process_cpu_time(),
            );
            let wall = now.0.duration_since(cpu.0).as_secs_f64();
            let cpu_percent = if wall > 0.0 {
                100.0 * now.1.saturating_sub(cpu.1).as_secs_f64() / wall
            } else {
                0.0
            };
            cpu = now;
            alerts.publish_server(&server_status(&cameras, storage, cpu_percent));
        }
        for c in &cameras {
            let super::StreamView {
                stream,
                online,
                fps,
                ..
            } = c.stream_view();
            if let (Some(h), Some(s)) = (&c.stream_health, &stream) {
                let sample = StreamSample {
                    online,
                    fps: s.fps as f32,
                    timestamp_jumps: s.timestamp_jumps,
                    lost_packets: s.lost_packets,
                };
                let events = h
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .observe(vigil_core::time::now_unix_ms(), sample);
                for event in events {
                    bus.publish(Message::Event(Arc::new(vigil_bus::EventMessage {
                        event,
                        snapshot: None,
                    })));
                }
            }
            let message = stream.and_then(|s| if online { None } else { s.last_error });
            bus.publish(Message::Status(Arc::new(StatusMessage {
                camera: c.name.clone(),
                online,
                fps,
                message,
            })));
        }
    }
}
