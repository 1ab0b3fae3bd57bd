//! `vigil onvif`: find ONVIF cameras on the network (`discover`) and move PTZ cameras (`ptz`).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use vigil_onvif::{
    ClientOptions, Credentials, DeviceSummary, DiscoveredDevice, DiscoveryOptions, Ptz, PtzStatus,
    PtzVector, discover, resolve_probe_address,
};

/// `vigil onvif` subcommands.
#[derive(clap::Subcommand)]
pub enum OnvifCommand {
    /// Find ONVIF cameras (WS-Discovery) and print one JSON line per device: address, identity, profiles
    /// with their RTSP URIs, the main and sub streams chosen, PTZ.
    Discover(DiscoverArgs),
    /// Move a camera of vigil.toml (its `onvif` address): go to, save or list presets, move, stop.
    Ptz(PtzArgs),
}

/// `vigil onvif discover`.
#[derive(clap::Args)]
pub struct DiscoverArgs {
    /// Seconds to wait for answers to the probe.
    #[arg(long, default_value_t = 3.0)]
    timeout: f64,
    /// Probe this address by unicast instead of the multicast group (HOST[:PORT], port 3702 when absent),
    /// e.g. a camera on another subnet; repeatable.
    #[arg(long, value_name = "HOST:PORT")]
    address: Vec<String>,
    /// With --address: probe the local network by multicast as well.
    #[arg(long, requires = "address")]
    multicast: bool,
    /// Skip WS-Discovery: probe this device service URL (`http://HOST/onvif/device_service`) directly.
    #[arg(long, value_name = "URL", conflicts_with_all = ["address", "multicast"])]
    url: Option<String>,
    /// Local IPv4 address to send the multicast probe from (chooses the network interface).
    #[arg(long, value_name = "IP")]
    interface: Option<Ipv4Addr>,
    /// User name for the devices' ONVIF services (sent as a WS-Security digest).
    #[arg(long)]
    username: Option<String>,
    /// Password for --username.
    #[arg(long, env = "VIGIL_ONVIF_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Seconds allowed for each ONVIF call to a device.
    #[arg(long, default_value_t = 5.0)]
    call_timeout: f64,
}

/// `vigil onvif ptz`.
#[derive(clap::Args)]
#[command(group(
    clap::ArgGroup::new("action")
        .required(true)
        .args(["preset", "move_", "stop", "set_preset", "presets", "home", "status"])
))]
pub struct PtzArgs {
    /// Vigil's configuration file.
    #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
    config: PathBuf,
    /// Camera name (a `[[camera]]` with `onvif = "http://..."`).
    #[arg(long)]
    camera: String,
    /// Go to a preset, by token or name.
    #[arg(long, value_name = "TOKEN_OR_NAME")]
    preset: Option<String>,
    /// Move at these speeds (-1..1) for --seconds, then stop; with --relative, move by this much; with
    /// --absolute, move to this position (pan, tilt -1..1, zoom 0..1).
    #[arg(
        long = "move",
        value_name = "PAN,TILT,ZOOM",
        allow_hyphen_values = true
    )]
    move_: Option<String>,
    /// --move is a relative move (translation).
    #[arg(long, requires = "move_", conflicts_with = "absolute")]
    relative: bool,
    /// --move is an absolute move (position).
    #[arg(long, requires = "move_")]
    absolute: bool,
    /// How long a continuous --move lasts, in seconds.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Stop any movement.
    #[arg(long)]
    stop: bool,
    /// Save the current position as a preset with this name; prints its token.
    #[arg(long, value_name = "NAME")]
    set_preset: Option<String>,
    /// List the presets, one JSON line each.
    #[arg(long)]
    presets: bool,
    /// Go to the home position.
    #[arg(long)]
    home: bool,
    /// Print the position and movement state.
    #[arg(long)]
    status: bool,
    /// Media profile token to control (default: the first profile with a PTZ configuration).
    #[arg(long)]
    profile: Option<String>,
    /// Seconds allowed for each ONVIF call.
    #[arg(long, default_value_t = 5.0)]
    call_timeout: f64,
}

/// Runs a `vigil onvif` subcommand.
pub fn run(command: OnvifCommand) -> anyhow::Result<()> {
    match command {
        OnvifCommand::Discover(args) => run_discover(&args),
        OnvifCommand::Ptz(args) => run_ptz(&args),
    }
}

fn seconds(value: f64, what: &str) -> anyhow::Result<Duration> {
    if !(value.is_finite() && value > 0.0 && value <= 3600.0) {
        bail!("{what} must be between 0 and 3600 seconds, not {value}");
    }
    Ok(Duration::from_secs_f64(value))
}

fn run_discover(args: &DiscoverArgs) -> anyhow::Result<()> {
    let options = ClientOptions {
        timeout: seconds(args.call_timeout, "--call-timeout")?,
    };
    let credentials = match (&args.username, &args.password) {
        (Some(u), p) => Some(Credentials::new(u.clone(), p.clone().unwrap_or_default())),
        (None, Some(_)) => bail!("--password (or VIGIL_ONVIF_PASSWORD) needs --username"),
        (None, None) => None,
    };
    if let Some(url) = &args.url {
        let summary = vigil_onvif::probe(url, credentials, &options)?;
        println!("{}", device_json(None, Ok(&summary)));
        return Ok(());
    }
    let unicast = args
        .address
        .iter()
        .map(|a| resolve_probe_address(a).with_context(|| format!("--address {a}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let discovery = DiscoveryOptions {
        timeout: seconds(args.timeout, "--timeout")?,
        multicast: unicast.is_empty() || args.multicast,
        unicast,
        bind: args.interface,
        ..DiscoveryOptions::default()
    };
    let found = discover(&discovery).context("WS-Discovery")?;
    if found.is_empty() {
        let hint = if args.address.is_empty() {
            " (a camera on another subnet: --address HOST)"
        } else {
            ""
        };
        bail!("no ONVIF device answered within {} s{hint}", args.timeout);
    }
    eprintln!("{} device(s) answered; probing", found.len());
    let lines = probe_all(&found, credentials, &options);
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

/// Probes every discovered device side by side (each call bounded by `options`), in discovery order:
/// one JSON object per device (what [`device_json`] makes).
pub fn probe_all(
    found: &[DiscoveredDevice],
    credentials: Option<Credentials>,
    options: &ClientOptions,
) -> Vec<Value> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = found
            .iter()
            .map(|d| {
                let credentials = credentials.clone();
                let options = options.clone();
                scope.spawn(move || match d.device_url() {
                    Some(url) => {
                        let probed = vigil_onvif::probe(url, credentials, &options)
                            .map_err(|e| e.to_string());
                        device_json(Some(d), probed.as_ref().map_err(String::as_str))
                    }
                    None => {
                        device_json(Some(d), Err("the device gave no service address (XAddrs)"))
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| json!({"error": "probe thread panicked"}))
            })
            .collect()
    })
}

/// One device as a JSON line: what discovery said and what the probe found (or its error).
fn device_json(found: Option<&DiscoveredDevice>, probed: Result<&DeviceSummary, &str>) -> Value {
    let mut line = json!({});
    if let Some(d) = found {
        line["address"] = json!(d.device_url());
        line["endpoint"] = json!(d.endpoint);
        line["name"] = json!(d.name());
        line["hardware"] = json!(d.hardware());
    }
    match probed {
        Ok(s) => {
            line["address"] = json!(s.address);
            line["manufacturer"] = json!(s.info.manufacturer);
            line["model"] = json!(s.info.model);
            line["firmware"] = json!(s.info.firmware_version);
            line["serial"] = json!(s.info.serial_number);
            line["profiles"] = s
                .profiles
                .iter()
                .map(|p| {
                    let v = p.profile.video.as_ref();
                    json!({
                        "name": p.profile.name,
                        "token": p.profile.token,
                        "encoding": v.map(|v| &v.encoding),
                        "width": v.map(|v| v.width),
                        "height": v.map(|v| v.height),
                        "fps": v.and_then(|v| v.fps),
                        "stream_uri": p.stream_uri,
                    })
                })
                .collect();
            line["main"] = json!(s.main.as_ref().map(|m| &m.uri));
            line["sub"] = json!(s.sub.as_ref().map(|m| &m.uri));
            line["ptz"] = json!(s.ptz);
            line["events"] = json!(s.events);
        }
        Err(e) => line["error"] = json!(e),
    }
    line
}

fn parse_vector(text: &str) -> anyhow::Result<PtzVector> {
    let parts: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--move {text:?}: expected PAN,TILT,ZOOM numbers"))?;
    match parts[..] {
        [pan, tilt, zoom] if parts.iter().all(|v| v.is_finite() && v.abs() <= 1.0) => {
            Ok(PtzVector::new(pan, tilt, zoom))
        }
        _ => bail!("--move {text:?}: expected three numbers between -1 and 1 (PAN,TILT,ZOOM)"),
    }
}

fn run_ptz(args: &PtzArgs) -> anyhow::Result<()> {
    let config = crate::cmd::config::load_or_report(&args.config)?;
    let Some(camera) = config.cameras.iter().find(|c| c.name == args.camera) else {
        let names: Vec<&str> = config.cameras.iter().map(|c| c.name.as_str()).collect();
        bail!(
            "no camera {:?} in {} (cameras: {})",
            args.camera,
            args.config.display(),
            names.join(", ")
        );
    };
    let Some(address) = &camera.onvif else {
        bail!(
            "camera {:?} has no `onvif` address in {}: add `onvif = \"http://HOST/onvif/device_service\"` to its \
             [[camera]] (`vigil onvif discover` prints it)",
            camera.name,
            args.config.display()
        );
    };
    let credentials = camera
        .credentials()
        .map(|c| Credentials::new(c.username, c.password.expose()));
    let options = ClientOptions {
        timeout: seconds(args.call_timeout, "--call-timeout")?,
    };
    let ptz = Ptz::connect(
        address.as_str(),
        credentials,
        &options,
        args.profile.as_deref(),
    )
    .with_context(|| format!("camera {:?}", camera.name))?;
    let mut line = json!({ "camera": camera.name, "profile": ptz.profile() });

    if args.presets {
        for p in ptz.presets()? {
            let (pan_tilt, zoom) = p.position.map(|v| (v.pan_tilt, v.zoom)).unwrap_or_default();
            println!(
                "{}",
                json!({
                    "camera": camera.name,
                    "token": p.token,
                    "name": p.name,
                    "pan": pan_tilt.map(|p| p.0),
                    "tilt": pan_tilt.map(|p| p.1),
                    "zoom": zoom,
                })
            );
        }
        return Ok(());
    }
    if let Some(name) = &args.set_preset {
        let token = ptz.set_preset(name, None)?;
        line["action"] = json!("set_preset");
        line["preset"] = json!({ "token": token, "name": name });
    } else if let Some(wanted) = &args.preset {
        let preset = ptz.find_preset(wanted)?.with_context(|| {
            format!(
                "camera {:?} has no preset {wanted:?} (token or name; `--presets` lists them)",
                camera.name
            )
        })?;
        ptz.goto_preset(&preset.token)?;
        line["action"] = json!("goto_preset");
        line["preset"] = json!({ "token": preset.token, "name": preset.name });
    } else if let Some(text) = &args.move_ {
        let vector = parse_vector(text)?;
        if args.relative {
            ptz.relative_move(vector, None)?;
            line["action"] = json!("relative_move");
        } else if args.absolute {
            ptz.absolute_move(vector, None)?;
            line["action"] = json!("absolute_move");
        } else {
            let duration = seconds(args.seconds, "--seconds")?;
            ptz.continuous_move(vector, Some(duration))?;
            std::thread::sleep(duration);
            ptz.stop()?;
            line["action"] = json!("continuous_move");
            line["seconds"] = json!(args.seconds);
        }
    } else if args.stop {
        ptz.stop()?;
        line["action"] = json!("stop");
    } else if args.home {
        ptz.goto_home()?;
        line["action"] = json!("home");
    } else {
        line["action"] = json!("status");
    }
    line["status"] = match ptz.status() {
        Ok(s) => status_json(&s),
        Err(e) if args.status => return Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, "the camera did not report its PTZ status");
            Value::Null
        }
    };
    println!("{line}");
    Ok(())
}

fn status_json(s: &PtzStatus) -> Value {
    json!({
        "pan": s.position.pan_tilt.map(|p| p.0),
        "tilt": s.position.pan_tilt.map(|p| p.1),
        "zoom": s.position.zoom,
        "moving": s.is_moving(),
        "error": s.error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_vectors() {
        assert_eq!(
            parse_vector("-0.5,0,1").unwrap(),
            PtzVector::new(-0.5, 0.0, 1.0)
        );
        assert_eq!(
            parse_vector(" 0.1 , 0.2 , 0.3 ").unwrap(),
            PtzVector::new(0.1, 0.2, 0.3)
        );
        assert!(parse_vector("0,0").is_err());
        assert!(parse_vector("2,0,0").is_err());
        assert!(parse_vector("a,b,c").is_err());
        assert!(parse_vector("NaN,0,0").is_err());
    }

    #[test]
    fn durations() {
        assert!(seconds(0.0, "x").is_err());
        assert!(seconds(f64::INFINITY, "x").is_err());
        assert_eq!(seconds(1.5, "x").unwrap(), Duration::from_millis(1500));
    }
}
