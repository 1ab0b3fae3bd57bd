//! Incident summaries and shift reports from facts only: the events of a time range (or of one incident)
//! in the event store, turned into ordered plain-language sentences, each with a confidence (0..1) and the
//! citations that support it (event ids, snapshot URLs, clip URLs whose range the recordings cover).
//!
//! - [`summarize`] reads the facts ([`facts`]) and composes the sentences ([`compose`]): a headline
//!   first, counts per camera and kind, each notable event, incidents across cameras (people linked by
//!   re-identification), and what the recordings cover. A range with nothing in it gives an honest empty
//!   summary; nothing is ever invented.
//! - [`llm`] optionally asks an OpenAI-compatible endpoint to rewrite the sentences into prose, and
//!   keeps the rewrite only when every citation marker and every figure of the facts survives it.
//!
//! Its own crate (not vigil-store): it needs the rules' plain-language phrasing and time zones
//! (vigil-rules) and an HTTP client for the rewrite, none of which the store should depend on; the CLI
//! and the server both call it.

pub mod compose;
pub mod facts;
pub mod llm;

pub use facts::{Coverage, Facts, Incident, Link};
pub use llm::{LlmConfig, Rewrite, SummaryConfig};

use serde::Serialize;
use std::collections::BTreeMap;
use vigil_core::EventId;
use vigil_rules::TimeZone;
use vigil_store::{EventReader, Reader};

/// Why a summary could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// The range or a filter is unusable.
    #[error("{0}")]
    BadRequest(String),
    /// The incident's event does not exist (or the reader may not see it).
    #[error("no such event {0}")]
    NoSuchEvent(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] vigil_store::StoreError),
}

/// The time zones sentences are written in: each camera's (`[rules.CAMERA] timezone`), else `default`.
#[derive(Debug, Clone, Default)]
pub struct Zones {
    /// For cameras not listed.
    pub default: TimeZone,
    /// Per camera.
    pub cameras: BTreeMap<String, TimeZone>,
}

impl Zones {
    /// The zone of `camera`.
    pub fn of(&self, camera: &str) -> &TimeZone {
        self.cameras.get(camera).unwrap_or(&self.default)
    }
}

/// What to summarise, and for whom.
#[derive(Debug, Clone, Default)]
pub struct SummaryRequest {
    /// Range start (unix ms, inclusive): events starting at or after it.
    pub from_ms: i64,
    /// Range end (unix ms, exclusive).
    pub to_ms: i64,
    /// Only these cameras (`None`: all); also the reader's scope (a camera-scoped user passes theirs).
    pub cameras: Option<Vec<String>>,
    /// The configured cameras (spoken of when `cameras` is `None`, with those the recordings know).
    pub known: Vec<String>,
    /// One incident: this event and the events linked to it (the range is then around it).
    pub incident: Option<EventId>,
    /// Whether the reader may see biometric facts (face events); plates are not biometric.
    pub biometric: bool,
    /// Time zones of the text.
    pub zones: Zones,
    /// How citations link: the API's base (`""` for paths relative to the server) and the UI's.
    pub links: LinkBase,
}

/// Where citation URLs point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkBase {
    /// Prefix of API paths (e.g. `https://nvr.example:8443`; empty: paths only).
    pub api: String,
    /// Prefix of UI links (e.g. `https://nvr.example:8443/`; empty: `/`).
    pub ui: String,
}

/// A summary: sentences in reading order, the headline first.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Range start (unix ms).
    pub from_ms: i64,
    /// Range end (unix ms).
    pub to_ms: i64,
    /// The period's name ("overnight", "day", or "range").
    pub period: String,
    /// The cameras it speaks of.
    pub cameras: Vec<String>,
    /// Nothing happened in the range (no event); the sentences say so and what the recordings cover.
    pub empty: bool,
    /// Events in the range (all kinds the reader may see).
    pub events: usize,
    /// The sentences, headline first.
    pub sentences: Vec<Sentence>,
    /// The language model's rewrite, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<Rewrite>,
}

/// What a sentence is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SentenceKind {
    /// The first line: the period in one sentence.
    Headline,
    /// Events of one kind on one camera and zone or line, counted.
    Count,
    /// One event.
    Event,
    /// Events on several cameras or times linked into one incident (the same person).
    Incident,
    /// What the recordings cover, or that nothing happened.
    Coverage,
}

/// One sentence with its confidence and what supports it.
#[derive(Debug, Clone, Serialize)]
pub struct Sentence {
    /// What it is about.
    pub kind: SentenceKind,
    /// The text, without citation markers.
    pub text: String,
    /// How sure the facts are (0..1, two decimals): see `docs/summaries.md`.
    pub confidence: f32,
    /// Supporting events, clips and snapshots.
    pub citations: Vec<Citation>,
}

/// Whether the footage a citation points at is in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Footage {
    /// Recordings cover the whole range.
    Recorded,
    /// Recordings cover part of it: the clip is that part.
    Partial,
    /// Nothing of it is recorded (not recorded, or deleted since): no clip link.
    Gone,
}

/// A supporting fact: an event and its footage, or a recorded range.
#[derive(Debug, Clone, Serialize)]
pub struct Citation {
    /// The marker number (`[n]`), the same for the same fact across sentences.
    pub n: usize,
    /// The event, if the citation is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Camera.
    pub camera: String,
    /// Clip start (unix ms): the covered part of the event's range.
    pub from_ms: i64,
    /// Clip end (unix ms).
    pub to_ms: i64,
    /// Whether that footage is in the store.
    pub footage: Footage,
    /// The clip as an MP4 from the API (absent when the footage is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip: Option<String>,
    /// The UI's playback of the clip's start (absent when the footage is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui: Option<String>,
    /// The event's best snapshot from the API (when one was saved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

/// Makes the summary of `req` from the event store (`events`) and the recordings index (`recordings`),
/// both opened read-only (safe while `vigil run` records).
pub fn summarize(
    events: &EventReader,
    recordings: &Reader,
    req: &SummaryRequest,
) -> Result<Summary, SummaryError> {
    let facts = facts::gather(events, recordings, req)?;
    Ok(compose::compose(&facts, req))
}

/// The summary as text: one sentence a line with its `[confidence]` and citation markers, then the
/// citations with their links.
pub fn to_text(s: &Summary) -> String {
    let mut out = String::new();
    for sentence in &s.sentences {
        let markers: String = sentence
            .citations
            .iter()
            .map(|c| format!("[{}]", c.n))
            .collect();
        out.push_str(&format!(
            "[{:.2}] {}{}{}\n",
            sentence.confidence,
            sentence.text,
            if markers.is_empty() { "" } else { " " },
            markers
        ));
    }
    let mut seen = std::collections::BTreeMap::new();
    for c in s.sentences.iter().flat_map(|x| &x.citations) {
        seen.entry(c.n).or_insert(c);
    }
    if !seen.is_empty() {
        out.push('\n');
    }
    for (n, c) in seen {
        let what = c
            .event
            .as_ref()
            .map_or_else(|| "recording".to_string(), |e| format!("event {e}"));
        let link = match (&c.clip, c.footage) {
            (Some(clip), Footage::Partial) => format!("clip (partly recorded) {clip}"),
            (Some(clip), _) => format!("clip {clip}"),
            (None, _) => "footage gone: not in the recordings".to_string(),
        };
        out.push_str(&format!("[{n}] {what} on '{}': {link}", c.camera));
        if let Some(ui) = &c.ui {
            out.push_str(&format!("; play {ui}"));
        }
        if let Some(snap) = &c.snapshot {
            out.push_str(&format!("; snapshot {snap}"));
        }
        out.push('\n');
    }
    if let Some(r) = &s.rewrite {
        out.push('\n');
        out.push_str(&llm::rewrite_text(r));
    }
    out
}
