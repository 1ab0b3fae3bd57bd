//! A camera's own ONVIF events (motion, tamper) as Vigil events: [`OnvifEvents`] turns the notifications
//! of the camera's pull point into `onvif_event` events with the rules' lifecycle (start when the camera
//! says a state is on, end when it says it is off), on the event bus like any other event, so they are
//! stored, pushed to the console, sent to MQTT (one Home Assistant sensor per signal: rule
//! `onvif_motion`, `onvif_tamper`) and to webhooks.
//!
//! [`OnvifEventSource::run`] is the per-camera thread: it connects to the device, subscribes to its pull
//! point, pulls (long polling, a few seconds at a time), renews the subscription before it runs out and,
//! when the device goes away, ends the open events and connects again with a growing backoff. A device
//! without an event service (ipycam has none) is said once in the log, and the thread ends. Nothing here
//! touches the analysis.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};
use vigil_bus::{EventBus, EventMessage, Message};
use vigil_core::{Event, EventKind, EventPhase, EventTime, onvif_rule};
use vigil_onvif::{ClientOptions, Credentials, Device, PullPointOptions, PullPointSubscription};
use vigil_rules::{IdGen, TimeZone};

/// How long one pull waits on the device for notifications (long polling); also how long a stop may
/// wait for the thread.
const PULL_WAIT: Duration = Duration::from_secs(2);
/// Time allowed for one call to the device (a pull gets its wait on top): with [`PULL_WAIT`], how long a
/// stop may wait for a device that accepts connections and never answers.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Notifications asked for per pull.
const PULL_LIMIT: u32 = 64;
/// Subscription lifetime asked for; renewed at half of it.
const LIFETIME: Duration = Duration::from_secs(60);
/// Reconnection backoff: first wait, and the longest.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The open ONVIF events of one camera, made and ended from the camera's notifications.
pub struct OnvifEvents {
    camera: String,
    ids: IdGen,
    tz: TimeZone,
    /// Open events by (signal, source).
    open: BTreeMap<(String, String), Event>,
}

impl OnvifEvents {
    /// Events of `camera`, described in `tz`.
    pub fn new(camera: &str, tz: TimeZone) -> OnvifEvents {
        OnvifEvents {
            camera: camera.to_string(),
            ids: IdGen::new(&format!("{camera}/onvif")),
            tz,
            open: BTreeMap::new(),
        }
    }

    /// The events one notification starts or ends, seen at `unix_ms` (Vigil's clock: the camera's may be
    /// off). Motion and tamper notifications with a boolean state count; others are ignored, as is a
    /// state that is already so (repeated `Changed`, `Initialized` after a reconnection).
    pub fn observe(&mut self, n: &vigil_onvif::Event, unix_ms: i64) -> Vec<Event> {
        let signal = match n.kind {
            vigil_onvif::EventKind::Motion => "motion",
            vigil_onvif::EventKind::Tamper => "tamper",
            vigil_onvif::EventKind::Other => return Vec::new(),
        };
        let Some(active) = n.active() else {
            debug!(camera = %self.camera, topic = %n.topic, "ONVIF event without a state: ignored");
            return Vec::new();
        };
        let source = (!n.source.is_empty()).then(|| {
            n.source
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let key = (signal.to_string(), source.clone().unwrap_or_default());
        let at = EventTime {
            unix_ms,
            media: Default::default(),
        };
        if active {
            if self.open.contains_key(&key) {
                return Vec::new();
            }
            let mut e = Event {
                attributes: Default::default(),
                id: self.ids.next(unix_ms),
                camera: self.camera.clone(),
                rule: onvif_rule(signal),
                kind: EventKind::OnvifEvent {
                    signal: signal.to_string(),
                    topic: n.topic.clone(),
                    source,
                },
                phase: EventPhase::Start,
                class_name: String::new(),
                objects: Vec::new(),
                track_ids: Vec::new(),
                zone: None,
                line: None,
                start: at,
                last: at,
                end: None,
                best: None,
                description: String::new(),
            };
            e.description = vigil_rules::describe(&e, &self.tz);
            self.open.insert(key, e.clone());
            vec![e]
        } else {
            self.end(&key, at).into_iter().collect()
        }
    }

    fn end(&mut self, key: &(String, String), at: EventTime) -> Option<Event> {
        let e = self.open.remove(key)?;
        Some(vigil_rules::ended(e, at, &self.tz))
    }

    /// Ends every open event at `unix_ms` (the subscription was lost, or Vigil stops).
    pub fn close(&mut self, unix_ms: i64) -> Vec<Event> {
        let at = EventTime {
            unix_ms,
            media: Default::default(),
        };
        let keys: Vec<(String, String)> = self.open.keys().cloned().collect();
        keys.iter().filter_map(|k| self.end(k, at)).collect()
    }

    /// The signals on now (`motion`, `tamper`), one per open event.
    pub fn active(&self) -> Vec<String> {
        self.open.keys().map(|(s, _)| s.clone()).collect()
    }
}

/// One camera's ONVIF event reader (a thread of `vigil run` per camera with an `onvif` address).
pub struct OnvifEventSource {
    /// Camera name.
    pub camera: String,
    /// Its ONVIF device service URL.
    pub url: String,
    /// Its WS-Security credentials.
    pub credentials: Option<Credentials>,
    /// The time zone its event descriptions are written in.
    pub tz: TimeZone,
    /// Where its events go.
    pub bus: EventBus,
    /// Set to end the thread (it ends within [`PULL_WAIT`] plus one call's timeout, 5 s at most).
    pub stop: Arc<AtomicBool>,
}

/// Why a subscription ended.
enum Ended {
    /// Vigil stops.
    Stopped,
    /// The device has no event service: nothing to read, ever.
    NoService(String),
    /// The device failed; connect again later.
    Failed(String),
}

impl OnvifEventSource {
    /// Reads the camera's events until [`OnvifEventSource::stop`] is set or the device turns out to have
    /// no event service.
    pub fn run(self) {
        let mut events = OnvifEvents::new(&self.camera, self.tz.clone());
        let mut backoff = BACKOFF_FIRST;
        let mut failing = false;
        loop {
            let ended = self.subscription(&mut events, &mut failing, &mut backoff);
            for e in events.close(vigil_core::time::now_unix_ms()) {
                self.publish(e);
            }
            match ended {
                Ended::Stopped => return,
                Ended::NoService(why) => {
                    info!(camera = %self.camera, "no ONVIF events from this camera: {why}");
                    return;
                }
                Ended::Failed(why) => {
                    if failing {
                        debug!(camera = %self.camera, "ONVIF events: {why}; trying again in {backoff:?}");
                    } else {
                        warn!(camera = %self.camera, "ONVIF events: {why}; trying again in {backoff:?} (and with a growing wait, quietly)");
                        failing = true;
                    }
                }
            }
            if !self.sleep(backoff) {
                return;
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// One connection and subscription, pulled until it fails or Vigil stops.
    fn subscription(
        &self,
        events: &mut OnvifEvents,
        failing: &mut bool,
        backoff: &mut Duration,
    ) -> Ended {
        let options = ClientOptions {
            timeout: CALL_TIMEOUT,
        };
        let device = match Device::connect(&self.url, self.credentials.clone(), &options) {
            Ok(d) => d,
            Err(e) => return Ended::Failed(e.to_string()),
        };
        if device.services().events.is_none() {
            return Ended::NoService("the device advertises no event service".into());
        }
        let options = PullPointOptions {
            lifetime: LIFETIME,
            topic_filter: None,
        };
        let mut sub = match device.pull_point(&options) {
            Ok(s) => s,
            Err(e @ vigil_onvif::Error::NotSupported(_)) => return Ended::NoService(e.to_string()),
            Err(e) => return Ended::Failed(format!("subscribing: {e}")),
        };
        if std::mem::take(failing) {
            info!(camera = %self.camera, "ONVIF events: subscribed again");
        } else {
            info!(camera = %self.camera, "ONVIF events: subscribed");
        }
        *backoff = BACKOFF_FIRST;
        let ended = self.pull(&mut sub, events);
        if let Err(e) = sub.unsubscribe() {
            debug!(camera = %self.camera, "ONVIF unsubscribe: {e}");
        }
        ended
    }

    fn pull(&self, sub: &mut PullPointSubscription, events: &mut OnvifEvents) -> Ended {
        let mut renewed = Instant::now();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ended::Stopped;
            }
            if renewed.elapsed() >= LIFETIME / 2 {
                if let Err(e) = sub.renew(LIFETIME) {
                    return Ended::Failed(format!("renewing the subscription: {e}"));
                }
                renewed = Instant::now();
            }
            match sub.pull(PULL_WAIT, PULL_LIMIT) {
                Ok(notifications) => {
                    let now = vigil_core::time::now_unix_ms();
                    for n in &notifications {
                        for e in events.observe(n, now) {
                            self.publish(e);
                        }
                    }
                }
                Err(e) => return Ended::Failed(format!("pulling messages: {e}")),
            }
        }
    }

    fn publish(&self, event: Event) {
        self.bus.publish(Message::Event(Arc::new(EventMessage {
            event,
            snapshot: None,
        })));
    }

    /// Sleeps `d` in small steps; false when told to stop meanwhile.
    fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        !self.stop.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_onvif::EventKind as K;

    fn tz() -> TimeZone {
        TimeZone::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap_or_else(|_| TimeZone::utc())
    }

    fn n(
        kind: K,
        topic: &str,
        op: &str,
        source: &[(&str, &str)],
        data: (&str, &str),
    ) -> vigil_onvif::Event {
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        vigil_onvif::Event {
            topic: topic.into(),
            kind,
            time: Some("2024-06-07T12:02:31Z".into()),
            property_operation: Some(op.into()),
            source: pairs(source),
            key: Vec::new(),
            data: pairs(&[data]),
        }
    }

    const T0: i64 = 1_717_761_751_000;
    const MOTION: &str = "tns1:RuleEngine/CellMotionDetector/Motion";
    const CELL: [(&str, &str); 2] = [
        ("VideoSourceConfigurationToken", "VideoSourceToken"),
        ("Rule", "MyMotionDetectorRule"),
    ];

    /// A Hikvision-shaped cell motion sequence: the state at subscription (`Initialized`, false), motion
    /// on, a repeat, motion off; one event with start and end.
    #[test]
    fn motion_on_and_off_is_one_event_with_start_and_end() {
        let mut ev = OnvifEvents::new("lobby", tz());
        assert!(
            ev.observe(
                &n(
                    K::Motion,
                    MOTION,
                    "Initialized",
                    &CELL,
                    ("IsMotion", "false")
                ),
                T0
            )
            .is_empty()
        );
        let start = ev.observe(
            &n(K::Motion, MOTION, "Changed", &CELL, ("IsMotion", "true")),
            T0 + 1000,
        );
        assert_eq!(start.len(), 1);
        let s = &start[0];
        assert_eq!(s.phase, EventPhase::Start);
        assert_eq!(s.rule, "onvif_motion");
        assert_eq!(s.kind.name(), "onvif_event");
        assert_eq!(s.camera, "lobby");
        assert_eq!(s.start.unix_ms, T0 + 1000);
        assert!(
            s.description.starts_with("The camera reports motion (VideoSourceConfigurationToken=VideoSourceToken, Rule=MyMotionDetectorRule) since 14:02:32"),
            "{}",
            s.description
        );
        assert_eq!(ev.active(), vec!["motion".to_string()]);
        // A repeat of the same state changes nothing.
        assert!(
            ev.observe(
                &n(K::Motion, MOTION, "Changed", &CELL, ("IsMotion", "true")),
                T0 + 2000
            )
            .is_empty()
        );
        let end = ev.observe(
            &n(K::Motion, MOTION, "Changed", &CELL, ("IsMotion", "false")),
            T0 + 9000,
        );
        assert_eq!(end.len(), 1);
        let e = &end[0];
        assert_eq!((e.id, e.phase), (s.id, EventPhase::End));
        assert_eq!(e.end.map(|t| t.unix_ms), Some(T0 + 9000));
        assert!(e.description.contains("for 8 s"), "{}", e.description);
        assert!(ev.active().is_empty());
    }

    /// Axis-shaped tamper (`State`) and a motion alarm of a second source run side by side; events of
    /// other topics and without a state are ignored; closing ends what is open.
    #[test]
    fn tamper_and_sources_are_kept_apart_and_closed_at_the_end() {
        let mut ev = OnvifEvents::new("yard", tz());
        let tamper = ev.observe(
            &n(
                K::Tamper,
                "tns1:VideoSource/GlobalSceneChange/ImagingService",
                "Changed",
                &[("Source", "0")],
                ("State", "1"),
            ),
            T0,
        );
        assert_eq!(tamper.len(), 1);
        assert_eq!(tamper[0].rule, "onvif_tamper");
        assert!(
            tamper[0].description.contains("tampering (Source=0)"),
            "{}",
            tamper[0].description
        );
        let a = ev.observe(
            &n(
                K::Motion,
                "tns1:VideoSource/MotionAlarm",
                "Changed",
                &[("Source", "1")],
                ("State", "true"),
            ),
            T0 + 100,
        );
        let b = ev.observe(
            &n(
                K::Motion,
                "tns1:VideoSource/MotionAlarm",
                "Changed",
                &[("Source", "2")],
                ("State", "true"),
            ),
            T0 + 200,
        );
        assert_eq!((a.len(), b.len()), (1, 1));
        assert_ne!(a[0].id, b[0].id);
        assert!(
            ev.observe(
                &n(
                    K::Other,
                    "tns1:Device/Trigger/DigitalInput",
                    "Changed",
                    &[],
                    ("LogicalState", "true")
                ),
                T0
            )
            .is_empty()
        );
        assert!(
            ev.observe(
                &n(K::Motion, MOTION, "Changed", &CELL, ("Level", "high")),
                T0
            )
            .is_empty()
        );
        // An end before its start (clocks) never makes a negative event.
        let ended = ev.observe(
            &n(
                K::Motion,
                "tns1:VideoSource/MotionAlarm",
                "Changed",
                &[("Source", "1")],
                ("State", "false"),
            ),
            T0 - 5000,
        );
        assert_eq!(ended[0].end.map(|t| t.unix_ms), Some(T0 + 100));
        let closed = ev.close(T0 + 60_000);
        assert_eq!(closed.len(), 2);
        assert!(
            closed
                .iter()
                .all(|e| e.phase == EventPhase::End && e.end.is_some())
        );
        assert!(ev.close(T0 + 61_000).is_empty());
    }

    /// The thread against a device that is not there: it keeps trying quietly and stops when told.
    #[test]
    fn an_unreachable_device_is_retried_until_stopped() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let stop = Arc::new(AtomicBool::new(false));
        let source = OnvifEventSource {
            camera: "gone".into(),
            url: format!("http://127.0.0.1:{port}/onvif/device_service"),
            credentials: None,
            tz: tz(),
            bus: EventBus::new(),
            stop: stop.clone(),
        };
        let t = std::thread::spawn(move || source.run());
        std::thread::sleep(Duration::from_millis(300));
        assert!(!t.is_finished(), "it gives up on an unreachable device");
        let asked = Instant::now();
        stop.store(true, Ordering::Relaxed);
        assert!(t.join().is_ok());
        assert!(asked.elapsed() < Duration::from_secs(2));
    }
}
