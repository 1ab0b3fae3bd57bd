//! Plate lists as the analysis consults them and the UI edits them: the lists of `[plates.lists]` in
//! `vigil.toml` (read-only here) merged with the plates added from the UI or the API, which are kept in
//! the identity database (`plate_lists`, `plate_entries`).
//!
//! A plate is on a list when their canonical forms are equal ([`crate::plates::canonical`]); a plate on
//! several lists is on the first by name, as with `[plates.lists]` alone. A list made from the UI has its
//! own alert level; a list of `vigil.toml` keeps the level `[plates.alerts]` gives it, and its plates
//! there can only be changed there. Plates may be added to either. Changes are seen by the analysis at
//! its next read: [`PlateLists`] is shared between the server and every camera's plate stage.

use crate::plates::canonical;
use crate::{IdentityError, PlatesConfig, check_name, open_db};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

/// Longest note on a listed plate.
pub const MAX_NOTE: usize = 200;

/// Where a list or a plate on it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListSource {
    /// `[plates.lists]` / `[plates.alerts]` in `vigil.toml`.
    Config,
    /// Added from the UI or the API.
    Ui,
}

/// A plate on a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListedPlate {
    /// The plate as written when listed.
    pub plate: String,
    /// Why it is listed (free text; empty for `vigil.toml`'s).
    pub note: String,
    /// Where it comes from.
    pub source: ListSource,
    /// When it was added (unix ms; `None` for `vigil.toml`'s).
    pub added: Option<i64>,
    /// Who added it (`None` for `vigil.toml`'s).
    pub by: Option<String>,
}

/// A plate list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlateList {
    /// Its name.
    pub name: String,
    /// The alert level of its reads (`none`, `low`, `normal`, `high`).
    pub alert: String,
    /// Where the list (and its alert level) comes from.
    pub source: ListSource,
    /// Its plates, in the order listed.
    pub plates: Vec<ListedPlate>,
}

/// The merged lists and the canonical index the analysis looks plates up in.
#[derive(Debug, Default)]
struct View {
    lists: BTreeMap<String, PlateList>,
    /// Canonical plate -> the first list (by name) it is on.
    index: HashMap<String, String>,
}

impl View {
    fn build(lists: BTreeMap<String, PlateList>) -> View {
        let mut index = HashMap::new();
        for (name, list) in &lists {
            for p in &list.plates {
                index
                    .entry(canonical(&p.plate))
                    .or_insert_with(|| name.clone());
            }
        }
        View { lists, index }
    }
}

/// The plate lists: `vigil.toml`'s and the UI's, merged.
pub struct PlateLists {
    config: PlatesConfig,
    /// The identity database (`None`: `vigil.toml`'s lists only, nothing can be changed).
    db: Option<(Mutex<Connection>, PathBuf)>,
    view: RwLock<View>,
}

impl std::fmt::Debug for PlateLists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.read().lists.len();
        write!(f, "PlateLists({n} lists)")
    }
}

impl PlateLists {
    /// `vigil.toml`'s lists only (for `vigil analyze`, which has no database).
    pub fn from_config(config: &PlatesConfig) -> PlateLists {
        let lists = PlateLists {
            config: config.clone(),
            db: None,
            view: RwLock::default(),
        };
        *lists.write() = View::build(lists.config_lists());
        lists
    }

    /// `vigil.toml`'s lists merged with those kept in the identity database of `data_dir` (created
    /// owner-only when missing).
    pub fn open(data_dir: &Path, config: &PlatesConfig) -> Result<PlateLists, IdentityError> {
        let (conn, path) = open_db(data_dir)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS plate_lists (
                 name TEXT PRIMARY KEY,
                 alert TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS plate_entries (
                 id INTEGER PRIMARY KEY,
                 list TEXT NOT NULL,
                 plate TEXT NOT NULL,
                 canonical TEXT NOT NULL,
                 note TEXT NOT NULL,
                 added_ms INTEGER NOT NULL,
                 added_by TEXT NOT NULL,
                 UNIQUE (list, canonical)
             );",
        )
        .map_err(|source| IdentityError::Db {
            path: path.clone(),
            source,
        })?;
        let lists = PlateLists {
            config: config.clone(),
            db: Some((Mutex::new(conn), path)),
            view: RwLock::default(),
        };
        lists.reload()?;
        Ok(lists)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.view.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, View> {
        self.view.write().unwrap_or_else(|p| p.into_inner())
    }

    fn config_lists(&self) -> BTreeMap<String, PlateList> {
        self.config
            .lists
            .iter()
            .map(|(name, plates)| {
                let list = PlateList {
                    name: name.clone(),
                    alert: self.config.alert_of(Some(name)).to_string(),
                    source: ListSource::Config,
                    plates: plates
                        .iter()
                        .map(|p| ListedPlate {
                            plate: p.clone(),
                            note: String::new(),
                            source: ListSource::Config,
                            added: None,
                            by: None,
                        })
                        .collect(),
                };
                (name.clone(), list)
            })
            .collect()
    }

    /// Reads the database again and rebuilds the merged view.
    fn reload(&self) -> Result<(), IdentityError> {
        let mut lists = self.config_lists();
        if let Some((conn, path)) = &self.db {
            let e = |source| IdentityError::Db {
                path: path.clone(),
                source,
            };
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            let mut st = conn
                .prepare("SELECT name, alert FROM plate_lists ORDER BY name")
                .map_err(e)?;
            let made = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(e)?;
            for (name, alert) in made {
                lists.entry(name.clone()).or_insert(PlateList {
                    name,
                    alert,
                    source: ListSource::Ui,
                    plates: Vec::new(),
                });
            }
            let mut st = conn
                .prepare(
                    "SELECT list, plate, note, added_ms, added_by FROM plate_entries ORDER BY id",
                )
                .map_err(e)?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        ListedPlate {
                            plate: r.get(1)?,
                            note: r.get(2)?,
                            source: ListSource::Ui,
                            added: Some(r.get(3)?),
                            by: Some(r.get(4)?),
                        },
                    ))
                })
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(e)?;
            for (list, plate) in rows {
                if let Some(l) = lists.get_mut(&list) {
                    l.plates.push(plate);
                }
            }
        }
        *self.write() = View::build(lists);
        Ok(())
    }

    /// The list `plate` is on (the first by name when on several) and that list's alert level.
    pub fn lookup(&self, plate: &str) -> Option<(String, String)> {
        let c = canonical(plate);
        let view = self.read();
        let name = view.index.get(&c)?;
        let list = view.lists.get(name)?;
        Some((list.name.clone(), list.alert.clone()))
    }

    /// Every list with its plates, by name.
    pub fn lists(&self) -> Vec<PlateList> {
        self.read().lists.values().cloned().collect()
    }

    /// Runs `f` in one write transaction of the database (taking the write lock first), commits, and
    /// rebuilds the merged view.
    fn transact(
        &self,
        f: impl FnOnce(
            &rusqlite::Transaction<'_>,
            &dyn Fn(rusqlite::Error) -> IdentityError,
        ) -> Result<(), IdentityError>,
    ) -> Result<(), IdentityError> {
        let (conn, path) = self
            .db
            .as_ref()
            .ok_or_else(|| IdentityError::Invalid("plate lists are read-only here".into()))?;
        {
            let e = |source| IdentityError::Db {
                path: path.clone(),
                source,
            };
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(e)?;
            f(&tx, &e)?;
            tx.commit().map_err(e)?;
        }
        self.reload()
    }

    /// Adds `plate` to `list` (made, with alert level `alert` or `high`, when it does not exist), with a
    /// note; `by` is who. Refused: a plate with fewer than two letters or digits, one already on the list
    /// (in any spelling), an alert level for a list of `vigil.toml`'s.
    pub fn add(
        &self,
        list: &str,
        plate: &str,
        note: &str,
        alert: Option<&str>,
        by: &str,
    ) -> Result<PlateList, IdentityError> {
        let list = check_name("list", list)?;
        let plate = plate.trim().to_string();
        let c = canonical(&plate);
        if c.len() < 2 || plate.chars().count() > 32 {
            return Err(IdentityError::Invalid(
                "plate: 2 to 32 characters with at least two letters or digits".into(),
            ));
        }
        let note = note.trim();
        if note.chars().count() > MAX_NOTE || note.chars().any(char::is_control) {
            return Err(IdentityError::Invalid(format!(
                "note: at most {MAX_NOTE} characters, no control characters"
            )));
        }
        if let Some(a) = alert
            && !crate::config::ALERT_LEVELS.contains(&a)
        {
            return Err(IdentityError::Invalid(format!(
                "alert: one of {}",
                crate::config::ALERT_LEVELS.join(", ")
            )));
        }
        let existing = self.read().lists.get(&list).cloned();
        if let Some(l) = &existing {
            if l.plates.iter().any(|p| canonical(&p.plate) == c) {
                return Err(IdentityError::Exists(format!("{plate} on {list}")));
            }
            if alert.is_some_and(|a| a != l.alert) && l.source == ListSource::Config {
                return Err(IdentityError::FromConfig(format!(
                    "the alert level of list {list:?}"
                )));
            }
        }
        self.transact(|tx, e| {
            if existing.as_ref().is_none_or(|l| l.source == ListSource::Ui) {
                let level = alert
                    .or(existing.as_ref().map(|l| l.alert.as_str()))
                    .unwrap_or(crate::config::DEFAULT_ALERT);
                tx.execute(
                    "INSERT INTO plate_lists (name, alert) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET alert = excluded.alert",
                    params![list, level],
                )
                .map_err(e)?;
            }
            let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO plate_entries (list, plate, canonical, note, added_ms, added_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![list, plate, c, note, vigil_core::time::now_unix_ms(), by],
                )
                .map_err(e)?;
            if inserted == 0 {
                return Err(IdentityError::Exists(format!("{plate} on {list}")));
            }
            Ok(())
        })?;
        self.read()
            .lists
            .get(&list)
            .cloned()
            .ok_or_else(|| IdentityError::Invalid(format!("list {list:?} vanished")))
    }

    /// Removes `plate` (in any spelling) from `list`; a list made from the UI goes with its last plate.
    /// Refused for `vigil.toml`'s plates.
    pub fn remove(&self, list: &str, plate: &str) -> Result<ListedPlate, IdentityError> {
        let c = canonical(plate);
        let not_listed = || IdentityError::NotListed {
            list: list.to_string(),
            plate: plate.to_string(),
        };
        let listed = self
            .read()
            .lists
            .get(list)
            .and_then(|l| l.plates.iter().find(|p| canonical(&p.plate) == c).cloned())
            .ok_or_else(not_listed)?;
        if listed.source == ListSource::Config {
            return Err(IdentityError::FromConfig(format!(
                "{:?} on list {list:?}",
                listed.plate
            )));
        }
        self.transact(|tx, e| {
            let gone = tx
                .execute(
                    "DELETE FROM plate_entries WHERE list = ?1 AND canonical = ?2",
                    params![list, c],
                )
                .map_err(e)?;
            if gone == 0 {
                return Err(not_listed());
            }
            let left: Option<i64> = tx
                .query_row(
                    "SELECT id FROM plate_entries WHERE list = ?1 LIMIT 1",
                    [list],
                    |r| r.get(0),
                )
                .optional()
                .map_err(e)?;
            if left.is_none() {
                tx.execute("DELETE FROM plate_lists WHERE name = ?1", [list])
                    .map_err(e)?;
            }
            Ok(())
        })?;
        Ok(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PlatesConfig {
        let mut c = PlatesConfig::default();
        c.lists.insert("deny".into(), vec!["KX58 RTY".into()]);
        c.alerts.insert("deny".into(), "high".into());
        c
    }

    #[test]
    fn plates_added_from_the_ui_are_found_kept_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let lists = PlateLists::open(dir.path(), &config()).unwrap();
        assert_eq!(
            lists.lookup("kx58-rty"),
            Some(("deny".into(), "high".into()))
        );
        assert_eq!(lists.lookup("AB12CDE"), None);
        let staff = lists
            .add("staff", "AB12 CDE", "the caretaker", Some("none"), "ann")
            .unwrap();
        assert_eq!(
            (staff.alert.as_str(), staff.source),
            ("none", ListSource::Ui)
        );
        assert_eq!(
            lists.lookup("A812CDE"),
            Some(("staff".into(), "none".into()))
        );
        // A plate added to vigil.toml's list takes its alert level.
        lists.add("deny", "ZZ99ZZZ", "", None, "ann").unwrap();
        assert_eq!(
            lists.lookup("2299222"),
            Some(("deny".into(), "high".into()))
        );
        drop(lists);

        // Kept across a restart.
        let lists = PlateLists::open(dir.path(), &config()).unwrap();
        assert_eq!(
            lists.lookup("AB12CDE"),
            Some(("staff".into(), "none".into()))
        );
        let names: Vec<_> = lists
            .lists()
            .into_iter()
            .map(|l| (l.name, l.plates.len()))
            .collect();
        assert_eq!(names, [("deny".to_string(), 2), ("staff".to_string(), 1)]);

        // Refusals say why.
        let err = |r: Result<PlateList, IdentityError>| r.unwrap_err().to_string();
        assert!(err(lists.add("staff", "ab-12-cde", "", None, "ann")).contains("already"));
        assert!(err(lists.add("staff", "-", "", None, "ann")).contains("two letters"));
        assert!(err(lists.add("deny", "QQ11QQQ", "", Some("low"), "ann")).contains("vigil.toml"));
        assert!(err(lists.add("x", "QQ11QQQ", "", Some("loud"), "ann")).contains("one of"));
        assert!(
            lists
                .remove("deny", "KX58RTY")
                .unwrap_err()
                .to_string()
                .contains("vigil.toml")
        );
        assert!(
            lists
                .remove("staff", "NOPE1")
                .unwrap_err()
                .to_string()
                .contains("not on")
        );

        // The last plate of a UI list takes the list with it.
        lists.remove("staff", "ab12cde").unwrap();
        assert_eq!(lists.lookup("AB12CDE"), None);
        assert!(lists.lists().iter().all(|l| l.name != "staff"));
        lists.remove("deny", "zz99zzz").unwrap();
        assert_eq!(lists.lists()[0].plates.len(), 1, "vigil.toml's plate stays");
    }

    #[test]
    fn configuration_only_lists_are_read_only() {
        let lists = PlateLists::from_config(&config());
        assert_eq!(
            lists.lookup("KX58RTY"),
            Some(("deny".into(), "high".into()))
        );
        assert!(lists.add("staff", "AB12CDE", "", None, "ann").is_err());
    }
}
