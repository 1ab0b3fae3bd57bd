//! `vigil bench`: speed and memory of every pipeline stage on a real video, motion-gated against the
//! detector on every analysed frame, and our inference call against a bare ONNX Runtime session.
//!
//! The two modes run interleaved on the same decoded frames (each frame goes through both analyzers in
//! turn), so a change of load on the machine affects both alike; CPU time is the process's, measured
//! around each call (ONNX Runtime's own threads included), and decoding is charged to both.

use crate::cmd::analyze::print_stage_table;
use crate::{models, paths, report};
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use vigil_core::BBox;
use vigil_media::DecoderOptions;
use vigil_pipeline::stats::{
    StageStats, StageSummary, peak_rss_bytes, percentile, process_cpu_time, reset_peak_rss,
};
use vigil_pipeline::{Analyzer, DetectReason, FileRun, Gating, PipelineConfig};
use vigil_vision::detector::BareSession;
use vigil_vision::model::DEFAULT_MODEL;

/// Arguments of `vigil bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Video to run on (default: ../shared/footage/intel/one-by-one-person-detection.mp4).
    #[arg(long)]
    pub video: Option<PathBuf>,
    /// Detector model.
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Frames analysed per second.
    #[arg(long, default_value_t = 5.0)]
    pub detect_fps: f64,
    /// Detector threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where inference runs: cpu, cuda, tensorrt or openvino (a provider the ONNX Runtime library
    /// lacks falls back to the CPU, saying why).
    #[arg(long, default_value = "cpu")]
    pub device: vigil_vision::device::InferenceDevice,
    /// Motion-gated mode: look at live tracks every N analysed frames while nothing new moves.
    #[arg(long, default_value_t = PipelineConfig::default().tracked_detect_every)]
    pub tracked_detect_every: u32,
    /// Width of the gray frame motion detection works on.
    #[arg(long, default_value_t = PipelineConfig::default().motion_width)]
    pub motion_width: u32,
    /// Interleaved iterations of the inference-versus-bare-session comparison.
    #[arg(long, default_value_t = 60)]
    pub bare_iters: usize,
    /// Directory holding the model files.
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Also run face recognition and plate reading on the motion-gated tracks and report what they add
    /// per analysed frame.
    #[arg(long)]
    pub identity: bool,
}

/// Figures of one mode.
#[derive(Serialize)]
struct ModeReport {
    mode: &'static str,
    analysed_frames: u64,
    detector_frames: u64,
    /// Analysed frames by why the detector ran (or did not).
    reasons: BTreeMap<DetectReason, u64>,
    /// Wall time of this mode's calls (decoding included).
    busy_s: f64,
    frames_per_s: f64,
    cpu_s: f64,
    cpu_ms_per_frame: f64,
    /// Person tracks lasting at least one second.
    people: usize,
    stages: Vec<StageSummary>,
}

/// The JSON summary line.
#[derive(Serialize)]
struct Summary {
    video: String,
    model: String,
    threads: usize,
    device: String,
    analysis_fps: f64,
    peak_rss_mb: Option<f64>,
    every_frame: ModeReport,
    motion_gated: ModeReport,
    /// CPU per analysed frame, gated / every frame (target <= 0.5).
    cpu_ratio_gated_vs_every_frame: f64,
    /// Share of the every-frame mode's person tracks (per frame) that the gated mode reports there too.
    person_recall_vs_every_frame: f64,
    inference_median_ms: f64,
    bare_session_median_ms: f64,
    /// Our inference call / bare ORT session loop, same model, threads and input (target <= 1.05).
    inference_vs_bare_ratio: f64,
    /// What face recognition and plate reading add (`--identity`).
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<crate::cmd::bench_identity::IdentityCost>,
    /// What the tracks' attributes (colours, size, speed, direction) add per motion-gated analysed frame,
    /// microseconds (mean).
    attribute_us_per_frame: f64,
}

/// One mode's analyzer and tallies.
struct Mode {
    name: &'static str,
    analyzer: Analyzer,
    stats: StageStats,
    cpu: Duration,
    busy: Duration,
    frames: u64,
    detector_frames: u64,
    reasons: BTreeMap<DetectReason, u64>,
    persons: BTreeMap<u64, Vec<BBox>>,
    track_frames: BTreeMap<u64, u32>,
}

impl Mode {
    fn report(self, min_frames: u32, decode_cpu: Duration) -> ModeReport {
        let cpu = (self.cpu + decode_cpu).as_secs_f64();
        ModeReport {
            mode: self.name,
            analysed_frames: self.frames,
            detector_frames: self.detector_frames,
            reasons: self.reasons,
            busy_s: self.busy.as_secs_f64(),
            frames_per_s: self.frames as f64 / self.busy.as_secs_f64().max(1e-9),
            cpu_s: cpu,
            cpu_ms_per_frame: cpu * 1000.0 / self.frames.max(1) as f64,
            people: self
                .track_frames
                .values()
                .filter(|&&f| f >= min_frames)
                .count(),
            stages: self.stats.summary(),
        }
    }
}

/// Runs `vigil bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let video = args
        .video
        .clone()
        .unwrap_or_else(|| paths::footage_dir().join("intel/one-by-one-person-detection.mp4"));
    if !video.exists() {
        anyhow::bail!(
            "{}: no such video (pass --video, or provide ../shared/footage)",
            video.display()
        );
    }
    let loaded = models::load(&args.model, args.models.clone())?;
    let config = models::tracking_detector_config(args.threads, args.device);
    let pool = loaded.pool(config.clone(), 1)?;
    let threads = pool.with(|d| d.threads());
    let device = pool.with(|d| d.device().used);
    models::report_device(&pool);
    let person = pool
        .spec()
        .class_id("person")
        .context("the model has no person class")?;

    let mut file = FileRun::open_with(
        &video,
        Some(args.detect_fps),
        DecoderOptions::single_thread(),
    )?;
    let fps = file.analysis_fps(Some(args.detect_fps));
    println!(
        "vigil bench: {} with {} ({} threads, {device}), {:.1} analysed fps, both modes interleaved frame by frame",
        video.display(),
        pool.spec().name,
        threads,
        fps
    );
    let mut modes = Vec::new();
    for gating in [Gating::EveryFrame, Gating::Motion] {
        let config = PipelineConfig {
            gating,
            analysis_fps: fps as f32,
            tracked_detect_every: args.tracked_detect_every,
            motion_width: args.motion_width,
            ..Default::default()
        };
        modes.push(Mode {
            name: match gating {
                Gating::EveryFrame => "every frame",
                Gating::Motion => "motion-gated",
            },
            analyzer: Analyzer::new(config, pool.clone())?,
            stats: StageStats::new(),
            cpu: Duration::ZERO,
            busy: Duration::ZERO,
            frames: 0,
            detector_frames: 0,
            reasons: BTreeMap::new(),
            persons: BTreeMap::new(),
            track_frames: BTreeMap::new(),
        });
    }

    let mut identity = if args.identity {
        Some(crate::cmd::bench_identity::IdentityBench::new(
            args.models.clone(),
            &pool.spec().classes,
        )?)
    } else {
        None
    };
    let mut attributes = vigil_pipeline::attributes::AttributeStage::new(&pool.spec().classes);
    reset_peak_rss();
    let mut decode_cpu = Duration::ZERO;
    loop {
        let cpu0 = process_cpu_time();
        let Some(frame) = file.next_frame() else {
            break;
        };
        decode_cpu += process_cpu_time().saturating_sub(cpu0);
        let decode = file.last_decode();
        for m in &mut modes {
            let (t0, c0) = (Instant::now(), process_cpu_time());
            let a = m.analyzer.process(&frame, false)?;
            m.cpu += process_cpu_time().saturating_sub(c0);
            m.busy += t0.elapsed() + decode;
            m.frames += 1;
            m.stats.record(vigil_pipeline::stats::Stage::Decode, decode);
            m.stats.record_frame(&a.timings);
            m.detector_frames += u64::from(a.detector_ran);
            *m.reasons.entry(a.reason).or_default() += 1;
            let persons = a.tracks.iter().filter(|t| t.class_id == person);
            m.persons
                .insert(a.index, persons.clone().map(|t| t.bbox).collect());
            for t in persons {
                *m.track_frames.entry(t.id).or_default() += 1;
            }
            if let (Some(id), "motion-gated") = (identity.as_mut(), m.name) {
                id.frame(&frame, &a)?;
            }
            if m.name == "motion-gated" {
                let ctx = vigil_rules::FrameContext {
                    time_unix_ms: (a.pts.as_secs_f64() * 1000.0).round() as i64,
                    media_time: a.pts,
                    frame_w: a.frame_size.0,
                    frame_h: a.frame_size.1,
                };
                attributes.observe(&ctx, &a.tracks, a.detected_frame(), Vec::new);
            }
        }
    }
    let identity = identity.map(crate::cmd::bench_identity::IdentityBench::report);
    if let Some(e) = file.take_ended_early() {
        return Err(anyhow::Error::new(e).context("benchmark video ended early"));
    }
    let peak = peak_rss_bytes().map(|b| b as f64 / 1_048_576.0);
    let recall = person_recall(&modes[0].persons, &modes[1].persons);

    // Our inference call against a bare session on the same model, threads and input, interleaved.
    let mut file = FileRun::open(&video, Some(args.detect_fps))?;
    let frame = (0..20)
        .filter_map(|_| file.next_frame())
        .last()
        .context("the video has no frames")?;
    let image = frame.bgr(
        &mut vigil_media::Converter::new(),
        frame.width(),
        frame.height(),
    )?;
    let mut bare = BareSession::new(&loaded.runtime, &loaded.model, &config)?;
    let (ours, theirs) = pool.with(|d| -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
        d.detect(&image)?; // warm up, and fill the input the bare session reuses
        bare.run(d.input())?;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..args.bare_iters.max(1) {
            ours.push(d.detect(&image)?.timings.inference.as_secs_f64() * 1000.0);
            theirs.push(bare.run(d.input())?.as_secs_f64() * 1000.0);
        }
        Ok((ours, theirs))
    })?;
    let (ours_med, bare_med) = (percentile(&ours, 50.0), percentile(&theirs, 50.0));

    let min_frames = fps.ceil().max(1.0) as u32;
    let gated = modes
        .pop()
        .context("two modes")?
        .report(min_frames, decode_cpu);
    let every = modes
        .pop()
        .context("two modes")?
        .report(min_frames, decode_cpu);
    for m in [&every, &gated] {
        println!();
        println!(
            "== {}: {} analysed frames, detector on {}, {:.1} frames/s, {:.2} ms CPU per analysed frame, {} people",
            m.mode,
            m.analysed_frames,
            m.detector_frames,
            m.frames_per_s,
            m.cpu_ms_per_frame,
            m.people,
        );
        let reasons: Vec<String> = m
            .reasons
            .iter()
            .map(|(r, n)| format!("{r:?} {n}"))
            .collect();
        println!("frames by detector decision: {}", reasons.join(", "));
        print_stage_table(&m.stages);
    }
    let cpu_ratio = gated.cpu_ms_per_frame / every.cpu_ms_per_frame.max(1e-9);
    println!();
    println!(
        "peak memory (both modes in one process): {}",
        peak.map(|m| format!("{m:.0} MB")).unwrap_or("?".into())
    );
    println!("motion-gated / every-frame CPU per analysed frame: {cpu_ratio:.3} (target <= 0.5)");
    println!(
        "people (person tracks >= 1 s): every frame {}, motion-gated {}; the gated mode reports {:.1}% of the every-frame mode's person tracks (per frame, IoU >= 0.5)",
        every.people,
        gated.people,
        recall * 100.0
    );
    println!(
        "inference call {ours_med:.2} ms vs bare ORT session {bare_med:.2} ms (median of {}): ratio {:.3} (target <= 1.05)",
        ours.len(),
        ours_med / bare_med.max(1e-9)
    );
    let attribute_us = attributes.cost().0.as_secs_f64() * 1e6;
    println!(
        "attributes (colours, size, speed, direction): {attribute_us:.1} µs per motion-gated analysed frame (target < 1000)"
    );
    report::print_json_summary(&Summary {
        attribute_us_per_frame: attribute_us,
        video: video.display().to_string(),
        model: pool.spec().name.clone(),
        threads,
        device: device.to_string(),
        analysis_fps: fps,
        peak_rss_mb: peak,
        cpu_ratio_gated_vs_every_frame: cpu_ratio,
        person_recall_vs_every_frame: recall,
        inference_median_ms: ours_med,
        bare_session_median_ms: bare_med,
        inference_vs_bare_ratio: ours_med / bare_med.max(1e-9),
        every_frame: every,
        motion_gated: gated,
        identity,
    })
}

/// Fraction of `reference` boxes matched (IoU >= 0.5, one-to-one greedy) by `other` in the same frame.
fn person_recall(reference: &BTreeMap<u64, Vec<BBox>>, other: &BTreeMap<u64, Vec<BBox>>) -> f64 {
    let (mut total, mut found) = (0usize, 0usize);
    for (frame, boxes) in reference {
        let mut candidates: Vec<BBox> = other.get(frame).cloned().unwrap_or_default();
        for b in boxes {
            total += 1;
            let best = candidates
                .iter()
                .enumerate()
                .map(|(i, c)| (i, b.iou(c)))
                .filter(|(_, iou)| *iou >= 0.5)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((i, _)) = best {
                candidates.swap_remove(i);
                found += 1;
            }
        }
    }
    if total == 0 {
        1.0
    } else {
        found as f64 / total as f64
    }
}
