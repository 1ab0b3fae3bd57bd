//! `vigil search QUERY --config vigil.toml` / `--events FILE`: one query over events and tracks ("red car at
//! the gate last night"), parsed into filters (printed on stderr), results as JSON lines on stdout, best
//! first; the same ranking for the store and for an events file. `--like EVENT_ID`: people who look like
//! that event's person, on every camera (re-identification embeddings through the vector index).
//! docs/search.md.

use crate::models::Assets;
use anyhow::{Context, bail};
use std::path::PathBuf;
use vigil_config::VigilConfig;
use vigil_rules::tz::TimeZone;
use vigil_search::{Hit, Query, Scope, TextEncoder, Vocabulary, WordMapper};
use vigil_vision::model::{MINILM, MINILM_TOKENIZER};
use vigil_vision::text_embed::{TextEmbedder, WordPiece};

/// `vigil search` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// What to look for, e.g. "red car at the gate last night" or "person in black near the table
    /// yesterday 15:00-17:00".
    pub query: Option<String>,
    /// Search the event store of this configuration (events and tracks).
    #[arg(long, conflicts_with = "events")]
    pub config: Option<PathBuf>,
    /// Search an events file instead (JSON lines, as `vigil analyze --events` writes; its times are
    /// positions in the video).
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Results at most.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// More like this: the people who look most like the person of this event, on every camera.
    #[arg(long, requires = "config")]
    pub like: Option<String>,
    /// Do not load the sentence model: unknown words are matched as words only.
    #[arg(long)]
    pub no_model: bool,
    /// Where the models are (default: the shared models, then the download cache).
    #[arg(long)]
    pub models: Option<PathBuf>,
}

/// The sentence model behind the search's [`TextEncoder`].
pub struct MiniLm(TextEmbedder);

impl TextEncoder for MiniLm {
    fn encode(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        self.0.embed(texts).map_err(|e| e.to_string())
    }
}

/// Loads the sentence model and its tokenizer (one core: a query's few words take milliseconds).
pub fn load_encoder(assets: &Assets) -> anyhow::Result<MiniLm> {
    let (tok_path, tok) = assets.load(&MINILM_TOKENIZER)?;
    let text = String::from_utf8(tok).context("the tokenizer file is not UTF-8")?;
    let tokenizer = WordPiece::from_json(&tok_path, &text)?;
    let (path, bytes) = assets.load(&MINILM)?;
    Ok(MiniLm(TextEmbedder::new(
        &assets.runtime,
        &path,
        &bytes,
        tokenizer,
        1,
    )?))
}

/// The names a query may use: cameras, zones, lines and rules of the configuration.
pub fn vocabulary(config: &VigilConfig) -> Vocabulary {
    let mut v = Vocabulary {
        cameras: config.cameras.iter().map(|c| c.name.clone()).collect(),
        ..Default::default()
    };
    for rules in config.rules.values() {
        for name in rules
            .zone
            .iter()
            .map(|z| &z.name)
            .chain(rules.line.iter().map(|l| &l.name))
        {
            if !v.places.contains(name) {
                v.places.push(name.clone());
            }
        }
        for r in &rules.rule {
            if !v.rules.contains(&r.name) {
                v.rules.push(r.name.clone());
            }
        }
    }
    v
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.limit == 0 {
        bail!("--limit 0 asks for nothing");
    }
    let mut encoder = if args.no_model {
        None
    } else {
        match Assets::open(args.models.clone()).and_then(|a| load_encoder(&a)) {
            Ok(e) => Some(e),
            Err(e) => {
                eprintln!(
                    "note: the sentence model is not available ({e:#}): unknown words are matched as words only"
                );
                None
            }
        }
    };
    match (&args.config, &args.events) {
        (Some(config), _) => {
            let config = crate::cmd::config::load_or_report(config)?;
            if let Some(id) = &args.like {
                return like(&config, id, args.limit);
            }
            let text = args.query.as_deref().unwrap_or_default();
            let store = config
                .store_config()
                .context("this configuration records nothing, so it has no events")?;
            let reader = vigil_store::EventReader::open(&store.db)
                .with_context(|| format!("opening the event store {}", store.db.display()))?;
            let tz = config.site_time_zone();
            let query = parse(text, &vocabulary(&config), &tz, encoder.as_mut())?;
            let scope = Scope {
                cameras: None,
                biometric: true,
            };
            let (candidates, cut) = vigil_search::from_store(&reader, &query, &scope, &tz)?;
            let looked = candidates.len();
            let hits = rank(&query, candidates, encoder.as_mut())?;
            print(&hits, args.limit, looked, cut)
        }
        (None, Some(file)) => {
            let text = args.query.as_deref().unwrap_or_default();
            let candidates = vigil_search::from_events_file(file)?;
            let vocab = vigil_search::source::vocabulary_of(&candidates);
            let query = parse(text, &vocab, &TimeZone::utc(), encoder.as_mut())?;
            let looked = candidates.len();
            let hits = rank(&query, candidates, encoder.as_mut())?;
            print(&hits, args.limit, looked, false)
        }
        (None, None) => bail!("say what to search: --config vigil.toml or --events FILE"),
    }
}

fn parse(
    text: &str,
    vocab: &Vocabulary,
    tz: &TimeZone,
    encoder: Option<&mut MiniLm>,
) -> anyhow::Result<Query> {
    let now = vigil_core::time::now_unix_ms();
    let query = match encoder {
        Some(enc) => {
            let mut mapper = WordMapper::new(enc).map_err(anyhow::Error::msg)?;
            vigil_search::parse(text, vocab, now, tz, Some(&mut mapper))?
        }
        None => vigil_search::parse(text, vocab, now, tz, None)?,
    };
    eprintln!("understood: {}", explain(&query, tz));
    Ok(query)
}

fn rank(
    query: &Query,
    candidates: Vec<vigil_search::Candidate>,
    encoder: Option<&mut MiniLm>,
) -> anyhow::Result<Vec<Hit>> {
    vigil_search::rank(
        query,
        candidates,
        encoder.map(|e| e as &mut dyn TextEncoder),
    )
    .map_err(anyhow::Error::msg)
}

/// The parsed query in words, for the person who typed it.
pub fn explain(q: &Query, tz: &TimeZone) -> String {
    let mut parts = Vec::new();
    let list =
        |name: &str, v: &[String]| (!v.is_empty()).then(|| format!("{name} {}", v.join(", ")));
    parts.extend(list("camera", &q.cameras));
    parts.extend(list("class", &q.classes));
    parts.extend(list("kind", &q.kinds));
    parts.extend(list("place", &q.places));
    parts.extend(list("rule", &q.rules));
    for c in &q.colours {
        parts.push(format!("colour {} ({:?})", c.colour, c.part).to_lowercase());
    }
    if let Some(p) = &q.plate {
        parts.push(format!("plate {p}"));
    }
    if let Some(p) = &q.person {
        parts.push(format!("person {p}"));
    }
    if let Some(t) = q.time {
        parts.push(format!(
            "from {} to {}",
            tz.local(t.from_ms),
            tz.local(t.to_ms)
        ));
    }
    for m in &q.meanings {
        parts.push(format!(
            "\"{}\" as {} ({:.2})",
            m.word,
            m.means.join(" or "),
            m.similarity
        ));
    }
    parts.extend(list("words", &q.words));
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join("; ")
    }
}

fn print(hits: &[Hit], limit: usize, looked: usize, cut: bool) -> anyhow::Result<()> {
    if hits.is_empty() {
        eprintln!(
            "nothing found: no event or track among the {looked} looked at matches every part of the query above"
        );
    }
    for h in hits.iter().take(limit) {
        println!("{}", serde_json::to_string(h)?);
    }
    eprintln!(
        "{} result(s), {} shown, of {looked} looked at{}",
        hits.len(),
        hits.len().min(limit),
        if cut {
            " (the newest only: narrow the time or cameras to look further back)"
        } else {
            ""
        }
    );
    Ok(())
}

/// `--like`: the appearances most alike the event's person, with their events.
fn like(config: &VigilConfig, id: &str, limit: usize) -> anyhow::Result<()> {
    let id: vigil_core::EventId = id
        .parse()
        .map_err(|e| anyhow::anyhow!("{id:?} is not an event id: {e}"))?;
    let store = config
        .store_config()
        .context("this configuration records nothing, so it has no events")?;
    let reader = vigil_store::EventReader::open(&store.db)
        .with_context(|| format!("opening the event store {}", store.db.display()))?;
    let person = vigil_search::similar::person_of(&reader, id)?;
    let mut index = vigil_search::similar::ReidIndex::default();
    index.refresh(&reader)?;
    let found = index.similar(&reader, &person, limit, None)?;
    for f in &found {
        println!("{}", serde_json::to_string(f)?);
    }
    eprintln!(
        "{} appearance(s) like event {id}'s person among {} indexed",
        found.len(),
        index.len()
    );
    Ok(())
}
