//! Text templates for deterrence outputs and links: `{camera}`, `{rule}`, `{event_id}`... replaced by the
//! event's values. Braces that do not enclose a placeholder name (JSON bodies like `{"on": true}`) are kept
//! as they are; an unknown name (`{camra}`) is a configuration error.

use crate::payload::utc_text;
use vigil_core::Event;

/// The placeholders a template may use, with what each one becomes.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("camera", "camera name"),
    ("rule", "rule name"),
    (
        "kind",
        "event kind (intrusion, line_crossing, loitering, crowding, queue)",
    ),
    ("phase", "start, update or end"),
    ("class", "main object class (person, car...)"),
    ("zone", "zone name, empty for line rules"),
    ("line", "line name, empty for zone rules"),
    ("count", "distinct objects in the event"),
    ("event_id", "the event id (26 characters)"),
    ("description", "plain-language description"),
    ("unix_ms", "event start, unix milliseconds"),
    ("time", "event start, UTC, ISO 8601"),
];

/// How substituted values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    /// As JSON string content (quotes and backslashes escaped; safe inside `"..."` in a JSON body).
    Json,
    /// Percent-encoded (for URLs).
    Url,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Var(&'static str),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses a template; the error names an unknown placeholder.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            lit.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..name_len];
            let closed = after[name_len..].starts_with('}');
            if closed && !name.is_empty() && name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                match PLACEHOLDERS.iter().find(|(n, _)| *n == name) {
                    Some((known, _)) => {
                        if !lit.is_empty() {
                            parts.push(Part::Text(std::mem::take(&mut lit)));
                        }
                        parts.push(Part::Var(known));
                        rest = &after[name_len + 1..];
                        continue;
                    }
                    None => {
                        let known: Vec<&str> = PLACEHOLDERS.iter().map(|(n, _)| *n).collect();
                        return Err(format!(
                            "unknown placeholder {{{name}}}; known: {}",
                            known.join(", ")
                        ));
                    }
                }
            }
            lit.push('{');
            rest = after;
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        Ok(Self { parts })
    }

    /// The text with the event's values put in, escaped as asked.
    pub(crate) fn render(&self, event: &Event, escape: Escape) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(name) => {
                    let value = value_of(name, event);
                    match escape {
                        Escape::Json => push_json_escaped(&mut out, &value),
                        Escape::Url => push_url_escaped(&mut out, &value),
                    }
                }
            }
        }
        out
    }
}

fn value_of(name: &str, e: &Event) -> String {
    match name {
        "camera" => e.camera.clone(),
        "rule" => e.rule.clone(),
        "kind" => e.kind.name().to_string(),
        "phase" => crate::payload::phase_name(e.phase).to_string(),
        "class" => e.class_name.clone(),
        "zone" => e.zone.clone().unwrap_or_default(),
        "line" => e.line.clone().unwrap_or_default(),
        "count" => e.object_count().to_string(),
        "event_id" => e.id.to_string(),
        "description" => e.description.clone(),
        "unix_ms" => e.start.unix_ms.to_string(),
        "time" => utc_text(e.start.unix_ms),
        _ => String::new(),
    }
}

fn push_json_escaped(out: &mut String, value: &str) {
    // serde_json writes a quoted string; keep what is between the quotes.
    let quoted = serde_json::Value::String(value.to_string()).to_string();
    out.push_str(&quoted[1..quoted.len() - 1]);
}

fn push_url_escaped(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::event;
    use vigil_core::EventPhase;

    #[test]
    fn placeholders_are_replaced_and_json_braces_kept() {
        let t =
            Template::parse(r#"{"on": true, "cam": "{camera}", "why": "{description}"}"#).unwrap();
        let mut e = event("Front door", "Dock \"after\" hours", EventPhase::Start, 1);
        e.description = "A person said \"hi\"\n".into();
        assert_eq!(
            t.render(&e, Escape::Json),
            r#"{"on": true, "cam": "Front door", "why": "A person said \"hi\"\n"}"#
        );
        let u = Template::parse("http://x/notify?c={camera}&r={rule}&n={count}").unwrap();
        assert_eq!(
            u.render(&e, Escape::Url),
            "http://x/notify?c=Front%20door&r=Dock%20%22after%22%20hours&n=1"
        );
    }

    #[test]
    fn unknown_placeholders_are_refused_and_odd_braces_are_text() {
        let err = Template::parse("turn on {camra}").unwrap_err();
        assert!(err.contains("{camra}") && err.contains("camera"), "{err}");
        let t = Template::parse("{ {} {1} {camera").unwrap();
        let e = event("c", "r", EventPhase::Start, 1);
        assert_eq!(t.render(&e, Escape::Json), "{ {} {1} {camera");
    }
}
