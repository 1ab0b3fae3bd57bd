//! Sentence embeddings for search: `all-MiniLM-L6-v2` (384-d, int8, mean pooling and L2 normalisation inside
//! the graph) behind its own BERT WordPiece tokenizer, read from the HuggingFace `tokenizer.json` shipped
//! beside the model (`../shared/models/README.md`).
//!
//! The tokenizer does what the model was trained with: BERT normalisation (control characters dropped,
//! whitespace unified, CJK characters split, lower case, accents stripped), a split on whitespace and
//! punctuation, then greedy longest-match WordPiece with the `##` continuation prefix, `[UNK]` for a word
//! that cannot be pieced together, `[CLS] ... [SEP]` around it. Accents are stripped for the Latin letters
//! (Latin-1 and Latin Extended-A) by a table; other scripts keep their marks (no Unicode normalisation
//! library is linked), which only matters for non-Latin queries.

use crate::detector::DetectorError;
use crate::runtime::Runtime;
use ort::session::Session;
use ort::value::TensorRef;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Length of an embedding.
pub const DIM: usize = 384;
/// Longest input in tokens (the model's position table; longer texts are cut).
pub const MAX_TOKENS: usize = 256;

/// Why the tokenizer could not be read.
#[derive(Debug, thiserror::Error)]
#[error("tokenizer {path}: {reason}")]
pub struct TokenizerError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// BERT WordPiece tokenizer (lower case).
#[derive(Debug, Clone)]
pub struct WordPiece {
    vocab: HashMap<String, i64>,
    unk: i64,
    cls: i64,
    sep: i64,
    max_word_chars: usize,
}

impl WordPiece {
    /// Reads the vocabulary of a HuggingFace `tokenizer.json` with a WordPiece model.
    pub fn from_json(path: &Path, text: &str) -> Result<Self, TokenizerError> {
        let err = |reason: String| TokenizerError {
            path: path.to_path_buf(),
            reason,
        };
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| err(format!("not JSON: {e}")))?;
        let model = doc.get("model").ok_or_else(|| err("no `model`".into()))?;
        if model.get("type").and_then(|t| t.as_str()) != Some("WordPiece") {
            return Err(err("the model is not WordPiece".into()));
        }
        let vocab: HashMap<String, i64> = model
            .get("vocab")
            .and_then(|v| v.as_object())
            .ok_or_else(|| err("no `model.vocab`".into()))?
            .iter()
            .filter_map(|(k, v)| v.as_i64().map(|id| (k.clone(), id)))
            .collect();
        let id = |token: &str| {
            vocab
                .get(token)
                .copied()
                .ok_or_else(|| err(format!("the vocabulary has no {token}")))
        };
        let max_word_chars = model
            .get("max_input_chars_per_word")
            .and_then(|v| v.as_u64())
            .unwrap_or(100) as usize;
        Ok(Self {
            unk: id("[UNK]")?,
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            vocab,
            max_word_chars,
        })
    }

    /// Reads `tokenizer.json` from disk.
    pub fn open(path: &Path) -> Result<Self, TokenizerError> {
        let text = std::fs::read_to_string(path).map_err(|e| TokenizerError {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_json(path, &text)
    }

    /// The token ids of `text`: `[CLS]`, the pieces (at most [`MAX_TOKENS`] in all), `[SEP]`.
    pub fn encode(&self, text: &str) -> Vec<i64> {
        let mut ids = vec![self.cls];
        'words: for word in pre_tokenize(&normalize(text)) {
            let chars: Vec<char> = word.chars().collect();
            if chars.len() > self.max_word_chars {
                ids.push(self.unk);
                continue;
            }
            let mut pieces = Vec::new();
            let mut start = 0;
            while start < chars.len() {
                let mut end = chars.len();
                let mut found = None;
                while end > start {
                    let mut piece: String = chars[start..end].iter().collect();
                    if start > 0 {
                        piece.insert_str(0, "##");
                    }
                    if let Some(&id) = self.vocab.get(&piece) {
                        found = Some(id);
                        break;
                    }
                    end -= 1;
                }
                match found {
                    Some(id) => pieces.push(id),
                    None => {
                        ids.push(self.unk);
                        continue 'words;
                    }
                }
                start = end;
            }
            ids.extend(pieces);
        }
        ids.truncate(MAX_TOKENS - 1);
        ids.push(self.sep);
        ids
    }
}

/// BERT normalisation: control characters dropped, whitespace made spaces, CJK characters set apart, lower
/// case, Latin accents stripped.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || (c.is_control() && !c.is_whitespace()) {
            continue;
        }
        if c.is_whitespace() {
            out.push(' ');
        } else if is_cjk(c) {
            out.push(' ');
            out.push(c);
            out.push(' ');
        } else {
            for l in c.to_lowercase() {
                out.push(strip_accent(l));
            }
        }
    }
    out
}

/// Words and punctuation marks, in order.
fn pre_tokenize(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_whitespace() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
        } else if is_punctuation(c) {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            words.push(c.to_string());
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// BERT's punctuation: ASCII symbols and Unicode punctuation.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c as u32, 0x2000..=0x206F | 0x3000..=0x303F | 0xFF01..=0xFF0F | 0xA1 | 0xBF)
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// The base letter of an accented lower-case Latin letter.
fn strip_accent(c: char) -> char {
    match c {
        'à'..='å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => 'c',
        'ď' | 'đ' => 'd',
        'è'..='ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ĥ' | 'ħ' => 'h',
        'ì'..='ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => 'i',
        'ĵ' => 'j',
        'ķ' => 'k',
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' => 'n',
        'ò'..='ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => 'o',
        'ŕ' | 'ŗ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' => 's',
        'ţ' | 'ť' | 'ŧ' => 't',
        'ù'..='ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ŵ' => 'w',
        'ý' | 'ÿ' | 'ŷ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        other => other,
    }
}

/// The sentence embedder: tokenizer and model.
pub struct TextEmbedder {
    tokenizer: WordPiece,
    session: Session,
    path: PathBuf,
}

impl std::fmt::Debug for TextEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEmbedder")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TextEmbedder {
    /// An embedder on the verified `bytes` of the model at `path` and its tokenizer, on `threads` cores.
    pub fn new(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        tokenizer: WordPiece,
        threads: usize,
    ) -> Result<Self, DetectorError> {
        let session = crate::onnx::session(runtime, path, bytes, threads)?;
        Ok(Self {
            tokenizer,
            session,
            path: path.to_path_buf(),
        })
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &WordPiece {
        &self.tokenizer
    }

    /// The unit-length embeddings of `texts`, each run alone: the int8 graph quantises its activations
    /// with one scale per tensor, so a text's embedding in a padded batch depends on its neighbours
    /// (a padded batch changed the longer text's embedding below cosine 0.999 to itself alone); alone it is the
    /// same wherever it is asked.
    pub fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, DetectorError> {
        let mut out = Vec::with_capacity(texts.len());
        for text in texts {
            out.extend(self.embed_batch(&[text])?);
        }
        Ok(out)
    }

    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, DetectorError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let err = |reason: String| DetectorError::Run {
            path: self.path.clone(),
            reason,
        };
        let encoded: Vec<Vec<i64>> = texts.iter().map(|t| self.tokenizer.encode(t)).collect();
        let len = encoded.iter().map(Vec::len).max().unwrap_or(2);
        let n = encoded.len();
        let mut ids = vec![0i64; n * len];
        let mut mask = vec![0i64; n * len];
        for (row, tokens) in encoded.iter().enumerate() {
            ids[row * len..row * len + tokens.len()].copy_from_slice(tokens);
            mask[row * len..row * len + tokens.len()].fill(1);
        }
        let types = vec![0i64; n * len];
        let shape = [n, len];
        let ids =
            TensorRef::from_array_view((shape, ids.as_slice())).map_err(|e| err(e.to_string()))?;
        let mask =
            TensorRef::from_array_view((shape, mask.as_slice())).map_err(|e| err(e.to_string()))?;
        let types = TensorRef::from_array_view((shape, types.as_slice()))
            .map_err(|e| err(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![
                "input_ids" => ids,
                "attention_mask" => mask,
                "token_type_ids" => types,
            ])
            .map_err(|e| err(e.to_string()))?;
        let value = outputs
            .get("sentence_embedding")
            .ok_or_else(|| err("no `sentence_embedding` output".into()))?;
        let (out_shape, data) = value
            .try_extract_tensor::<f32>()
            .map_err(|e| err(e.to_string()))?;
        if out_shape.len() != 2 || out_shape[0] as usize != n || out_shape[1] as usize != DIM {
            return Err(err(format!(
                "output shape {out_shape:?}, [{n}, {DIM}] expected"
            )));
        }
        data.chunks(DIM)
            .map(|row| {
                vigil_core::embedding::unit(row)
                    .ok_or_else(|| err("a zero or non-finite embedding".into()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> WordPiece {
        let vocab = r###"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2,
            "red": 3, "car": 4, "un": 5, "##want": 6, "##ed": 7, ",": 8, "cafe": 9}}}"###;
        WordPiece::from_json(Path::new("t.json"), vocab).unwrap()
    }

    #[test]
    fn wordpiece_splits_words_punctuation_and_pieces_like_bert() {
        let t = tiny();
        assert_eq!(t.encode("Red CAR"), vec![1, 3, 4, 2]);
        assert_eq!(t.encode("unwanted,red"), vec![1, 5, 6, 7, 8, 3, 2]);
        assert_eq!(t.encode("Café\tcar"), vec![1, 9, 4, 2], "accents stripped");
        assert_eq!(t.encode("zzz car"), vec![1, 0, 4, 2], "unknown word");
        assert_eq!(t.encode(""), vec![1, 2]);
        let long = "car ".repeat(1000);
        assert_eq!(t.encode(&long).len(), MAX_TOKENS);
    }

    #[test]
    fn a_tokenizer_file_without_wordpiece_is_refused_with_the_reason() {
        let e =
            WordPiece::from_json(Path::new("t.json"), r#"{"model": {"type": "BPE"}}"#).unwrap_err();
        assert!(e.to_string().contains("not WordPiece"), "{e}");
        assert!(WordPiece::from_json(Path::new("t.json"), "nope").is_err());
    }
}
