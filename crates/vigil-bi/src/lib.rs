//! Business intelligence for Vigil: footfall, occupancy, dwell, queues and heatmaps over a range, read
//! from the event store (events and track paths) and bucketed in the site's local time, each with the
//! previous period of the same length; CSV and PNG exports; daily and weekly reports as self-contained
//! HTML and as PDF (a small PDF writer of our own: Helvetica, text, lines and filled rectangles).
//!
//! A crate of its own (not a module of `vigil-store`) because it needs the rules engine's time zones,
//! zone polygons and heatmap grid, which the store does not link, and it is shared by the server (the
//! `/api/analytics` routes) and the binary (`vigil report`, the report scheduler). Sources and limits of
//! each figure: `docs/analytics.md`.

pub mod buckets;
pub mod compute;
pub mod csv;
pub mod heatmap;
pub mod pdf;
pub mod report;
pub mod stored;

pub use buckets::Bucket;
pub use compute::{Dwell, Footfall, Occupancy, Queues};
pub use heatmap::{HeatGrid, HeatKind};
pub use report::{Kpis, Report};

use serde::Serialize;
use std::collections::BTreeMap;
use vigil_core::TrackPath;
use vigil_rules::{Polygon, TimeZone};
use vigil_store::{EventQuery, EventReader, StoreError, StoredEvent};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum BiError {
    /// The question cannot be answered as asked (a bad range, bucket, grid...).
    #[error("{0}")]
    BadQuery(String),
    /// Reading the event store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing a report failed.
    #[error("report {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A zone's outline, for occupancy and dwell.
#[derive(Debug, Clone)]
pub struct ZoneShape {
    /// Zone name.
    pub name: String,
    /// Its outline in normalised picture coordinates.
    pub polygon: Polygon,
}

/// What the figures need to know of the site: its time zone and each camera's zones.
#[derive(Debug, Clone)]
pub struct Site {
    /// Local time for buckets and labels (`[rules] timezone`).
    pub tz: TimeZone,
    /// Zones per camera name.
    pub zones: BTreeMap<String, Vec<ZoneShape>>,
}

impl Default for Site {
    fn default() -> Self {
        Site {
            tz: TimeZone::utc(),
            zones: BTreeMap::new(),
        }
    }
}

/// One question: which cameras, over which range, in which buckets, and whether to compare with the
/// previous period of the same length.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    /// Cameras (every one the asker may see when the request named none).
    pub cameras: Vec<String>,
    /// Range start (unix ms).
    pub from_ms: i64,
    /// Range end (unix ms, exclusive).
    pub to_ms: i64,
    /// Bucket length.
    pub bucket: Bucket,
    /// Also compute `[from - (to - from), from)`.
    pub compare: bool,
}

/// Longest range asked at once.
pub const MAX_RANGE_MS: i64 = 400 * 86_400_000;

impl Ask {
    /// Checks the range.
    pub fn check(&self) -> Result<(), BiError> {
        if self.to_ms <= self.from_ms {
            return Err(BiError::BadQuery(format!(
                "from ({}) must be before to ({})",
                self.from_ms, self.to_ms
            )));
        }
        if self.to_ms - self.from_ms > MAX_RANGE_MS {
            return Err(BiError::BadQuery(
                "the range is longer than 400 days".to_string(),
            ));
        }
        Ok(())
    }

    /// The previous period of the same length.
    pub fn previous(&self) -> Ask {
        let len = self.to_ms - self.from_ms;
        Ask {
            from_ms: self.from_ms - len,
            to_ms: self.from_ms,
            compare: false,
            ..self.clone()
        }
    }
}

/// A figure for a range and, when asked, the same for the previous period.
#[derive(Debug, Clone, Serialize)]
pub struct Compared<T> {
    /// Range start (unix ms).
    pub from: i64,
    /// Range end (unix ms).
    pub to: i64,
    /// Bucket length.
    pub bucket: Bucket,
    /// Cameras.
    pub cameras: Vec<String>,
    /// The figure for the range.
    pub current: T,
    /// The figure for the previous period of the same length.
    pub previous: Option<T>,
}

/// Computes `f` for the range and, when asked, for the previous period.
pub fn compared<T>(
    ask: &Ask,
    mut f: impl FnMut(&Ask) -> Result<T, BiError>,
) -> Result<Compared<T>, BiError> {
    ask.check()?;
    let current = f(ask)?;
    let previous = if ask.compare {
        Some(f(&ask.previous())?)
    } else {
        None
    };
    Ok(Compared {
        from: ask.from_ms,
        to: ask.to_ms,
        bucket: ask.bucket,
        cameras: ask.cameras.clone(),
        current,
        previous,
    })
}

/// Most events read for one figure.
const MAX_EVENTS: usize = 2_000_000;
/// Most track paths read per camera for one figure.
const MAX_PATHS: usize = 500_000;

/// Events of `kind` on `cameras` that started in the range, oldest first.
pub fn events_of(
    reader: &EventReader,
    cameras: &[String],
    kind: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<StoredEvent>, BiError> {
    let mut q = EventQuery {
        cameras: Some(cameras.to_vec()),
        from_ms: Some(from_ms),
        to_ms: Some(to_ms),
        kinds: Some(vec![kind.to_string()]),
        limit: 1000,
        ..Default::default()
    };
    let mut out = Vec::new();
    loop {
        let page = reader.list(&q)?;
        out.extend(page.events);
        if out.len() > MAX_EVENTS {
            return Err(BiError::BadQuery(format!(
                "more than {MAX_EVENTS} {kind} events in the range; ask for a shorter one"
            )));
        }
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    out.reverse();
    Ok(out)
}

/// Track paths of `cameras` with points in the range (each cut to it, with one point either side).
pub fn paths_of(
    reader: &EventReader,
    cameras: &[String],
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<TrackPath>, BiError> {
    let mut out = Vec::new();
    for c in cameras {
        let got = reader.paths_between(c, from_ms, to_ms, MAX_PATHS + 1)?;
        if got.len() > MAX_PATHS {
            return Err(BiError::BadQuery(format!(
                "more than {MAX_PATHS} tracks on {c} in the range; ask for a shorter one"
            )));
        }
        out.extend(got);
    }
    Ok(out)
}

/// Footfall per bucket from the line crossings.
pub fn footfall(reader: &EventReader, site: &Site, ask: &Ask) -> Result<Footfall, BiError> {
    let b = compute::bucket_infos(site, ask.from_ms, ask.to_ms, ask.bucket)?;
    let ev = events_of(
        reader,
        &ask.cameras,
        "line_crossing",
        ask.from_ms,
        ask.to_ms,
    )?;
    Ok(compute::footfall(&ev, b))
}

/// Occupancy per zone and bucket from the track paths.
pub fn occupancy(reader: &EventReader, site: &Site, ask: &Ask) -> Result<Occupancy, BiError> {
    let b = compute::bucket_infos(site, ask.from_ms, ask.to_ms, ask.bucket)?;
    let paths = paths_of(reader, &ask.cameras, ask.from_ms, ask.to_ms)?;
    Ok(compute::occupancy(site, &ask.cameras, &paths, b))
}

/// Dwell distributions per zone from the track paths.
pub fn dwell(reader: &EventReader, site: &Site, ask: &Ask) -> Result<Dwell, BiError> {
    // visits that began in the range, followed past its end (up to a day)
    let paths = paths_of(reader, &ask.cameras, ask.from_ms, ask.to_ms + 86_400_000)?;
    Ok(compute::dwell(
        site,
        &ask.cameras,
        &paths,
        ask.from_ms,
        ask.to_ms,
    ))
}

/// Queue length and waits per bucket from the queue events.
pub fn queues(reader: &EventReader, site: &Site, ask: &Ask) -> Result<Queues, BiError> {
    let b = compute::bucket_infos(site, ask.from_ms, ask.to_ms, ask.bucket)?;
    let ev = events_of(reader, &ask.cameras, "queue", ask.from_ms, ask.to_ms)?;
    Ok(compute::queues(&ev, b))
}

/// A heatmap of one camera over the range.
pub fn heat(
    reader: &EventReader,
    ask: &Ask,
    kind: HeatKind,
    cols: u32,
    rows: u32,
) -> Result<HeatGrid, BiError> {
    let paths = paths_of(reader, &ask.cameras, ask.from_ms, ask.to_ms)?;
    heatmap::heatmap(&paths, kind, cols, rows, ask.from_ms, ask.to_ms)
}
