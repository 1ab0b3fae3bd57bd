//! Business-intelligence reports from the configuration: the site the figures are computed for (time
//! zone, zones), making one report (`vigil report`), and the `[[reports]]` scheduler of `vigil run`
//! (daily or weekly at a local time; a missed report is made once after a restart; each is announced by
//! its webhook).

use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use vigil_bi::stored::StoredReport;
use vigil_bi::{Ask, Report, Site, ZoneShape};
use vigil_config::VigilConfig;
use vigil_config::reports::{ReportConfig, ReportSchedule};
use vigil_core::Point;
use vigil_rules::TimeZone;
use vigil_store::EventReader;

/// The site of `config`: the first `[rules.*]` time zone (UTC without rules), each camera's zones.
pub fn site(config: &VigilConfig) -> Site {
    let tz = config.site_time_zone();
    let mut zones = BTreeMap::new();
    for (camera, rules) in &config.rules {
        let shapes: Vec<ZoneShape> = rules
            .zone
            .iter()
            .filter_map(|z| {
                let ring = z.points.as_ref()?.rings.first()?;
                let pts = ring.iter().map(|p| Point { x: p[0], y: p[1] }).collect();
                Some(ZoneShape {
                    name: z.name.clone(),
                    polygon: vigil_rules::Polygon::new(pts).ok()?,
                })
            })
            .collect();
        zones.insert(camera.clone(), shapes);
    }
    Site { tz, zones }
}

/// The cameras a report covers: those it names, or every camera.
fn cameras_of(config: &VigilConfig, named: &[String]) -> Vec<String> {
    if named.is_empty() {
        config.cameras.iter().map(|c| c.name.clone()).collect()
    } else {
        named.to_vec()
    }
}

/// Builds the report of `[from, to)`.
pub fn build(
    reader: &EventReader,
    site: &Site,
    title: &str,
    cameras: Vec<String>,
    from_ms: i64,
    to_ms: i64,
) -> anyhow::Result<Report> {
    let ask = Ask {
        cameras,
        from_ms,
        to_ms,
        bucket: Report::bucket_for(from_ms, to_ms),
        compare: true,
    };
    Ok(Report::build(reader, site, &ask, title)?)
}

/// The latest period of `r` that is due at `now` (see [`vigil_bi::buckets::due_period`]).
pub fn due_period(r: &ReportConfig, tz: &TimeZone, now: i64) -> Option<(i64, i64)> {
    let at = r.at_seconds()?;
    let weekly = r.schedule == ReportSchedule::Weekly;
    Some(vigil_bi::buckets::due_period(tz, now, at, weekly))
}

/// The JSON a report's webhook receives.
fn announcement(entry: &StoredReport, base: &str, range: &str) -> serde_json::Value {
    let links: serde_json::Map<String, serde_json::Value> = entry
        .files
        .iter()
        .map(|f| {
            let ext = f.rsplit('.').next().unwrap_or("file").to_string();
            (ext, serde_json::json!(format!("{base}/api/reports/{f}")))
        })
        .collect();
    serde_json::json!({
        "type": "report",
        "id": entry.id,
        "name": entry.name,
        "from": entry.from,
        "to": entry.to,
        "range": range,
        "cameras": entry.cameras,
        "kpis": entry.kpis,
        "links": links,
    })
}

/// Makes, stores and announces the report `r` for `[from, to)`.
pub fn make_scheduled(
    config: &VigilConfig,
    reader: &EventReader,
    site: &Site,
    r: &ReportConfig,
    from: i64,
    to: i64,
) -> anyhow::Result<StoredReport> {
    let cameras = cameras_of(config, &r.cameras);
    let report = build(reader, site, &r.name, cameras, from, to)?;
    let stamp = vigil_bi::buckets::label(&site.tz, from, vigil_bi::Bucket::Day);
    let dir = config.data_dir.join("reports");
    let entry = vigil_bi::stored::save(
        &dir,
        &r.name,
        &stamp,
        &report,
        &r.formats,
        vigil_core::time::now_unix_ms(),
    )?;
    if let Some(hook) = &r.webhook {
        let webhook = match config.webhook.iter().find(|w| &w.name == hook) {
            Some(w) => w.clone(),
            None => vigil_alert::WebhookConfig {
                name: format!("report {}", r.name),
                url: hook.clone(),
                ..Default::default()
            },
        };
        let base = config
            .links
            .ui_url
            .clone()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        let body = serde_json::to_vec(&announcement(&entry, &base, &report.range_text))?;
        match vigil_alert::post_once(&webhook, &entry.id, &body) {
            Ok(status) => tracing::info!(report = %entry.id, status, "report delivered"),
            Err(e) => tracing::warn!(report = %entry.id, "report webhook failed: {e}"),
        }
    }
    Ok(entry)
}

/// The `[[reports]]` scheduler: a thread that makes each report when due (checked every 20 s), and at
/// start the latest one missed while Vigil was stopped. What was made is remembered in
/// `data_dir/reports/schedule.json` (report name -> the period start made last).
pub struct Scheduler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn state_path(config: &VigilConfig) -> PathBuf {
    config.data_dir.join("reports").join("schedule.json")
}

fn read_state(path: &Path) -> BTreeMap<String, i64> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// One pass: makes every report that is due and not made yet.
pub fn run_due(config: &VigilConfig, reader: &EventReader, site: &Site, now: i64) -> usize {
    let path = state_path(config);
    let mut state = read_state(&path);
    let mut made = 0;
    for r in &config.reports {
        let Some((from, to)) = due_period(r, &site.tz, now) else {
            continue;
        };
        if state.get(&r.name).is_some_and(|&done| done >= from) {
            continue;
        }
        match make_scheduled(config, reader, site, r, from, to) {
            Ok(entry) => {
                tracing::info!(report = %entry.id, "report made");
                made += 1;
            }
            Err(e) => tracing::warn!(report = %r.name, "report failed: {e:#}"),
        }
        // a failed report is not retried every pass: it is logged, and the next period tries again
        state.insert(r.name.clone(), from);
        if let Ok(bytes) = serde_json::to_vec_pretty(&state)
            && let Err(e) = vigil_bi::report::write_file(&path, &bytes)
        {
            tracing::warn!("report schedule state: {e}");
        }
    }
    made
}

impl Scheduler {
    /// Starts the scheduler when `[[reports]]` lists any and there is a store.
    pub fn start(
        config: &VigilConfig,
        store: Option<Arc<vigil_store::Store>>,
    ) -> Option<Scheduler> {
        if config.reports.is_empty() {
            return None;
        }
        let Some(store) = store else {
            tracing::warn!("[[reports]] configured but no event store: no reports are made");
            return None;
        };
        let stop = Arc::new(AtomicBool::new(false));
        let config = config.clone();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("reports".into())
            .spawn(move || {
                let site = site(&config);
                while !flag.load(Ordering::Relaxed) {
                    match store.event_reader() {
                        Ok(reader) => {
                            run_due(&config, &reader, &site, vigil_core::time::now_unix_ms());
                        }
                        Err(e) => tracing::warn!("reports: cannot read the event store: {e}"),
                    }
                    for _ in 0..20 {
                        if flag.load(Ordering::Relaxed) {
                            return;
                        }
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            })
            .ok()?;
        Some(Scheduler {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread (a report being made is finished first).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `vigil report`: one report over a range, written to a file.
#[derive(clap::Args)]
pub struct Args {
    /// The configuration file (its store, time zone, zones and cameras).
    #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
    pub config: PathBuf,
    /// Range start: RFC 3339 or local `YYYY-MM-DD HH:MM:SS`.
    #[arg(long)]
    pub from: String,
    /// Range end (exclusive).
    #[arg(long)]
    pub to: String,
    /// `pdf` or `html`.
    #[arg(long, default_value = "pdf")]
    pub format: String,
    /// Where to write it.
    #[arg(long)]
    pub out: PathBuf,
    /// Only these cameras, comma-separated (default: every camera).
    #[arg(long, value_delimiter = ',')]
    pub cameras: Vec<String>,
    /// The report's title.
    #[arg(long, default_value = "Vigil report")]
    pub title: String,
}

/// Runs `vigil report`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.format != "pdf" && args.format != "html" {
        anyhow::bail!("--format {:?}: expected pdf or html", args.format);
    }
    let config = VigilConfig::load(&args.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ms = |t: vigil_core::Time90k| t.0 / 90;
    let from = ms(crate::cmd::export::parse_time(&args.from).context("--from")?);
    let to = ms(crate::cmd::export::parse_time(&args.to).context("--to")?);
    if to <= from {
        anyhow::bail!("--to ({}) must be after --from ({})", args.to, args.from);
    }
    let store = config
        .store_config()
        .context("no [storage] in the configuration: there is no event store to report on")?;
    let reader = EventReader::open(&store.db)
        .with_context(|| format!("opening the event store {}", store.db.display()))?;
    let site = site(&config);
    for c in &args.cameras {
        if !config.cameras.iter().any(|k| &k.name == c) {
            anyhow::bail!("--cameras: no [[camera]] is named {c:?}");
        }
    }
    let report = build(
        &reader,
        &site,
        &args.title,
        cameras_of(&config, &args.cameras),
        from,
        to,
    )?;
    let bytes = if args.format == "pdf" {
        report.pdf()
    } else {
        report.html().into_bytes()
    };
    vigil_bi::report::write_file(&args.out, &bytes)?;
    println!(
        "{}: {} ({})",
        args.out.display(),
        report.title,
        report.range_text
    );
    for k in &report.kpis {
        println!(
            "  {}: {} ({})",
            k.label,
            Report::value_text(k),
            Report::change_text(k)
        );
    }
    Ok(())
}
