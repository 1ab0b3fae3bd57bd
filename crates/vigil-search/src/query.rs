//! A typed query ("red car at the gate last night") turned into structured filters: cameras, places (zones
//! and lines), rules, classes, colours by body part, event kinds, a plate, a person, a time range, and the
//! words left over, which rank descriptions by meaning.

use crate::error::QueryError;
use crate::when::{self, Range};
use crate::words::{self, Meaning, Part, WordMapper};
use serde::Serialize;
use vigil_core::Colour;
use vigil_rules::tz::TimeZone;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 500;

/// One word of the query and whether a filter took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tok {
    /// The word, lower case (a quoted phrase stays one word).
    pub text: String,
    /// Taken by a filter.
    pub used: bool,
    /// Written in quotes by the user: a name, never a time or a colour.
    pub quoted: bool,
}

/// Splits a query into lower-case words; "quoted phrases" stay whole; punctuation around words goes.
pub fn tokenize(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    for (i, chunk) in text.split('"').enumerate() {
        if i % 2 == 1 {
            let t = chunk.trim().to_lowercase();
            if !t.is_empty() {
                out.push(Tok {
                    text: t,
                    used: false,
                    quoted: true,
                });
            }
            continue;
        }
        for w in chunk.split_whitespace() {
            let w = w
                .trim_matches(|c: char| matches!(c, ',' | '.' | ';' | '!' | '?' | '(' | ')' | '\''))
                .to_lowercase();
            let w = w.strip_suffix("'s").map(str::to_string).unwrap_or(w);
            if !w.is_empty() {
                out.push(Tok {
                    text: w,
                    used: false,
                    quoted: false,
                });
            }
        }
    }
    out
}

/// The names a query can refer to: the site's cameras, zones and lines, rules and enrolled people.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// Camera names.
    pub cameras: Vec<String>,
    /// Zone and line names.
    pub places: Vec<String>,
    /// Rule names.
    pub rules: Vec<String>,
    /// Enrolled people's names (only for readers allowed to see biometric events).
    pub people: Vec<String>,
}

/// A colour asked for, and on which part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ColourWant {
    /// The colour.
    pub colour: Colour,
    /// Upper or lower body, or any part (also a vehicle's body).
    pub part: Part,
}

/// A parsed query.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Query {
    /// The text as typed.
    pub text: String,
    /// Any of these cameras.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cameras: Vec<String>,
    /// Any of these zones or lines (the event's own, or a zone the object visited).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub places: Vec<String>,
    /// Any of these rules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// Any of these classes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// Every one of these colours.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub colours: Vec<ColourWant>,
    /// Any of these event kinds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// A licence plate (or part of one), upper case letters and digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    /// An enrolled person's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// When.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<Range>,
    /// Words no filter took: they rank descriptions by meaning.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<String>,
    /// Unknown words taken by meaning ("van" as car or truck), for the user to see.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub meanings: Vec<Meaning>,
}

impl Query {
    /// True when the query filters on nothing and has no words to rank by.
    pub fn is_empty(&self) -> bool {
        self.cameras.is_empty()
            && self.places.is_empty()
            && self.rules.is_empty()
            && self.classes.is_empty()
            && self.colours.is_empty()
            && self.kinds.is_empty()
            && self.plate.is_none()
            && self.person.is_none()
            && self.time.is_none()
            && self.words.is_empty()
    }

    /// The query's words no filter took, as one phrase.
    pub fn free_text(&self) -> String {
        self.words.join(" ")
    }
}

/// Finds the longest run of words (up to 4) starting at `i` equal to one of `names`; returns the name and
/// how many words it took.
fn name_at<'a>(toks: &[Tok], i: usize, names: &'a [String]) -> Option<(&'a str, usize)> {
    for len in (1..=4).rev() {
        if i + len > toks.len() || toks[i..i + len].iter().any(|t| t.used) {
            continue;
        }
        let phrase: Vec<&str> = toks[i..i + len].iter().map(|t| t.text.as_str()).collect();
        let phrase = phrase.join(" ");
        if let Some(n) = names.iter().find(|n| n.to_lowercase() == phrase) {
            return Some((n.as_str(), len));
        }
    }
    None
}

/// A plate-like word: 4 to 10 letters and digits with at least two of each (not a clock or a date).
fn plate_of(word: &str) -> Option<String> {
    let canon: String = word
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase();
    let digits = canon.chars().filter(char::is_ascii_digit).count();
    let letters = canon.len() - digits;
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ' ');
    (plain && (4..=10).contains(&canon.len()) && digits >= 2 && letters >= 2).then_some(canon)
}

/// Parses `text` against the site's `vocab`, with times in `tz` relative to `now_ms`. Unknown words are
/// compared by meaning with the known classes and kinds when a `mapper` is given.
pub fn parse(
    text: &str,
    vocab: &Vocabulary,
    now_ms: i64,
    tz: &TimeZone,
    mut mapper: Option<&mut WordMapper<'_>>,
) -> Result<Query, QueryError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(QueryError::Empty);
    }
    if trimmed.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong(MAX_QUERY_CHARS));
    }
    let mut toks = tokenize(trimmed);
    let mut q = Query {
        text: trimmed.to_string(),
        ..Default::default()
    };
    // Names first (a zone called "Night shift" is a place, not a time), longest first.
    let mut i = 0;
    while i < toks.len() {
        let found = [
            (&vocab.cameras, 0),
            (&vocab.places, 1),
            (&vocab.rules, 2),
            (&vocab.people, 3),
        ]
        .into_iter()
        .filter_map(|(names, which)| name_at(&toks, i, names).map(|(n, len)| (n, len, which)))
        .max_by_key(|(_, len, _)| *len);
        match found {
            Some((name, len, which)) => {
                let list = match which {
                    0 => &mut q.cameras,
                    1 => &mut q.places,
                    2 => &mut q.rules,
                    _ => {
                        q.person = Some(name.to_string());
                        for t in &mut toks[i..i + len] {
                            t.used = true;
                        }
                        i += len;
                        continue;
                    }
                };
                if !list.iter().any(|n| n == name) {
                    list.push(name.to_string());
                }
                for t in &mut toks[i..i + len] {
                    t.used = true;
                }
                i += len;
            }
            None => i += 1,
        }
    }
    // Times next, on the unquoted words.
    let quoted: Vec<bool> = toks.iter().map(|t| t.quoted).collect();
    for (t, &q) in toks.iter_mut().zip(&quoted) {
        if q {
            t.used = true;
        }
    }
    q.time = when::parse(&mut toks, now_ms, tz)?;
    for (t, &was) in toks.iter_mut().zip(&quoted) {
        if was && t.used {
            // Quoted words no name took are left for the meaning of the words.
            t.used = q
                .cameras
                .iter()
                .chain(&q.places)
                .chain(&q.rules)
                .any(|n| n.to_lowercase() == t.text)
                || q.person
                    .as_ref()
                    .is_some_and(|p| p.to_lowercase() == t.text);
        }
    }
    // Colours (with the garment after them), classes, kinds, plates.
    for i in 0..toks.len() {
        if toks[i].used || toks[i].quoted {
            continue;
        }
        let w = toks[i].text.clone();
        if let Some(colour) = words::colour_of(&w) {
            let part = toks
                .get(i + 1)
                .filter(|t| !t.used)
                .and_then(|t| words::garment(&t.text));
            toks[i].used = true;
            if let Some(p) = part {
                toks[i + 1].used = true;
                q.colours.push(ColourWant { colour, part: p });
            } else {
                q.colours.push(ColourWant {
                    colour,
                    part: Part::Any,
                });
            }
        } else if let Some(class) = words::class_of(&w) {
            toks[i].used = true;
            if !q.classes.iter().any(|c| c == class) {
                q.classes.push(class.to_string());
            }
        } else if let Some(kind) = words::kind_of(&w) {
            toks[i].used = true;
            if !q.kinds.iter().any(|k| k == kind) {
                q.kinds.push(kind.to_string());
            }
        } else if words::garment(&w).is_some() || words::is_stopword(&w) {
            toks[i].used = true;
        } else if let Some(plate) = plate_of(&w) {
            toks[i].used = true;
            q.plate = Some(plate);
        }
    }
    // What is left: by meaning, or kept as words for the descriptions.
    for t in toks.iter_mut().filter(|t| !t.used) {
        let meaning = match mapper.as_deref_mut() {
            Some(m) if !t.quoted && t.text.chars().all(char::is_alphabetic) => {
                m.meaning(&t.text).map_err(QueryError::Encoder)?
            }
            _ => None,
        };
        match meaning {
            Some(m) => {
                for name in &m.means {
                    let list = if words::MAPPABLE_CLASSES.contains(&name.as_str()) {
                        &mut q.classes
                    } else {
                        &mut q.kinds
                    };
                    if !list.contains(name) {
                        list.push(name.clone());
                    }
                }
                q.meanings.push(m);
            }
            None => q.words.push(t.text.clone()),
        }
        t.used = true;
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::TextEncoder;

    fn vocab() -> Vocabulary {
        Vocabulary {
            cameras: vec!["front door".into(), "yard".into()],
            places: vec!["Gate".into(), "Table".into(), "Loading dock".into()],
            rules: vec!["Night intrusion".into()],
            people: vec!["Ann Smith".into()],
        }
    }

    fn q(text: &str) -> Query {
        parse(text, &vocab(), 1_796_652_000_000, &TimeZone::utc(), None).unwrap()
    }

    #[test]
    fn the_issues_examples_parse_into_filters() {
        let a = q("red car at the gate last night");
        assert_eq!(a.classes, ["car"]);
        assert_eq!(
            a.colours,
            [ColourWant {
                colour: Colour::Red,
                part: Part::Any
            }]
        );
        assert_eq!(a.places, ["Gate"]);
        assert!(a.time.is_some() && a.words.is_empty(), "{a:?}");
        let b = q("person in black near the table yesterday 15:00-17:00");
        assert_eq!(b.classes, ["person"]);
        assert_eq!(b.colours[0].colour, Colour::Black);
        assert_eq!(b.places, ["Table"]);
        let c =
            q("man in a blue jacket and grey jeans on front door near the loading dock running");
        assert_eq!(c.cameras, ["front door"]);
        assert_eq!(c.places, ["Loading dock"]);
        assert_eq!(
            c.colours,
            [
                ColourWant {
                    colour: Colour::Blue,
                    part: Part::Upper
                },
                ColourWant {
                    colour: Colour::Grey,
                    part: Part::Lower
                }
            ]
        );
        assert_eq!(c.words, ["man", "running"], "no meaning fallback here");
        let d = q("plate AB12 CDE loitering \"Night intrusion\" Ann Smith");
        assert_eq!(d.kinds, ["plate_read", "loitering"]);
        assert_eq!(d.rules, ["Night intrusion"]);
        assert_eq!(d.person.as_deref(), Some("Ann Smith"));
        assert_eq!(d.plate.as_deref(), Some("AB12"), "{d:?}");
    }

    #[test]
    fn empty_long_or_impossible_queries_are_refused_with_the_reason() {
        let p = |t: &str| parse(t, &vocab(), 0, &TimeZone::utc(), None);
        assert!(matches!(p("   "), Err(QueryError::Empty)));
        assert!(matches!(p(&"x".repeat(501)), Err(QueryError::TooLong(_))));
        assert!(matches!(
            p("yesterday 2026-02-31"),
            Err(QueryError::BadTime(_))
        ));
    }

    /// Meanings from a table: "van" near car and truck, "bike" near bicycle, "gate" near nothing.
    struct Table;
    impl TextEncoder for Table {
        fn encode(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
            Ok(texts
                .iter()
                .map(|t| {
                    let axis = |k: usize| {
                        let mut v = vec![0.0; 5];
                        v[k] = 1.0;
                        v
                    };
                    match *t {
                        "a car" => axis(0),
                        "a truck" => axis(1),
                        "a bicycle" | "a bike" => axis(2),
                        "a van" => vec![0.7, 0.7, 0.0, 0.0, 0.0],
                        "a gatehouse" => axis(4),
                        _ => axis(3),
                    }
                })
                .collect())
        }
    }

    #[test]
    fn unknown_words_are_taken_by_meaning_when_close_enough() {
        let mut enc = Table;
        let mut mapper = WordMapper::new(&mut enc).unwrap();
        let q = parse(
            "white van or bike by the gatehouse",
            &vocab(),
            0,
            &TimeZone::utc(),
            Some(&mut mapper),
        )
        .unwrap();
        assert_eq!(q.classes, ["car", "truck", "bicycle"], "{q:?}");
        assert_eq!(q.words, ["gatehouse"]);
        assert_eq!(q.meanings.len(), 2);
    }
}
