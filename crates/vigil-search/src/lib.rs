//! Search over what happened: one query box for events and tracks.
//!
//! - [`query`]: free text ("red car at the gate last night") parsed into structured filters (camera, place,
//!   rule, class, colour by body part, kind, plate, person, time) against the site's [`Vocabulary`]; words
//!   it does not know are compared by meaning with the classes and kinds it does ([`words::WordMapper`],
//!   sentence embeddings), the rest rank descriptions.
//! - [`rank`]: which candidates (events, tracks) a query admits and in which order, with the reasons; the
//!   same for the event store (`vigil search --config`, `GET /api/search`) and an events file
//!   (`vigil search --events FILE`).
//! - [`index`]: the vector index for "more like this" over re-identification embeddings.
//!
//! Design and figures: docs/search.md.

pub mod error;
pub mod index;
pub mod query;
pub mod rank;
pub mod similar;
pub mod source;
pub mod when;
pub mod words;

pub use error::QueryError;
pub use index::{IndexError, Neighbour, VectorIndex};
pub use query::{ColourWant, Query, Vocabulary, parse};
pub use rank::{Candidate, Hit, Source, rank};
pub use source::{Scope, from_events_file, from_store};
pub use words::{Part, TextEncoder, WordMapper};
