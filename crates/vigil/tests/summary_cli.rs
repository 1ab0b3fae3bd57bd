//! `vigil summary` against the real binary: bad input is refused with exit 2, an empty range gives an
//! honest empty summary, and on real footage (the one-by-one walkway clip, recorded and analysed by
//! `vigil run` with the demo rules) the summary states the six people who left by the "Exit" line, each
//! table stay with its times and each exit, every sentence linked to a clip the recordings cover (one
//! fetched through the API to be sure), made while `vigil run` is running; `vigil search` finds the same
//! exits in that store by time, place and kind.

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{Vigil, cli, first_admin, free_port};
use vigil_core::Time90k;

/// The walkway clip: 1394 frames at 10 fps.
const CLIP_MS: i64 = 139_400;

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

fn summary(config: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["summary", "--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    cli(&args, None, &[])
}

/// A configuration with storage and one recorded camera, its store created (no recording yet).
fn bare_config(dir: &Path) -> std::path::PathBuf {
    let rec = dir.join("recordings");
    std::fs::create_dir_all(&rec).unwrap();
    let config = format!(
        "data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n[analysis]\nenabled = false\n\n\
         [storage]\n[[storage.dirs]]\nname = \"main\"\npath = {rec:?}\nmin_free_bytes = 0\n\n\
         [[camera]]\nname = \"yard\"\nmain = \"rtsp://127.0.0.1:9/none\"\nroles = [\"record\"]\n",
        data = dir.display().to_string(),
        rec = rec.display().to_string(),
        port = free_port(),
    );
    let path = dir.join("vigil.toml");
    std::fs::write(&path, config).unwrap();
    let file = vigil_config::VigilConfig::load(&path).unwrap();
    let (store, _) = vigil_store::Store::open(file.store_config().unwrap()).unwrap();
    drop(store);
    path
}

#[test]
fn bad_times_and_unknown_cameras_are_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = bare_config(dir.path());
    let cases: [(&[&str], &str); 8] = [
        (
            &[
                "--from",
                "2026-01-02T10:00:00Z",
                "--to",
                "2026-01-02T09:00:00Z",
            ],
            "must be after --from",
        ),
        (
            &["--from", "yesterday-ish", "--to", "2026-01-02T09:00:00Z"],
            "--from",
        ),
        (&["--from", "2026-01-02T10:00:00Z"], "give --from and --to"),
        (
            &[
                "--from",
                "2026-01-02T10:00:00Z",
                "--to",
                "2026-01-02T11:00:00Z",
                "--camera",
                "nope",
            ],
            "no such camera",
        ),
        (&["--incident", "not-an-id"], "--incident"),
        (&["--shift", "lunch"], "--shift \"lunch\": overnight or day"),
        (&["--shift", "day", "--date", "2026-13-01"], "--date"),
        (
            &["--shift", "day", "--from", "2026-01-02T10:00:00Z"],
            "cannot be used with",
        ),
    ];
    for (args, says) in cases {
        let (code, out, err) = summary(&config, args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: nothing on stdout: {out}");
    }
    // The rewrite is off unless configured.
    let (code, _, err) = summary(
        &config,
        &[
            "--from",
            "2026-01-02T10:00:00Z",
            "--to",
            "2026-01-02T11:00:00Z",
            "--llm",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("[summary.llm]"), "{err}");
}

#[test]
fn a_range_with_nothing_in_it_gives_an_honest_empty_summary() {
    let dir = tempfile::tempdir().unwrap();
    let config = bare_config(dir.path());
    let (code, out, err) = summary(
        &config,
        &[
            "--from",
            "2026-01-02T10:00:00Z",
            "--to",
            "2026-01-02T11:00:00Z",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["empty"], true, "{s:#}");
    assert_eq!(s["events"], 0);
    let texts: Vec<&str> = s["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Nothing was recorded as happening on 'yard' (10:00:00–11:00:00 UTC): no event",
            "Recordings of 'yard' cover 0% of 10:00:00–11:00:00 UTC",
        ],
        "{s:#}"
    );
    // Text: each sentence with its confidence.
    let (code, out, _) = summary(
        &config,
        &[
            "--from",
            "2026-01-02T10:00:00Z",
            "--to",
            "2026-01-02T11:00:00Z",
        ],
    );
    assert_eq!(code, 0);
    assert!(
        out.starts_with("[1.00] Nothing was recorded as happening on 'yard'"),
        "{out}"
    );
}

#[test]
fn a_named_shift_is_its_local_hours_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = bare_config(dir.path());
    let (code, out, err) = summary(
        &config,
        &["--shift", "overnight", "--date", "2026-01-02", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["period"], "overnight");
    // 2026-01-01T22:00:00Z to 2026-01-02T06:00:00Z (the camera's zone is UTC).
    assert_eq!(s["from_ms"], 1_767_304_800_000i64);
    assert_eq!(s["to_ms"], 1_767_333_600_000i64);
    assert_eq!(
        s["sentences"][0]["text"],
        "Nothing was recorded as happening on 'yard' (2026-01-01 22:00:00–2026-01-02 06:00:00 UTC): no event"
    );
}

/// The demo's walkway rules as `[rules.walkway]` tables.
fn walkway_rules() -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/rules/walkway.toml"),
    )
    .unwrap();
    text.lines()
        .map(|l| match l.strip_prefix("[[") {
            Some(rest) => format!("[[rules.walkway.{rest}"),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Recorded ranges of the walkway camera (unix ms).
fn runs(db: &Path) -> Vec<(i64, i64)> {
    vigil_store::Reader::open(db)
        .unwrap()
        .recordings("walkway", "main", Time90k(0), Time90k(i64::MAX / 4))
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.start.0 / 90, r.end.0 / 90))
        .collect()
}

fn sentences<'a>(s: &'a Value, kind: &str) -> Vec<&'a Value> {
    s["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == kind)
        .collect()
}

/// "HH:MM:SS–HH:MM:SS" in a text.
fn has_time_range(text: &str) -> bool {
    text.char_indices().any(|(i, c)| {
        c == '–'
            && i >= 8
            && text[i - 8..i].bytes().filter(|b| *b == b':').count() == 2
            && text[i + '–'.len_utf8()..]
                .chars()
                .take(8)
                .filter(|c| *c == ':')
                .count()
                == 2
    })
}

#[test]
fn the_one_by_one_clip_summary_states_six_people_each_stay_and_each_exit_with_recorded_clips() {
    let Some(video) = support::footage("intel/one-by-one-person-detection.mp4") else {
        return;
    };
    let Some(models) = support::analysis_models(&video) else {
        eprintln!("SKIP: the shared models or ORT_DYLIB_PATH are missing");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("recordings");
    std::fs::create_dir_all(&rec).unwrap();
    let port = free_port();
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [analysis]\ndetect_fps = 5\nthreads = 1\n\n\
             [storage]\nsegment_seconds = 4\n[[storage.dirs]]\nname = \"main\"\npath = {rec:?}\n\
             min_free_bytes = 0\n\n\
             [[camera]]\nname = \"walkway\"\nmain = \"file://{video}\"\nroles = [\"record\", \"analyze\"]\n\n{}\n",
            walkway_rules(),
            data = dir.path().display().to_string(),
            rec = rec.display().to_string(),
            video = video.display(),
        ),
    )
    .unwrap();
    let db = dir.path().join("index.db");
    let mut vigil = Vigil::spawn(&config, port, Some(&models));
    let admin = first_admin(&mut vigil, dir.path());

    // The clip's first play: from the first recorded frame, 139.4 s.
    let started = Instant::now();
    let first = loop {
        if let Some(&(start, _)) = runs(&db).first() {
            break start;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "nothing recorded:\n{}",
            vigil.dump()
        );
        vigil.run_for(Duration::from_millis(500));
    };
    let (from, to) = (first - 1_000, first + CLIP_MS);
    // Wait for the first play to be over (the next starts with nobody in view for 6 s) and its last
    // events to be stored.
    let now = vigil_core::time::now_unix_ms();
    vigil.run_for(Duration::from_millis((to + 8_000 - now).max(0) as u64));
    let reader = vigil_store::EventReader::open(&db).unwrap();
    let stored = |kind: &str| {
        reader
            .list(&vigil_store::EventQuery {
                from_ms: Some(from),
                to_ms: Some(to),
                kinds: Some(vec![kind.into()]),
                limit: 100,
                ..Default::default()
            })
            .unwrap()
            .events
    };
    let wait = Instant::now();
    while stored("line_crossing").iter().any(|e| e.open)
        || stored("loitering").iter().any(|e| e.open)
    {
        assert!(
            wait.elapsed() < Duration::from_secs(60),
            "events still open"
        );
        vigil.run_for(Duration::from_millis(500));
    }
    let stays = stored("loitering");
    let exits = stored("line_crossing");
    eprintln!(
        "stored in the first play: {} exit events, {} table stays",
        exits.len(),
        stays.len()
    );

    // While `vigil run` runs: search its store by time in the site's zone, place and kind.
    let search = |q: &str| {
        let (code, out, err) = cli(
            &["search", q, "--config", config.to_str().unwrap()],
            None,
            &[],
        );
        assert_eq!(code, 0, "{q}: {err}");
        let ids: Vec<String> = out
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        (ids, err)
    };
    let (recent, said) = search("people crossing the exit in the last 15 minutes");
    assert!(
        said.contains("place Exit") && said.contains("from "),
        "{said}"
    );
    for e in &exits {
        assert!(
            recent.contains(&e.event.id.to_string()),
            "exit {} not found: {said}",
            e.event.id
        );
    }
    let (yesterday, said) = search("people crossing the exit yesterday");
    assert!(yesterday.is_empty(), "nothing happened yesterday: {said}");

    // While `vigil run` runs: the summary of the first play.
    let (code, out, err) = summary(
        &config,
        &["--from", &rfc3339(from), "--to", &rfc3339(to), "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let s: Value = serde_json::from_str(&out).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&s["sentences"]).unwrap());
    assert_eq!(s["empty"], false);
    let headline = &s["sentences"][0];
    assert_eq!(headline["kind"], "headline");
    assert!(
        headline["text"]
            .as_str()
            .unwrap()
            .contains("6 people crossed 'Exit' going out"),
        "{headline:#}"
    );
    let counts = sentences(&s, "count");
    assert!(
        counts.iter().any(|c| c["text"]
            .as_str()
            .unwrap()
            .starts_with("6 people crossed 'Exit' going out on 'walkway'")),
        "the six people: {counts:#?}"
    );
    let events = sentences(&s, "event");
    let exit_lines: Vec<&str> = events
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .filter(|t| t.contains("crossed 'Exit'"))
        .collect();
    assert_eq!(exit_lines.len(), exits.len(), "each exit: {exit_lines:#?}");
    assert_eq!(
        exits
            .iter()
            .map(|e| match e.event.kind {
                vigil_core::EventKind::LineCrossing { outbound_count, .. } => outbound_count,
                _ => 0,
            })
            .sum::<u32>(),
        6
    );
    let stay_lines: Vec<&str> = events
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .filter(|t| t.contains("stayed") && t.contains("'Table'"))
        .collect();
    assert_eq!(stay_lines.len(), stays.len(), "each stay: {stay_lines:#?}");
    assert!(stays.len() >= 3, "people 2, 3 and 5 stay 18 s or more");
    for line in &stay_lines {
        assert!(has_time_range(line), "a stay with its times: {line}");
    }
    // Every sentence is linked to footage the recordings cover.
    let recorded = runs(&db);
    let mut first_clip = None;
    for sentence in s["sentences"].as_array().unwrap() {
        let cites = sentence["citations"].as_array().unwrap();
        assert!(!cites.is_empty(), "a sentence without a link: {sentence:#}");
        assert!(
            (0.0..=1.0).contains(&sentence["confidence"].as_f64().unwrap()),
            "{sentence:#}"
        );
        for c in cites {
            assert_ne!(c["footage"], "gone", "{c:#}");
            let (a, b) = (c["from_ms"].as_i64().unwrap(), c["to_ms"].as_i64().unwrap());
            assert!(
                recorded.iter().any(|&(x, y)| x <= a && b <= y && a < b),
                "clip {a}..{b} not covered by {recorded:?}"
            );
            let clip = c["clip"].as_str().unwrap();
            assert!(clip.contains(&format!("start={a}&end={b}")), "{clip}");
            if c["event"].is_string() && first_clip.is_none() {
                first_clip = Some(clip.to_string());
            }
        }
    }
    // One clip fetched through the API: an MP4 of that range.
    let clip = first_clip.expect("an event's clip");
    let mut r = admin
        .agent
        .get(&format!("{}{clip}", vigil.url()))
        .header("cookie", &admin.cookie)
        .call()
        .unwrap();
    assert_eq!(r.status(), 200, "{clip}");
    let body = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    assert!(
        body.len() > 10_000 && &body[4..8] == b"ftyp",
        "{} bytes",
        body.len()
    );

    // An hour before anything was recorded: nothing happened, and the summary says so.
    let (code, out, err) = summary(
        &config,
        &[
            "--from",
            &rfc3339(first - 3_600_000),
            "--to",
            &rfc3339(first - 1_800_000),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["empty"], true);
    assert!(
        s["sentences"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Nothing was recorded as happening on 'walkway'"),
        "{s:#}"
    );
    assert!(vigil.stop(), "clean stop:\n{}", vigil.dump());
}

/// Serves one chat-completions call with `content` as the answer; returns the URL and, once called,
/// the request's `authorization` header and body.
fn fake_chat_endpoint(content: &str) -> (String, std::sync::mpsc::Receiver<(String, Value)>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().unwrap()
    );
    let answer = serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})
        .to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let (mut auth, mut len) = (String::new(), 0usize);
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end().to_string();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "authorization" => auth = v.trim().to_string(),
                    "content-length" => len = v.trim().parse().unwrap(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
        tx.send((auth, serde_json::from_slice(&body).unwrap()))
            .unwrap();
    });
    (url, rx)
}

#[test]
fn the_llm_rewrite_goes_through_the_configured_endpoint_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let config = bare_config(dir.path());
    let base = std::fs::read_to_string(&config).unwrap();
    // A bad section is a configuration error naming the field.
    std::fs::write(
        &config,
        format!("{base}\n[summary.llm]\nenabled = true\nurl = \"ftp://x\"\nmodel = \"m\"\n"),
    )
    .unwrap();
    let (code, out, err) = cli(
        &["config", "check", "--config", config.to_str().unwrap()],
        None,
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        format!("{out}{err}").contains("summary.llm.url"),
        "{out}{err}"
    );
    // A faithful rewrite (through the fake endpoint, the key from the environment) is kept.
    let (url, got) = fake_chat_endpoint(
        "Between 10:00:00 and 11:00:00 UTC nothing happened on 'yard'; 0% of that hour is recorded.",
    );
    std::fs::write(
        &config,
        format!(
            "{base}\n[summary.llm]\nenabled = true\nurl = \"{url}\"\nmodel = \"fake-model\"\napi_key = \"env:VIGIL_TEST_LLM_KEY\"\ntimeout_seconds = 10\n"
        ),
    )
    .unwrap();
    let (code, out, err) = cli(
        &[
            "summary",
            "--config",
            config.to_str().unwrap(),
            "--from",
            "2026-01-02T10:00:00Z",
            "--to",
            "2026-01-02T11:00:00Z",
            "--json",
            "--llm",
        ],
        None,
        &[("VIGIL_TEST_LLM_KEY", "sk-from-env")],
    );
    assert_eq!(code, 0, "{err}");
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["rewrite"]["accepted"], true, "{s:#}");
    assert_eq!(s["rewrite"]["model"], "fake-model");
    assert_eq!(
        s["sentences"].as_array().unwrap().len(),
        2,
        "the facts stay"
    );
    let (auth, body) = got.recv().unwrap();
    assert_eq!(auth, "Bearer sk-from-env");
    let facts = body["messages"][1]["content"].as_str().unwrap();
    assert!(
        facts.contains("Nothing was recorded as happening on 'yard'"),
        "{facts}"
    );
    // An invented figure is refused; the text output says so and keeps the facts.
    let (url, _got) =
        fake_chat_endpoint("Between 10:00 and 11:00 UTC 2 people walked past 'yard'.");
    let text = std::fs::read_to_string(&config).unwrap();
    let old_url = text
        .lines()
        .find_map(|l| l.strip_prefix("url = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    std::fs::write(&config, text.replace(&old_url, &url)).unwrap();
    let (code, out, err) = cli(
        &[
            "summary",
            "--config",
            config.to_str().unwrap(),
            "--from",
            "2026-01-02T10:00:00Z",
            "--to",
            "2026-01-02T11:00:00Z",
            "--llm",
        ],
        None,
        &[("VIGIL_TEST_LLM_KEY", "sk-from-env")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("[1.00] Nothing was recorded"), "{out}");
    assert!(
        out.contains("Language model 'fake-model': the rewrite was not used because"),
        "{out}"
    );
}
