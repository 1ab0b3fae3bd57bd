//! `vigil review report`: the weekly false-alarm table (per camera and rule, per ISO week: events the
//! rule raised, false and true alarms people marked, the false-alarm rate), read from the recording
//! index read-only, so it works while `vigil run` records. The same table as `GET /api/review/feedback`.

use anyhow::{Context, bail};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use vigil_server::review::ReviewSettings;

/// `vigil review` subcommands.
#[derive(clap::Subcommand)]
pub enum ReviewCommand {
    /// Print false alarms per camera, rule and ISO week, with the events of that rule: the rate.
    Report {
        /// Vigil's configuration file.
        #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
        config: PathBuf,
        /// Weeks reported, this one included (1-52).
        #[arg(long, default_value_t = 8)]
        weeks: u32,
        /// Print JSON (`{"weeks": N, "rows": [...]}`, as the API answers) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// How review ranks and dates events under `config`: each rule's `severity`, each camera's time zone.
pub fn settings(config: &vigil_config::VigilConfig) -> anyhow::Result<ReviewSettings> {
    let mut severities = HashMap::new();
    let mut zones = HashMap::new();
    for camera in &config.cameras {
        let rules = config.rules_for(&camera.name);
        severities.insert(camera.name.clone(), rules.severities());
        let tz = vigil_rules::TimeZone::parse(&rules.timezone)
            .map_err(|e| anyhow::anyhow!("[rules.{}] timezone: {e}", camera.name))?;
        zones.insert(camera.name.clone(), tz);
    }
    let local = move |camera: &str, ms: i64| match zones.get(camera) {
        Some(tz) => ms + i64::from(tz.offset_at(ms)) * 1000,
        None => ms,
    };
    Ok(ReviewSettings::new(severities, Some(Arc::new(local))))
}

/// Runs `vigil review ...`.
pub fn run(command: ReviewCommand) -> anyhow::Result<()> {
    let ReviewCommand::Report {
        config,
        weeks,
        json,
    } = command;
    if !(1..=52).contains(&weeks) {
        bail!("--weeks: give 1-52 (got {weeks})");
    }
    let file = crate::cmd::config::load_or_report(&config)?;
    let store = file.store_config().with_context(|| {
        format!(
            "{}: no [storage] section, so no events to report on",
            config.display()
        )
    })?;
    let settings = settings(&file)?;
    let reader = vigil_store::EventReader::open(&store.db)?;
    let local = |camera: &str, ms: i64| settings.local_ms(camera, ms);
    let rows = reader
        .weekly_feedback(
            &vigil_store::ReviewScope::default(),
            weeks,
            vigil_core::time::now_unix_ms(),
            &local,
        )
        .map_err(|e| match e.to_string().contains("no such table") {
            true => anyhow::anyhow!(
                "{}: this index predates review feedback; start `vigil run` once to upgrade it",
                store.db.display()
            ),
            false => e.into(),
        })?;
    if json {
        let out = serde_json::json!({ "weeks": weeks, "rows": rows });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("No events in the last {weeks} week(s).");
        return Ok(());
    }
    let cw = rows
        .iter()
        .map(|r| r.camera.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let rw = rows.iter().map(|r| r.rule.len()).max().unwrap_or(0).max(4);
    println!(
        "{:<8}  {:<cw$}  {:<rw$}  {:>7}  {:>12}  {:>11}  {:>6}",
        "week", "camera", "rule", "events", "false alarms", "true alarms", "rate"
    );
    for r in &rows {
        println!(
            "{:<8}  {:<cw$}  {:<rw$}  {:>7}  {:>12}  {:>11}  {:>5.1}%",
            r.week,
            r.camera,
            r.rule,
            r.events,
            r.false_alarms,
            r.true_alarms,
            r.rate * 100.0
        );
    }
    Ok(())
}
