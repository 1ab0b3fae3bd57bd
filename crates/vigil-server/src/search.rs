//! What the server needs to search (`GET /api/search`, `GET /api/search/similar`): the site's names for
//! the query parser, its time zone, the sentence model (loaded on the first query that needs it, so a box
//! nobody searches does not carry ONNX Runtime and the model: about 18 MB of resident memory on a
//! record-only box), and the "more like this" index over people's appearances (built on first use,
//! refreshed on each request).

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
    /// The sentence model (absent, or failing to load: unknown words are matched as words only).
    pub encoder: Option<Arc<Mutex<LazyEncoder>>>,
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
            encoder: encoder.map(|e| Arc::new(Mutex::new(LazyEncoder::Ready(e)))),
            reid: Default::default(),
        }
    }

    /// A search whose sentence model `load` gives on the first query that needs one.
    pub fn with_loader(vocabulary: Vocabulary, tz: TimeZone, load: EncoderLoader) -> Self {
        Self {
            vocabulary,
            tz,
            encoder: Some(Arc::new(Mutex::new(LazyEncoder::Pending(load)))),
            reid: Default::default(),
        }
    }
}

/// Loads the sentence model; the error says why it is not available.
pub type EncoderLoader = Box<dyn FnOnce() -> Result<Box<dyn TextEncoder>, String> + Send>;

/// The sentence model, loaded when first needed.
pub enum LazyEncoder {
    /// Not loaded yet.
    Pending(EncoderLoader),
    /// Loaded.
    Ready(Box<dyn TextEncoder>),
    /// Failed to load (said once in the log): words only from then on.
    Unavailable,
}

impl LazyEncoder {
    /// The model, loading it the first time; `None` when it cannot be loaded.
    pub fn get(&mut self) -> Option<&mut dyn TextEncoder> {
        if let LazyEncoder::Pending(_) = self {
            let LazyEncoder::Pending(load) = std::mem::replace(self, LazyEncoder::Unavailable)
            else {
                return None;
            };
            match load() {
                Ok(encoder) => {
                    tracing::info!("search: sentence model loaded");
                    *self = LazyEncoder::Ready(encoder);
                }
                Err(e) => tracing::warn!(
                    "search: the sentence model is not available ({e}); unknown words are matched as words only"
                ),
            }
        }
        match self {
            LazyEncoder::Ready(encoder) => Some(&mut **encoder),
            _ => None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Gives every text the same unit vector: enough to tell a loaded model from none.
    struct Constant;
    impl TextEncoder for Constant {
        fn encode(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
            Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect())
        }
    }

    fn counted(
        calls: &Arc<AtomicUsize>,
        result: fn() -> Result<Box<dyn TextEncoder>, String>,
    ) -> LazyEncoder {
        let calls = calls.clone();
        LazyEncoder::Pending(Box::new(move || {
            calls.fetch_add(1, Ordering::SeqCst);
            result()
        }))
    }

    #[test]
    fn the_model_is_loaded_on_first_use_and_only_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut lazy = counted(&calls, || Ok(Box::new(Constant)));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "nothing loaded before a query"
        );
        for _ in 0..3 {
            let encoder = lazy.get().expect("loaded");
            assert_eq!(encoder.encode(&["a van"]), Ok(vec![vec![1.0, 0.0]]));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_model_that_fails_to_load_leaves_words_only_without_retrying() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut lazy = counted(&calls, || Err("no libonnxruntime.so".into()));
        assert!(lazy.get().is_none());
        assert!(lazy.get().is_none());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "a failed load is not retried per query"
        );
    }
}
