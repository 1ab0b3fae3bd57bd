//! The words the parser knows by heart (detector classes and their plurals, event kinds, garments, words
//! that carry no meaning), and the fallback for the rest: a word the parser does not know is compared by
//! meaning (sentence embeddings) with the classes and kinds it does know.

use vigil_core::Colour;

/// The detector's classes (COCO), as events and tracks name them.
pub use vigil_core::coco::COCO_CLASSES as CLASSES;

/// Classes the fallback may map an unknown word to: the ones a security camera's events are about.
pub const MAPPABLE_CLASSES: [&str; 14] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "bus",
    "truck",
    "dog",
    "cat",
    "bird",
    "horse",
    "backpack",
    "handbag",
    "suitcase",
    "umbrella",
];

/// Event kinds and the words that name them exactly.
pub const KINDS: [(&str, &[&str]); 12] = [
    (
        "line_crossing",
        &["crossing", "crossings", "crossed", "crosses", "cross"],
    ),
    (
        "intrusion",
        &["intrusion", "intrusions", "intruder", "intruders"],
    ),
    ("loitering", &["loitering", "loiter", "loitered", "loiters"]),
    ("crowding", &["crowding", "crowded"]),
    ("queue", &["queue", "queues", "queueing", "queuing"]),
    (
        "face_recognized",
        &["recognized", "recognised", "watchlist"],
    ),
    ("face_unknown", &["unknown face", "stranger"]),
    (
        "plate_read",
        &["plate", "plates", "licence", "license", "numberplate"],
    ),
    (
        "camera_health",
        &[
            "tamper",
            "tampered",
            "offline",
            "covered",
            "defocused",
            "blocked",
        ],
    ),
    ("onvif_event", &["onvif"]),
    (
        "activity_anomaly",
        &["unusual", "anomaly", "anomalies", "abnormal"],
    ),
    ("scene_anomaly", &["scene anomaly", "scene anomalies"]),
];

/// A class name's plural or the class name itself.
pub fn class_of(word: &str) -> Option<&'static str> {
    CLASSES.iter().copied().find(|c| {
        *c == word
            || word.strip_suffix('s') == Some(c)
            || word.strip_suffix("es") == Some(c)
            || (*c == "person" && matches!(word, "people" | "persons"))
    })
}

/// The kind a word names exactly.
pub fn kind_of(word: &str) -> Option<&'static str> {
    KINDS
        .iter()
        .find(|(_, words)| words.contains(&word))
        .map(|(k, _)| *k)
}

/// Which part of a person a garment word names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// Top, jacket, shirt...
    Upper,
    /// Trousers, skirt, shorts...
    Lower,
    /// Any part (a person "in black"), or a vehicle's body.
    Any,
}

/// The part a garment word covers.
pub fn garment(word: &str) -> Option<Part> {
    match word.trim_end_matches('s') {
        "top" | "shirt" | "t-shirt" | "tshirt" | "jacket" | "coat" | "hoodie" | "sweater"
        | "jumper" | "blouse" | "vest" | "jersey" | "cardigan" | "hood" | "sleeve" => {
            Some(Part::Upper)
        }
        "trouser" | "pant" | "jean" | "short" | "skirt" | "legging" | "bottom" | "chino" => {
            Some(Part::Lower)
        }
        _ => None,
    }
}

/// A colour word (the palette and its synonyms).
pub fn colour_of(word: &str) -> Option<Colour> {
    if word == "dark" {
        return None;
    }
    word.parse().ok()
}

/// Words that carry no meaning for the search.
pub fn is_stopword(word: &str) -> bool {
    matches!(
        word,
        "a" | "an"
            | "the"
            | "at"
            | "in"
            | "on"
            | "near"
            | "by"
            | "with"
            | "of"
            | "and"
            | "or"
            | "to"
            | "from"
            | "wearing"
            | "dressed"
            | "who"
            | "was"
            | "were"
            | "is"
            | "are"
            | "that"
            | "which"
            | "any"
            | "some"
            | "all"
            | "show"
            | "me"
            | "find"
            | "search"
            | "for"
            | "there"
            | "camera"
            | "cam"
            | "zone"
            | "line"
            | "area"
            | "seen"
            | "did"
            | "do"
            | "has"
            | "have"
            | "had"
            | "been"
            | "be"
            | "into"
            | "onto"
            | "inside"
            | "outside"
            | "around"
            | "next"
            | "close"
            | "behind"
            | "front"
            | "colour"
            | "color"
            | "coloured"
            | "colored"
            | "this"
            | "last"
            | "past"
            | "i"
            | "we"
            | "it"
            | "its"
            | "their"
            | "his"
            | "her"
            | "someone"
            | "somebody"
            | "anyone"
            | "anybody"
            | "s"
    )
}

/// Turns text into unit-length sentence embeddings (the MiniLM model in the binary; anything in tests).
pub trait TextEncoder: Send {
    /// One embedding per text, unit length, the same length for every text.
    fn encode(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String>;
}

/// How close in meaning an unknown word must come to a known class or kind to stand for it (cosine of
/// "a WORD" and "a CLASS"), and how near the runner-up must be to be taken too ("van": car 0.58, truck
/// 0.56, so both). Chosen on a list of 28 everyday words before any footage was searched (see
/// docs/search.md): at 0.52, 20 of its 23 vehicle and person words map (not "coach", "moped", "jogger")
/// and none of its 4 place and garment words ("gate", "table", "door", "jacket") does.
pub const MEANING_THRESHOLD: f32 = 0.52;
/// See [`MEANING_THRESHOLD`].
pub const MEANING_MARGIN: f32 = 0.05;

/// What an unknown word was taken to mean.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Meaning {
    /// The word as typed.
    pub word: String,
    /// The classes or kinds it stands for, best first.
    pub means: Vec<String>,
    /// Cosine similarity of the best.
    pub similarity: f32,
}

/// Compares unknown words with the known classes and kinds by meaning.
pub struct WordMapper<'a> {
    encoder: &'a mut dyn TextEncoder,
    terms: Vec<(String, Vec<f32>)>,
}

impl<'a> WordMapper<'a> {
    /// A mapper over the mappable classes and the event kinds.
    pub fn new(encoder: &'a mut dyn TextEncoder) -> Result<Self, String> {
        let names: Vec<String> = MAPPABLE_CLASSES
            .iter()
            .map(|c| c.to_string())
            .chain(["loitering", "intrusion", "crowding", "queue"].map(String::from))
            .collect();
        let phrases: Vec<String> = names.iter().map(|n| format!("a {n}")).collect();
        let refs: Vec<&str> = phrases.iter().map(String::as_str).collect();
        let vectors = encoder.encode(&refs)?;
        Ok(Self {
            encoder,
            terms: names.into_iter().zip(vectors).collect(),
        })
    }

    /// What `word` means among the known terms, if it comes close enough to any.
    pub fn meaning(&mut self, word: &str) -> Result<Option<Meaning>, String> {
        let phrase = format!("a {word}");
        let v = self
            .encoder
            .encode(&[&phrase])?
            .into_iter()
            .next()
            .ok_or("the encoder returned nothing")?;
        let mut sims: Vec<(f32, &str)> = self
            .terms
            .iter()
            .map(|(name, t)| (dot(&v, t), name.as_str()))
            .collect();
        sims.sort_by(|a, b| b.0.total_cmp(&a.0));
        let Some(&(best, _)) = sims.first() else {
            return Ok(None);
        };
        if best < MEANING_THRESHOLD {
            return Ok(None);
        }
        Ok(Some(Meaning {
            word: word.to_string(),
            means: sims
                .iter()
                .take_while(|(s, _)| *s >= best - MEANING_MARGIN)
                .map(|(_, n)| n.to_string())
                .collect(),
            similarity: best,
        }))
    }

    /// Embeds free text (for ranking descriptions by meaning).
    pub fn encoder(&mut self) -> &mut dyn TextEncoder {
        self.encoder
    }
}

/// Dot product (cosine of unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_kinds_and_garments_are_known_by_heart() {
        assert_eq!(class_of("cars"), Some("car"));
        assert_eq!(class_of("buses"), Some("bus"));
        assert_eq!(class_of("people"), Some("person"));
        assert_eq!(class_of("van"), None, "left to the meaning fallback");
        assert_eq!(kind_of("loitered"), Some("loitering"));
        assert_eq!(garment("jeans"), Some(Part::Lower));
        assert_eq!(garment("jacket"), Some(Part::Upper));
        assert_eq!(colour_of("navy"), Some(Colour::Blue));
        assert_eq!(colour_of("dark"), None);
    }
}
