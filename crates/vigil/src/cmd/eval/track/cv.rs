//! `vigil eval track --cv`: leave-one-sequence-out cross-validation of the tracker's parameters.
//!
//! Every parameter set of a small grid runs once on every sequence. Then, for each sequence in turn, the
//! set with the best mean `MOTA + IDF1` over the *other* sequences is chosen and scored on the held-out
//! one: a figure the choice never saw. Printed per fold beside supervision's ByteTrack on the same
//! detections, with the in-sample figures (the defaults, and the grid's best on every sequence) for
//! comparison, and whether the defaults are what the folds chose.

use super::{
    Args, Scores, Sequence, find_sequences, load_frames, pct, run_supervision, track_frames,
    tracker_config,
};
use crate::report::print_json_summary;
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use vigil_core::Detection;
use vigil_eval::mot::{MotMetrics, evaluate_mot17};
use vigil_eval::motchallenge::{GtBox, read_gt};
use vigil_vision::tracker::ByteTrackConfig;

/// One parameter the grid varies, and the values it tries.
struct Axis {
    name: &'static str,
    values: &'static [f32],
    set: fn(&mut ByteTrackConfig, f32),
    get: fn(&ByteTrackConfig) -> f32,
}

/// The grid: small on purpose (every set runs on every sequence; a wide grid on five sequences would
/// find noise). The birth threshold follows the high-detection threshold at +0.1, as in ByteTrack.
const AXES: &[Axis] = &[
    Axis {
        name: "track_thresh",
        values: &[0.4, 0.6],
        set: |c, v| {
            c.track_thresh = v;
            c.new_track_thresh = v + 0.1;
        },
        get: |c| c.track_thresh,
    },
    Axis {
        name: "buffer",
        values: &[30.0, 60.0],
        set: |c, v| c.buffer = v as u32,
        get: |c| c.buffer as f32,
    },
    Axis {
        name: "match_thresh",
        values: &[0.8, 0.9],
        set: |c, v| c.match_thresh = v,
        get: |c| c.match_thresh,
    },
    Axis {
        name: "momentum",
        values: &[0.0, 0.4],
        set: |c, v| c.momentum = v,
        get: |c| c.momentum,
    },
    Axis {
        name: "speed_margin",
        values: &[0.0, 10.0],
        set: |c, v| c.speed_margin = v,
        get: |c| c.speed_margin,
    },
    Axis {
        name: "height_iou",
        values: &[0.0, 1.0],
        set: |c, v| c.height_iou = v > 0.5,
        get: |c| if c.height_iou { 1.0 } else { 0.0 },
    },
    Axis {
        name: "motion_compensation",
        values: &[0.0, 1.0],
        set: |c, v| c.motion_compensation = v > 0.5,
        get: |c| if c.motion_compensation { 1.0 } else { 0.0 },
    },
];

/// One parameter set of the grid: its values in [`AXES`] order.
#[derive(Debug, Clone, PartialEq)]
struct Candidate {
    values: Vec<f32>,
}

impl Candidate {
    fn apply(&self, base: &ByteTrackConfig) -> ByteTrackConfig {
        let mut c = base.clone();
        for (axis, &v) in AXES.iter().zip(&self.values) {
            (axis.set)(&mut c, v);
        }
        c
    }

    fn of(config: &ByteTrackConfig) -> Self {
        Self {
            values: AXES.iter().map(|a| (a.get)(config)).collect(),
        }
    }

    fn params(&self) -> BTreeMap<&'static str, f32> {
        AXES.iter()
            .zip(&self.values)
            .map(|(a, &v)| (a.name, round3(v)))
            .collect()
    }

    fn label(&self) -> String {
        AXES.iter()
            .zip(&self.values)
            .map(|(a, v)| format!("{} {}", a.name, round3(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `v` to 3 decimals (grid values are short decimals; f32 arithmetic leaves noise).
fn round3(v: f32) -> f32 {
    (v * 1000.0).round() / 1000.0
}

/// Every combination of the axes' values, the first axis varying slowest.
fn grid() -> Vec<Candidate> {
    let mut out = vec![Candidate { values: Vec::new() }];
    for axis in AXES {
        out = out
            .into_iter()
            .flat_map(|c| {
                axis.values.iter().map(move |&v| {
                    let mut values = c.values.clone();
                    values.push(v);
                    Candidate { values }
                })
            })
            .collect();
    }
    out
}

/// What a parameter set is chosen by: the mean over the given sequences of `MOTA + IDF1`.
fn criterion(metrics: &[MotMetrics], seqs: impl Iterator<Item = usize>) -> f64 {
    let (mut sum, mut n) = (0.0, 0);
    for s in seqs {
        sum += metrics[s].mota() + metrics[s].idf1();
        n += 1;
    }
    sum / f64::from(n.max(1))
}

/// Index of the best candidate by `score` (the first of equals).
fn best_by(n: usize, score: impl Fn(usize) -> f64) -> usize {
    let mut best = 0;
    for c in 1..n {
        if score(c) > score(best) {
            best = c;
        }
    }
    best
}

#[derive(Serialize)]
struct Fold {
    held_out: String,
    chosen: BTreeMap<&'static str, f32>,
    /// Mean `MOTA + IDF1` of the chosen set on the other sequences.
    train_criterion: f64,
    vigil: Scores,
    supervision: Scores,
    /// IDF1 at least 1 point above supervision's and MOTA not lower.
    target_met: bool,
}

#[derive(Serialize)]
struct Pair {
    vigil: Scores,
    supervision: Scores,
}

#[derive(Serialize)]
struct InSample {
    defaults: BTreeMap<String, Pair>,
    defaults_overall: Pair,
    best_on_all: BTreeMap<&'static str, f32>,
    best_on_all_overall: Scores,
    /// The defaults with one addition turned off, overall.
    ablation: BTreeMap<&'static str, Scores>,
}

/// Turns one addition off.
type Off = fn(&mut ByteTrackConfig);

/// The additions to ByteTrack, each turned off in turn for the in-sample ablation.
const ABLATIONS: &[(&str, Off)] = &[
    ("momentum 0", |c| c.momentum = 0.0),
    ("reupdate off", |c| c.reupdate = false),
    ("recovery off", |c| c.last_observation_iou = 0.0),
    ("height_iou off", |c| c.height_iou = false),
    ("motion comp. off", |c| c.motion_compensation = false),
    ("speed_margin 0", |c| c.speed_margin = 0.0),
];

#[derive(Serialize)]
struct Summary {
    eval: &'static str,
    grid: BTreeMap<&'static str, Vec<f32>>,
    criterion: &'static str,
    folds: Vec<Fold>,
    held_out_overall: Pair,
    cv_choice: BTreeMap<&'static str, f32>,
    cv_choice_folds: usize,
    defaults: BTreeMap<&'static str, f32>,
    defaults_are_cv_choice: bool,
    in_sample: InSample,
    runs: usize,
    seconds: f64,
}

/// The target of issue 8 for one fold.
fn target_met(ours: &MotMetrics, sv: &MotMetrics) -> bool {
    ours.idf1() >= sv.idf1() + 0.01 && ours.mota() >= sv.mota()
}

/// Runs every candidate on every sequence (on all cores); `metrics[candidate][sequence]`.
fn run_grid(
    candidates: &[Candidate],
    base: &[ByteTrackConfig],
    frames: &[Vec<Vec<Detection>>],
    seqs: &[Sequence],
    gts: &[Vec<GtBox>],
) -> Vec<Vec<MotMetrics>> {
    let jobs = candidates.len() * seqs.len();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut results: Vec<(usize, MotMetrics)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let job = next.fetch_add(1, Ordering::Relaxed);
                        if job >= jobs {
                            break out;
                        }
                        let (c, s) = (job / seqs.len(), job % seqs.len());
                        let run = track_frames(&frames[s], candidates[c].apply(&base[s]));
                        out.push((
                            job,
                            evaluate_mot17(&gts[s], &run.rows, seqs[s].info.seq_length),
                        ));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    results.sort_by_key(|&(job, _)| job);
    results
        .chunks(seqs.len())
        .map(|chunk| chunk.iter().map(|&(_, m)| m).collect())
        .collect()
}

fn row(label: &str, who: &str, m: &MotMetrics) -> String {
    format!(
        "{label:<16} {who:<12} {:>6} {:>6} {:>5}\n",
        pct(m.mota()),
        pct(m.idf1()),
        m.switches
    )
}

/// Runs `vigil eval track --cv`.
pub(super) fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let det_dir = args.det_dir.clone().unwrap_or_else(super::default_det_dir);
    let gt_dir = args.gt_dir.clone().unwrap_or_else(super::default_gt_dir);
    let seqs = find_sequences(&gt_dir, &det_dir, &args.sequences)?;
    if seqs.len() < 2 {
        anyhow::bail!(
            "--cv needs at least two sequences to hold one out (found {})",
            seqs.len()
        );
    }
    let mut frames = Vec::new();
    let mut gts = Vec::new();
    let mut base = Vec::new();
    for s in &seqs {
        frames.push(load_frames(s)?);
        gts.push(read_gt(&s.gt_path)?);
        base.push(tracker_config(args, s.info.frame_rate));
    }

    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let sv_dir = match &args.out {
        Some(out) => out.join("supervision"),
        None => temp.path().to_path_buf(),
    };
    let (sv_rows, _) = run_supervision(&det_dir, &gt_dir, &sv_dir, &seqs)?;
    let sv: Vec<MotMetrics> = seqs
        .iter()
        .zip(&gts)
        .map(|(s, gt)| {
            let rows = sv_rows.get(&s.name).map(Vec::as_slice).unwrap_or(&[]);
            evaluate_mot17(gt, rows, s.info.seq_length)
        })
        .collect();

    let candidates = grid();
    let metrics = run_grid(&candidates, &base, &frames, &seqs, &gts);
    let n = seqs.len();

    let mut table = format!(
        "leave-one-sequence-out cross-validation: {} parameter sets x {} sequences; per fold the set with \
         the best mean MOTA + IDF1 on the other {} sequences, scored on the held-out one\n",
        candidates.len(),
        n,
        n - 1
    );
    let _ = writeln!(
        table,
        "grid: {}",
        AXES.iter()
            .map(|a| format!(
                "{} {}",
                a.name,
                a.values
                    .iter()
                    .map(|v| round3(*v).to_string())
                    .collect::<Vec<_>>()
                    .join("|")
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        table,
        "{:<16} {:<12} {:>6} {:>6} {:>5}   chosen on the other sequences",
        "held out", "tracker", "MOTA", "IDF1", "IDSW"
    );
    let mut folds = Vec::new();
    let mut held_ours = Vec::new();
    let mut chosen = Vec::new();
    for h in 0..n {
        let train = || (0..n).filter(move |&s| s != h);
        let best = best_by(candidates.len(), |c| criterion(&metrics[c], train()));
        chosen.push(best);
        let (ours, theirs) = (&metrics[best][h], &sv[h]);
        let met = target_met(ours, theirs);
        let mut line = row(&seqs[h].name, "vigil", ours);
        line.pop();
        let _ = writeln!(line, "   {}", candidates[best].label());
        table.push_str(&line);
        let mut line = row("", "supervision", theirs);
        line.pop();
        let _ = writeln!(
            line,
            "   IDF1 {:+.1}, MOTA {:+.1}: {}",
            100.0 * (ours.idf1() - theirs.idf1()),
            100.0 * (ours.mota() - theirs.mota()),
            if met {
                "target met"
            } else {
                "TARGET MISSED (IDF1 +1, MOTA not lower)"
            }
        );
        table.push_str(&line);
        held_ours.push(*ours);
        folds.push(Fold {
            held_out: seqs[h].name.clone(),
            chosen: candidates[best].params(),
            train_criterion: criterion(&metrics[best], train()),
            vigil: Scores::from(ours),
            supervision: Scores::from(theirs),
            target_met: met,
        });
    }
    let (ho, hs) = (MotMetrics::sum(&held_ours), MotMetrics::sum(&sv));
    table.push_str(&row("HELD-OUT ALL", "vigil", &ho));
    table.push_str(&row("", "supervision", &hs));

    // The defaults the folds agree on: the set chosen most often (ties: the best mean training score).
    let count = |c: usize| chosen.iter().filter(|&&x| x == c).count();
    let train_mean = |c: usize| {
        let folds_of_c: Vec<usize> = (0..n).filter(|&h| chosen[h] == c).collect();
        folds_of_c
            .iter()
            .map(|&h| criterion(&metrics[c], (0..n).filter(move |&s| s != h)))
            .sum::<f64>()
            / folds_of_c.len().max(1) as f64
    };
    let cv_choice = best_by(candidates.len(), |c| {
        count(c) as f64 * 1e3 + if count(c) > 0 { train_mean(c) } else { 0.0 }
    });
    let defaults = Candidate::of(&tracker_config(args, 30.0));
    let defaults_are_cv_choice = defaults == candidates[cv_choice];
    let _ = writeln!(
        table,
        "cross-validation's choice (chosen by {} of {} folds): {}",
        count(cv_choice),
        n,
        candidates[cv_choice].label()
    );
    let _ = writeln!(
        table,
        "the tracker's defaults{}: {} -> {}",
        if args.has_tracker_overrides() {
            " with the command-line overrides"
        } else {
            ""
        },
        defaults.label(),
        if defaults_are_cv_choice {
            "the same"
        } else {
            "DIFFERENT from the cross-validation's choice"
        }
    );

    // In-sample: the defaults on every sequence (as plain `eval track` runs them), and the grid's best.
    table.push_str(
        "in sample (parameters seen every sequence): the defaults, the grid's best, and the defaults \
         with each addition that is on turned off\n",
    );
    let mut in_defaults = BTreeMap::new();
    let mut def_all = Vec::new();
    for (s, seq) in seqs.iter().enumerate() {
        let run = track_frames(&frames[s], base[s].clone());
        if let Some(out) = &args.out {
            let path = out.join(format!("{}.txt", seq.name));
            std::fs::write(&path, &run.text)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        let m = evaluate_mot17(&gts[s], &run.rows, seq.info.seq_length);
        table.push_str(&row(&seq.name, "vigil", &m));
        table.push_str(&row("", "supervision", &sv[s]));
        def_all.push(m);
        in_defaults.insert(
            seq.name.clone(),
            Pair {
                vigil: Scores::from(&m),
                supervision: Scores::from(&sv[s]),
            },
        );
    }
    let def_overall = MotMetrics::sum(&def_all);
    table.push_str(&row("OVERALL", "vigil", &def_overall));
    table.push_str(&row("", "supervision", &hs));
    let best_all = best_by(candidates.len(), |c| criterion(&metrics[c], 0..n));
    let best_all_overall = MotMetrics::sum(&metrics[best_all]);
    let mut line = row("BEST ON ALL", "vigil", &best_all_overall);
    line.pop();
    let _ = writeln!(line, "   {}", candidates[best_all].label());
    table.push_str(&line);
    let mut ablation = BTreeMap::new();
    for (name, off) in ABLATIONS {
        let mut all = Vec::new();
        let mut changed = false;
        for (s, seq) in seqs.iter().enumerate() {
            let mut config = base[s].clone();
            off(&mut config);
            changed |= config != base[s];
            let run = track_frames(&frames[s], config);
            all.push(evaluate_mot17(&gts[s], &run.rows, seq.info.seq_length));
        }
        if changed {
            let m = MotMetrics::sum(&all);
            table.push_str(&row(name, "vigil", &m));
            ablation.insert(*name, Scores::from(&m));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let _ = writeln!(
        table,
        "{} tracker runs scored in {:.1} s (supervision included)",
        candidates.len() * n,
        seconds
    );
    print!("{table}");

    print_json_summary(&Summary {
        eval: "track_cv",
        grid: AXES
            .iter()
            .map(|a| (a.name, a.values.iter().map(|v| round3(*v)).collect()))
            .collect(),
        criterion: "mean over the training sequences of MOTA + IDF1",
        folds,
        held_out_overall: Pair {
            vigil: Scores::from(&ho),
            supervision: Scores::from(&hs),
        },
        cv_choice: candidates[cv_choice].params(),
        cv_choice_folds: count(cv_choice),
        defaults: defaults.params(),
        defaults_are_cv_choice,
        in_sample: InSample {
            defaults: in_defaults,
            defaults_overall: Pair {
                vigil: Scores::from(&def_overall),
                supervision: Scores::from(&hs),
            },
            best_on_all: candidates[best_all].params(),
            best_on_all_overall: Scores::from(&best_all_overall),
            ablation,
        },
        runs: candidates.len() * n,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_covers_every_combination_once() {
        let g = grid();
        let expected: usize = AXES.iter().map(|a| a.values.len()).product();
        assert_eq!(g.len(), expected);
        for (i, a) in g.iter().enumerate() {
            assert!(g[i + 1..].iter().all(|b| b != a));
            // Applying a candidate and reading it back gives the candidate.
            assert_eq!(Candidate::of(&a.apply(&ByteTrackConfig::default())), *a);
        }
    }

    #[test]
    fn folds_choose_without_the_held_out_sequence() {
        // Two candidates, three sequences: candidate 1 wins only on sequence 0. The fold that holds out
        // sequence 0 must not see that and chooses candidate 0.
        let good = MotMetrics {
            objects: 100,
            predictions: 100,
            matches: 90,
            misses: 10,
            idtp: 80,
            ..MotMetrics::default()
        };
        let bad = MotMetrics {
            idtp: 20,
            misses: 60,
            ..good
        };
        let metrics = [vec![bad, good, good], vec![good, bad, bad]];
        let fold0 = best_by(2, |c| criterion(&metrics[c], [1, 2].into_iter()));
        let fold1 = best_by(2, |c| criterion(&metrics[c], [0, 2].into_iter()));
        assert_eq!((fold0, fold1), (0, 0));
        assert_eq!(best_by(2, |c| criterion(&metrics[c], [0].into_iter())), 1);
    }
}
