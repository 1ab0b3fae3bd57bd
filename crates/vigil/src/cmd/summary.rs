//! `vigil summary`: what happened over a time range (or in one incident), from the event store's facts
//! only, as sentences with their confidence and links to the clips and snapshots that support them
//! (vigil-summary). Reads the index read-only: it runs beside `vigil run`.

use crate::cmd::export::parse_time;
use anyhow::{Context, bail};
use std::path::PathBuf;
use vigil_summary::{LinkBase, SummaryRequest, Zones};

/// Arguments of `vigil summary`.
#[derive(clap::Args)]
pub struct Args {
    /// Vigil's configuration file.
    #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
    pub config: PathBuf,
    /// Range start: RFC 3339 (2024-06-14T17:30:00+02:00) or local `YYYY-MM-DD HH:MM:SS`.
    #[arg(long)]
    pub from: Option<String>,
    /// Range end (same forms); events starting before it are counted.
    #[arg(long)]
    pub to: Option<String>,
    /// A named shift instead of --from/--to: `overnight` (22:00 the evening before --date to 06:00) or
    /// `day` (06:00 to 22:00), in the time zone of the first camera asked for (or configured).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub shift: Option<String>,
    /// The shift's date, `YYYY-MM-DD` (default: today in that time zone).
    #[arg(long, requires = "shift")]
    pub date: Option<String>,
    /// Only this camera (repeat for more).
    #[arg(long)]
    pub camera: Vec<String>,
    /// Only the cameras of this camera group (made in the web UI).
    #[arg(long)]
    pub group: Option<String>,
    /// One incident: this event and the events re-identification links to it (no range needed).
    #[arg(long)]
    pub incident: Option<String>,
    /// Print JSON: `{period, cameras, empty, events, sentences: [{kind, text, confidence, citations}]}`.
    #[arg(long)]
    pub json: bool,
    /// Also ask the language model of `[summary.llm]` for a rewrite (checked; off by default).
    #[arg(long)]
    pub llm: bool,
    /// Leave out face recognition events (biometric facts).
    #[arg(long)]
    pub no_faces: bool,
}

/// Bad arguments: the command exits with status 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

fn bad(msg: impl Into<String>) -> anyhow::Error {
    BadInput(msg.into()).into()
}

/// Each camera's time zone (`[rules.CAMERA] timezone`), for the sentences.
pub fn zones(file: &vigil_config::VigilConfig) -> anyhow::Result<Zones> {
    let mut zones = Zones::default();
    for c in &file.cameras {
        let tz = vigil_rules::TimeZone::parse(&file.rules_for(&c.name).timezone)
            .map_err(|e| anyhow::anyhow!("[rules.{}] timezone: {e}", c.name))?;
        zones.cameras.insert(c.name.clone(), tz);
    }
    Ok(zones)
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let file = vigil_config::VigilConfig::load(&args.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let zones = zones(&file)?;
    let (from_ms, to_ms) = match (&args.shift, &args.from, &args.to, &args.incident) {
        (Some(name), ..) => {
            let site = args
                .camera
                .first()
                .or(file.cameras.first().map(|c| &c.name))
                .map_or(&zones.default, |c| zones.of(c));
            let day = match &args.date {
                Some(d) => {
                    let date: jiff::civil::Date = d
                        .parse()
                        .map_err(|e| bad(format!("--date {d:?}: use YYYY-MM-DD ({e})")))?;
                    vigil_core::time::days_from_civil(
                        i32::from(date.year()),
                        date.month() as u8,
                        date.day() as u8,
                    )
                }
                None => site.local(vigil_core::time::now_unix_ms()).day_number,
            };
            vigil_summary::compose::shift_range(site, name, day).ok_or_else(|| {
                bad(format!(
                    "--shift {name:?}: overnight or day (or give --from and --to)"
                ))
            })?
        }
        (None, from, to, incident) => range(from, to, incident)?,
    };
    let incident = match &args.incident {
        Some(id) => Some(
            id.parse::<vigil_core::EventId>()
                .map_err(|e| bad(format!("--incident: {e}")))?,
        ),
        None => None,
    };
    run_with(args, file, zones, from_ms, to_ms, incident)
}

/// The range of --from/--to (unix ms), or a placeholder for --incident.
fn range(
    from: &Option<String>,
    to: &Option<String>,
    incident: &Option<String>,
) -> anyhow::Result<(i64, i64)> {
    Ok(match (from, to, incident) {
        (Some(f), Some(t), _) => {
            let from = parse_time(f).map_err(|e| bad(format!("--from: {e:#}")))?;
            let to = parse_time(t).map_err(|e| bad(format!("--to: {e:#}")))?;
            if to <= from {
                return Err(bad(format!("--to ({t}) must be after --from ({f})")));
            }
            (from.0.div_euclid(90), to.0.div_euclid(90))
        }
        (None, None, Some(_)) => (0, 1),
        _ => {
            return Err(bad(
                "give --from and --to (or --shift NAME, or --incident EVENT_ID)",
            ));
        }
    })
}

fn run_with(
    args: Args,
    file: vigil_config::VigilConfig,
    zones: Zones,
    from_ms: i64,
    to_ms: i64,
    incident: Option<vigil_core::EventId>,
) -> anyhow::Result<()> {
    let Some(store) = file.store_config() else {
        bail!(
            "{}: no [storage] section, so no events or recordings",
            args.config.display()
        );
    };
    let mut cameras: Option<Vec<String>> = (!args.camera.is_empty()).then(|| args.camera.clone());
    if let Some(name) = &args.group {
        let security =
            vigil_server::Security::open_in(&file.data_dir, vigil_server::Policy::default())
                .with_context(|| {
                    format!(
                        "opening the security database in {}",
                        file.data_dir.display()
                    )
                })?;
        let groups = security.groups().map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(g) = groups.iter().find(|g| g.name.eq_ignore_ascii_case(name)) else {
            let known: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
            return Err(bad(format!(
                "--group {name:?}: no such camera group (there are: {known:?})"
            )));
        };
        cameras = Some(match cameras {
            Some(c) => c.into_iter().filter(|x| g.cameras.contains(x)).collect(),
            None => g.cameras.clone(),
        });
    }
    if let Some(only) = &cameras {
        let known: Vec<&str> = file.cameras.iter().map(|c| c.name.as_str()).collect();
        if let Some(unknown) = only.iter().find(|c| !known.contains(&c.as_str())) {
            return Err(bad(format!(
                "--camera {unknown:?}: no such camera in {} (there are: {known:?})",
                args.config.display()
            )));
        }
    }
    if args.llm && !file.summary.llm.enabled {
        return Err(bad(
            "--llm: [summary.llm] is not enabled in the configuration (enabled = true, url, model)",
        ));
    }
    let req = SummaryRequest {
        from_ms,
        to_ms,
        cameras,
        known: file.cameras.iter().map(|c| c.name.clone()).collect(),
        incident,
        biometric: !args.no_faces,
        zones,
        links: LinkBase::default(),
    };
    let events = vigil_store::EventReader::open(&store.db)
        .with_context(|| format!("opening the events in {}", store.db.display()))?;
    let recordings = vigil_store::Reader::open(&store.db)?;
    let mut summary = match vigil_summary::summarize(&events, &recordings, &req) {
        Ok(s) => s,
        Err(e @ vigil_summary::SummaryError::BadRequest(_))
        | Err(e @ vigil_summary::SummaryError::NoSuchEvent(_)) => return Err(bad(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    if args.llm {
        summary.rewrite = Some(vigil_summary::llm::rewrite(&file.summary.llm, &summary));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", vigil_summary::to_text(&summary));
    }
    Ok(())
}
