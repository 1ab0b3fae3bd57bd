//! A report over a range: the KPIs against the previous period and the charts, rendered as
//! self-contained HTML (inline SVG) and as PDF.

use crate::buckets::{self, Bucket};
use crate::compute::{Dwell, Footfall, Occupancy, Queues};
use crate::pdf::Pdf;
use crate::{Ask, BiError, Site};
use serde::Serialize;
use vigil_store::EventReader;

/// One KPI: its value now and in the previous period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kpi {
    /// Machine name (`footfall_in`...).
    pub key: &'static str,
    /// For people (`Footfall in`).
    pub label: &'static str,
    /// This period (`None`: nothing to measure).
    pub value: Option<f64>,
    /// The previous period of the same length.
    pub previous: Option<f64>,
    /// Change in percent against the previous period (`None` when either is missing or it was 0).
    pub change_pct: Option<f64>,
    /// Unit (`""`, `"s"`).
    pub unit: &'static str,
}

/// The headline figures.
pub type Kpis = Vec<Kpi>;

fn kpi(
    key: &'static str,
    label: &'static str,
    unit: &'static str,
    value: Option<f64>,
    previous: Option<f64>,
) -> Kpi {
    let change_pct = match (value, previous) {
        (Some(v), Some(p)) if p != 0.0 => Some(((v - p) / p * 1000.0).round() / 10.0),
        _ => None,
    };
    Kpi {
        key,
        label,
        value,
        previous,
        change_pct,
        unit,
    }
}

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Its title (the `[[reports]]` name or `Vigil report`).
    pub title: String,
    /// Range start (unix ms).
    pub from: i64,
    /// Range end (unix ms).
    pub to: i64,
    /// The range in local time, for people.
    pub range_text: String,
    /// Cameras.
    pub cameras: Vec<String>,
    /// Footfall in, footfall out, peak occupancy, median dwell, mean queue wait.
    pub kpis: Kpis,
    /// Footfall per bucket.
    pub footfall: Footfall,
    /// Occupancy per zone.
    pub occupancy: Occupancy,
    /// Dwell distributions.
    pub dwell: Dwell,
    /// Queues.
    pub queues: Queues,
}

struct Figures {
    footfall: Footfall,
    occupancy: Occupancy,
    dwell: Dwell,
    queues: Queues,
}

fn figures(reader: &EventReader, site: &Site, ask: &Ask) -> Result<Figures, BiError> {
    Ok(Figures {
        footfall: crate::footfall(reader, site, ask)?,
        occupancy: crate::occupancy(reader, site, ask)?,
        dwell: crate::dwell(reader, site, ask)?,
        queues: crate::queues(reader, site, ask)?,
    })
}

/// The KPIs of two periods.
fn kpis_of(now: &Figures, before: &Figures) -> Kpis {
    vec![
        kpi(
            "footfall_in",
            "Footfall in",
            "",
            Some(now.footfall.total_in as f64),
            Some(before.footfall.total_in as f64),
        ),
        kpi(
            "footfall_out",
            "Footfall out",
            "",
            Some(now.footfall.total_out as f64),
            Some(before.footfall.total_out as f64),
        ),
        kpi(
            "peak_occupancy",
            "Peak occupancy",
            "",
            Some(now.occupancy.peak as f64),
            Some(before.occupancy.peak as f64),
        ),
        kpi(
            "median_dwell_s",
            "Median dwell",
            "s",
            now.dwell.median_s,
            before.dwell.median_s,
        ),
        kpi(
            "mean_queue_wait_s",
            "Mean queue wait",
            "s",
            now.queues.mean_wait_s,
            before.queues.mean_wait_s,
        ),
    ]
}

/// Only the KPIs of `ask` against its previous period (the dashboard's tiles).
pub fn kpis(reader: &EventReader, site: &Site, ask: &Ask) -> Result<Kpis, BiError> {
    ask.check()?;
    let now = figures(reader, site, ask)?;
    let before = figures(reader, site, &ask.previous())?;
    Ok(kpis_of(&now, &before))
}

impl Report {
    /// Builds the report of `ask` (its bucket as given).
    pub fn build(
        reader: &EventReader,
        site: &Site,
        ask: &Ask,
        title: &str,
    ) -> Result<Report, BiError> {
        ask.check()?;
        let now = figures(reader, site, ask)?;
        let before = figures(reader, site, &ask.previous())?;
        let kpis = kpis_of(&now, &before);
        Ok(Report {
            title: title.to_string(),
            from: ask.from_ms,
            to: ask.to_ms,
            range_text: format!(
                "{} to {}",
                buckets::local_text(&site.tz, ask.from_ms),
                buckets::local_text(&site.tz, ask.to_ms)
            ),
            cameras: ask.cameras.clone(),
            kpis,
            footfall: now.footfall,
            occupancy: now.occupancy,
            dwell: now.dwell,
            queues: now.queues,
        })
    }

    /// A bucket that fits the report's range.
    pub fn bucket_for(from_ms: i64, to_ms: i64) -> Bucket {
        Bucket::for_span(to_ms - from_ms)
    }

    /// A KPI's value as text (`-` when missing).
    pub fn value_text(k: &Kpi) -> String {
        match k.value {
            None => "-".into(),
            Some(v) if k.unit.is_empty() => format!("{v}"),
            Some(v) => format!("{v} {}", k.unit),
        }
    }

    /// A KPI's change as text (`+12.5% vs previous`, or `no previous data`).
    pub fn change_text(k: &Kpi) -> String {
        match (k.change_pct, k.previous) {
            (Some(c), _) => format!("{c:+}% vs previous"),
            (None, Some(p)) => format!("previous {p}"),
            (None, None) => "no previous data".into(),
        }
    }

    /// The self-contained HTML page.
    pub fn html(&self) -> String {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        let mut h = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
             body{{font-family:sans-serif;margin:2em;color:#222}}.kpis{{display:flex;gap:1em;flex-wrap:wrap}}\
             .kpi{{border:1px solid #ccc;border-radius:6px;padding:.8em 1.2em;min-width:9em}}\
             .kpi b{{font-size:1.6em;display:block}}.kpi small{{color:#666}}svg{{background:#fafafa;border:1px solid #eee}}\
             table{{border-collapse:collapse}}td,th{{border:1px solid #ddd;padding:2px 8px;text-align:right}}\
             </style></head><body><h1>{t}</h1><p>{r} &middot; cameras: {c}</p><div class=\"kpis\">",
            t = esc(&self.title),
            r = esc(&self.range_text),
            c = esc(&self.cameras.join(", "))
        );
        for k in &self.kpis {
            h += &format!(
                "<div class=\"kpi\" data-kpi=\"{}\">{}<b>{}</b><small>{}</small></div>",
                k.key,
                esc(k.label),
                esc(&Self::value_text(k)),
                esc(&Self::change_text(k))
            );
        }
        h += "</div>";
        let labels: Vec<String> = self
            .footfall
            .buckets
            .iter()
            .map(|b| b.label.clone())
            .collect();
        h += "<h2>Footfall</h2>";
        h += &svg_bars(
            &labels,
            &[
                ("in", "#2a7ae2", &as_f64(&self.footfall.in_counts)),
                ("out", "#e2892a", &as_f64(&self.footfall.out_counts)),
            ],
        );
        h += "<h2>Peak occupancy per zone</h2>";
        for z in self.occupancy.zones.iter().filter(|z| z.peak > 0) {
            h += &format!("<h3>{} / {}</h3>", esc(&z.camera), esc(&z.zone));
            let max: Vec<f64> = z.max.iter().map(|&v| v as f64).collect();
            h += &svg_bars(&labels, &[("max", "#3a9a5a", &max)]);
        }
        h += "<h2>Dwell time</h2><table><tr><th>camera</th><th>zone</th><th>visits</th>\
              <th>median s</th><th>mean s</th><th>p90 s</th></tr>";
        let o = |v: Option<f64>| v.map_or("-".to_string(), |v| v.to_string());
        for z in &self.dwell.zones {
            h += &format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&z.camera),
                esc(&z.zone),
                z.visits,
                o(z.median_s),
                o(z.mean_s),
                o(z.p90_s)
            );
        }
        h += "</table><h2>Queues</h2>";
        if self.queues.queues.is_empty() {
            h += "<p>No queue events.</p>";
        }
        for q in &self.queues.queues {
            h += &format!("<h3>{} / {}</h3>", esc(&q.camera), esc(&q.zone));
            let w: Vec<f64> = q.mean_wait_s.iter().map(|v| v.unwrap_or(0.0)).collect();
            h += &svg_bars(&labels, &[("mean wait s", "#8a4ad2", &w)]);
        }
        h += "</body></html>\n";
        h
    }

    /// The PDF document.
    pub fn pdf(&self) -> Vec<u8> {
        let mut p = Pdf::new();
        p.page();
        p.text(40.0, 50.0, 20.0, true, &self.title);
        p.text(40.0, 72.0, 10.0, false, &self.range_text);
        p.text(
            40.0,
            86.0,
            10.0,
            false,
            &format!("Cameras: {}", self.cameras.join(", ")),
        );
        let mut y = 120.0;
        for (i, k) in self.kpis.iter().enumerate() {
            let x = 40.0 + (i % 3) as f32 * 175.0;
            let yy = y + (i / 3) as f32 * 62.0;
            p.rect(x, yy, 165.0, 54.0, [0.94, 0.95, 0.97]);
            p.text(x + 8.0, yy + 15.0, 9.0, false, k.label);
            p.text(x + 8.0, yy + 34.0, 16.0, true, &Self::value_text(k));
            p.text(x + 8.0, yy + 48.0, 8.0, false, &Self::change_text(k));
        }
        y += 140.0;
        p.text(40.0, y, 13.0, true, "Footfall (in: blue, out: orange)");
        y += 10.0;
        let ins = as_f64(&self.footfall.in_counts);
        let outs = as_f64(&self.footfall.out_counts);
        pdf_bars(&mut p, 40.0, y, 515.0, 140.0, &[&ins, &outs]);
        if let (Some(a), Some(b)) = (self.footfall.buckets.first(), self.footfall.buckets.last()) {
            p.text(40.0, y + 152.0, 7.0, false, &a.label);
            p.text(470.0, y + 152.0, 7.0, false, &b.label);
        }
        y += 180.0;
        p.text(40.0, y, 13.0, true, "Lines");
        y += 16.0;
        for l in self.footfall.lines.iter().take(8) {
            p.text(
                48.0,
                y,
                9.0,
                false,
                &format!(
                    "{} / {}: in {}, out {}",
                    l.camera, l.line, l.in_count, l.out_count
                ),
            );
            y += 12.0;
        }
        y += 10.0;
        p.text(40.0, y, 13.0, true, "Dwell time per zone");
        y += 16.0;
        let o = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v} s"));
        for z in self.dwell.zones.iter().take(12) {
            p.text(
                48.0,
                y,
                9.0,
                false,
                &format!(
                    "{} / {}: {} visits, median {}, mean {}, p90 {}",
                    z.camera,
                    z.zone,
                    z.visits,
                    o(z.median_s),
                    o(z.mean_s),
                    o(z.p90_s)
                ),
            );
            y += 12.0;
        }
        y += 10.0;
        p.text(40.0, y, 13.0, true, "Queues");
        y += 16.0;
        if self.queues.queues.is_empty() {
            p.text(48.0, y, 9.0, false, "No queue events.");
        }
        for q in self.queues.queues.iter().take(8) {
            let events: u32 = q.events.iter().sum();
            let peak = q.peak_length.iter().copied().max().unwrap_or(0);
            p.text(
                48.0,
                y,
                9.0,
                false,
                &format!(
                    "{} / {}: {events} queue events, longest {peak}",
                    q.camera, q.zone
                ),
            );
            y += 12.0;
        }
        p.finish()
    }
}

fn as_f64(v: &[u64]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Grouped bars in a PDF box with its top-left at (`x`, `y`).
fn pdf_bars(p: &mut Pdf, x: f32, y: f32, w: f32, h: f32, series: &[&[f64]]) {
    const COLOURS: [[f32; 3]; 3] = [[0.16, 0.48, 0.89], [0.89, 0.54, 0.16], [0.23, 0.6, 0.35]];
    p.line(x, y + h, x + w, y + h, 0.3);
    let n = series.iter().map(|s| s.len()).max().unwrap_or(0);
    let max = series
        .iter()
        .flat_map(|s| s.iter().copied())
        .fold(0.0, f64::max);
    if n == 0 || max <= 0.0 {
        p.text(x + 4.0, y + h / 2.0, 9.0, false, "no data");
        return;
    }
    p.text(x - 2.0, y - 2.0, 7.0, false, &format!("max {max}"));
    let slot = w / n as f32;
    let bw = (slot * 0.8 / series.len() as f32).max(0.3);
    for (si, s) in series.iter().enumerate() {
        for (i, v) in s.iter().enumerate() {
            let bh = (*v / max) as f32 * h;
            if bh > 0.0 {
                let bx = x + i as f32 * slot + slot * 0.1 + si as f32 * bw;
                p.rect(bx, y + h - bh, bw, bh, COLOURS[si % COLOURS.len()]);
            }
        }
    }
}

/// Grouped bars as inline SVG.
fn svg_bars(labels: &[String], series: &[(&str, &str, &[f64])]) -> String {
    let (w, h) = (720.0f64, 180.0f64);
    let n = labels.len().max(1);
    let max = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .fold(0.0, f64::max);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{}\" role=\"img\">",
        h + 30.0
    );
    if max <= 0.0 {
        s += "<text x=\"10\" y=\"90\">no data</text></svg>";
        return s;
    }
    let slot = w / n as f64;
    let bw = slot * 0.8 / series.len() as f64;
    for (si, (name, colour, values)) in series.iter().enumerate() {
        for (i, v) in values.iter().enumerate() {
            let bh = v / max * h;
            let x = i as f64 * slot + slot * 0.1 + si as f64 * bw;
            let label = labels.get(i).map_or("", String::as_str);
            s += &format!(
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"{colour}\">\
                 <title>{label} {name}: {v}</title></rect>",
                h - bh
            );
        }
    }
    if let (Some(a), Some(b)) = (labels.first(), labels.last()) {
        s += &format!(
            "<text x=\"0\" y=\"{}\" font-size=\"11\">{a}</text><text x=\"{w}\" y=\"{}\" \
             font-size=\"11\" text-anchor=\"end\">{b}</text><text x=\"{w}\" y=\"12\" font-size=\"11\" \
             text-anchor=\"end\">max {max}</text>",
            h + 16.0,
            h + 16.0
        );
    }
    s + "</svg>"
}

/// Writes `bytes` to `path` (temporary file, then rename).
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), BiError> {
    let io = |source| BiError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
