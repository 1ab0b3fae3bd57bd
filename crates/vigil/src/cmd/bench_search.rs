//! `vigil bench-search --tracks 1000000`: recall and latency of the "more like this" vector index at a
//! million person tracks, against an exact f32 scan of the same vectors in the same run (the reference).
//!
//! The vectors are synthetic, in the shape of re-identification embeddings (256-d, unit length): people
//! as random directions, each seen `--per-person` times with noise that puts two sightings of one person
//! at a cosine of about 0.7 (what the re-id model gives the same person across views here); queries are
//! fresh sightings of indexed people. Recall@k is the share of the exact top k that the index returns.

use std::time::Instant;
use vigil_search::VectorIndex;

/// `vigil bench-search` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Tracks (vectors) in the index.
    #[arg(long, default_value_t = 1_000_000)]
    pub tracks: usize,
    /// Sightings per person.
    #[arg(long, default_value_t = 20)]
    pub per_person: usize,
    /// Queries timed.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// Results per query.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
}

const DIM: usize = 256;
/// Per-value noise: |noise| ~ 0.064 * 16 ≈ 1.02, so a sighting is at cosine ~0.7 of its person.
const NOISE: f32 = 0.064;

/// A small deterministic generator (xorshift64*), Gaussian by Box-Muller.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    fn gauss(&mut self) -> f32 {
        let (u, v) = (self.next(), self.next());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    fn unit(&mut self, around: Option<&[f32]>) -> Vec<f32> {
        let v: Vec<f32> = match around {
            Some(c) => c.iter().map(|x| x + NOISE * self.gauss()).collect(),
            None => (0..DIM).map(|_| self.gauss()).collect(),
        };
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.tracks > 0 && args.per_person > 0 && args.queries > 0 && args.k > 0,
        "every count must be at least 1"
    );
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let people = args.tracks.div_ceil(args.per_person);
    let started = Instant::now();
    let centres: Vec<Vec<f32>> = (0..people).map(|_| rng.unit(None)).collect();
    let mut flat = Vec::with_capacity(args.tracks * DIM);
    let mut index = VectorIndex::new(DIM);
    for i in 0..args.tracks {
        let v = rng.unit(Some(&centres[i % people]));
        index.add(i as i64, i as i64, &v)?;
        flat.extend_from_slice(&v);
    }
    eprintln!(
        "{} tracks of {people} people indexed in {:.1} s ({} MB of int8 codes; the f32 reference holds {} MB)",
        args.tracks,
        started.elapsed().as_secs_f64(),
        index.memory_bytes() / 1_000_000,
        flat.len() * 4 / 1_000_000
    );
    let exact_vec = |id: i64| {
        let i = id as usize;
        flat.get(i * DIM..(i + 1) * DIM).map(<[f32]>::to_vec)
    };
    let (mut t_index, mut t_exact) = (Vec::new(), Vec::new());
    let (mut cpu_index, mut cpu_exact) = (Vec::new(), Vec::new());
    let cpu = vigil_pipeline::stats::process_cpu_time;
    let mut found = 0usize;
    for q in 0..args.queries {
        let query = rng.unit(Some(&centres[(q * 7919) % people]));
        let (t, c) = (Instant::now(), cpu());
        let got = index.search(&query, args.k, i64::MIN, i64::MAX, Some(&exact_vec))?;
        t_index.push(t.elapsed().as_secs_f64() * 1000.0);
        cpu_index.push((cpu() - c).as_secs_f64() * 1000.0);
        let (t, c) = (Instant::now(), cpu());
        let truth: Vec<i64> = vigil_search::index::exact_top_k(&flat, DIM, &query, args.k)
            .into_iter()
            .map(|i| i as i64)
            .collect();
        t_exact.push(t.elapsed().as_secs_f64() * 1000.0);
        cpu_exact.push((cpu() - c).as_secs_f64() * 1000.0);
        found += got.iter().filter(|n| truth.contains(&n.id)).count();
    }
    for v in [&mut t_index, &mut t_exact, &mut cpu_index, &mut cpu_exact] {
        v.sort_by(f64::total_cmp);
    }
    let recall = found as f64 / (args.queries * args.k) as f64;
    println!(
        "vector index, {} tracks, {} queries, k={}: recall@{} {recall:.4}; latency p50 {:.1} ms, p99 {:.1} ms, CPU p50 {:.1} ms (int8 scan on {} threads + exact re-score); exact f32 scan (reference, 1 thread) latency p50 {:.1} ms, p99 {:.1} ms, CPU p50 {:.1} ms; ratio p99 {:.2}, CPU {:.2}; load average {}",
        args.tracks,
        args.queries,
        args.k,
        args.k,
        percentile(&t_index, 0.5),
        percentile(&t_index, 0.99),
        percentile(&cpu_index, 0.5),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        percentile(&t_exact, 0.5),
        percentile(&t_exact, 0.99),
        percentile(&cpu_exact, 0.5),
        percentile(&t_index, 0.99) / percentile(&t_exact, 0.99),
        percentile(&cpu_index, 0.5) / percentile(&cpu_exact, 0.5),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("?"),
    );
    Ok(())
}
