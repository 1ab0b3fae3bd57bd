//! The cameras' ONVIF side while `vigil run` runs, for every enabled camera with an `onvif` address: its
//! PTZ link (shared with the server's PTZ routes), a thread reading its own events (motion, tamper) from
//! its pull point onto the event bus, and, with `autotrack`, a thread keeping the followed object centred.
//! What each thread does lives in `vigil_pipeline::onvif_events` and `vigil_pipeline::autotrack`; threads
//! and their channels: `docs/design/threads.md`.

use anyhow::Context;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::{error, warn};
use vigil_bus::{EventBus, OverlaySender};
use vigil_config::VigilConfig;
use vigil_core::config::CameraConfig;
use vigil_core::thread::thread_name;
use vigil_onvif::{ClientOptions, Credentials, PtzLink};
use vigil_pipeline::autotrack::AutotrackTask;
use vigil_pipeline::onvif_events::OnvifEventSource;

/// The ONVIF threads and PTZ links of the running cameras.
#[derive(Default)]
pub struct Onvif {
    links: BTreeMap<String, Arc<PtzLink>>,
    stop: Arc<AtomicBool>,
    threads: Vec<(String, std::thread::JoinHandle<()>)>,
}

impl Onvif {
    /// Starts `camera`'s ONVIF side when it has an `onvif` address: its PTZ link (nothing is sent until it
    /// is used), its event reader, and its autotracker when configured and the camera is `analysed`.
    pub fn start_camera(
        &mut self,
        config: &VigilConfig,
        camera: &CameraConfig,
        bus: &EventBus,
        overlay: &OverlaySender,
        analysed: bool,
    ) -> anyhow::Result<()> {
        let Some(url) = &camera.onvif else {
            return Ok(());
        };
        let name = camera.name.clone();
        let credentials = camera
            .credentials()
            .map(|c| Credentials::new(c.username, c.password.expose()));
        let link = Arc::new(PtzLink::new(
            url.as_str(),
            credentials.clone(),
            ClientOptions::default(),
        ));
        self.links.insert(name.clone(), link.clone());
        let events = OnvifEventSource {
            camera: name.clone(),
            url: url.to_string(),
            credentials,
            tz: crate::stages::camera_tz(config, &name)?,
            bus: bus.clone(),
            stop: self.stop.clone(),
        };
        self.spawn(thread_name("onv", &name), move || events.run())?;
        match &camera.autotrack {
            Some(autotrack) if analysed => {
                let task = AutotrackTask {
                    camera: name.clone(),
                    link,
                    config: autotrack.clone(),
                    frames: overlay.subscribe(),
                    stop: self.stop.clone(),
                };
                self.spawn(thread_name("ptz", &name), move || task.run())?;
            }
            Some(_) => warn!(
                camera = %name,
                "autotrack is set but the camera is not analysed ([analysis] enabled = false): off"
            ),
            None => {}
        }
        Ok(())
    }

    fn spawn(&mut self, name: String, f: impl FnOnce() + Send + 'static) -> anyhow::Result<()> {
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(f)
            .with_context(|| format!("starting thread {name}"))?;
        self.threads.push((name, handle));
        Ok(())
    }

    /// The PTZ links of the cameras with an ONVIF address, by camera name.
    pub fn links(&self) -> BTreeMap<String, Arc<PtzLink>> {
        self.links.clone()
    }

    /// Stops every thread (autotrackers stop their camera, event readers end their open events) and
    /// waits for them; returns the names of those that panicked.
    pub fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        let mut panicked = Vec::new();
        for (name, handle) in self.threads {
            if handle.join().is_err() {
                error!(thread = name, "thread panicked");
                panicked.push(name);
            }
        }
        panicked
    }
}
