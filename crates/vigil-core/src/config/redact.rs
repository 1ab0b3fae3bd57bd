//! Keeping secrets out of configuration error reports: a quoted source line has the user-info of URLs
//! (`rtsp://admin:pass@host` -> `rtsp://***@host`) and the values of secret-named keys
//! (`password = "..."` -> `password = ***`, also inside inline tables) replaced, and a message has
//! every such value of the file replaced, so no report repeats a password, whatever line it is on.

use std::ops::Range;

/// Parts of key names that mark a secret value (compared in lower case).
const SECRET_KEYS: [&str; 9] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "credential",
    "private_key",
    "authorization",
];

/// What a secret is replaced with.
pub(crate) const MASK: &str = "***";

fn secret_key(key: &str) -> bool {
    let k = key.trim().trim_matches(['"', '\'']).to_ascii_lowercase();
    let last = k.rsplit('.').next().unwrap_or(&k);
    SECRET_KEYS.iter().any(|s| last.contains(s))
}

/// The end (exclusive) of a TOML value starting at byte `at` of `line`: a quoted string to its
/// closing quote (or the end of the line when it is not closed there), a bare value to the next `,`,
/// `}`, `]`, `#` or space.
fn value_end(line: &str, at: usize) -> usize {
    let rest = &line[at..];
    let mut chars = rest.char_indices();
    match chars.next() {
        Some((_, q @ ('"' | '\''))) => {
            let mut escaped = false;
            for (i, c) in chars {
                if q == '"' && !escaped && c == '\\' {
                    escaped = true;
                    continue;
                }
                if c == q && !escaped {
                    return at + i + 1;
                }
                escaped = false;
            }
            line.len()
        }
        _ => rest
            .find([',', '}', ']', '#', ' ', '\t'])
            .map_or(line.len(), |i| at + i),
    }
}

/// Byte ranges of `line` that hold secrets, in order, not overlapping.
pub(crate) fn secret_spans(line: &str) -> Vec<Range<usize>> {
    let mut spans: Vec<Range<usize>> = Vec::new();
    // Values of secret-named keys: every `=` outside strings, the key before it.
    let bytes = line.as_bytes();
    let mut quote: Option<u8> = None;
    let mut key_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' && q == b'"' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b'{' | b',' | b'[' => key_start = i + 1,
                b'#' => break,
                b'=' => {
                    if secret_key(&line[key_start..i]) {
                        let start =
                            i + 1 + (line[i + 1..].len() - line[i + 1..].trim_start().len());
                        if start < line.len() {
                            let end = value_end(line, start);
                            // `env:NAME` and `file:PATH` name where the secret is, not the secret.
                            let value = line[start..end].trim_matches(['"', '\'']);
                            if !value.starts_with("env:") && !value.starts_with("file:") {
                                spans.push(start..end);
                            }
                            i = end;
                            key_start = end;
                            continue;
                        }
                    }
                    key_start = i + 1;
                }
                _ => {}
            },
        }
        i += 1;
    }
    // User-info of URLs: `scheme://user[:password]@`.
    let mut from = 0;
    while let Some(p) = line[from..].find("://") {
        let start = from + p + 3;
        let authority_end = line[start..]
            .find(['/', '"', '\'', ' ', '\t', '?', '#', ','])
            .map_or(line.len(), |e| start + e);
        if let Some(at) = line[start..authority_end].rfind('@') {
            let span = start..start + at;
            if !span.is_empty()
                && !spans
                    .iter()
                    .any(|s| s.start <= span.start && span.end <= s.end)
            {
                spans.push(span);
            }
        }
        from = authority_end.max(start);
    }
    spans.sort_by_key(|s| s.start);
    spans
}

/// `line` with its secrets masked, and where byte offsets `start..end` of the original are in it (as
/// 0-based character column and width, at least 1).
pub(crate) fn mask_line(line: &str, start: usize, end: usize) -> (String, usize, usize) {
    let spans = secret_spans(line);
    // The character column in the masked line of original byte offset `pos`; a position inside a
    // masked value maps to the mask's start, or its end when `after`.
    let column = |pos: usize, after: bool| -> usize {
        let pos = pos.min(line.len());
        let mut col = 0;
        let mut last = 0;
        for s in &spans {
            if pos <= s.start {
                break;
            }
            col += line[last..s.start].chars().count();
            if pos < s.end {
                return col + if after { MASK.len() } else { 0 };
            }
            col += MASK.len();
            last = s.end;
        }
        col + line[last..pos].chars().count()
    };
    let mut out = String::with_capacity(line.len());
    let mut last = 0;
    for s in &spans {
        out.push_str(&line[last..s.start]);
        out.push_str(MASK);
        last = s.end;
    }
    out.push_str(&line[last..]);
    let s = column(start, false);
    let mut e = column(end, true);
    // A problem that starts on a masked value covers the whole mask.
    if spans.iter().any(|sp| sp.start <= start && start < sp.end) {
        e = e.max(s + MASK.len());
    }
    (out, s, e.saturating_sub(s).max(1))
}

/// The secret values of a whole file (each line's masked parts, without quotes; at least 4
/// characters, so that masking a message cannot shred ordinary words).
pub(crate) fn secrets_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        for s in secret_spans(line) {
            let v = line[s].trim_matches(['"', '\'']).to_string();
            let password = v.split_once(':').map(|(_, p)| p.to_string());
            for v in std::iter::once(v).chain(password) {
                if v.chars().count() >= 4 && !out.contains(&v) {
                    out.push(v);
                }
            }
        }
    }
    // Longest first, so that a secret containing another is replaced whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// `message` with URL user-info and every secret of the file masked.
pub(crate) fn mask_message(message: &str, secrets: &[String]) -> String {
    let (mut out, _, _) = mask_line(message, 0, 0);
    for s in secrets {
        out = out.replace(s.as_str(), MASK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(line: &str) -> String {
        mask_line(line, 0, 0).0
    }

    #[test]
    fn secrets_in_lines_are_masked() {
        assert_eq!(masked(r#"password = "secret123""#), "password = ***");
        // References to where a secret is are shown.
        assert_eq!(
            masked(r#"password = "env:CAM_PW""#),
            r#"password = "env:CAM_PW""#
        );
        assert_eq!(
            masked(r#"secret = "file:/etc/x""#),
            r#"secret = "file:/etc/x""#
        );
        assert_eq!(masked("password = 987654321"), "password = ***");
        assert_eq!(masked(r#"password = "unterminated"#), "password = ***");
        assert_eq!(
            masked(r#"main = "rtsp://admin:secret123@10.0.0.5:554/main""#),
            r#"main = "rtsp://***@10.0.0.5:554/main""#
        );
        assert_eq!(
            masked(r#"c = { username = "u", password = "p=w,d" }, x = 1"#),
            r#"c = { username = "u", password = *** }, x = 1"#
        );
        assert_eq!(
            masked(r#"Authorization = "Bearer abc""#),
            "Authorization = ***"
        );
        assert_eq!(
            masked(r#"mqtt.password = 'x'  # comment"#),
            "mqtt.password = ***  # comment"
        );
        assert_eq!(
            masked(r#"main = "rtsp://10.0.0.5/main?a=b""#),
            r#"main = "rtsp://10.0.0.5/main?a=b""#
        );
        assert_eq!(masked(r#"name = "password""#), r#"name = "password""#);
        assert_eq!(
            masked(r#"tls_key = "/etc/vigil/key.pem""#),
            r#"tls_key = "/etc/vigil/key.pem""#
        );
    }

    #[test]
    fn the_caret_follows_the_mask() {
        let line = r#"main = "rtsp://admin:secret123@10.0.0.5/main""#;
        // The problem is the value (byte 7 to the end).
        let (out, col, width) = mask_line(line, 7, line.len());
        assert_eq!(&out[col..col + width], r#""rtsp://***@10.0.0.5/main""#);
        let line = r#"password = "hunter2!x", roles = ["x"]"#;
        let at = line.find("roles").unwrap();
        let (out, col, width) = mask_line(line, at, at + 5);
        assert_eq!(&out[col..col + width], "roles");
        let (out, col, width) = mask_line(line, 11, 12);
        assert_eq!(&out[col..col + width], "***");
    }

    #[test]
    fn messages_lose_every_secret_of_the_file() {
        let text = "[[camera]]\nmain = \"rtsp://admin:secret123@h/m\"\npassword = \"hunter22\"\n";
        let secrets = secrets_in(text);
        let m = mask_message(
            "invalid value: string \"hunter22\" near rtsp://admin:secret123@h/m and secret123",
            &secrets,
        );
        assert!(!m.contains("hunter22") && !m.contains("secret123"), "{m}");
        assert!(m.contains("rtsp://***@h/m"), "{m}");
    }
}
