//! "More like this": the people who look most like an event's person, on every camera, through the
//! vector index over the stored re-identification appearances (refreshed incrementally as appearances are
//! stored).

use crate::index::{IndexError, VectorIndex};
use serde::Serialize;
use vigil_core::EventId;
use vigil_store::{EventQuery, EventReader, StoreError};

/// Why "more like this" could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SimilarError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index refused a vector.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The event has no person's appearance.
    #[error(
        "event {0} has no person's appearance to compare (only people tracked with re-identification on have one)"
    )]
    NoAppearance(EventId),
}

/// An event's person: the mean of its appearances' embeddings, and its own camera and tracks (left out
/// of the answers).
#[derive(Debug, Clone)]
pub struct Person {
    /// Unit-length mean embedding.
    pub embedding: Vec<f32>,
    /// The event's own camera and tracks.
    pub own: Vec<(String, u64)>,
}

/// The person of event `id`.
pub fn person_of(reader: &EventReader, id: EventId) -> Result<Person, SimilarError> {
    let own = reader.appearances_of(id)?;
    let Some(first) = own.first() else {
        return Err(SimilarError::NoAppearance(id));
    };
    let dim = first.embedding.len();
    let mut sum = vec![0.0f32; dim];
    for a in own.iter().filter(|a| a.embedding.len() == dim) {
        for (s, x) in sum.iter_mut().zip(&a.embedding) {
            *s += x;
        }
    }
    let embedding = vigil_core::embedding::unit(&sum).ok_or(SimilarError::NoAppearance(id))?;
    Ok(Person {
        embedding,
        own: own.iter().map(|a| (a.camera.clone(), a.track)).collect(),
    })
}

/// One appearance like the person.
#[derive(Debug, Clone, Serialize)]
pub struct Alike {
    /// Camera.
    pub camera: String,
    /// Track there.
    pub track: u64,
    /// First seen (unix ms).
    pub first_ms: i64,
    /// Last seen (unix ms).
    pub last_ms: i64,
    /// Cosine similarity of the appearance embeddings (the higher, the likelier the same person).
    pub similarity: f32,
    /// Events of that track then, newest first.
    pub events: Vec<String>,
}

/// The index of every stored appearance, and how far it has read.
#[derive(Debug, Default)]
pub struct ReidIndex {
    index: Option<VectorIndex>,
    after_id: i64,
}

impl ReidIndex {
    /// Appearances indexed.
    pub fn len(&self) -> usize {
        self.index.as_ref().map_or(0, VectorIndex::len)
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the appearances stored since the last refresh. Appearances of another model (another
    /// length) or with a damaged embedding are left out.
    pub fn refresh(&mut self, reader: &EventReader) -> Result<usize, StoreError> {
        let mut added = 0;
        loop {
            let batch = reader.appearances_after(self.after_id, 10_000)?;
            let Some(last) = batch.last() else {
                return Ok(added);
            };
            self.after_id = last.id;
            for s in &batch {
                let index = self
                    .index
                    .get_or_insert_with(|| VectorIndex::new(s.appearance.embedding.len()));
                if index
                    .add(s.id, s.appearance.first_ms, &s.appearance.embedding)
                    .is_ok()
                {
                    added += 1;
                }
            }
        }
    }

    /// The `limit` appearances most like `person` on `cameras` (every camera when `None`), best first,
    /// with their events. Appearances deleted since the refresh are skipped.
    pub fn similar(
        &self,
        reader: &EventReader,
        person: &Person,
        limit: usize,
        cameras: Option<&[String]>,
    ) -> Result<Vec<Alike>, SimilarError> {
        let Some(index) = &self.index else {
            return Ok(Vec::new());
        };
        let exact = |id: i64| {
            reader
                .appearance(id)
                .ok()
                .flatten()
                .map(|s| s.appearance.embedding)
        };
        // Ask for more when cameras are left out or the person's own tracks come back.
        let ask = (limit + person.own.len()) * if cameras.is_some() { 4 } else { 1 };
        let found = index.search(&person.embedding, ask, i64::MIN, i64::MAX, Some(&exact))?;
        let mut out = Vec::new();
        for n in found {
            let Some(s) = reader.appearance(n.id)? else {
                continue;
            };
            let a = s.appearance;
            if person
                .own
                .iter()
                .any(|(c, t)| *c == a.camera && *t == a.track)
                || cameras.is_some_and(|cs| !cs.contains(&a.camera))
            {
                continue;
            }
            let events = reader
                .list(&EventQuery {
                    cameras: Some(vec![a.camera.clone()]),
                    from_ms: Some(a.first_ms - 2_000),
                    to_ms: Some(a.last_ms + 2_000),
                    limit: 100,
                    ..Default::default()
                })?
                .events
                .into_iter()
                .filter(|e| e.event.track_ids.contains(&a.track))
                .map(|e| e.event.id.to_string())
                .collect();
            out.push(Alike {
                camera: a.camera,
                track: a.track,
                first_ms: a.first_ms,
                last_ms: a.last_ms,
                similarity: n.similarity,
                events,
            });
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }
}
