//! When the shared detector cannot keep up, the degraded cameras, their common lower rate and each camera's
//! health state ("analysis degraded: N fps of M") are on `/metrics` and `/api/system`.

use crate::common::{Auth, Setup, TestServer};
use std::sync::Arc;
use vigil_server::{CameraHealth, DetectorHealth, StatusSource, SystemStatus};

/// Two analysed cameras: `cam-a` degraded to the common rate, `cam-b` (no motion, needs no detector) at its
/// target.
struct Degraded;

impl StatusSource for Degraded {
    fn status(&self) -> SystemStatus {
        let camera = |name: &str, fps: f64, state: Option<&str>| CameraHealth {
            name: name.into(),
            analysing: true,
            online: true,
            fps_analysed: fps,
            fps_target: 5.0,
            analysis_state: state.map(str::to_string),
            ..CameraHealth::default()
        };
        SystemStatus {
            cameras: vec![
                CameraHealth {
                    health: vec!["covered".into(), "stream_quality".into()],
                    crowd: Some(vigil_server::CrowdHealth {
                        counts: 12,
                        runs: 65,
                        mean_ms: 84.5,
                        people: 31,
                    }),
                    ..camera("cam-a", 3.1, Some("analysis degraded: 3.1 fps of 5"))
                },
                camera("cam-b", 5.0, None),
            ],
            warnings: vec!["MQTT disconnected (client id vigil-test)".into()],
            detector: DetectorHealth {
                fair_fps: Some(3.1),
                ..DetectorHealth::default()
            },
            ..SystemStatus::default()
        }
    }
}

#[test]
fn degraded_analysis_is_on_metrics_and_in_the_camera_health() {
    let (s, admin) = TestServer::with_admin(Setup {
        status: Some(Arc::new(Degraded)),
        ..Setup::default()
    });
    let a = Auth::Session(admin);
    let m = s.call("GET", "/metrics", &a, None);
    assert_eq!(m.status, 200);
    let text = m.text();
    for line in [
        "vigil_camera_analysis_degraded{camera=\"cam-a\"} 1",
        "vigil_camera_analysis_degraded{camera=\"cam-b\"} 0",
        "vigil_camera_fps_target{camera=\"cam-a\"} 5",
        "vigil_camera_fps_analysed{camera=\"cam-a\"} 3.1",
        "vigil_analysis_fair_fps 3.1",
        "vigil_camera_health_problems{camera=\"cam-a\"} 2",
        "vigil_camera_health_problems{camera=\"cam-b\"} 0",
        "vigil_camera_crowd_counts_total{camera=\"cam-a\"} 12",
        "vigil_camera_crowd_model_runs_total{camera=\"cam-a\"} 65",
        "vigil_camera_crowd_count_ms{camera=\"cam-a\"} 84.5",
        "vigil_camera_crowd_people{camera=\"cam-a\"} 31",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    // A camera that does not count crowds has no crowd series.
    assert!(
        !text.contains("vigil_camera_crowd_people{camera=\"cam-b\"}"),
        "{text}"
    );
    let sys = s.call("GET", "/api/system", &a, None).json();
    assert_eq!(
        sys["cameras"][0]["analysis_state"],
        "analysis degraded: 3.1 fps of 5"
    );
    assert!(sys["cameras"][1]["analysis_state"].is_null());
    assert_eq!(sys["detector"]["fair_fps"], 3.1);
    // Camera health states and what is wrong, in words.
    assert_eq!(
        sys["cameras"][0]["health"],
        serde_json::json!(["covered", "stream_quality"])
    );
    assert_eq!(sys["cameras"][1]["health"], serde_json::json!([]));
    assert_eq!(
        sys["warnings"],
        serde_json::json!(["MQTT disconnected (client id vigil-test)"])
    );
}

#[test]
fn a_detector_that_keeps_up_states_no_common_rate() {
    let (s, admin) = TestServer::with_admin(Setup::default());
    let text = s
        .call("GET", "/metrics", &Auth::Session(admin), None)
        .text();
    assert!(
        text.contains("# TYPE vigil_analysis_fair_fps gauge"),
        "{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("vigil_analysis_fair_fps ")),
        "{text}"
    );
}
