//! PTZ control of the cameras that have an ONVIF address: `GET /api/cameras/{camera}/ptz` (presets and
//! where the camera points) and `POST /api/cameras/{camera}/ptz` (one command: a continuous or relative
//! move, stop, a preset, saving a preset, home), both with the `ptz` permission.
//!
//! Device calls block (ONVIF over HTTP), so they run on blocking threads, at most [`MAX_CALLS`] at once
//! over every camera (more wait their turn, up to [`CALL_WAIT`], then 503), and one at a time per camera in
//! the order they arrived (a stop is never overtaken by the move it ends). A continuous move lasts
//! `seconds` (0.1..10, default 1): the camera is asked to stop by itself then (ONVIF `Timeout`), and the
//! server sends a stop too unless another command for that camera came meanwhile, so a browser that
//! vanishes mid-move leaves no camera turning; a control held down sends its move again before it runs
//! out. A person's command holds the camera's autotracking back for [`MANUAL_HOLD`]. Every command is
//! audited (`ptz.move`, `ptz.stop`, `ptz.preset`, `ptz.preset_set`, `ptz.home`), a move repeated
//! unchanged within [`REPEAT_MERGE`] (a held control) only once.

use super::blocking;
use super::extract::{ApiJson, ApiPath};
use crate::context::AppState;
use crate::error::{ApiError, ApiResult, ServerError};
use crate::perms::{ClientIp, Principal};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use vigil_onvif::{PtzLink, PtzStatus, PtzVector};

/// Device calls running at once, over every camera.
pub const MAX_CALLS: usize = 4;
/// How long a command waits for its turn before it is refused (503).
pub const CALL_WAIT: Duration = Duration::from_secs(10);
/// How long a person's command holds the camera's autotracking back.
pub const MANUAL_HOLD: Duration = Duration::from_secs(30);
/// A continuous move repeated unchanged by the same caller within this time is audited once.
pub const REPEAT_MERGE: Duration = Duration::from_secs(10);
/// A continuous move's length when the request gives none.
const DEFAULT_SECONDS: f64 = 1.0;

/// One movable camera: its link, its turn (commands in arrival order) and the number of its latest
/// command (a timed stop only goes out when no command came after its move).
struct PtzCamera {
    link: Arc<PtzLink>,
    turn: tokio::sync::Mutex<()>,
    latest: AtomicU64,
}

/// The last continuous move audited per (caller, camera): its velocity and when.
type Audited = HashMap<(String, String), ([f64; 3], Instant)>;

/// The cameras that can be moved (those with an `onvif` address) and the bounds on the calls to them.
/// Cheap to clone.
#[derive(Clone)]
pub struct PtzCameras {
    cameras: Arc<BTreeMap<String, Arc<PtzCamera>>>,
    calls: Arc<Semaphore>,
    audited: Arc<Mutex<Audited>>,
    /// The preset each autotracking camera waits at.
    autotrack: Arc<BTreeMap<String, String>>,
}

impl Default for PtzCameras {
    fn default() -> Self {
        Self::new(std::iter::empty())
    }
}

impl PtzCameras {
    /// The cameras and their PTZ links (shared with their autotracking, when on).
    pub fn new(links: impl IntoIterator<Item = (String, Arc<PtzLink>)>) -> Self {
        let cameras = links
            .into_iter()
            .map(|(name, link)| {
                let camera = PtzCamera {
                    link,
                    turn: tokio::sync::Mutex::new(()),
                    latest: AtomicU64::new(0),
                };
                (name, Arc::new(camera))
            })
            .collect();
        Self {
            cameras: Arc::new(cameras),
            calls: Arc::new(Semaphore::new(MAX_CALLS)),
            audited: Arc::default(),
            autotrack: Arc::default(),
        }
    }

    /// The same, saying which cameras autotrack and the preset each waits at (shown by `GET`).
    pub fn with_autotrack(mut self, cameras: impl IntoIterator<Item = (String, String)>) -> Self {
        self.autotrack = Arc::new(cameras.into_iter().collect());
        self
    }

    /// The names of the cameras with an ONVIF address.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.cameras.keys().map(String::as_str)
    }

    fn camera(&self, name: &str) -> Result<Arc<PtzCamera>, ApiError> {
        self.cameras.get(name).cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "no_onvif",
                format!(
                    "camera {name:?} has no ONVIF address: add `onvif = \"http://HOST/onvif/device_service\"` \
                     to its [[camera]] table in vigil.toml (`vigil onvif discover` finds the address) and \
                     restart Vigil"
                ),
            )
        })
    }

    /// Runs `f` on `camera`'s link on a blocking thread, in its turn, within the bound on calls. The turn
    /// comes first, so that commands queued behind a slow camera hold none of the calls other cameras need.
    async fn run<T: Send + 'static>(
        &self,
        camera: &Arc<PtzCamera>,
        f: impl FnOnce(&PtzLink) -> Result<T, vigil_onvif::Error> + Send + 'static,
    ) -> Result<T, ApiError> {
        let busy = |_| ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many PTZ commands at once; try again",
            )
        };
        let _turn = tokio::time::timeout(CALL_WAIT, camera.turn.lock())
            .await
            .map_err(busy)?;
        let _permit = tokio::time::timeout(CALL_WAIT, self.calls.clone().acquire_owned())
            .await
            .map_err(busy)?
            .map_err(ApiError::internal)?;
        let link = camera.link.clone();
        tokio::task::spawn_blocking(move || f(&link))
            .await
            .map_err(ApiError::internal)?
            .map_err(device_error)
    }
}

/// A device failure as the API answers it: the device could not be reached or refused (502, with the
/// cause), it has no PTZ (409), or the request was out of range (400).
fn device_error(e: vigil_onvif::Error) -> ApiError {
    use vigil_onvif::Error as E;
    match &e {
        E::NotSupported(_) => ApiError::new(StatusCode::CONFLICT, "no_ptz", e.to_string()),
        E::InvalidArgument(_) => ApiError::bad_request(e.to_string()),
        E::Unauthorized { .. } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "device_refused",
            format!(
                "the camera refused the credentials: {e} (check its username and password in vigil.toml)"
            ),
        ),
        E::Unreachable { .. } | E::Timeout { .. } | E::Io { .. } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "device_unreachable",
            format!("the camera cannot be reached: {e}"),
        ),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "device_error",
            format!("the camera failed: {e}"),
        ),
    }
}

fn status_json(s: &PtzStatus) -> Value {
    let (pan, tilt) = s.position.pan_tilt.unzip();
    json!({
        "pan": pan, "tilt": tilt, "zoom": s.position.zoom,
        "moving": s.is_moving(), "error": s.error,
    })
}

/// GET /api/cameras/{camera}/ptz.
pub async fn get(
    State(ctx): State<AppState>,
    ApiPath(camera): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let ptz = &ctx.ptz;
    let c = match ptz.camera(&camera) {
        Ok(c) => c,
        Err(e) => {
            return Ok(Json(
                json!({"camera": camera, "ptz": false, "reason": e.message}),
            ));
        }
    };
    let answer = ptz
        .run(&c, |link| {
            link.call(|p| Ok((p.presets()?, p.status()?, p.profile().to_string())))
        })
        .await;
    let (presets, status, profile) = match answer {
        Ok(a) => a,
        Err(e) if e.code == "no_ptz" => {
            return Ok(Json(
                json!({"camera": camera, "ptz": false, "reason": e.message}),
            ));
        }
        Err(e) => return Err(e),
    };
    Ok(Json(json!({
        "camera": camera,
        "ptz": true,
        "profile": profile,
        "presets": presets.iter().map(|p| json!({"token": p.token, "name": p.name})).collect::<Vec<_>>(),
        "status": status_json(&status),
        "autotrack": ptz.autotrack.get(&camera).map(|preset| json!({
            "preset": preset,
            "held": c.link.manual(),
        })),
    })))
}

/// One PTZ command: exactly one of `move`, `stop`, `preset`, `set_preset`, `home`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PtzRequest {
    /// `[pan, tilt, zoom]`, each -1..1: velocities of a continuous move, or a translation with
    /// `relative`.
    #[serde(rename = "move")]
    pub move_: Option<[f64; 3]>,
    /// How long a continuous move lasts at most (0.1..10 s, default 1).
    pub seconds: Option<f64>,
    /// The move is a relative one (a translation), not a continuous one.
    pub relative: Option<bool>,
    /// `true`: stop moving.
    pub stop: Option<bool>,
    /// Go to the preset with this token or name.
    pub preset: Option<String>,
    /// Save the current position as a preset with this name (replacing one of that name).
    pub set_preset: Option<String>,
    /// `true`: go to the home position.
    pub home: Option<bool>,
}

/// A checked command.
#[derive(Debug, Clone, PartialEq)]
enum Command {
    Continuous { v: [f64; 3], seconds: f64 },
    Relative { v: [f64; 3] },
    Stop,
    Preset(String),
    SetPreset(String),
    Home,
}

impl Command {
    fn action(&self) -> &'static str {
        match self {
            Command::Continuous { .. } | Command::Relative { .. } => "ptz.move",
            Command::Stop => "ptz.stop",
            Command::Preset(_) => "ptz.preset",
            Command::SetPreset(_) => "ptz.preset_set",
            Command::Home => "ptz.home",
        }
    }
}

fn checked_name(what: &str, name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{what} must be 1 to 64 characters, without control characters"
        )));
    }
    Ok(name.to_string())
}

impl PtzRequest {
    fn command(self) -> Result<Command, ApiError> {
        let given = [
            self.move_.is_some(),
            self.stop.is_some(),
            self.preset.is_some(),
            self.set_preset.is_some(),
            self.home.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(ApiError::bad_request(
                "give exactly one of move, stop, preset, set_preset, home",
            ));
        }
        if self.move_.is_none() && (self.seconds.is_some() || self.relative.is_some()) {
            return Err(ApiError::bad_request(
                "seconds and relative go with move only",
            ));
        }
        if self.stop == Some(false) || self.home == Some(false) {
            return Err(ApiError::bad_request(
                "stop and home are given as true (leave them out otherwise)",
            ));
        }
        if let Some(v) = self.move_ {
            if v.iter().any(|x| !x.is_finite() || x.abs() > 1.0) {
                return Err(ApiError::bad_request(format!(
                    "move values are -1..1 (pan, tilt, zoom); got {v:?}"
                )));
            }
            if v.iter().all(|x| *x == 0.0) {
                return Err(ApiError::bad_request(
                    "a move of 0,0,0 moves nothing (use {\"stop\": true} to stop)",
                ));
            }
            if self.relative == Some(true) {
                if self.seconds.is_some() {
                    return Err(ApiError::bad_request(
                        "seconds goes with a continuous move, not a relative one",
                    ));
                }
                return Ok(Command::Relative { v });
            }
            let seconds = self.seconds.unwrap_or(DEFAULT_SECONDS);
            if !(0.1..=10.0).contains(&seconds) {
                return Err(ApiError::bad_request(format!(
                    "seconds is 0.1..10; got {seconds}"
                )));
            }
            return Ok(Command::Continuous { v, seconds });
        }
        if let Some(p) = self.preset {
            return Ok(Command::Preset(checked_name("preset", &p)?));
        }
        if let Some(p) = self.set_preset {
            return Ok(Command::SetPreset(checked_name("set_preset", &p)?));
        }
        if self.home.is_some() {
            return Ok(Command::Home);
        }
        Ok(Command::Stop)
    }
}

/// `[pan, tilt, zoom]` as a vector, leaving out the parts that are 0 for relative moves (so that they
/// do not move) and keeping all three for continuous ones (0 = that axis still).
fn vector(v: [f64; 3], relative: bool) -> PtzVector {
    let [pan, tilt, zoom] = v;
    if !relative {
        return PtzVector::new(pan, tilt, zoom);
    }
    PtzVector {
        pan_tilt: (pan != 0.0 || tilt != 0.0).then_some((pan, tilt)),
        zoom: (zoom != 0.0).then_some(zoom),
    }
}

/// What the device did, for the answer and the audit log.
struct Done {
    detail: String,
    preset: Option<Value>,
    status: Option<PtzStatus>,
}

/// POST /api/cameras/{camera}/ptz.
pub async fn command(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(camera): ApiPath<String>,
    ApiJson(req): ApiJson<PtzRequest>,
) -> ApiResult<Json<Value>> {
    let command = req.command()?;
    let ptz = ctx.ptz.clone();
    let c = ptz.camera(&camera)?;
    c.link.hold_manual(MANUAL_HOLD);
    let number = c.latest.fetch_add(1, Ordering::SeqCst) + 1;
    let cmd = command.clone();
    let result = ptz
        .run(&c, move |link| {
            let done = |detail: String, preset: Option<Value>| Done {
                detail,
                preset,
                status: None,
            };
            let mut done = link.call(|p| match &cmd {
                Command::Continuous { v, seconds } => {
                    let timeout = Duration::from_secs_f64(*seconds);
                    p.continuous_move(vector(*v, false), Some(timeout))?;
                    Ok(done(
                        format!("continuous {} for {seconds} s", fmt_v(v)),
                        None,
                    ))
                }
                Command::Relative { v } => {
                    p.relative_move(vector(*v, true), None)?;
                    Ok(done(format!("relative {}", fmt_v(v)), None))
                }
                Command::Stop => {
                    p.stop()?;
                    Ok(done(String::new(), None))
                }
                Command::Home => {
                    p.goto_home()?;
                    Ok(done(String::new(), None))
                }
                Command::Preset(name) => {
                    let Some(preset) = p.find_preset(name)? else {
                        return Ok(done(format!("no preset {name:?}"), None));
                    };
                    p.goto_preset(&preset.token)?;
                    Ok(done(
                        format!("{} ({})", preset.name, preset.token),
                        Some(json!({"token": preset.token, "name": preset.name})),
                    ))
                }
                Command::SetPreset(name) => {
                    let same = p
                        .presets()?
                        .into_iter()
                        .find(|x| x.name.eq_ignore_ascii_case(name));
                    let token = p.set_preset(name, same.as_ref().map(|x| x.token.as_str()))?;
                    Ok(done(
                        format!("{name} ({token})"),
                        Some(json!({"token": token, "name": name})),
                    ))
                }
            })?;
            // Where it points now (not after a continuous move: it has only begun).
            let moved = match &cmd {
                Command::Continuous { .. } | Command::Stop => false,
                Command::Preset(_) => done.preset.is_some(),
                Command::Relative { .. } | Command::SetPreset(_) | Command::Home => true,
            };
            if moved {
                done.status = link.call(|p| p.status()).ok();
            }
            Ok(done)
        })
        .await;
    let missing_preset =
        matches!(&result, Ok(d) if d.preset.is_none() && d.detail.starts_with("no preset"));
    let outcome = match &result {
        Ok(d) if missing_preset => format!("refused: {}", d.detail),
        Ok(d) => d.detail.clone(),
        Err(e) => format!("failed: {}", e.message),
    };
    audit(&ctx, &p, &ip, &camera, &command, outcome).await;
    let done = result?;
    if missing_preset {
        return Err(ApiError::not_found(format!(
            "camera {camera:?} has {} (GET /api/cameras/{camera}/ptz lists its presets)",
            done.detail
        )));
    }
    if let Command::Continuous { seconds, .. } = command {
        timed_stop(ptz, c, number, Duration::from_secs_f64(seconds));
    }
    Ok(Json(json!({
        "camera": camera,
        "action": command.action().trim_start_matches("ptz."),
        "preset": done.preset,
        "status": done.status.as_ref().map(status_json),
    })))
}

fn fmt_v(v: &[f64; 3]) -> String {
    format!("pan {} tilt {} zoom {}", v[0], v[1], v[2])
}

/// Stops `camera` after `after` unless another command came meanwhile.
fn timed_stop(ptz: PtzCameras, camera: Arc<PtzCamera>, number: u64, after: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        if camera.latest.load(Ordering::SeqCst) != number {
            return;
        }
        if let Err(e) = ptz.run(&camera, |link| link.call(|p| p.stop())).await {
            tracing::warn!(
                url = camera.link.url(),
                "stopping a timed PTZ move: {}",
                e.message
            );
        }
    });
}

/// Records the command in the audit log (a continuous move repeated unchanged within [`REPEAT_MERGE`]
/// by the same caller only once).
async fn audit(
    ctx: &AppState,
    p: &Principal,
    ip: &ClientIp,
    camera: &str,
    command: &Command,
    detail: String,
) {
    if let Command::Continuous { v, .. } = command {
        let key = (p.audit_name(), camera.to_string());
        let mut audited = ctx.ptz.audited.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let repeat = audited
            .get(&key)
            .is_some_and(|(last, at)| last == v && now.duration_since(*at) < REPEAT_MERGE);
        audited.retain(|_, (_, at)| now.duration_since(*at) < REPEAT_MERGE);
        audited.insert(key, (*v, now));
        if repeat {
            return;
        }
    }
    let sec = ctx.security.clone();
    let (user, ip, camera, action) = (
        p.audit_name(),
        ip.to_string(),
        format!("camera {camera}"),
        command.action(),
    );
    let _ = blocking(move || {
        sec.audit_or_log(&user, &ip, action, &camera, &detail);
        Ok::<_, ServerError>(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> Result<Command, String> {
        serde_json::from_value::<PtzRequest>(v)
            .map_err(|e| e.to_string())?
            .command()
            .map_err(|e| e.message)
    }

    #[test]
    fn commands_are_checked() {
        assert_eq!(
            req(json!({"move": [0.5, 0, 0]})),
            Ok(Command::Continuous {
                v: [0.5, 0.0, 0.0],
                seconds: 1.0
            })
        );
        assert_eq!(
            req(json!({"move": [0, 0, -1], "relative": true})),
            Ok(Command::Relative {
                v: [0.0, 0.0, -1.0]
            })
        );
        assert_eq!(req(json!({"stop": true})), Ok(Command::Stop));
        assert_eq!(req(json!({"home": true})), Ok(Command::Home));
        assert_eq!(
            req(json!({"preset": " door "})),
            Ok(Command::Preset("door".into()))
        );
        for bad in [
            json!({}),
            json!({"stop": true, "home": true}),
            json!({"move": [1.5, 0, 0]}),
            json!({"move": [0, 0, 0]}),
            json!({"move": [0.5, 0, 0], "seconds": 0.05}),
            json!({"move": [0.5, 0, 0], "seconds": 11}),
            json!({"move": [0.5, 0, 0], "relative": true, "seconds": 1}),
            json!({"stop": false}),
            json!({"stop": true, "seconds": 1}),
            json!({"preset": ""}),
            json!({"set_preset": "a\u{7}b"}),
            json!({"set_preset": "x".repeat(65)}),
        ] {
            assert!(req(bad.clone()).is_err(), "{bad}");
        }
        assert!(req(json!({"move": [0.5, 0]})).is_err());
        assert!(req(json!({"stop": true, "speed": 1})).is_err());
    }

    #[test]
    fn relative_moves_leave_out_what_does_not_move() {
        assert_eq!(
            vector([0.0, 0.0, 0.5], true),
            PtzVector {
                pan_tilt: None,
                zoom: Some(0.5)
            }
        );
        assert_eq!(
            vector([0.0, 0.0, 0.5], false),
            PtzVector::new(0.0, 0.0, 0.5)
        );
    }
}
