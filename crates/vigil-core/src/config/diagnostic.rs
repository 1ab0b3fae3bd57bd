//! Configuration errors that point at the source: line, column, field path and the offending line.
//!
//! Syntax and type errors come from `toml` with a byte span; the field path is recovered by finding the
//! key or value that span falls in (using `toml::de::DeTable`, which keeps spans). Semantic errors come with
//! a field path; the span is found by walking the same table.

use super::redact::{mask_line, mask_message, secrets_in};
use super::validate::{FieldPath, Problem, Seg};
use std::fmt;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDiagnostic {
    /// 1-based line of the problem (0 when unknown).
    pub line: usize,
    /// 1-based column (in characters) of the problem (0 when unknown).
    pub column: usize,
    /// The field path, e.g. `camera[1].main`; empty when the problem is not in a field (e.g. a syntax error
    /// between tables).
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// The source line the problem is on.
    pub source_line: String,
    /// Width of the problem on `source_line`, in characters (at least 1).
    pub width: usize,
}

/// Every problem found in a configuration file, printable as a compiler-style report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The file (or other origin) the text came from.
    pub origin: String,
    /// The problems, in source order.
    pub diagnostics: Vec<ConfigDiagnostic>,
}

impl std::error::Error for ConfigErrors {}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let field = if d.field.is_empty() {
                String::new()
            } else {
                format!(" `{}`:", d.field)
            };
            if d.line == 0 {
                write!(f, "{}:{field} {}", self.origin, d.message)?;
                continue;
            }
            writeln!(
                f,
                "{}:{}:{}:{field} {}",
                self.origin, d.line, d.column, d.message
            )?;
            let number = d.line.to_string();
            writeln!(f, "{number} | {}", d.source_line)?;
            write!(
                f,
                "{} | {}{}",
                " ".repeat(number.len()),
                " ".repeat(d.column.saturating_sub(1)),
                "^".repeat(d.width.max(1))
            )?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    /// From a `toml` parse or deserialization error; `document` (when the syntax was valid) lets the field
    /// path be named.
    pub(crate) fn from_toml(
        origin: &str,
        text: &str,
        document: Option<&Spanned<DeTable<'_>>>,
        err: &toml::de::Error,
    ) -> Self {
        let message = err.message().trim().to_string();
        let span = err.span();
        let field = match (&span, document) {
            (Some(span), Some(doc)) => {
                let (path, at_table) = path_at(doc, span.start);
                let mut field = render_path(&path);
                // "missing field `x`" points at the enclosing table: name the missing field.
                if let (true, Some(missing)) = (at_table, backticked(&message, "missing field")) {
                    if !field.is_empty() {
                        field.push('.');
                    }
                    field.push_str(missing);
                }
                field
            }
            (Some(span), None) => syntax_field(text, span.start),
            (None, _) => String::new(),
        };
        let secrets = secrets_in(text);
        Self {
            origin: origin.to_string(),
            diagnostics: vec![diagnostic(text, span, field, message, &secrets)],
        }
    }

    /// From semantic problems found after deserialization.
    pub(crate) fn from_problems(
        origin: &str,
        text: &str,
        document: &Spanned<DeTable<'_>>,
        problems: Vec<Problem>,
    ) -> Self {
        let secrets = secrets_in(text);
        let mut diagnostics: Vec<ConfigDiagnostic> = problems
            .into_iter()
            .map(|problem| {
                let span = span_of(document, &problem.path);
                let mut message = problem.message;
                if let Some(first) = &problem.first
                    && let Some(first_span) = span_of(document, first)
                {
                    let (line, _) = line_col(text, first_span.start);
                    message.push_str(&format!(
                        " (first as `{}` on line {line})",
                        render_path(first)
                    ));
                }
                diagnostic(text, span, render_path(&problem.path), message, &secrets)
            })
            .collect();
        diagnostics.sort_by_key(|d| (d.line, d.column));
        Self {
            origin: origin.to_string(),
            diagnostics,
        }
    }

    /// A single error not tied to a place in the text (e.g. the file could not be read).
    pub fn other(origin: &str, message: impl Into<String>) -> Self {
        Self {
            origin: origin.to_string(),
            diagnostics: vec![ConfigDiagnostic {
                line: 0,
                column: 0,
                field: String::new(),
                message: message.into(),
                source_line: String::new(),
                width: 0,
            }],
        }
    }
}

/// A located problem; the quoted line and the message with every secret of the file masked.
fn diagnostic(
    text: &str,
    span: Option<Range<usize>>,
    field: String,
    message: String,
    secrets: &[String],
) -> ConfigDiagnostic {
    let message = mask_message(&message, secrets);
    let Some(span) = span else {
        return ConfigDiagnostic {
            line: 0,
            column: 0,
            field,
            message,
            source_line: String::new(),
            width: 0,
        };
    };
    let start = span.start.min(text.len());
    // Back off to a char boundary so slicing cannot panic on a span inside a multi-byte character.
    let start = (0..=start)
        .rev()
        .find(|&o| text.is_char_boundary(o))
        .unwrap_or(0);
    let (line, _) = line_col(text, start);
    let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |p| start + p);
    let raw = text[line_start..line_end].trim_end_matches('\r');
    let end = span.end.clamp(start, line_start + raw.len());
    let end = (end..=text.len())
        .find(|&o| text.is_char_boundary(o))
        .unwrap_or(text.len());
    let (source_line, column, width) = mask_line(raw, start - line_start, end - line_start);
    ConfigDiagnostic {
        line,
        column: column + 1,
        field,
        message,
        source_line,
        width,
    }
}

/// 1-based line and character column of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    // Back off to a char boundary so slicing cannot panic on a span inside a multi-byte character.
    let offset = (0..=offset)
        .rev()
        .find(|&o| text.is_char_boundary(o))
        .unwrap_or(0);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The text between backticks after `prefix` in `message`, e.g. `x` in "missing field `x`".
fn backticked<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    let start = rest.find('`')? + 1;
    let len = rest[start..].find('`')?;
    Some(&rest[start..start + len])
}

fn render_path(path: &FieldPath) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The span of the value at `path`, or of the nearest enclosing table present in the document (a
/// defaulted field has no span of its own).
fn span_of(document: &Spanned<DeTable<'_>>, path: &FieldPath) -> Option<Range<usize>> {
    let mut span = header_span(document.span());
    let mut current: Option<&DeValue<'_>> = None;
    let mut table: Option<&DeTable<'_>> = Some(document.get_ref());
    for seg in path {
        let next: Option<&Spanned<DeValue<'_>>> = match (seg, table, current) {
            (Seg::Key(key), Some(t), _) => t.get(key.as_str()),
            (Seg::Index(i), _, Some(DeValue::Array(array))) => array.get(*i),
            _ => None,
        };
        let Some(next) = next else {
            break;
        };
        span = next.span();
        current = Some(next.get_ref());
        table = next.get_ref().as_table();
    }
    Some(span)
}

/// Points a whole-document span at its start only.
fn header_span(span: Range<usize>) -> Range<usize> {
    span.start..span.start
}

/// The deepest field path whose key or value contains byte `offset`, and whether the offset is on a table
/// as a whole (its `[header]`) rather than on one of its entries. Table spans cover only their header, so
/// every entry is searched rather than only the ones whose container span holds the offset.
fn path_at(document: &Spanned<DeTable<'_>>, offset: usize) -> (FieldPath, bool) {
    let mut path = FieldPath::new();
    match find_in_table(document.get_ref(), offset, &mut path) {
        Some(at_table) => (path, at_table),
        None => (FieldPath::new(), true),
    }
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || (span.is_empty() && span.start == offset)
}

/// Searches `table` for `offset`; on success `path` holds the field and the result says whether it is a
/// table header.
fn find_in_table(table: &DeTable<'_>, offset: usize, path: &mut FieldPath) -> Option<bool> {
    for (key, value) in table.iter() {
        path.push(Seg::Key(key.get_ref().to_string()));
        if contains(&key.span(), offset) {
            return Some(false);
        }
        if let Some(at_table) = find_in_value(value, offset, path) {
            return Some(at_table);
        }
        path.pop();
    }
    None
}

fn find_in_value(
    value: &Spanned<DeValue<'_>>,
    offset: usize,
    path: &mut FieldPath,
) -> Option<bool> {
    match value.get_ref() {
        DeValue::Table(inner) => {
            if let Some(at_table) = find_in_table(inner, offset, path) {
                return Some(at_table);
            }
            if contains(&value.span(), offset) {
                return Some(true);
            }
        }
        DeValue::Array(array) => {
            for (i, item) in array.iter().enumerate() {
                path.push(Seg::Index(i));
                if let Some(at_table) = find_in_value(item, offset, path) {
                    return Some(at_table);
                }
                path.pop();
            }
            if contains(&value.span(), offset) {
                return Some(false);
            }
        }
        _ => {
            if contains(&value.span(), offset) {
                return Some(false);
            }
        }
    }
    None
}

/// For a syntax error (no parsed document): the key on the error's line, prefixed with the last table
/// header above it, e.g. `camera.main`; empty when the line has no `key =`.
fn syntax_field(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let (line_no, _) = line_col(text, offset);
    let lines: Vec<&str> = text.lines().collect();
    let Some(line) = lines.get(line_no.saturating_sub(1)) else {
        return String::new();
    };
    let key = line.split_once('=').map(|(k, _)| k.trim()).filter(|k| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    });
    let header = lines[..line_no.saturating_sub(1)]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    match (header, key) {
        (Some(h), Some(k)) => format!("{h}.{k}"),
        (None, Some(k)) => k.to_string(),
        (Some(h), None) if line.trim().starts_with('[') => h,
        _ => String::new(),
    }
}
