//! Planning a list query: which index drives the scan, the SQL of its branches, and the search text
//! turned into a safe FTS5 query.
//!
//! A list query is planned here rather than left to SQLite's planner: one filter *drives* the scan
//! through an index ordered by time within its key (one branch per value of that filter, each reading
//! at most a page, merged newest first), and the other filters are checked on the rows it yields. The
//! driver is the most selective filter present: open events, then the search text, zone, rule,
//! camera x kind, camera, kind, class; without any, the scan walks the table newest first.

use super::query::COLUMNS;
use crate::StoreError;
use rusqlite::types::Value;

/// Most index branches merged for one query (beyond it, the filter is checked row by row).
const MAX_BRANCHES: usize = 32;
/// Most words in a search.
const MAX_TERMS: usize = 16;

/// Turns typed words into a safe FTS5 query: every word must match (`word*`: a prefix;
/// `"two words"`: a phrase). Anything else the user types is a separator, never syntax.
pub(crate) fn fts_query(text: &str) -> Result<String, StoreError> {
    let mut terms: Vec<String> = Vec::new();
    for (i, part) in text.split('"').enumerate() {
        let words = |s: &str| -> Vec<(String, bool)> {
            s.split(|c: char| !(c.is_alphanumeric() || c == '*'))
                .flat_map(|chunk| {
                    let prefix = chunk.ends_with('*');
                    let pieces: Vec<&str> = chunk
                        .split('*')
                        .filter(|w| !w.is_empty())
                        .collect::<Vec<_>>();
                    let n = pieces.len();
                    pieces
                        .into_iter()
                        .enumerate()
                        .map(move |(j, w)| (w.to_string(), prefix && j + 1 == n))
                })
                .collect()
        };
        let ws = words(part);
        if ws.is_empty() {
            continue;
        }
        if i % 2 == 1 {
            // inside quotes: one phrase
            let phrase: Vec<String> = ws.into_iter().map(|(w, _)| w).collect();
            terms.push(format!("\"{}\"", phrase.join(" ")));
        } else {
            for (w, prefix) in ws {
                terms.push(format!("\"{w}\"{}", if prefix { "*" } else { "" }));
            }
        }
    }
    if terms.is_empty() {
        return Err(StoreError::BadQuery(format!(
            "search text {text:?} has no words to look for"
        )));
    }
    if terms.len() > MAX_TERMS {
        return Err(StoreError::BadQuery(format!(
            "search text has {} words; at most {MAX_TERMS}",
            terms.len()
        )));
    }
    Ok(terms.join(" "))
}

/// A list filter on the events table, for the driver or for row checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dim {
    Camera,
    Kind,
    Class,
    Rule,
}

impl Dim {
    fn column(self) -> &'static str {
        match self {
            Dim::Camera => "camera_id",
            Dim::Kind => "kind",
            Dim::Class => "class",
            Dim::Rule => "rule",
        }
    }

    fn index(self) -> &'static str {
        match self {
            Dim::Camera => " INDEXED BY events_camera",
            Dim::Kind => " INDEXED BY events_kind",
            Dim::Class => " INDEXED BY events_class",
            Dim::Rule => " INDEXED BY events_rule",
        }
    }
}

/// How a list query scans.
pub(crate) enum Driver {
    /// The table, newest first.
    Table,
    /// Open events (small partial index).
    Open,
    /// The full-text index, newest first.
    Text(String),
    /// The zone/line index.
    Place,
    /// One branch per value of one filter.
    Each(Dim),
    /// One branch per camera and kind.
    CameraKind,
}

/// The filters of a list query, resolved.
pub(crate) struct Filters {
    pub(crate) cameras: Option<Vec<i64>>,
    pub(crate) kinds: Option<Vec<String>>,
    pub(crate) classes: Option<Vec<String>>,
    pub(crate) rules: Option<Vec<String>>,
    pub(crate) zone: Option<String>,
    pub(crate) open_only: bool,
    /// The FTS5 query of the search text.
    pub(crate) text: Option<String>,
}

impl Filters {
    /// A filter given as an empty list: nothing can match.
    pub(crate) fn matches_nothing(&self) -> bool {
        [Dim::Camera, Dim::Kind, Dim::Class, Dim::Rule]
            .iter()
            .any(|d| self.values(*d).is_some_and(|v| v.is_empty()))
    }

    fn values(&self, dim: Dim) -> Option<Vec<Value>> {
        match dim {
            Dim::Camera => self
                .cameras
                .as_ref()
                .map(|v| v.iter().map(|&c| Value::Integer(c)).collect()),
            Dim::Kind => self.kinds.as_ref().map(|v| texts(v)),
            Dim::Class => self.classes.as_ref().map(|v| texts(v)),
            Dim::Rule => self.rules.as_ref().map(|v| texts(v)),
        }
    }

    /// SQL conditions (with `p` as the events table prefix) for every filter the driver does not
    /// already apply, and their parameters.
    fn conditions(&self, p: &str, driver: &Driver, sql: &mut String, args: &mut Vec<Value>) {
        let skip = |d: Dim| match driver {
            Driver::Each(x) => *x == d,
            Driver::CameraKind => d == Dim::Camera || d == Dim::Kind,
            _ => false,
        };
        for dim in [Dim::Camera, Dim::Kind, Dim::Class, Dim::Rule] {
            if skip(dim) {
                continue;
            }
            if let Some(vals) = self.values(dim) {
                sql.push_str(&format!(" AND {p}{} IN (", dim.column()));
                for (i, v) in vals.into_iter().enumerate() {
                    sql.push_str(if i == 0 { "?" } else { ", ?" });
                    args.push(v);
                }
                sql.push(')');
            }
        }
        if let Some(z) = &self.zone
            && !matches!(driver, Driver::Place)
        {
            sql.push_str(&format!(" AND COALESCE({p}zone, {p}line) = ?"));
            args.push(Value::Text(z.clone()));
        }
        if self.open_only && !matches!(driver, Driver::Open) {
            sql.push_str(&format!(" AND {p}open = 1"));
        }
        if let Some(t) = &self.text
            && !matches!(driver, Driver::Text(_))
        {
            // checked row by row (a doclist seek per row) when another filter drives
            let row = if p.is_empty() { "events." } else { p };
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM events_fts WHERE events_fts MATCH ? \
                 AND events_fts.rowid = {row}id)"
            ));
            args.push(Value::Text(t.clone()));
        }
    }
}

/// The values of a list filter without repeats (each value is one index branch).
pub(crate) fn distinct(v: &Option<Vec<String>>) -> Option<Vec<String>> {
    v.as_ref().map(|v| {
        let mut out: Vec<String> = Vec::with_capacity(v.len());
        for s in v {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    })
}

fn texts(v: &[String]) -> Vec<Value> {
    v.iter().map(|s| Value::Text(s.clone())).collect()
}

/// Picks the scan for a query (see the module documentation).
pub(crate) fn choose_driver(f: &Filters) -> Driver {
    let n = |v: &Option<Vec<Value>>| v.as_ref().map_or(usize::MAX, Vec::len);
    if f.open_only {
        return Driver::Open;
    }
    if let Some(t) = &f.text {
        return Driver::Text(t.clone());
    }
    if f.zone.is_some() {
        return Driver::Place;
    }
    if n(&f.values(Dim::Rule)) <= MAX_BRANCHES {
        return Driver::Each(Dim::Rule);
    }
    let (cams, kinds) = (n(&f.values(Dim::Camera)), n(&f.values(Dim::Kind)));
    if cams != usize::MAX && kinds != usize::MAX && cams.saturating_mul(kinds) <= MAX_BRANCHES {
        return Driver::CameraKind;
    }
    for dim in [Dim::Camera, Dim::Kind, Dim::Class] {
        if n(&f.values(dim)) <= MAX_BRANCHES {
            return Driver::Each(dim);
        }
    }
    Driver::Table
}

/// The SQL and parameters of a list query: the driver's branches select row ids (newest first, at
/// most `n` each), merged and cut to `n`, then the rows are read.
pub(crate) fn plan(
    f: &Filters,
    driver: &Driver,
    lo: i64,
    hi: i64,
    n: usize,
) -> (String, Vec<Value>) {
    let mut args: Vec<Value> = Vec::new();
    let mut branches: Vec<String> = Vec::new();
    let range = |args: &mut Vec<Value>, col: &str| {
        args.push(Value::Integer(lo));
        args.push(Value::Integer(hi));
        format!("{col} >= ? AND {col} < ?")
    };
    let limit = |args: &mut Vec<Value>| {
        args.push(Value::Integer(n as i64));
        " LIMIT ?"
    };
    match driver {
        Driver::Text(query) => {
            args.push(Value::Text(query.clone()));
            let mut conds = String::new();
            let mut cond_args = Vec::new();
            f.conditions("e.", driver, &mut conds, &mut cond_args);
            let r = range(&mut args, "events_fts.rowid");
            let mut sql = if conds.is_empty() {
                format!(
                    "SELECT events_fts.rowid AS id FROM events_fts WHERE events_fts MATCH ? AND {r}"
                )
            } else {
                format!(
                    "SELECT e.id AS id FROM events_fts CROSS JOIN events e ON e.id = events_fts.rowid
                     WHERE events_fts MATCH ? AND {r}{conds}"
                )
            };
            args.extend(cond_args);
            sql.push_str(" ORDER BY events_fts.rowid DESC");
            sql.push_str(limit(&mut args));
            branches.push(sql);
        }
        _ => {
            let keys: Vec<Vec<(&str, Value)>> = match driver {
                Driver::Table => vec![vec![]],
                // a literal, so that the planner can use the partial index
                Driver::Open => vec![vec![]],
                Driver::Place => vec![vec![(
                    "COALESCE(zone, line)",
                    Value::Text(f.zone.clone().unwrap_or_default()),
                )]],
                Driver::Each(dim) => f
                    .values(*dim)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| vec![(dim.column(), v)])
                    .collect(),
                Driver::CameraKind => {
                    let cams = f.values(Dim::Camera).unwrap_or_default();
                    let kinds = f.values(Dim::Kind).unwrap_or_default();
                    cams.iter()
                        .flat_map(|c| {
                            kinds
                                .iter()
                                .map(move |k| vec![("camera_id", c.clone()), ("kind", k.clone())])
                        })
                        .collect()
                }
                Driver::Text(_) => vec![],
            };
            let index = match driver {
                Driver::Table => "",
                Driver::Open => " INDEXED BY events_open",
                Driver::Place => " INDEXED BY events_place",
                Driver::Each(dim) => dim.index(),
                Driver::CameraKind => " INDEXED BY events_camera_kind",
                Driver::Text(_) => "",
            };
            for key in keys {
                let mut sql = format!("SELECT id FROM events{index} WHERE ");
                if matches!(driver, Driver::Open) {
                    sql.push_str("open = 1 AND ");
                }
                for (col, v) in key {
                    sql.push_str(&format!("{col} = ? AND "));
                    args.push(v);
                }
                sql.push_str(&range(&mut args, "id"));
                f.conditions("", driver, &mut sql, &mut args);
                sql.push_str(" ORDER BY id DESC");
                sql.push_str(limit(&mut args));
                branches.push(sql);
            }
        }
    }
    let ids = if branches.len() == 1 {
        branches.remove(0)
    } else {
        let mut s = branches
            .iter()
            .map(|b| format!("SELECT id FROM ({b})"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        s.push_str(" ORDER BY 1 DESC");
        s.push_str(limit(&mut args));
        s
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM ({ids}) AS sel CROSS JOIN events e ON e.id = sel.id
         JOIN cameras c ON c.id = e.camera_id ORDER BY e.id DESC"
    );
    (sql, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_becomes_a_safe_query() {
        assert_eq!(fts_query("Person  gate").unwrap(), r#""Person" "gate""#);
        assert_eq!(fts_query("pers*").unwrap(), r#""pers"*"#);
        assert_eq!(
            fts_query(r#""loading dock" van"#).unwrap(),
            r#""loading dock" "van""#
        );
        // FTS5 syntax typed by a user is only words
        assert_eq!(
            fts_query(r#"a OR b NEAR( c:d ^e -f"#).unwrap(),
            r#""a" "OR" "b" "NEAR" "c" "d" "e" "f""#
        );
        assert_eq!(fts_query("line_crossing").unwrap(), r#""line" "crossing""#);
        assert!(matches!(
            fts_query(" -- ** ()"),
            Err(StoreError::BadQuery(_))
        ));
        assert!(fts_query(&"w ".repeat(17)).is_err());
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    fn filters() -> Filters {
        Filters {
            cameras: None,
            kinds: None,
            classes: None,
            rules: None,
            zone: None,
            open_only: false,
            text: None,
        }
    }

    /// The query plan of every driver: each branch reads its index (or the FTS index) in row id
    /// order within the id range, never scans the table or sorts it.
    #[test]
    fn every_driver_reads_an_index_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::schema::open_rw(&dir.path().join("index.db")).unwrap();
        let mut cases: Vec<(&str, Filters, Driver)> = Vec::new();
        cases.push(("table", filters(), Driver::Table));
        let mut f = filters();
        f.open_only = true;
        f.kinds = Some(vec!["intrusion".into()]);
        f.text = Some("\"person\"".into());
        cases.push(("open", f, Driver::Open));
        let mut f = filters();
        f.zone = Some("Yard".into());
        cases.push(("place", f, Driver::Place));
        let mut f = filters();
        f.cameras = Some(vec![1, 2]);
        f.kinds = Some(vec!["intrusion".into(), "queue".into()]);
        cases.push(("camera x kind", f, Driver::CameraKind));
        for dim in [Dim::Camera, Dim::Kind, Dim::Class, Dim::Rule] {
            let mut f = filters();
            match dim {
                Dim::Camera => f.cameras = Some(vec![1, 2]),
                Dim::Kind => f.kinds = Some(vec!["a".into(), "b".into()]),
                Dim::Class => f.classes = Some(vec!["a".into(), "b".into()]),
                Dim::Rule => f.rules = Some(vec!["a".into()]),
            }
            cases.push(("each", f, Driver::Each(dim)));
        }
        let mut f = filters();
        f.cameras = Some(vec![3]);
        cases.push(("text", f, Driver::Text("\"person\"".into())));
        cases.push(("text alone", filters(), Driver::Text("\"person\"".into())));
        for (name, f, driver) in cases {
            let (sql, args) = plan(&f, &driver, 0, i64::MAX, 51);
            let mut q = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap_or_else(|e| panic!("{name}: {e}\n{sql}"));
            let steps: Vec<String> = q
                .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let text = steps.join("\n");
            eprintln!("{name}:\n{text}\n");
            assert!(
                !steps.iter().any(|s| s == "SCAN e" || s == "SCAN events"),
                "{name} scans the whole table:\n{text}"
            );
            let expected = match &driver {
                Driver::Table => "USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)".to_string(),
                Driver::Text(_) => "VIRTUAL TABLE INDEX".to_string(),
                Driver::Open => "INDEX events_open (open=? AND rowid>? AND rowid<?)".to_string(),
                Driver::Place => "INDEX events_place (<expr>=? AND rowid>?".to_string(),
                Driver::CameraKind => {
                    "INDEX events_camera_kind (camera_id=? AND kind=? AND rowid>?".to_string()
                }
                Driver::Each(d) => {
                    format!("INDEX {} ({}=? AND rowid>?", &d.index()[12..], d.column())
                }
            };
            assert!(
                steps
                    .iter()
                    .any(|s| s.starts_with("SEARCH events") || s.starts_with("SCAN events_fts"))
                    && text.contains(&expected),
                "{name}: expected {expected:?} in\n{text}"
            );
        }
    }
}
