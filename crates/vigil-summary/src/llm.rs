//! The optional rewrite of a summary by a language model behind an OpenAI-compatible
//! `/v1/chat/completions` endpoint (`[summary.llm]`, off by default). The model gets the factual
//! sentences with numbered citation markers and is asked to rewrite them as prose keeping every marker
//! and figure; the rewrite is kept only when every marker and every number or time of the facts is in it
//! and it adds no figure of its own ([`check`]). Otherwise the factual text stands and the summary says
//! why. No model runs inside Vigil: this is plumbing to a server the operator runs.

use crate::Summary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;
use vigil_core::config::Secret;

/// Longest answer read from the endpoint.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// `[summary]` in `vigil.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryConfig {
    /// `[summary.llm]`: the optional rewrite.
    #[serde(default)]
    pub llm: LlmConfig,
}

/// `[summary.llm]`: an OpenAI-compatible chat-completions endpoint that may rewrite summaries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// Off unless set (`vigil summary --llm` and the API's `llm=true` are refused while off).
    #[serde(default)]
    pub enabled: bool,
    /// The endpoint, e.g. `http://127.0.0.1:8000/v1/chat/completions`.
    #[serde(default)]
    pub url: String,
    /// The model name sent with the request.
    #[serde(default)]
    pub model: String,
    /// Bearer token (`env:NAME` / `file:PATH` supported); none: no `Authorization` header.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Whole-call timeout in seconds (default 60).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    60
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            url: String::new(),
            model: String::new(),
            api_key: None,
            timeout_seconds: default_timeout(),
        }
    }
}

impl LlmConfig {
    /// Problems with the section as `(field under [summary], why)` (only checked when enabled).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !self.enabled {
            return out;
        }
        let mut bad = |field: &str, why: &str| out.push((field.to_string(), why.to_string()));
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            bad("llm.url", "an http:// or https:// chat-completions URL");
        }
        if self.model.is_empty() {
            bad("llm.model", "the model name to send");
        }
        if self.timeout_seconds == 0 {
            bad("llm.timeout_seconds", "at least 1");
        }
        out
    }
}

/// What became of a rewrite.
#[derive(Debug, Clone, Serialize)]
pub struct Rewrite {
    /// The model asked.
    pub model: String,
    /// The rewrite kept every citation and figure and is shown.
    pub accepted: bool,
    /// The rewrite (only when accepted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Why it was kept or refused (a call failure, a dropped marker, an invented figure).
    pub reason: String,
}

/// The facts as the model gets them: one sentence a line with its citation markers.
pub fn facts_text(s: &Summary) -> String {
    s.sentences
        .iter()
        .map(|x| {
            let markers: String = x.citations.iter().map(|c| format!("[{}]", c.n)).collect();
            format!(
                "- {}{}{}",
                x.text,
                if markers.is_empty() { "" } else { " " },
                markers
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The citation markers (`[n]`) in a text, and the text without them.
fn markers(text: &str) -> (BTreeSet<u64>, String) {
    let mut found = BTreeSet::new();
    let mut rest = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '['
            && let Some(close) = text[i + 1..].find(']')
        {
            let inner = &text[i + 1..i + 1 + close];
            if !inner.is_empty()
                && inner.len() <= 6
                && inner.bytes().all(|b| b.is_ascii_digit())
                && let Ok(n) = inner.parse()
            {
                found.insert(n);
                rest.push(' ');
                while chars.peek().is_some_and(|(j, _)| *j <= i + 1 + close) {
                    chars.next();
                }
                continue;
            }
        }
        rest.push(c);
    }
    (found, rest)
}

/// The figures of a text: runs of digits joined by `:` or `.` (times "14:02:31", similarities "0.84",
/// counts "6"), without a trailing separator.
fn figures(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut cur = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() || (!cur.is_empty() && (c == ':' || c == '.')) {
            cur.push(c);
        } else if !cur.is_empty() {
            let t = cur.trim_end_matches([':', '.']).to_string();
            out.insert(t);
            cur.clear();
        }
    }
    out
}

/// Whether `rewrite` keeps the facts of `facts`: every citation marker and figure of the facts is in it,
/// and it has no marker or figure the facts lack. `Err` says what is wrong.
pub fn check(facts: &str, rewrite: &str) -> Result<(), String> {
    let (want_m, facts_rest) = markers(facts);
    let (got_m, rewrite_rest) = markers(rewrite);
    let dropped: Vec<String> = want_m
        .difference(&got_m)
        .map(|n| format!("[{n}]"))
        .collect();
    if !dropped.is_empty() {
        return Err(format!("it dropped citation {}", dropped.join(", ")));
    }
    let added: Vec<String> = got_m
        .difference(&want_m)
        .map(|n| format!("[{n}]"))
        .collect();
    if !added.is_empty() {
        return Err(format!(
            "it cited {} that the facts do not",
            added.join(", ")
        ));
    }
    let (want_f, got_f) = (figures(&facts_rest), figures(&rewrite_rest));
    let lost: Vec<&String> = want_f.difference(&got_f).collect();
    if !lost.is_empty() {
        return Err(format!("it lost the figure(s) {lost:?}"));
    }
    let invented: Vec<&String> = got_f.difference(&want_f).collect();
    if !invented.is_empty() {
        return Err(format!("it added the figure(s) {invented:?}"));
    }
    Ok(())
}

const SYSTEM: &str = "You rewrite security incident facts as a short, plain report for a guard. \
Keep every citation marker like [3] attached to the fact it supports, and keep every number, time and \
name exactly as written. Add nothing that is not in the facts: no guesses, no advice. Answer with the \
report only.";

/// Asks the endpoint for a rewrite of `s` and checks it. Never fails: a failed call or a rewrite that
/// loses a fact is a refused [`Rewrite`] saying why.
pub fn rewrite(config: &LlmConfig, s: &Summary) -> Rewrite {
    let facts = facts_text(s);
    let refused = |reason: String| Rewrite {
        model: config.model.clone(),
        accepted: false,
        text: None,
        reason,
    };
    let answer = match call(config, &facts) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!("summary rewrite: {e}");
            return refused(format!("the language model could not be asked: {e}"));
        }
    };
    match check(&facts, &answer) {
        Ok(()) => Rewrite {
            model: config.model.clone(),
            accepted: true,
            text: Some(answer.trim().to_string()),
            reason: "every citation marker and figure of the facts is in the rewrite".into(),
        },
        Err(why) => refused(format!(
            "the rewrite was not used because {why}; the factual summary stands"
        )),
    }
}

/// One chat-completions call; the answer's first choice's content.
fn call(config: &LlmConfig, facts: &str) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(config.timeout_seconds.max(1))))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(format!("vigil/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let body = serde_json::json!({
        "model": config.model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": format!("Facts:\n{facts}")},
        ],
    });
    let mut req = agent
        .post(config.url.as_str())
        .header("Content-Type", "application/json");
    if let Some(key) = config.api_key.as_ref().filter(|k| !k.is_empty()) {
        req = req.header("Authorization", format!("Bearer {}", key.expose()));
    }
    // Errors never carry the URL's text beyond the host (it may hold a token).
    let mut resp = req.send(body.to_string()).map_err(|e| match e {
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::BadUri(_) => "bad URL".to_string(),
        other => format!("{other}"),
    })?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_string()
        .map_err(|e| format!("reading the answer: {e}"))?;
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}"));
    }
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("the answer is not JSON: {e}"))?;
    v.pointer("/choices/0/message/content")
        .and_then(|c| c.as_str())
        .map(str::to_string)
        .ok_or_else(|| "the answer has no choices[0].message.content".to_string())
}

/// The rewrite's part of the text output.
pub fn rewrite_text(r: &Rewrite) -> String {
    match (&r.text, r.accepted) {
        (Some(t), true) => format!(
            "Rewritten by the language model '{}' (checked: every citation and figure kept):\n{t}\n",
            r.model
        ),
        _ => format!("Language model '{}': {}\n", r.model, r.reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_must_keep_markers_and_figures_and_add_none() {
        let facts = "- 6 people crossed 'Exit' going out (14:02:31–14:05:10 UTC) [1][2]\n- Recordings cover 100% [3]";
        assert!(check(facts, "Between 14:02:31 and 14:05:10 UTC, 6 people left by 'Exit' [1][2]; recordings cover 100% [3].").is_ok());
        let e = check(
            facts,
            "6 people left between 14:02:31 and 14:05:10 [1]; recordings cover 100% [3].",
        )
        .unwrap_err();
        assert!(e.contains("[2]"), "{e}");
        let e = check(
            facts,
            "7 people left between 14:02:31 and 14:05:10 [1][2]; 100% [3].",
        )
        .unwrap_err();
        assert!(e.contains("6") || e.contains("7"), "{e}");
        let e = check(
            facts,
            "6 people left 14:02:31–14:05:10 [1][2][4]; 100% [3].",
        )
        .unwrap_err();
        assert!(e.contains("[4]"), "{e}");
    }
}
