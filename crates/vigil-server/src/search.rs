//! What the server needs to search (`GET /api/search`, `GET /api/search/similar`): the site's names for
//! the query parser, its time zone, the sentence model when the binary loaded one, and the "more like this"
//! index over people's appearances (built on first use, refreshed on each request).

use std::sync::{Arc, Mutex};
use vigil_rules::tz::TimeZone;
use vigil_search::similar::ReidIndex;
use vigil_search::{TextEncoder, Vocabulary};

/// The search's state in the server.
#[derive(Clone, Default)]
pub struct SearchContext {
    /// Cameras, zones, lines and rules of the configuration.
    pub vocabulary: Vocabulary,
    /// The site's time zone (times in queries).
    pub tz: TimeZone,
    /// The sentence model (absent: unknown words are matched as words only).
    pub encoder: Option<Arc<Mutex<Box<dyn TextEncoder>>>>,
    /// The appearance index.
    pub(crate) reid: Arc<Mutex<ReidIndex>>,
}

impl SearchContext {
    /// A search over `vocabulary` in `tz`, with the sentence model when there is one.
    pub fn new(
        vocabulary: Vocabulary,
        tz: TimeZone,
        encoder: Option<Box<dyn TextEncoder>>,
    ) -> Self {
        Self {
            vocabulary,
            tz,
            encoder: encoder.map(|e| Arc::new(Mutex::new(e))),
            reid: Default::default(),
        }
    }
}

impl std::fmt::Debug for SearchContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchContext")
            .field("vocabulary", &self.vocabulary)
            .field("tz", &self.tz)
            .field("encoder", &self.encoder.is_some())
            .finish_non_exhaustive()
    }
}
