//! What a tracked object looked like and how it moved, for search and summaries: the dominant colours of a
//! person's upper and lower body or of a vehicle's body, named in a small palette, its size, speed,
//! direction and the zones it visited. Computed by the analysis (vigil-vision `colour.rs`, vigil-pipeline
//! `attributes.rs`), kept with the track (`track_paths.attributes`) and carried by its events
//! (`Event::attributes`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The colour names attributes use: few enough that people agree on them and a crop of a few hundred pixels
/// can tell them apart (the eleven basic colour terms of Berlin and Kay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    /// Black.
    Black,
    /// White.
    White,
    /// Grey (also silver).
    Grey,
    /// Red.
    Red,
    /// Orange.
    Orange,
    /// Yellow.
    Yellow,
    /// Green.
    Green,
    /// Blue (also navy).
    Blue,
    /// Purple.
    Purple,
    /// Pink.
    Pink,
    /// Brown (also beige, tan).
    Brown,
}

impl Colour {
    /// Every colour, in the palette's order.
    pub const ALL: [Colour; 11] = [
        Colour::Black,
        Colour::White,
        Colour::Grey,
        Colour::Red,
        Colour::Orange,
        Colour::Yellow,
        Colour::Green,
        Colour::Blue,
        Colour::Purple,
        Colour::Pink,
        Colour::Brown,
    ];

    /// The colour's name as written in events and queries.
    pub fn name(self) -> &'static str {
        match self {
            Colour::Black => "black",
            Colour::White => "white",
            Colour::Grey => "grey",
            Colour::Red => "red",
            Colour::Orange => "orange",
            Colour::Yellow => "yellow",
            Colour::Green => "green",
            Colour::Blue => "blue",
            Colour::Purple => "purple",
            Colour::Pink => "pink",
            Colour::Brown => "brown",
        }
    }

    /// Index in [`Colour::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Colour {
    type Err = String;

    /// Reads a palette name or a common synonym (`gray`, `silver`, `navy`, `beige`, `violet`...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let c = match s.trim().to_ascii_lowercase().as_str() {
            "black" | "dark" => Colour::Black,
            "white" => Colour::White,
            "grey" | "gray" | "silver" => Colour::Grey,
            "red" | "maroon" | "crimson" => Colour::Red,
            "orange" => Colour::Orange,
            "yellow" | "gold" => Colour::Yellow,
            "green" | "olive" | "khaki" => Colour::Green,
            "blue" | "navy" | "teal" | "turquoise" | "denim" => Colour::Blue,
            "purple" | "violet" | "lilac" => Colour::Purple,
            "pink" | "magenta" => Colour::Pink,
            "brown" | "beige" | "tan" => Colour::Brown,
            other => return Err(format!("`{other}` is not a colour Vigil names")),
        };
        Ok(c)
    }
}

/// Where an object went across the picture, in words (the picture's own directions: up is the top of the
/// frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Heading {
    /// Towards the left edge.
    Left,
    /// Towards the right edge.
    Right,
    /// Towards the top (usually away from the camera).
    Up,
    /// Towards the bottom (usually towards the camera).
    Down,
    /// Barely moved.
    Still,
}

impl Heading {
    /// The heading of a displacement in normalised picture units: `Still` when it is under `min_move`.
    pub fn of(dx: f32, dy: f32, min_move: f32) -> Heading {
        if dx.hypot(dy) < min_move {
            Heading::Still
        } else if dx.abs() >= dy.abs() {
            if dx < 0.0 {
                Heading::Left
            } else {
                Heading::Right
            }
        } else if dy < 0.0 {
            Heading::Up
        } else {
            Heading::Down
        }
    }
}

/// What a tracked object looked like and how it moved. Every field is optional: a field is absent when the
/// analysis could not tell (too few pixels, too short a track) or when it does not apply to the class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attributes {
    /// People: the dominant colour of the upper body (top, jacket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_colour: Option<Colour>,
    /// People: the dominant colour of the lower body (trousers, skirt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_colour: Option<Colour>,
    /// Vehicles: the dominant colour of the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colour: Option<Colour>,
    /// Median box height as a fraction of the frame's height (0..1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<f32>,
    /// Median speed of the box's anchor, in frame heights per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f32>,
    /// Overall direction of travel across the picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Heading>,
    /// Zones the object was seen in, in the order first entered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
}

impl Attributes {
    /// True when nothing is known.
    pub fn is_empty(&self) -> bool {
        *self == Attributes::default()
    }

    /// The colours named, whatever the part (for search).
    pub fn colours(&self) -> impl Iterator<Item = Colour> + '_ {
        [self.upper_colour, self.lower_colour, self.colour]
            .into_iter()
            .flatten()
    }

    /// A short phrase for descriptions and summaries: "in red top and blue trousers", "white".
    pub fn phrase(&self) -> Option<String> {
        match (self.upper_colour, self.lower_colour, self.colour) {
            (_, _, Some(c)) => Some(c.name().to_string()),
            (Some(u), Some(l), None) if u == l => Some(format!("dressed in {u}")),
            (Some(u), Some(l), None) => Some(format!("in {u} top and {l} trousers")),
            (Some(u), None, None) => Some(format!("in {u} top")),
            (None, Some(l), None) => Some(format!("in {l} trousers")),
            (None, None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_read_their_synonyms_and_write_their_names() {
        assert_eq!("Gray".parse::<Colour>().unwrap(), Colour::Grey);
        assert_eq!("navy".parse::<Colour>().unwrap(), Colour::Blue);
        assert_eq!("beige".parse::<Colour>().unwrap(), Colour::Brown);
        assert!("plaid".parse::<Colour>().is_err());
        for c in Colour::ALL {
            assert_eq!(c.name().parse::<Colour>().unwrap(), c);
            assert_eq!(Colour::ALL[c.index()], c);
        }
    }

    #[test]
    fn attributes_serialise_only_what_is_known() {
        let a = Attributes {
            upper_colour: Some(Colour::Red),
            lower_colour: Some(Colour::Blue),
            ..Default::default()
        };
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"upper_colour":"red","lower_colour":"blue"}"#);
        assert_eq!(serde_json::from_str::<Attributes>(&json).unwrap(), a);
        assert_eq!(
            serde_json::from_str::<Attributes>("{}").unwrap(),
            Attributes::default()
        );
        assert_eq!(a.phrase().as_deref(), Some("in red top and blue trousers"));
    }

    #[test]
    fn headings_follow_the_larger_displacement() {
        assert_eq!(Heading::of(0.3, 0.1, 0.05), Heading::Right);
        assert_eq!(Heading::of(-0.3, 0.1, 0.05), Heading::Left);
        assert_eq!(Heading::of(0.1, -0.3, 0.05), Heading::Up);
        assert_eq!(Heading::of(0.01, 0.01, 0.05), Heading::Still);
    }
}
