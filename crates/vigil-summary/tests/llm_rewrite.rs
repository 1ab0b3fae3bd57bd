//! The `[summary.llm]` rewrite plumbing against a local fake OpenAI-compatible endpoint that this test
//! starts itself (a tiny HTTP server answering the chat-completions shape; no model runs here): a
//! rewrite that keeps every citation and figure is accepted, one that drops a citation or changes a
//! figure is refused and the factual text stands, and an endpoint that is down is reported, not fatal.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use vigil_core::config::Secret;
use vigil_summary::{Citation, Footage, LlmConfig, Sentence, SentenceKind, Summary, llm, to_text};

/// What the fake endpoint received: the request line, headers (lower-cased names) and body.
struct Received {
    line: String,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

/// Serves one chat-completions call answering `content`; returns its URL and what it received.
fn fake_endpoint(content: &str) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().unwrap()
    );
    let answer = serde_json::json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "fake",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
    })
    .to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap();
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
        tx.send(Received {
            line: line.trim_end().to_string(),
            headers,
            body: serde_json::from_slice(&body).unwrap(),
        })
        .unwrap();
    });
    (url, rx)
}

fn cite(n: usize) -> Citation {
    Citation {
        n,
        event: Some(format!("01J00000000000000000000{n:03}")),
        camera: "dock".into(),
        from_ms: 1_000 * n as i64,
        to_ms: 1_000 * n as i64 + 5_000,
        footage: Footage::Recorded,
        clip: Some(format!("/api/cameras/dock/playback.mp4?start={n}&end={n}")),
        ui: None,
        snapshot: None,
    }
}

fn facts() -> Summary {
    let sentence = |kind, text: &str, cites: &[usize]| Sentence {
        kind,
        text: text.into(),
        confidence: 0.9,
        citations: cites.iter().map(|&n| cite(n)).collect(),
    };
    Summary {
        from_ms: 0,
        to_ms: 1,
        period: "overnight".into(),
        cameras: vec!["dock".into()],
        empty: false,
        events: 3,
        sentences: vec![
            sentence(
                SentenceKind::Headline,
                "Overnight (22:00:00–06:00:00 UTC): 3 intrusions into 'Dock' on 'dock'",
                &[1, 2, 3],
            ),
            sentence(
                SentenceKind::Incident,
                "The same person each time (re-identification similarity 0.82) in 3 events",
                &[1, 2, 3],
            ),
            sentence(
                SentenceKind::Event,
                "A person was in 'Dock' for 40 s (02:10:05–02:10:45 UTC) on 'dock'",
                &[1],
            ),
        ],
        rewrite: None,
    }
}

fn config(url: &str) -> LlmConfig {
    LlmConfig {
        enabled: true,
        url: url.into(),
        model: "local-test-model".into(),
        api_key: Some(Secret::new("sk-local-test")),
        timeout_seconds: 10,
    }
}

#[test]
fn a_rewrite_keeping_every_citation_and_figure_is_accepted() {
    let good = "Overnight (22:00:00–06:00:00 UTC) there were 3 intrusions into 'Dock' on 'dock' [1][2][3], \
                the same person each time (re-identification similarity 0.82) [1][2][3]; the first one lasted \
                40 s, 02:10:05–02:10:45 UTC [1].";
    let (url, got) = fake_endpoint(good);
    let r = llm::rewrite(&config(&url), &facts());
    assert!(r.accepted, "{}", r.reason);
    assert_eq!(r.text.as_deref(), Some(good));
    assert_eq!(r.model, "local-test-model");
    // What the endpoint got: the chat-completions shape, the key as a bearer token, and the facts with
    // their citation markers.
    let req = got.recv().unwrap();
    assert_eq!(req.line, "POST /v1/chat/completions HTTP/1.1");
    assert!(
        req.headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer sk-local-test")
    );
    assert_eq!(req.body["model"], "local-test-model");
    let messages = req.body["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    let user = messages[1]["content"].as_str().unwrap();
    assert!(
        user.contains("- A person was in 'Dock' for 40 s (02:10:05–02:10:45 UTC) on 'dock' [1]"),
        "{user}"
    );
    let mut s = facts();
    s.rewrite = Some(r);
    assert!(to_text(&s).contains("Rewritten by the language model 'local-test-model'"));
}

#[test]
fn a_rewrite_that_drops_a_citation_or_changes_a_figure_is_refused() {
    let dropped = "Overnight (22:00:00–06:00:00 UTC): 3 intrusions into 'Dock' [1][2] by the same person \
                   (similarity 0.82); one lasted 40 s, 02:10:05–02:10:45 UTC [1].";
    let (url, _got) = fake_endpoint(dropped);
    let r = llm::rewrite(&config(&url), &facts());
    assert!(!r.accepted);
    assert!(r.text.is_none());
    assert!(
        r.reason.contains("dropped citation [3]")
            && r.reason.contains("the factual summary stands"),
        "{}",
        r.reason
    );
    let mut s = facts();
    s.rewrite = Some(r);
    let text = to_text(&s);
    assert!(
        text.contains("[0.90] A person was in 'Dock' for 40 s"),
        "{text}"
    );
    assert!(text.contains("was not used"), "{text}");

    let changed = "Overnight (22:00:00–06:00:00 UTC): 4 intrusions into 'Dock' [1][2][3], the same person \
                   (similarity 0.82) [1][2][3]; one lasted 40 s, 02:10:05–02:10:45 UTC [1].";
    let (url, _got) = fake_endpoint(changed);
    let r = llm::rewrite(&config(&url), &facts());
    assert!(!r.accepted, "a changed count is refused");
    assert!(
        r.reason.contains("lost the figure(s) [\"3\"]"),
        "{}",
        r.reason
    );
}

#[test]
fn an_endpoint_that_is_down_is_reported_and_the_facts_stand() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = llm::rewrite(
        &config(&format!("http://127.0.0.1:{port}/v1/chat/completions")),
        &facts(),
    );
    assert!(!r.accepted);
    assert!(r.reason.contains("could not be asked"), "{}", r.reason);
}
