//! Configuration errors: each names the item (zone, line, mask, rule), the field and the problem.

use crate::geometry::PolygonError;
use thiserror::Error;

/// Why a rules configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RulesError {
    /// A field of a configured item has a bad value.
    #[error("{item}: {field}: {problem}")]
    Invalid {
        /// The item, e.g. `zone 'Loading dock'` or `rule #3`.
        item: String,
        /// The field, e.g. `points` or `min_dwell`.
        field: &'static str,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A polygon field is not a usable polygon.
    #[error("{item}: {field}: {source}")]
    Polygon {
        /// The item, e.g. `zone 'Loading dock'`.
        item: String,
        /// The field (`points`).
        field: &'static str,
        /// The geometric problem (for a self-crossing outline, the two edges).
        #[source]
        source: PolygonError,
    },
    /// Two items of one kind share a name.
    #[error("{kind} name '{name}' is used by items #{first} and #{second}; names must be unique")]
    DuplicateName {
        /// `zone`, `line`, `mask` or `rule`.
        kind: &'static str,
        /// The name.
        name: String,
        /// Position of the first item (1-based, in file order).
        first: usize,
        /// Position of the second.
        second: usize,
    },
}

impl RulesError {
    pub(crate) fn invalid(item: &str, field: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            item: item.to_string(),
            field,
            problem: problem.into(),
        }
    }
}

/// How an item is named in messages: `zone 'Dock'`, or `zone #2` when it has no name.
pub(crate) fn item_label(kind: &str, name: &str, index: usize) -> String {
    if name.trim().is_empty() {
        format!("{kind} #{}", index + 1)
    } else {
        format!("{kind} '{name}'")
    }
}
