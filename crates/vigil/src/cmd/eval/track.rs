//! `vigil eval track`: our ByteTracker on MOTChallenge MOT17 public detections, scored with the
//! MOTChallenge protocol (MOTA, IDF1, ID switches...), optionally side by side with supervision's
//! ByteTrack run on the same detections; with `--cv`, leave-one-sequence-out cross-validation of the
//! tracker's parameters ([`cv`]).

mod cv;

use crate::paths;
use crate::report::print_json_summary;
use anyhow::{Context, bail};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use vigil_core::{BBox, Detection, TrackedObject};
use vigil_eval::mot::{MotMetrics, evaluate_mot17};
use vigil_eval::motchallenge::{DetBox, SeqInfo, by_frame, read_det, read_gt, read_seqinfo};
use vigil_vision::tracker::{ByteTrackConfig, ByteTracker};

/// Arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory of sequences with public detections in `<SEQ>/det/det.txt`
    /// [default: <shared>/footage/mot17-mini/train].
    #[arg(long)]
    pub det_dir: Option<PathBuf>,
    /// Directory of sequences with full ground truth in `<SEQ>/gt/gt.txt` and `<SEQ>/seqinfo.ini`
    /// [default: <shared>/footage/mot17-gt].
    #[arg(long)]
    pub gt_dir: Option<PathBuf>,
    /// Write MOTChallenge result files here: `<OUT>/<SEQ>.txt` (and `<OUT>/supervision/<SEQ>.txt` with
    /// `--compare-supervision` or `--cv`; with `--cv` ours are the defaults' runs).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Sequences to run [default: every sequence of --gt-dir that has ground truth and detections].
    #[arg(long, num_args = 1..)]
    pub sequences: Vec<String>,
    /// Also run supervision 0.26.1's ByteTrack on the same detections (`scripts/reference_bytetrack.py`
    /// with the Python in $VIGIL_PY) and print both side by side.
    #[arg(long)]
    pub compare_supervision: bool,
    /// Leave-one-sequence-out cross-validation: for each sequence, choose the tracker's parameters on the
    /// others by a small grid and score them on it, beside supervision's ByteTrack (needs $VIGIL_PY);
    /// prints the held-out and the in-sample figures and whether the defaults are the folds' choice.
    /// The parameter flags below set the base the grid varies.
    #[arg(long)]
    pub cv: bool,
    /// Tracker: high-detection score threshold [default: ByteTrackConfig's].
    #[arg(long)]
    pub track_thresh: Option<f32>,
    /// Tracker: minimum score of a detection that starts a track.
    #[arg(long)]
    pub new_track_thresh: Option<f32>,
    /// Tracker: first-association IoU-distance limit.
    #[arg(long)]
    pub match_thresh: Option<f32>,
    /// Tracker: lost-track buffer in frames at 30 fps.
    #[arg(long)]
    pub buffer: Option<u32>,
    /// Tracker: OC-SORT momentum weight (0 = off).
    #[arg(long)]
    pub momentum: Option<f32>,
    /// Tracker: OC-SORT observation-centric re-update after a gap (true/false).
    #[arg(long)]
    pub reupdate: Option<bool>,
    /// Tracker: OC-SORT recovery by the last observed box, minimum IoU (0 = off).
    #[arg(long)]
    pub last_observation_iou: Option<f32>,
    /// Tracker: second-association limit (1 - IoU) for low-score detections.
    #[arg(long)]
    pub low_match_thresh: Option<f32>,
    /// Tracker: limit (1 - IoU * score) for confirming new tracks.
    #[arg(long)]
    pub unconfirmed_match_thresh: Option<f32>,
    /// Tracker: recovery association by centre distance, in track heights (0 = off).
    #[arg(long)]
    pub recover_distance: Option<f32>,
    /// Tracker: speed-scaled buffered IoU, box growth per unit of speed (0 = off).
    #[arg(long)]
    pub speed_margin: Option<f32>,
    /// Tracker: height-modulated IoU (true/false).
    #[arg(long)]
    pub height_iou: Option<bool>,
    /// Tracker: camera motion compensation from matched tracks (true/false).
    #[arg(long)]
    pub motion_compensation: Option<bool>,
}

impl Args {
    /// True when a tracker parameter was given on the command line.
    fn has_tracker_overrides(&self) -> bool {
        self.track_thresh.is_some()
            || self.new_track_thresh.is_some()
            || self.match_thresh.is_some()
            || self.buffer.is_some()
            || self.momentum.is_some()
            || self.reupdate.is_some()
            || self.last_observation_iou.is_some()
            || self.low_match_thresh.is_some()
            || self.unconfirmed_match_thresh.is_some()
            || self.recover_distance.is_some()
            || self.speed_margin.is_some()
            || self.height_iou.is_some()
            || self.motion_compensation.is_some()
    }
}

/// One sequence's inputs.
struct Sequence {
    name: String,
    info: SeqInfo,
    gt_path: PathBuf,
    det_path: PathBuf,
}

/// Our tracker's output on one sequence.
struct TrackRun {
    rows: Vec<DetBox>,
    text: String,
    tracker_time: Duration,
}

/// Metrics as printed and serialised.
#[derive(Serialize, Clone, Copy)]
struct Scores {
    mota: f64,
    idf1: f64,
    idp: f64,
    idr: f64,
    motp: f64,
    idsw: u64,
    fp: u64,
    #[serde(rename = "fn")]
    fn_: u64,
    frag: u64,
    mt: u64,
    pt: u64,
    ml: u64,
    gt_ids: u64,
}

impl From<&MotMetrics> for Scores {
    fn from(m: &MotMetrics) -> Self {
        Self {
            mota: m.mota(),
            idf1: m.idf1(),
            idp: m.idp(),
            idr: m.idr(),
            motp: m.motp(),
            idsw: m.switches,
            fp: m.false_positives,
            fn_: m.misses,
            frag: m.fragmentations,
            mt: m.mostly_tracked,
            pt: m.partially_tracked,
            ml: m.mostly_lost,
            gt_ids: m.unique_objects,
        }
    }
}

#[derive(Serialize)]
struct TrackerSummary {
    sequences: BTreeMap<String, Scores>,
    overall: Scores,
    frames: u64,
    /// Mean time of one `ByteTracker::update` call.
    us_per_frame: f64,
}

#[derive(Serialize)]
struct Summary {
    eval: &'static str,
    config: ConfigSummary,
    vigil: TrackerSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    supervision: Option<TrackerSummary>,
}

#[derive(Serialize)]
struct ConfigSummary {
    track_thresh: f32,
    new_track_thresh: f32,
    low_thresh: f32,
    match_thresh: f32,
    buffer: u32,
    momentum: f32,
    reupdate: bool,
    last_observation_iou: f32,
    speed_margin: f32,
    height_iou: bool,
    motion_compensation: bool,
}

fn default_det_dir() -> PathBuf {
    paths::footage_dir().join("mot17-mini/train")
}

fn default_gt_dir() -> PathBuf {
    paths::footage_dir().join("mot17-gt")
}

/// `scripts/` of the source checkout this binary was built from.
fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts")
}

/// The sequences to run: the requested ones, or every directory of `gt_dir` with ground truth.
fn find_sequences(
    gt_dir: &Path,
    det_dir: &Path,
    wanted: &[String],
) -> anyhow::Result<Vec<Sequence>> {
    let names: Vec<String> = if wanted.is_empty() {
        let entries = std::fs::read_dir(gt_dir)
            .with_context(|| format!("ground-truth directory {}", gt_dir.display()))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", gt_dir.display()))?;
            let path = entry.path();
            if path.join("gt/gt.txt").is_file() && path.join("seqinfo.ini").is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        if names.is_empty() {
            bail!(
                "{}: no sequence with gt/gt.txt and seqinfo.ini",
                gt_dir.display()
            );
        }
        names
    } else {
        wanted.to_vec()
    };
    names
        .into_iter()
        .map(|name| {
            let seq_dir = gt_dir.join(&name);
            if !seq_dir.join("gt/gt.txt").is_file() {
                bail!(
                    "{name}: no ground truth at {}",
                    seq_dir.join("gt/gt.txt").display()
                );
            }
            let info = read_seqinfo(&seq_dir.join("seqinfo.ini"))?;
            let det_path = det_dir.join(&name).join("det/det.txt");
            if !det_path.is_file() {
                bail!("{name}: no public detections at {}", det_path.display());
            }
            Ok(Sequence {
                name,
                info,
                gt_path: seq_dir.join("gt/gt.txt"),
                det_path,
            })
        })
        .collect()
}

/// The tracker configuration from the defaults and the command-line overrides.
fn tracker_config(args: &Args, frame_rate: f32) -> ByteTrackConfig {
    let mut c = ByteTrackConfig {
        frame_rate,
        ..ByteTrackConfig::default()
    };
    if let Some(v) = args.track_thresh {
        c.track_thresh = v;
    }
    if let Some(v) = args.new_track_thresh {
        c.new_track_thresh = v;
    }
    if let Some(v) = args.match_thresh {
        c.match_thresh = v;
    }
    if let Some(v) = args.buffer {
        c.buffer = v;
    }
    if let Some(v) = args.momentum {
        c.momentum = v;
    }
    if let Some(v) = args.reupdate {
        c.reupdate = v;
    }
    if let Some(v) = args.last_observation_iou {
        c.last_observation_iou = v;
    }
    if let Some(v) = args.low_match_thresh {
        c.low_match_thresh = v;
    }
    if let Some(v) = args.unconfirmed_match_thresh {
        c.unconfirmed_match_thresh = v;
    }
    if let Some(v) = args.recover_distance {
        c.recover_distance = v;
    }
    if let Some(v) = args.speed_margin {
        c.speed_margin = v;
    }
    if let Some(v) = args.height_iou {
        c.height_iou = v;
    }
    if let Some(v) = args.motion_compensation {
        c.motion_compensation = v;
    }
    c
}

/// Formats one MOTChallenge result row and returns it with the box exactly as a reader of the file
/// will see it (so the score we print is the score of the file we write).
fn result_row(frame: u32, o: &TrackedObject) -> (String, DetBox) {
    let fields = [o.bbox.x1, o.bbox.y1, o.bbox.width(), o.bbox.height()].map(|v| format!("{v:.2}"));
    let parsed = fields
        .clone()
        .map(|f| f.parse::<f64>().unwrap_or(f64::NAN) as f32);
    let line = format!(
        "{frame},{},{},{},{},{},{:.3},-1,-1,-1\n",
        o.id, fields[0], fields[1], fields[2], fields[3], o.score
    );
    let row = DetBox {
        frame,
        id: o.id as i64,
        bbox: BBox::from_xywh(parsed[0], parsed[1], parsed[2], parsed[3]),
        score: o.score,
    };
    (line, row)
}

/// A sequence's public detections, one list per frame `1..=seq_length` (index 0 is frame 1).
fn load_frames(seq: &Sequence) -> anyhow::Result<Vec<Vec<Detection>>> {
    let dets = read_det(&seq.det_path)?;
    let frames = by_frame(&dets, |d| d.frame);
    Ok((1..=seq.info.seq_length)
        .map(|frame| {
            frames
                .get(&frame)
                .map(|v| {
                    v.iter()
                        .map(|d| Detection::new(d.bbox, d.score, 0))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect())
}

/// Runs our tracker over every frame of a sequence's detections (from [`load_frames`]).
fn track_frames(frames: &[Vec<Detection>], config: ByteTrackConfig) -> TrackRun {
    let mut tracker = ByteTracker::new(config);
    let mut run = TrackRun {
        rows: Vec::new(),
        text: String::new(),
        tracker_time: Duration::ZERO,
    };
    for (frame, detections) in (1..).zip(frames) {
        let start = Instant::now();
        let objects = tracker.update(detections);
        run.tracker_time += start.elapsed();
        for o in &objects {
            let (line, row) = result_row(frame, o);
            run.text.push_str(&line);
            run.rows.push(row);
        }
    }
    run
}

fn pct(v: f64) -> String {
    format!("{:.1}", 100.0 * v)
}

fn table_header() -> String {
    format!(
        "{:<16} {:<12} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5}\n",
        "sequence", "tracker", "MOTA", "IDF1", "IDSW", "FP", "FN", "FM", "MT", "ML"
    )
}

fn table_row(seq: &str, tracker: &str, s: &Scores) -> String {
    format!(
        "{:<16} {:<12} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5}\n",
        seq,
        tracker,
        pct(s.mota),
        pct(s.idf1),
        s.idsw,
        s.fp,
        s.fn_,
        s.frag,
        s.mt,
        s.ml
    )
}

/// Runs `scripts/reference_bytetrack.py` and returns its result rows per sequence and its time.
fn run_supervision(
    det_dir: &Path,
    gt_dir: &Path,
    out_dir: &Path,
    seqs: &[Sequence],
) -> anyhow::Result<(BTreeMap<String, Vec<DetBox>>, Duration)> {
    let python = std::env::var_os("VIGIL_PY").context(
        "--compare-supervision needs $VIGIL_PY, a Python with supervision 0.26.1 \
         (`source dev/install-deps` sets it)",
    )?;
    let script = scripts_dir().join("reference_bytetrack.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg("--det-dir")
        .arg(det_dir)
        .arg("--gt-dir")
        .arg(gt_dir)
        .arg("--out")
        .arg(out_dir)
        .arg("--sequences")
        .args(seqs.iter().map(|s| &s.name))
        .output()
        .with_context(|| format!("running {} {}", python.to_string_lossy(), script.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed ({}): {}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .with_context(|| format!("{}: no JSON summary in its output", script.display()))?;
    let seconds = report["seconds"].as_f64().unwrap_or(f64::NAN);
    let mut rows = BTreeMap::new();
    for s in seqs {
        let path = out_dir.join(format!("{}.txt", s.name));
        rows.insert(s.name.clone(), read_det(&path)?);
    }
    Ok((rows, Duration::from_secs_f64(seconds.max(0.0))))
}

/// Scores per sequence and overall.
fn score_all(
    seqs: &[Sequence],
    gts: &BTreeMap<String, Vec<vigil_eval::motchallenge::GtBox>>,
    results: &BTreeMap<String, Vec<DetBox>>,
    time: Duration,
) -> TrackerSummary {
    let mut per_seq = Vec::new();
    let mut sequences = BTreeMap::new();
    for s in seqs {
        let m = evaluate_mot17(
            &gts[&s.name],
            results.get(&s.name).map(Vec::as_slice).unwrap_or(&[]),
            s.info.seq_length,
        );
        sequences.insert(s.name.clone(), Scores::from(&m));
        per_seq.push(m);
    }
    let frames: u64 = seqs.iter().map(|s| u64::from(s.info.seq_length)).sum();
    TrackerSummary {
        sequences,
        overall: Scores::from(&MotMetrics::sum(&per_seq)),
        frames,
        us_per_frame: time.as_secs_f64() * 1e6 / frames.max(1) as f64,
    }
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.cv {
        return cv::run(&args);
    }
    let det_dir = args.det_dir.clone().unwrap_or_else(default_det_dir);
    let gt_dir = args.gt_dir.clone().unwrap_or_else(default_gt_dir);
    let seqs = find_sequences(&gt_dir, &det_dir, &args.sequences)?;
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }

    let mut gts = BTreeMap::new();
    let mut ours = BTreeMap::new();
    let mut our_time = Duration::ZERO;
    for s in &seqs {
        gts.insert(s.name.clone(), read_gt(&s.gt_path)?);
        let run = track_frames(&load_frames(s)?, tracker_config(&args, s.info.frame_rate));
        if let Some(out) = &args.out {
            let path = out.join(format!("{}.txt", s.name));
            std::fs::write(&path, &run.text)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        our_time += run.tracker_time;
        ours.insert(s.name.clone(), run.rows);
    }
    let vigil = score_all(&seqs, &gts, &ours, our_time);

    let supervision = if args.compare_supervision {
        let temp;
        let sv_dir = match &args.out {
            Some(out) => out.join("supervision"),
            None => {
                temp = tempfile::tempdir().context("creating a temporary directory")?;
                temp.path().to_path_buf()
            }
        };
        let (rows, time) = run_supervision(&det_dir, &gt_dir, &sv_dir, &seqs)?;
        Some(score_all(&seqs, &gts, &rows, time))
    } else {
        None
    };

    let mut table = table_header();
    for s in &seqs {
        table.push_str(&table_row(&s.name, "vigil", &vigil.sequences[&s.name]));
        if let Some(sv) = &supervision {
            table.push_str(&table_row("", "supervision", &sv.sequences[&s.name]));
        }
    }
    table.push_str(&table_row("OVERALL", "vigil", &vigil.overall));
    if let Some(sv) = &supervision {
        table.push_str(&table_row("", "supervision", &sv.overall));
    }
    let _ = writeln!(
        table,
        "tracker cost: vigil {:.1} us/frame over {} frames",
        vigil.us_per_frame, vigil.frames
    );
    if let Some(sv) = &supervision {
        let _ = writeln!(
            table,
            "              supervision {:.1} us/frame (Python, update_with_detections): vigil {:.1}x faster",
            sv.us_per_frame,
            sv.us_per_frame / vigil.us_per_frame
        );
    }
    print!("{table}");

    let c = tracker_config(&args, 30.0);
    print_json_summary(&Summary {
        eval: "track",
        config: ConfigSummary {
            track_thresh: c.track_thresh,
            new_track_thresh: c.new_track_thresh,
            low_thresh: c.low_thresh,
            match_thresh: c.match_thresh,
            buffer: c.buffer,
            momentum: c.momentum,
            reupdate: c.reupdate,
            last_observation_iou: c.last_observation_iou,
            speed_margin: c.speed_margin,
            height_iou: c.height_iou,
            motion_compensation: c.motion_compensation,
        },
        vigil,
        supervision,
    })
}
