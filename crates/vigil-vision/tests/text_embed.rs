//! The sentence embedder against the reference: token ids and embeddings from HuggingFace's `tokenizers`
//! 0.22 and ONNX Runtime's Python API on the same files (computed once, written here).

mod common;

use common::{setup, store};
use vigil_vision::model::{MINILM, MINILM_TOKENIZER};
use vigil_vision::text_embed::{TextEmbedder, WordPiece};

fn embedder(test: &str) -> Option<TextEmbedder> {
    let (rt, dir) = setup(test)?;
    let store = store(&dir);
    let (tok_path, tok_bytes) = store
        .load_asset(&MINILM_TOKENIZER)
        .expect("tokenizer verified");
    let text = String::from_utf8(tok_bytes).expect("utf-8");
    let tokenizer = WordPiece::from_json(&tok_path, &text).expect("tokenizer reads");
    let (path, bytes) = store.load_asset(&MINILM).expect("model verified");
    Some(TextEmbedder::new(&rt, &path, &bytes, tokenizer, 1).expect("session"))
}

#[test]
fn token_ids_equal_the_reference_tokenizers() {
    let Some(e) = embedder("token_ids_equal_the_reference_tokenizers") else {
        return;
    };
    let cases: [(&str, &[i64]); 4] = [
        (
            "A person stayed 12 s in 'Table' (14:02:01-14:02:13)",
            &[
                101, 1037, 2711, 4370, 2260, 1055, 1999, 1005, 2795, 1005, 1006, 2403, 1024, 6185,
                1024, 5890, 1011, 2403, 1024, 6185, 1024, 2410, 1007, 102,
            ],
        ),
        (
            "Café déjà-vu, naïve!",
            &[101, 7668, 2139, 3900, 1011, 24728, 1010, 15743, 999, 102],
        ),
        ("unwantedly running", &[101, 18162, 2135, 2770, 102]),
        (
            "person in black near the table yesterday 15:00-17:00",
            &[
                101, 2711, 1999, 2304, 2379, 1996, 2795, 7483, 2321, 1024, 4002, 1011, 2459, 1024,
                4002, 102,
            ],
        ),
    ];
    for (text, ids) in cases {
        assert_eq!(e.tokenizer().encode(text), ids, "{text}");
    }
}

#[test]
fn embeddings_equal_the_reference_and_know_that_a_bike_is_a_bicycle() {
    let Some(mut e) = embedder("embeddings_equal_the_reference_and_know_that_a_bike_is_a_bicycle")
    else {
        return;
    };
    let v = e.embed(&["bike"]).unwrap();
    let reference = [
        -0.037_048_43,
        0.113_735_32,
        -0.044_516_66,
        0.024_782_26,
        -0.051_174_72,
    ];
    for (a, b) in v[0].iter().zip(reference) {
        assert!((a - b).abs() < 1e-4, "{:?} vs {reference:?}", &v[0][..5]);
    }
    // Several texts at once give each what it gets alone.
    let batch = e
        .embed(&["bike", "a person in a red jacket loitering"])
        .unwrap();
    let alone = e.embed(&["a person in a red jacket loitering"]).unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(dot(&batch[1], &alone[0]) > 0.999);
    assert!(dot(&batch[0], &v[0]) > 0.999);
    let words = e.embed(&["a bike", "a bicycle", "a person"]).unwrap();
    let (same, other) = (dot(&words[0], &words[1]), dot(&words[0], &words[2]));
    assert!(
        same > other + 0.2,
        "bike~bicycle {same}, bike~person {other}"
    );
}
