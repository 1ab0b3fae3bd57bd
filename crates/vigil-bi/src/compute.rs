//! The figures themselves, computed from events and track paths already read (pure functions: the
//! tests feed them what the store returns).

use crate::buckets::{self, Bucket};
use crate::{Site, ZoneShape};
use serde::Serialize;
use std::collections::BTreeMap;
use vigil_core::{EventKind, Point, TrackPath};
use vigil_store::StoredEvent;

/// The pseudo-zone of the whole picture (every camera has it).
pub const VIEW: &str = "(view)";

/// One bucket of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketInfo {
    /// Start (unix ms).
    pub start: i64,
    /// End (unix ms, exclusive).
    pub end: i64,
    /// Local-time label (`2026-03-29 02:00` or `2026-03-29`).
    pub label: String,
}

/// The buckets of `[from_ms, to_ms)`.
pub fn bucket_infos(
    site: &Site,
    from_ms: i64,
    to_ms: i64,
    bucket: Bucket,
) -> Result<Vec<BucketInfo>, crate::BiError> {
    let e = buckets::edges(&site.tz, from_ms, to_ms, bucket)?;
    Ok(e.windows(2)
        .map(|w| BucketInfo {
            start: w[0],
            end: w[1],
            label: buckets::label(&site.tz, w[0], bucket),
        })
        .collect())
}

fn edges_of(b: &[BucketInfo]) -> Vec<i64> {
    let mut e: Vec<i64> = b.iter().map(|b| b.start).collect();
    if let Some(last) = b.last() {
        e.push(last.end);
    }
    e
}

/// Footfall: line crossings in and out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Footfall {
    /// The buckets.
    pub buckets: Vec<BucketInfo>,
    /// Inbound crossings per bucket.
    #[serde(rename = "in")]
    pub in_counts: Vec<u64>,
    /// Outbound crossings per bucket.
    #[serde(rename = "out")]
    pub out_counts: Vec<u64>,
    /// Per camera and line over the whole range.
    pub lines: Vec<LineTotal>,
    /// Inbound crossings in the range.
    pub total_in: u64,
    /// Outbound crossings in the range.
    pub total_out: u64,
}

/// One line's totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineTotal {
    /// Camera.
    pub camera: String,
    /// Line name.
    pub line: String,
    /// Inbound crossings.
    #[serde(rename = "in")]
    pub in_count: u64,
    /// Outbound crossings.
    #[serde(rename = "out")]
    pub out_count: u64,
}

/// Footfall from `line_crossing` events: each event's `inbound_count` and `outbound_count` (the
/// crossings grouped into it) in the bucket of the event's start.
pub fn footfall(events: &[StoredEvent], buckets: Vec<BucketInfo>) -> Footfall {
    let e = edges_of(&buckets);
    let n = buckets.len();
    let (mut ins, mut outs) = (vec![0u64; n], vec![0u64; n]);
    let mut lines: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for s in events {
        let ev = &s.event;
        let EventKind::LineCrossing {
            inbound_count,
            outbound_count,
            ..
        } = ev.kind
        else {
            continue;
        };
        let Some(i) = buckets::index_of(&e, ev.start.unix_ms) else {
            continue;
        };
        ins[i] += inbound_count as u64;
        outs[i] += outbound_count as u64;
        let t = lines
            .entry((ev.camera.clone(), ev.line.clone().unwrap_or_default()))
            .or_default();
        t.0 += inbound_count as u64;
        t.1 += outbound_count as u64;
    }
    Footfall {
        total_in: ins.iter().sum(),
        total_out: outs.iter().sum(),
        buckets,
        in_counts: ins,
        out_counts: outs,
        lines: lines
            .into_iter()
            .map(|((camera, line), (i, o))| LineTotal {
                camera,
                line,
                in_count: i,
                out_count: o,
            })
            .collect(),
    }
}

/// Where a path's object stands (the middle of its box's bottom edge), from `at` on.
fn anchors(p: &TrackPath) -> impl Iterator<Item = (i64, i64, Point)> + '_ {
    p.points.iter().enumerate().map(|(i, a)| {
        let until = p.points.get(i + 1).map_or(a.ms, |b| b.ms);
        (a.ms, until, Point { x: a.x, y: a.y })
    })
}

/// The zones of a camera, with the whole view first.
fn zones_of<'a>(site: &'a Site, camera: &str) -> Vec<(&'a str, Option<&'a ZoneShape>)> {
    let mut z: Vec<(&str, Option<&ZoneShape>)> = vec![(VIEW, None)];
    if let Some(list) = site.zones.get(camera) {
        z.extend(list.iter().map(|s| (s.name.as_str(), Some(s))));
    }
    z
}

/// The times a path's object was in a zone: `(from, to)` spans, merged.
fn inside_spans(p: &TrackPath, zone: Option<&ZoneShape>) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (a, b, pt) in anchors(p) {
        if zone.is_some_and(|z| !z.polygon.contains(pt)) {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Objects present in one zone over time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneSeries {
    /// Camera.
    pub camera: String,
    /// Zone name (`(view)`: the whole picture).
    pub zone: String,
    /// Mean objects present per bucket (object-time inside / bucket length).
    pub mean: Vec<f64>,
    /// Most objects present at once per bucket.
    pub max: Vec<u32>,
    /// Most at once over the range.
    pub peak: u32,
}

/// Occupancy per zone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Occupancy {
    /// The buckets.
    pub buckets: Vec<BucketInfo>,
    /// One series per camera and zone.
    pub zones: Vec<ZoneSeries>,
    /// Most objects at once in any zone other than the whole view (the view's peak when there is no zone).
    pub peak: u32,
}

/// Occupancy from track paths: an object is in a zone from a path point whose anchor is inside until
/// the next point.
pub fn occupancy(
    site: &Site,
    cameras: &[String],
    paths: &[TrackPath],
    buckets: Vec<BucketInfo>,
) -> Occupancy {
    let e = edges_of(&buckets);
    let n = buckets.len();
    let mut zones = Vec::new();
    for camera in cameras {
        for (name, shape) in zones_of(site, camera) {
            // +1 at each span start, -1 at its end
            let mut steps: Vec<(i64, i32)> = Vec::new();
            for p in paths.iter().filter(|p| &p.camera == camera) {
                for (a, b) in inside_spans(p, shape) {
                    if b > a {
                        steps.push((a, 1));
                        steps.push((b, -1));
                    }
                }
            }
            steps.sort();
            let (mut mean, mut max) = (vec![0f64; n], vec![0u32; n]);
            let mut count: i64 = 0;
            for (k, &(t, d)) in steps.iter().enumerate() {
                count += d as i64;
                let until = steps.get(k + 1).map_or(t, |s| s.0);
                if until <= t || count <= 0 || e.len() < 2 {
                    continue;
                }
                let first = e.partition_point(|&x| x <= t).saturating_sub(1);
                for i in first..n {
                    let (lo, hi) = (e[i].max(t), e[i + 1].min(until));
                    if lo >= hi {
                        if e[i] >= until {
                            break;
                        }
                        continue;
                    }
                    mean[i] += count as f64 * (hi - lo) as f64;
                    max[i] = max[i].max(count as u32);
                }
            }
            for (i, m) in mean.iter_mut().enumerate() {
                *m /= (e[i + 1] - e[i]).max(1) as f64;
                *m = (*m * 1000.0).round() / 1000.0;
            }
            let peak = max.iter().copied().max().unwrap_or(0);
            zones.push(ZoneSeries {
                camera: camera.clone(),
                zone: name.to_string(),
                mean,
                max,
                peak,
            });
        }
    }
    let real = zones
        .iter()
        .filter(|z| z.zone != VIEW)
        .map(|z| z.peak)
        .max();
    let peak = real.unwrap_or_else(|| zones.iter().map(|z| z.peak).max().unwrap_or(0));
    Occupancy {
        buckets,
        zones,
        peak,
    }
}

/// The dwell-time histogram's bins, in seconds: `[from, to)`; the last is open-ended.
pub const DWELL_BINS_S: [u64; 8] = [0, 10, 30, 60, 120, 300, 600, 1800];

/// Time spent per visit in one zone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneDwell {
    /// Camera.
    pub camera: String,
    /// Zone (`(view)`: time in the picture).
    pub zone: String,
    /// Visits (one per track that was inside) that began in the range.
    pub visits: u64,
    /// Median time inside, seconds (`None` without visits).
    pub median_s: Option<f64>,
    /// Mean time inside, seconds.
    pub mean_s: Option<f64>,
    /// 90th percentile, seconds.
    pub p90_s: Option<f64>,
    /// Visits per bin of [`DWELL_BINS_S`].
    pub histogram: Vec<u64>,
}

/// Dwell distributions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dwell {
    /// Bin labels (`0-10 s` ... `30 min+`).
    pub bins: Vec<String>,
    /// One per camera and zone.
    pub zones: Vec<ZoneDwell>,
    /// Median of every visit of every real zone together (of the view's when no zone is configured).
    pub median_s: Option<f64>,
}

fn bin_label(i: usize) -> String {
    let lo = DWELL_BINS_S[i];
    match DWELL_BINS_S.get(i + 1) {
        Some(&hi) if hi <= 60 => format!("{lo}-{hi} s"),
        Some(&hi) => format!("{}-{} min", lo / 60, hi / 60),
        None => format!("{} min+", lo / 60),
    }
}

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let v = sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64);
    Some((v * 10.0).round() / 10.0)
}

/// Dwell from track paths: per track and zone, the time its anchor was inside (summed over its spans),
/// counted when its first span began in `[from_ms, to_ms)`.
pub fn dwell(
    site: &Site,
    cameras: &[String],
    paths: &[TrackPath],
    from_ms: i64,
    to_ms: i64,
) -> Dwell {
    let mut zones = Vec::new();
    let (mut all_real, mut all_view) = (Vec::new(), Vec::new());
    for camera in cameras {
        for (name, shape) in zones_of(site, camera) {
            let mut secs: Vec<f64> = Vec::new();
            for p in paths.iter().filter(|p| &p.camera == camera) {
                let spans = inside_spans(p, shape);
                let Some(first) = spans.first() else { continue };
                if first.0 < from_ms || first.0 >= to_ms {
                    continue;
                }
                let ms: i64 = spans.iter().map(|(a, b)| b - a).sum();
                secs.push(ms as f64 / 1000.0);
            }
            secs.sort_by(f64::total_cmp);
            let mut histogram = vec![0u64; DWELL_BINS_S.len()];
            for s in &secs {
                let i = DWELL_BINS_S.partition_point(|&b| b as f64 <= *s).max(1) - 1;
                histogram[i] += 1;
            }
            if name == VIEW {
                all_view.extend_from_slice(&secs);
            } else {
                all_real.extend_from_slice(&secs);
            }
            let mean = (!secs.is_empty())
                .then(|| (secs.iter().sum::<f64>() / secs.len() as f64 * 10.0).round() / 10.0);
            zones.push(ZoneDwell {
                camera: camera.clone(),
                zone: name.to_string(),
                visits: secs.len() as u64,
                median_s: quantile(&secs, 0.5),
                mean_s: mean,
                p90_s: quantile(&secs, 0.9),
                histogram,
            });
        }
    }
    let mut all = if all_real.is_empty() {
        all_view
    } else {
        all_real
    };
    all.sort_by(f64::total_cmp);
    Dwell {
        bins: (0..DWELL_BINS_S.len()).map(bin_label).collect(),
        zones,
        median_s: quantile(&all, 0.5),
    }
}

/// One queue's series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueSeries {
    /// Camera.
    pub camera: String,
    /// The queue's zone.
    pub zone: String,
    /// Queue events started per bucket.
    pub events: Vec<u32>,
    /// Longest queue per bucket (0 when no event).
    pub peak_length: Vec<u32>,
    /// Mean of the events' mean waits per bucket, seconds.
    pub mean_wait_s: Vec<Option<f64>>,
    /// Longest wait per bucket, seconds.
    pub max_wait_s: Vec<Option<f64>>,
}

/// Queue length and waiting time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Queues {
    /// The buckets.
    pub buckets: Vec<BucketInfo>,
    /// One per camera and zone with queue events.
    pub queues: Vec<QueueSeries>,
    /// Queue events in the range.
    pub events: u64,
    /// Longest queue in the range.
    pub peak_length: u32,
    /// Mean of every queue event's mean wait, seconds (`None` without queue events).
    pub mean_wait_s: Option<f64>,
}

/// Queues from `queue` events (raised when a queue rule's length or wait threshold is passed): each
/// event's final facts in the bucket of its start.
pub fn queues(events: &[StoredEvent], buckets: Vec<BucketInfo>) -> Queues {
    let e = edges_of(&buckets);
    let n = buckets.len();
    let mut by: BTreeMap<(String, String), QueueSeries> = BTreeMap::new();
    let mut sums: BTreeMap<(String, String), Vec<(f64, u32)>> = BTreeMap::new();
    let (mut total, mut peak, mut wait_sum) = (0u64, 0u32, 0f64);
    for s in events {
        let ev = &s.event;
        let EventKind::Queue {
            peak_length,
            mean_wait_ms,
            max_wait_ms,
            ..
        } = ev.kind
        else {
            continue;
        };
        let Some(i) = buckets::index_of(&e, ev.start.unix_ms) else {
            continue;
        };
        let key = (ev.camera.clone(), ev.zone.clone().unwrap_or_default());
        let q = by.entry(key.clone()).or_insert_with(|| QueueSeries {
            camera: key.0.clone(),
            zone: key.1.clone(),
            events: vec![0; n],
            peak_length: vec![0; n],
            mean_wait_s: vec![None; n],
            max_wait_s: vec![None; n],
        });
        q.events[i] += 1;
        q.peak_length[i] = q.peak_length[i].max(peak_length);
        let max_s = max_wait_ms as f64 / 1000.0;
        q.max_wait_s[i] = Some(q.max_wait_s[i].map_or(max_s, |m: f64| m.max(max_s)));
        let acc = sums.entry(key).or_insert_with(|| vec![(0.0, 0); n]);
        acc[i].0 += mean_wait_ms as f64 / 1000.0;
        acc[i].1 += 1;
        total += 1;
        peak = peak.max(peak_length);
        wait_sum += mean_wait_ms as f64 / 1000.0;
    }
    for (key, acc) in sums {
        if let Some(q) = by.get_mut(&key) {
            for (i, (sum, k)) in acc.into_iter().enumerate() {
                if k > 0 {
                    q.mean_wait_s[i] = Some((sum / k as f64 * 10.0).round() / 10.0);
                }
            }
        }
    }
    Queues {
        buckets,
        queues: by.into_values().collect(),
        events: total,
        peak_length: peak,
        mean_wait_s: (total > 0).then(|| (wait_sum / total as f64 * 10.0).round() / 10.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::PathPoint;
    use vigil_rules::TimeZone;

    fn path(camera: &str, track: u64, pts: &[(i64, f32, f32)]) -> TrackPath {
        TrackPath {
            camera: camera.into(),
            track,
            class: "person".into(),
            first_ms: pts[0].0,
            last_ms: pts[pts.len() - 1].0,
            points: pts
                .iter()
                .map(|&(ms, x, y)| PathPoint {
                    ms,
                    x,
                    y,
                    w: 0.1,
                    h: 0.2,
                })
                .collect(),
            attributes: Default::default(),
        }
    }

    fn site() -> Site {
        let left = vigil_rules::Polygon::new(vec![
            Point { x: 0.0, y: 0.0 },
            Point { x: 0.5, y: 0.0 },
            Point { x: 0.5, y: 1.0 },
            Point { x: 0.0, y: 1.0 },
        ])
        .unwrap();
        let mut zones = BTreeMap::new();
        zones.insert(
            "cam".to_string(),
            vec![ZoneShape {
                name: "left".into(),
                polygon: left,
            }],
        );
        Site {
            tz: TimeZone::utc(),
            zones,
        }
    }

    #[test]
    fn occupancy_and_dwell_follow_the_anchor_into_and_out_of_zones() {
        let s = site();
        let cams = vec!["cam".to_string()];
        // track 1: left for 0..60 s, then right until 120 s; track 2: left 30..90 s
        let paths = vec![
            path(
                "cam",
                1,
                &[(0, 0.2, 0.5), (60_000, 0.8, 0.5), (120_000, 0.8, 0.6)],
            ),
            path("cam", 2, &[(30_000, 0.1, 0.5), (90_000, 0.1, 0.5)]),
        ];
        let b = bucket_infos(&s, 0, 120_000, Bucket::Hour).unwrap();
        let o = occupancy(&s, &cams, &paths, b);
        let left = o.zones.iter().find(|z| z.zone == "left").unwrap();
        assert_eq!(left.max, vec![2]);
        // 60 s + 60 s of presence over an hour
        assert!(
            (left.mean[0] - 120.0 / 3600.0).abs() < 1e-3,
            "{:?}",
            left.mean
        );
        assert_eq!(o.peak, 2);
        let d = dwell(&s, &cams, &paths, 0, 3_600_000);
        let left = d.zones.iter().find(|z| z.zone == "left").unwrap();
        assert_eq!(left.visits, 2);
        assert_eq!(left.median_s, Some(60.0));
        assert_eq!(left.histogram[3], 2, "{:?} {:?}", d.bins, left.histogram);
        let view = d.zones.iter().find(|z| z.zone == VIEW).unwrap();
        assert_eq!(view.median_s, Some(90.0));
        assert_eq!(d.bins[0], "0-10 s");
        assert_eq!(d.bins[2], "30-60 s");
        assert_eq!(d.bins[3], "1-2 min");
        assert_eq!(d.bins[7], "30 min+");
    }
}
