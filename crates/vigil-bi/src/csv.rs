//! CSV exports of the figures (the current period; one header line, then one row per bucket and
//! series), with the same numbers as their JSON.

use crate::compute::{BucketInfo, Dwell, Footfall, Occupancy, Queues};
use crate::heatmap::HeatGrid;

/// A figure that can be written as CSV.
pub trait ToCsv {
    /// The CSV text.
    fn csv(&self) -> String;
}

/// Quotes a field when it holds a comma, quote or line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn head(b: &BucketInfo) -> String {
    format!("{},{},{}", b.start, b.end, field(&b.label))
}

impl ToCsv for Footfall {
    fn csv(&self) -> String {
        let mut s = String::from("start,end,label,in,out\n");
        for (i, b) in self.buckets.iter().enumerate() {
            s += &format!("{},{},{}\n", head(b), self.in_counts[i], self.out_counts[i]);
        }
        s
    }
}

impl ToCsv for Occupancy {
    fn csv(&self) -> String {
        let mut s = String::from("start,end,label,camera,zone,mean,max\n");
        for z in &self.zones {
            for (i, b) in self.buckets.iter().enumerate() {
                s += &format!(
                    "{},{},{},{},{}\n",
                    head(b),
                    field(&z.camera),
                    field(&z.zone),
                    z.mean[i],
                    z.max[i]
                );
            }
        }
        s
    }
}

impl ToCsv for Dwell {
    fn csv(&self) -> String {
        let mut s = String::from("camera,zone,bin,visits\n");
        for z in &self.zones {
            for (i, n) in z.histogram.iter().enumerate() {
                let bin = self.bins.get(i).map_or("", String::as_str);
                s += &format!(
                    "{},{},{},{n}\n",
                    field(&z.camera),
                    field(&z.zone),
                    field(bin)
                );
            }
        }
        s
    }
}

impl ToCsv for Queues {
    fn csv(&self) -> String {
        let mut s =
            String::from("start,end,label,camera,zone,events,peak_length,mean_wait_s,max_wait_s\n");
        for q in &self.queues {
            for (i, b) in self.buckets.iter().enumerate() {
                s += &format!(
                    "{},{},{},{},{},{},{}\n",
                    head(b),
                    field(&q.camera),
                    field(&q.zone),
                    q.events[i],
                    q.peak_length[i],
                    opt(q.mean_wait_s[i]),
                    opt(q.max_wait_s[i])
                );
            }
        }
        s
    }
}

impl ToCsv for HeatGrid {
    fn csv(&self) -> String {
        let mut s = String::from("row,col,value\n");
        for (i, v) in self.cells.iter().enumerate() {
            let (r, c) = (i as u32 / self.cols, i as u32 % self.cols);
            s += &format!("{r},{c},{v}\n");
        }
        s
    }
}
