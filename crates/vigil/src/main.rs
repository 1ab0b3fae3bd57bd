//! `vigil`: the command-line entry point. Each subcommand lives in its own module under `cmd/`.

mod cmd;
mod config_editor;
mod engine;
mod models;
mod paths;
mod preview;
mod redaction;
mod report;
mod reports;
mod running;
mod serve;
mod site_relay;
mod stages;
mod standby;
mod thumbnails;
mod uplink;

use clap::{Parser, Subcommand};

/// Vigil: AI video surveillance — analysis, recording and alerts for IP cameras.
#[derive(Parser)]
#[command(name = "vigil", version, about, propagate_version = true)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `vigil=debug`. Also read from `VIGIL_LOG`.
    #[arg(long, global = true, env = "VIGIL_LOG", default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every configured camera: recording, analysis, rules, events and alerts, until stopped.
    Run(cmd::run::Args),
    /// Analyse a video file or stream: detect, track and summarise the objects in it.
    Analyze(cmd::analyze::Args),
    /// Count the people in a video (or in a zone of it) about once a second: `frame,count` for every frame.
    Count(cmd::count::Args),
    /// A scene's normal learned from videos of normal activity, and other videos scored against it.
    #[command(subcommand)]
    Anomaly(cmd::anomaly::AnomalyCommand),
    /// Try a candidate detector in shadow on recent recordings (`trial`), or switch detector (`use`).
    #[command(subcommand)]
    Model(cmd::model::ModelCommand),
    /// Measure accuracy against ground truth (detection AP, tracking MOTA/IDF1, motion F1).
    #[command(subcommand)]
    Eval(cmd::eval::EvalCommand),
    /// Measure speed and memory of every pipeline stage.
    Bench(cmd::bench::Args),
    /// Export recorded video of one camera over a time range as an MP4.
    Export(cmd::export::Args),
    /// Measure recording cost: many simulated 1080p cameras recorded at real time.
    #[command(name = "bench-record")]
    BenchRecord(cmd::bench_record::Args),
    /// Run the demo on the bundled footage (or a given file / RTSP URL) with the embedded defaults.
    Demo(cmd::demo::Args),
    /// Check a configuration file (`vigil config check --config vigil.toml`).
    #[command(subcommand)]
    Config(cmd::config::ConfigCommand),
    /// Manage users of the web UI and API (`add`, `list`, `passwd`, `reset-mfa`, `role`).
    #[command(subcommand)]
    User(cmd::user::UserCommand),
    /// Check the audit log (`vigil audit verify`).
    #[command(subcommand)]
    Audit(cmd::audit::AuditCommand),
    /// Check an installation against a hardening checklist (`vigil security check`).
    #[command(subcommand)]
    Security(cmd::security::SecurityCommand),
    /// Measure the API: event-list query latency with a million events, over HTTPS on loopback.
    #[command(name = "bench-api")]
    BenchApi(cmd::bench_api::Args),
    /// Evidence holds: `add`, `list`, `release` (footage retention never deletes and erasure refuses).
    #[command(subcommand)]
    Hold(cmd::hold::HoldCommand),
    /// Review feedback: `report` prints false alarms per camera, rule and ISO week (works while running).
    #[command(subcommand)]
    Review(cmd::review::ReviewCommand),
    /// Erase a camera's footage over a time range on request (whole segments, audited, with a report).
    Erase(cmd::erase::Args),
    /// The key store: `show` the master and site keys, `rotate` the master key.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// Face recognition: `match` two photos, `enrol`, `identify`, `list`, `erase` people on watchlists.
    #[command(subcommand)]
    Face(cmd::face::FaceCommand),
    /// Licence plates: `read` the plate in a picture.
    #[command(subcommand)]
    Plate(cmd::plate::PlateCommand),
    /// Check recordings (`vigil verify recordings`) or an evidence bundle (`vigil verify DIR`).
    Verify(cmd::verify::Args),
    /// ONVIF cameras: `discover` them (stream URIs, PTZ) and move PTZ cameras (`ptz`).
    #[command(subcommand)]
    Onvif(cmd::onvif::OnvifCommand),
    /// What happened over a time range or in one incident: sentences with confidence and clip links.
    Summary(cmd::summary::Args),
    /// How many cameras this box runs: N RTSP cameras through the whole system, measured (`--search` finds the largest N).
    BenchCameras(cmd::bench_cameras::Args),
    /// Search events and tracks: "red car at the gate last night" (JSON lines, best first).
    Search(cmd::search::Args),
    /// Measure the search's vector index: recall and latency of "more like this" at a million tracks.
    #[command(name = "bench-search")]
    BenchSearch(cmd::bench_search::Args),
    /// Every stored event as a JSON line (`vigil events --config vigil.toml --json`), as the hub gets them.
    Events(cmd::events::Args),
    /// The hub of many sites: run it (`vigil hub --config hub.toml`), its `events`, `site add`, `nats-config`.
    Hub(cmd::hub::Args),
    /// A business-intelligence report over a range (KPIs, footfall, occupancy, dwell, queues) as PDF or HTML.
    Report(reports::Args),
}

fn main() -> std::process::ExitCode {
    // Footage, snapshots, exports, databases and keys are nobody else's business: everything Vigil
    // creates is owner-only (folders 0700, files 0600), also what it creates while running.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let result = match cli.command {
        Command::Run(args) => cmd::run::run(args),
        Command::Analyze(args) => cmd::analyze::run(args),
        Command::Count(args) => cmd::count::run(args),
        Command::Anomaly(command) => cmd::anomaly::run(command),
        Command::Model(command) => cmd::model::run(command),
        Command::Eval(command) => cmd::eval::run(command),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Config(command) => cmd::config::run(command),
        Command::Export(args) => cmd::export::run(args),
        Command::BenchRecord(args) => cmd::bench_record::run(args),
        Command::User(command) => cmd::user::run(command),
        Command::Audit(command) => cmd::audit::run(command),
        Command::Security(command) => cmd::security::run(command),
        Command::BenchApi(args) => cmd::bench_api::run(args),
        Command::BenchCameras(args) => cmd::bench_cameras::run(args),
        Command::Keys(command) => cmd::keys::run(command),
        Command::Erase(args) => cmd::erase::run(args),
        Command::Hold(command) => cmd::hold::run(command),
        Command::Review(command) => cmd::review::run(command),
        Command::Verify(args) => cmd::verify::run(args),
        Command::Face(command) => cmd::face::run(command),
        Command::Plate(command) => cmd::plate::run(command),
        Command::Onvif(command) => cmd::onvif::run(command),
        Command::Search(args) => cmd::search::run(args),
        Command::BenchSearch(args) => cmd::bench_search::run(args),
        Command::Summary(args) => cmd::summary::run(args),
        Command::Report(args) => reports::run(args),
        Command::Events(args) => cmd::events::run(args),
        Command::Hub(args) => cmd::hub::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<cmd::summary::BadInput>().is_some() => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
        Err(err) if err.downcast_ref::<cmd::audit::Tampered>().is_some() => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
