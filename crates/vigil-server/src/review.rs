//! Review (operator fatigue): events grouped into review items per camera and time, each with a
//! severity, reviewed or not per user.
//!
//! - **Severity** is derived when read, from the rule's `severity` in the configuration or else from
//!   the event's kind ([`vigil_core::Severity::default_for`]): changing a rule's severity re-ranks its
//!   past events too, and no event message has to carry it.
//! - **Items**: the events of one camera, taken by start time, form one item while each starts at most
//!   [`GAP_MS`] after the item's end so far (overlapping events always do), and within [`MAX_SPAN_MS`]
//!   of the item's start (a counting line firing all day makes cards of 10 minutes, not one of a day).
//!   An item has the camera, start, end, the highest severity of its events, their count, classes,
//!   rules and ids, and the event with the best-scoring snapshot. Its id is its first event's id.
//! - **Reviewed** marks are per user and per event (stored in the recording index, next to the events,
//!   deleted with them); an item is reviewed when all its events are.

use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use vigil_core::Severity;
use vigil_store::ReviewRow;

/// Events of one camera starting within this long of an item's end join the item.
pub const GAP_MS: i64 = 60_000;
/// An item spans at most this long from its first event's start to its last event's start.
pub const MAX_SPAN_MS: i64 = 10 * 60_000;

/// Unix ms to the site's wall-clock ms for a camera (its rules' time zone).
pub type LocalClock = Arc<dyn Fn(&str, i64) -> i64 + Send + Sync>;

/// `severity` set by rules, per camera, then per rule name.
pub type RuleSeverities = HashMap<String, HashMap<String, Severity>>;

/// How review ranks and dates events: the rules' severities and the cameras' time zones. Clones share
/// the severities, so rules changed while running ([`ReviewSettings::set_camera_rules`]) apply at once.
#[derive(Clone, Default)]
pub struct ReviewSettings {
    /// `severity` set by rules (others: the kind's default).
    severities: Arc<RwLock<RuleSeverities>>,
    /// The local time of a camera, for the weeks of the false-alarm report (absent: UTC).
    pub local: Option<LocalClock>,
}

impl ReviewSettings {
    /// Settings with these rule severities and camera clocks.
    pub fn new(severities: RuleSeverities, local: Option<LocalClock>) -> ReviewSettings {
        ReviewSettings {
            severities: Arc::new(RwLock::new(severities)),
            local,
        }
    }

    /// Replaces `camera`'s rule severities (its rules were changed while running).
    pub fn set_camera_rules(&self, camera: &str, rules: HashMap<String, Severity>) {
        let mut all = self.severities.write().unwrap_or_else(|p| p.into_inner());
        all.insert(camera.to_string(), rules);
    }

    /// The severity of an event of `kind` raised by `rule` on `camera`.
    pub fn severity(&self, camera: &str, rule: &str, kind: &str) -> Severity {
        let all = self.severities.read().unwrap_or_else(|p| p.into_inner());
        all.get(camera)
            .and_then(|r| r.get(rule))
            .copied()
            .unwrap_or_else(|| Severity::default_for(kind, rule))
    }

    /// Unix ms to wall-clock ms on `camera`.
    pub fn local_ms(&self, camera: &str, unix_ms: i64) -> i64 {
        match &self.local {
            Some(f) => f(camera, unix_ms),
            None => unix_ms,
        }
    }
}

/// A review item: the events of one camera close together in time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewItem {
    /// Its first event's id.
    pub id: String,
    /// Camera name.
    pub camera: String,
    /// First event's start (unix ms).
    pub start: i64,
    /// Latest end (or last seen, while open) of its events (unix ms).
    pub end: i64,
    /// The highest severity of its events.
    pub severity: Severity,
    /// Number of events.
    pub count: usize,
    /// Object classes, sorted.
    pub classes: Vec<String>,
    /// Rules that raised its events, sorted.
    pub rules: Vec<String>,
    /// The event whose snapshot shows it best (`GET /api/events/{id}/snapshot`), if any has one.
    pub snapshot: Option<String>,
    /// Its events' ids, oldest first.
    pub events: Vec<String>,
    /// The description of its most severe event (the first on a tie).
    pub description: String,
    /// Some event is still open.
    pub open: bool,
    /// The caller has reviewed every event of it.
    pub reviewed: bool,
}

/// Groups rows (any order) into review items, newest first.
pub fn group(mut rows: Vec<ReviewRow>, settings: &ReviewSettings) -> Vec<ReviewItem> {
    rows.sort_by(|a, b| a.camera.cmp(&b.camera).then(a.start_ms.cmp(&b.start_ms)));
    let mut items: Vec<ReviewItem> = Vec::new();
    let mut best: Option<f64> = None;
    let mut classes = BTreeSet::new();
    let mut rules = BTreeSet::new();
    for row in rows {
        let severity = settings.severity(&row.camera, &row.rule, &row.kind);
        let joins = items.last().is_some_and(|it| {
            it.camera == row.camera
                && row.start_ms <= it.end + GAP_MS
                && row.start_ms < it.start + MAX_SPAN_MS
        });
        if !joins {
            if let Some(it) = items.last_mut() {
                it.classes = std::mem::take(&mut classes).into_iter().collect();
                it.rules = std::mem::take(&mut rules).into_iter().collect();
            }
            best = None;
            items.push(ReviewItem {
                id: row.id.clone(),
                camera: row.camera,
                start: row.start_ms,
                end: row.end_ms,
                severity,
                count: 0,
                classes: Vec::new(),
                rules: Vec::new(),
                snapshot: None,
                events: Vec::new(),
                description: row.description,
                open: false,
                reviewed: true,
            });
        } else if let Some(it) = items.last_mut()
            && severity > it.severity
        {
            it.severity = severity;
            it.description = row.description;
        }
        let Some(it) = items.last_mut() else { continue };
        it.end = it.end.max(row.end_ms);
        it.count += 1;
        it.open |= row.open;
        it.reviewed &= row.reviewed;
        if row.has_snapshot {
            let score = row.best_score.unwrap_or(0.0);
            if best.is_none_or(|b| score > b) {
                best = Some(score);
                it.snapshot = Some(row.id.clone());
            }
        }
        it.events.push(row.id);
        classes.insert(row.class);
        rules.insert(row.rule);
    }
    if let Some(it) = items.last_mut() {
        it.classes = classes.into_iter().collect();
        it.rules = rules.into_iter().collect();
    }
    items.sort_by(|a, b| b.start.cmp(&a.start).then(a.camera.cmp(&b.camera)));
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::EventId;

    fn row(camera: &str, n: u32, start: i64, end: i64, kind: &str) -> ReviewRow {
        ReviewRow {
            id: EventId::from_parts(start as u64, u128::from(n)).to_string(),
            camera: camera.into(),
            rule: format!("{kind} rule"),
            kind: kind.into(),
            class: "person".into(),
            start_ms: start,
            end_ms: end,
            open: false,
            has_snapshot: n == 2,
            best_score: Some(0.5),
            description: kind.into(),
            reviewed: n != 3,
        }
    }

    #[test]
    fn events_close_in_time_form_one_item_per_camera() {
        let t = 1_800_000_000_000;
        let rows = vec![
            row("a", 1, t, t + 5_000, "line_crossing"),
            row("a", 2, t + 10_000, t + 12_000, "intrusion"),
            row("b", 3, t + 11_000, t + 12_000, "line_crossing"),
            row("a", 4, t + 300_000, t + 301_000, "line_crossing"),
        ];
        let items = group(rows, &ReviewSettings::default());
        assert_eq!(items.len(), 3, "{items:#?}");
        assert_eq!(items[0].start, t + 300_000);
        let first = &items[2];
        assert_eq!((first.camera.as_str(), first.count), ("a", 2));
        assert_eq!(first.severity, Severity::Alert);
        assert_eq!(first.description, "intrusion");
        assert_eq!(first.end, t + 12_000);
        assert!(first.reviewed && first.snapshot.is_some());
        assert!(!items[1].reviewed, "b's event is not reviewed");
    }

    #[test]
    fn a_busy_camera_makes_items_of_at_most_ten_minutes() {
        let t = 1_800_000_000_000;
        let rows: Vec<ReviewRow> = (0..60)
            .map(|i| {
                row(
                    "a",
                    1,
                    t + i * 30_000,
                    t + i * 30_000 + 1_000,
                    "line_crossing",
                )
            })
            .collect();
        let items = group(rows, &ReviewSettings::default());
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(|i| i.count == 20));
    }

    #[test]
    fn a_rule_severity_overrides_the_kind() {
        let s = ReviewSettings::default();
        let shared = s.clone();
        shared.set_camera_rules(
            "a",
            [("line_crossing rule".to_string(), Severity::Alert)].into(),
        );
        assert_eq!(
            s.severity("a", "line_crossing rule", "line_crossing"),
            Severity::Alert
        );
        assert_eq!(
            s.severity("b", "line_crossing rule", "line_crossing"),
            Severity::Detection
        );
    }
}
