//! `vigil eval anomaly --ablation`: every [`Scoring`] variant on the test videos, and the choice among
//! them checked on held-out videos: chosen (best pooled AUC) on one half of the test videos and measured on
//! the other, both ways, and leave-one-video-out (chosen on the other videos, each video's scores from the
//! variant chosen without it, pooled).

use crate::cmd::anomaly::score_frames;
use vigil_vision::anomaly::{FrameFeatures, SceneModel, Scoring, auc};

/// One scored test video.
pub struct Video {
    /// `test_17`...
    pub name: String,
    /// Its features, one per labelled frame.
    pub frames: Vec<FrameFeatures>,
    /// Frame rate.
    pub fps: f64,
    /// Abnormal flag per frame.
    pub truth: Vec<bool>,
}

/// The variants, with names; the last is the shipped [`Scoring::default`].
fn variants() -> Vec<(&'static str, Scoring)> {
    let v = |per_cell, multiplicity| Scoring {
        per_cell,
        multiplicity,
    };
    vec![
        ("whole picture, raw (previous)", v(false, false)),
        ("whole picture, corrected", v(false, true)),
        ("per cell, raw", v(true, false)),
        ("per cell, corrected (shipped)", v(true, true)),
    ]
}

/// Pooled AUC of `videos` (indices) under precomputed `scores`.
fn pooled(scores: &[Vec<f32>], videos: &[&Video], pick: &[usize]) -> Option<f64> {
    let (mut s, mut l) = (Vec::new(), Vec::new());
    for &i in pick {
        s.extend_from_slice(&scores[i]);
        l.extend_from_slice(&videos[i].truth);
    }
    auc(&s, &l)
}

/// Scores rescaled to 0..1 within their video (the non-causal step many published Avenue figures take).
fn min_max(scores: &[f32]) -> Vec<f32> {
    let lo = scores.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let span = (hi - lo).max(1e-9);
    scores.iter().map(|s| (s - lo) / span).collect()
}

fn fmt(a: Option<f64>) -> String {
    a.map_or("-".into(), |a| format!("{a:.3}"))
}

/// The index of the variant with the best pooled AUC over `pick`.
fn choose(scores: &[Vec<Vec<f32>>], videos: &[&Video], pick: &[usize]) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (k, s) in scores.iter().enumerate() {
        if let Some(a) = pooled(s, videos, pick)
            && a > best.1
        {
            best = (k, a);
        }
    }
    best.0
}

/// Prints the ablation table and the held-out checks.
pub fn report(model: &SceneModel, videos: &[Video]) {
    let variants = variants();
    let refs: Vec<&Video> = videos.iter().collect();
    let all: Vec<usize> = (0..videos.len()).collect();
    // scores[variant][video]
    let scores: Vec<Vec<Vec<f32>>> = variants
        .iter()
        .map(|(_, s)| {
            videos
                .iter()
                .map(|v| score_frames(model, &v.frames, v.fps, *s))
                .collect()
        })
        .collect();
    println!("\nablation (AUC):");
    let names: Vec<&str> = videos.iter().map(|v| v.name.as_str()).collect();
    println!(
        "| scoring | pooled | mean within | pooled, min-max per video | {} |",
        names.join(" | ")
    );
    for ((name, _), s) in variants.iter().zip(&scores) {
        let within: Vec<Option<f64>> = videos
            .iter()
            .zip(s)
            .map(|(v, x)| auc(x, &v.truth))
            .collect();
        let known: Vec<f64> = within.iter().flatten().copied().collect();
        let mean = (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64);
        let normalized: Vec<Vec<f32>> = s.iter().map(|x| min_max(x)).collect();
        println!(
            "| {name} | {} | {} | {} | {} |",
            fmt(pooled(s, &refs, &all)),
            fmt(mean),
            fmt(pooled(&normalized, &refs, &all)),
            within
                .iter()
                .map(|a| fmt(*a))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    // Halves: the first and the second half of the test videos.
    let half = videos.len() / 2;
    let (a, b): (Vec<usize>, Vec<usize>) = all.iter().partition(|i| **i < half);
    let shipped = variants.len() - 1;
    for (on, at) in [(&a, &b), (&b, &a)] {
        let k = choose(&scores, &refs, on);
        let label = |p: &[usize]| p.iter().map(|i| names[*i]).collect::<Vec<_>>().join(",");
        println!(
            "chosen on {}: {}; held out on {}: {} (shipped: {})",
            label(on),
            variants[k].0,
            label(at),
            fmt(pooled(&scores[k], &refs, at)),
            fmt(pooled(&scores[shipped], &refs, at))
        );
    }
    // Leave one video out.
    let mut held = Vec::new();
    let mut chosen = Vec::new();
    for i in &all {
        let others: Vec<usize> = all.iter().copied().filter(|j| j != i).collect();
        let k = choose(&scores, &refs, &others);
        chosen.push(variants[k].0);
        held.push(scores[k][*i].clone());
    }
    println!(
        "leave one video out: pooled AUC {} (variants chosen: {})",
        fmt(pooled(&held, &refs, &all)),
        chosen.join("; ")
    );
}
