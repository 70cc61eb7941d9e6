//! Tokenization with the Hugging Face `tokenizers` crate: texts and (query, passage) pairs in,
//! flat id / type-id arrays out, one call per batch.
//!
//! Two ways to build a tokenizer: from a `tokenizer.json`, or (for BERT models that ship only
//! `vocab.txt`) from the vocabulary plus `tokenizer_config.json`, rebuilding the same pipeline that
//! `transformers` converts the slow BertTokenizer into. The crate does no I/O: the caller passes
//! file contents as strings.
//!
//! Texts cross the JS boundary as ONE concatenated string plus their UTF-16 lengths, because
//! marshalling one JS string per text costs more than the tokenization of short queries.

use std::collections::HashMap;

use serde_json::Value;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::{AddedToken, PostProcessor, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};
use wasm_bindgen::prelude::*;

/// How a pair that is too long gets cut, as in `transformers`' `truncation=` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    LongestFirst,
    OnlyFirst,
    OnlySecond,
}

impl Truncation {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "longest_first" => Ok(Self::LongestFirst),
            "only_first" => Ok(Self::OnlyFirst),
            "only_second" => Ok(Self::OnlySecond),
            other => Err(format!(
                "unknown truncation strategy {other:?} (expected longest_first, only_first or only_second)"
            )),
        }
    }

    fn strategy(self) -> TruncationStrategy {
        match self {
            Self::LongestFirst => TruncationStrategy::LongestFirst,
            Self::OnlyFirst => TruncationStrategy::OnlyFirst,
            Self::OnlySecond => TruncationStrategy::OnlySecond,
        }
    }
}

/// A whole batch, flattened: row `i` is `ids[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    pub offsets: Vec<u32>,
}

impl Batch {
    pub fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn row(&self, i: usize) -> (&[u32], &[u32]) {
        let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        (&self.ids[a..b], &self.type_ids[a..b])
    }

    /// `[rows, total, offsets (rows + 1), ids (total), type_ids (total)]`: one buffer, so the
    /// whole result crosses into JS with a single copy.
    pub fn pack(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(2 + self.offsets.len() + 2 * self.ids.len());
        out.push(self.rows() as u32);
        out.push(self.ids.len() as u32);
        out.extend_from_slice(&self.offsets);
        out.extend_from_slice(&self.ids);
        out.extend_from_slice(&self.type_ids);
        out
    }
}

/// A failure while encoding a batch; `row` (when one row is at fault) lets callers name the input line.
#[derive(Debug, PartialEq, Eq)]
pub struct EncodeError {
    pub row: Option<usize>,
    pub message: String,
}

impl EncodeError {
    fn batch(message: impl Into<String>) -> Self {
        Self { row: None, message: message.into() }
    }
}

#[derive(Debug)]
pub struct Encoder {
    tok: Tokenizer,
    truncation: Option<(usize, Truncation)>,
}

impl Encoder {
    /// From the contents of a `tokenizer.json`.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let tok: Tokenizer = json.parse().map_err(|e| format!("invalid tokenizer.json: {e}"))?;
        Ok(Self::new(tok))
    }

    /// From a WordPiece `vocab.txt` and an optional `tokenizer_config.json`, as `transformers`
    /// converts a slow BertTokenizer into a fast one.
    pub fn from_vocab(vocab_txt: &str, config_json: Option<&str>) -> Result<Self, String> {
        let config: Value = match config_json {
            Some(s) => serde_json::from_str(s).map_err(|e| format!("invalid tokenizer_config.json: {e}"))?,
            None => Value::Object(Default::default()),
        };
        if !config.is_object() {
            return Err("invalid tokenizer_config.json: expected a JSON object".into());
        }
        let vocab = parse_vocab(vocab_txt);
        if vocab.is_empty() {
            return Err("vocab.txt is empty".into());
        }
        let flag = |key: &str, default: bool| config.get(key).and_then(Value::as_bool).unwrap_or(default);
        let lowercase = flag("do_lower_case", true);
        // null (or absent) means "follow lowercase", exactly as BertNormalizer reads None.
        let strip_accents = config.get("strip_accents").and_then(Value::as_bool);
        let chinese = flag("tokenize_chinese_chars", true);

        let special = |key: &str, default: &str| -> AddedToken {
            added_token(config.get(key), true).unwrap_or_else(|| AddedToken::from(default, true))
        };
        let unk = special("unk_token", "[UNK]");
        let sep = special("sep_token", "[SEP]");
        let cls = special("cls_token", "[CLS]");
        let pad = special("pad_token", "[PAD]");
        let mask = special("mask_token", "[MASK]");

        let id_of = |t: &AddedToken| -> Result<u32, String> {
            vocab.get(&t.content).copied().ok_or_else(|| format!("vocab.txt has no {:?} token", t.content))
        };
        let (cls_id, sep_id) = (id_of(&cls)?, id_of(&sep)?);

        // WordPiece's builder wants the crate's private hash map type; its serde form is public.
        let model: WordPiece = serde_json::from_value(serde_json::json!({
            "vocab": vocab,
            "unk_token": unk.content,
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
        }))
        .map_err(|e| format!("cannot build WordPiece model: {e}"))?;
        let template = TemplateProcessing::builder()
            .try_single(vec![format!("{}:0", cls.content), "$A:0".into(), format!("{}:0", sep.content)])
            .and_then(|b| {
                b.try_pair(vec![
                    format!("{}:0", cls.content),
                    "$A:0".into(),
                    format!("{}:0", sep.content),
                    "$B:1".into(),
                    format!("{}:1", sep.content),
                ])
            })
            .map_err(|e| format!("cannot build the [CLS]/[SEP] template: {e}"))?
            .special_tokens(vec![(cls.content.clone(), cls_id), (sep.content.clone(), sep_id)])
            .build()
            .map_err(|e| format!("cannot build the [CLS]/[SEP] template: {e}"))?;

        let mut tok = Tokenizer::new(model);
        tok.with_normalizer(Some(BertNormalizer::new(true, chinese, strip_accents, lowercase)))
            .map_err(|e| e.to_string())?;
        tok.with_pre_tokenizer(Some(BertPreTokenizer));
        tok.with_post_processor(Some(template));
        tok.with_decoder(Some(WordPieceDecoder::new("##".into(), true)));

        // The same order transformers adds them in: the named special tokens, then extras.
        let mut specials = vec![pad, unk, cls, sep, mask];
        if let Some(Value::Array(extra)) = config.get("additional_special_tokens") {
            specials.extend(extra.iter().filter_map(|v| added_token(Some(v), true)));
        }
        let mut plain = Vec::new();
        // Newer configs list every added token under added_tokens_decoder ({"id": {...}}).
        if let Some(Value::Object(decoder)) = config.get("added_tokens_decoder") {
            let mut entries: Vec<(u64, &Value)> =
                decoder.iter().filter_map(|(k, v)| k.parse().ok().map(|id| (id, v))).collect();
            entries.sort_by_key(|(id, _)| *id);
            for (_, v) in entries {
                let is_special = v.get("special").and_then(Value::as_bool).unwrap_or(false);
                if let Some(t) = added_token(Some(v), is_special) {
                    if is_special {
                        if !specials.iter().any(|s| s.content == t.content) {
                            specials.push(t);
                        }
                    } else {
                        plain.push(t);
                    }
                }
            }
        }
        tok.add_special_tokens(specials).map_err(|e| e.to_string())?;
        tok.add_tokens(plain).map_err(|e| e.to_string())?;
        Ok(Self::new(tok))
    }

    fn new(mut tok: Tokenizer) -> Self {
        // A tokenizer.json may carry its own padding and truncation; both are set per call.
        tok.with_padding(None);
        let _ = tok.with_truncation(None);
        Self { tok, truncation: None }
    }

    fn set_truncation(&mut self, max_length: usize, truncation: Truncation) -> Result<(), String> {
        if self.truncation == Some((max_length, truncation)) {
            return Ok(());
        }
        let params = TruncationParams {
            max_length,
            strategy: truncation.strategy(),
            stride: 0,
            direction: TruncationDirection::Right,
        };
        self.tok.with_truncation(Some(params)).map_err(|e| e.to_string())?;
        self.truncation = Some((max_length, truncation));
        Ok(())
    }

    fn special_tokens(&self, pair: bool) -> usize {
        self.tok.get_post_processor().map_or(0, |p| p.added_tokens(pair))
    }

    /// Encodes `texts` (one sequence each) or, when `pairs`, consecutive (first, second) pairs.
    pub fn encode(
        &mut self,
        texts: &[&str],
        pairs: bool,
        max_length: usize,
        truncation: Truncation,
    ) -> Result<Batch, EncodeError> {
        if pairs && texts.len() % 2 != 0 {
            return Err(EncodeError::batch("pairs need an even number of texts"));
        }
        // The crate computes `max_length - special tokens` unchecked: a smaller max_length panics in
        // debug builds and gives rows longer than max_length in release ones (transformers included).
        let specials = self.special_tokens(false).max(self.special_tokens(pairs));
        if max_length < specials.max(1) {
            return Err(EncodeError::batch(format!(
                "max_length {max_length} is too small: it must be at least 1 and leave room for the {specials} special tokens"
            )));
        }
        self.set_truncation(max_length, truncation).map_err(EncodeError::batch)?;
        let rows = if pairs { texts.len() / 2 } else { texts.len() };
        let mut batch = Batch { offsets: Vec::with_capacity(rows + 1), ..Default::default() };
        batch.offsets.push(0);
        for row in 0..rows {
            let encoded = if pairs {
                self.tok.encode_fast((texts[2 * row], texts[2 * row + 1]), true)
            } else {
                self.tok.encode_fast(texts[row], true)
            };
            let enc = encoded.map_err(|e| EncodeError { row: Some(row), message: e.to_string() })?;
            batch.ids.extend_from_slice(enc.get_ids());
            batch.type_ids.extend_from_slice(enc.get_type_ids());
            batch.offsets.push(batch.ids.len() as u32);
        }
        Ok(batch)
    }
}

/// A token spec from tokenizer_config.json: a bare string or an AddedToken object.
fn added_token(v: Option<&Value>, special: bool) -> Option<AddedToken> {
    match v? {
        Value::String(s) => Some(AddedToken::from(s.as_str(), special)),
        Value::Object(o) => {
            let content = o.get("content")?.as_str()?;
            let b = |k: &str, d: bool| o.get(k).and_then(Value::as_bool).unwrap_or(d);
            Some(
                AddedToken::from(content, special)
                    .single_word(b("single_word", false))
                    .lstrip(b("lstrip", false))
                    .rstrip(b("rstrip", false))
                    .normalized(b("normalized", !special)),
            )
        }
        _ => None,
    }
}

/// One token per line, id = line number, later duplicates win (as transformers' load_vocab).
fn parse_vocab(text: &str) -> HashMap<String, u32> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() {
        return HashMap::new();
    }
    body.split('\n')
        .enumerate()
        .map(|(i, line)| (line.strip_suffix('\r').unwrap_or(line).to_string(), i as u32))
        .collect()
}

/// Cuts `text` into consecutive pieces whose UTF-16 lengths are `lens` (JS `string.length`).
/// A length that ends inside a character, or that does not add up to the text, is an error.
pub fn split_utf16<'a>(text: &'a str, lens: &[u32]) -> Result<Vec<&'a str>, String> {
    let mut out = Vec::with_capacity(lens.len());
    let mut chars = text.char_indices();
    let mut start = 0usize;
    for (i, &len) in lens.iter().enumerate() {
        let mut units = 0u32;
        let mut end = start;
        while units < len {
            match chars.next() {
                Some((at, c)) => {
                    units += c.len_utf16() as u32;
                    end = at + c.len_utf8();
                }
                None => return Err(format!("text {i}: the lengths add up to more than the text")),
            }
        }
        if units != len {
            return Err(format!("text {i}: its length ends inside a character"));
        }
        out.push(&text[start..end]);
        start = end;
    }
    if start != text.len() {
        return Err("the lengths add up to less than the text".into());
    }
    Ok(out)
}

/// The tokenizer as JS sees it.
#[wasm_bindgen]
pub struct WasmTokenizer {
    enc: Encoder,
}

#[wasm_bindgen]
impl WasmTokenizer {
    #[wasm_bindgen(js_name = fromJson)]
    pub fn from_json(json: &str) -> Result<WasmTokenizer, JsError> {
        Encoder::from_json(json).map(|enc| WasmTokenizer { enc }).map_err(|e| JsError::new(&e))
    }

    #[wasm_bindgen(js_name = fromVocab)]
    pub fn from_vocab(vocab_txt: &str, config_json: Option<String>) -> Result<WasmTokenizer, JsError> {
        Encoder::from_vocab(vocab_txt, config_json.as_deref())
            .map(|enc| WasmTokenizer { enc })
            .map_err(|e| JsError::new(&e))
    }

    /// `text` is every input concatenated (for pairs: first0, second0, first1, …) and `lens` their
    /// UTF-16 lengths. Returns `Batch::pack`. On failure throws an Error whose `row` property is
    /// the failing row.
    #[wasm_bindgen(js_name = encodeBatch)]
    pub fn encode_batch(
        &mut self,
        text: &str,
        lens: &[u32],
        pairs: bool,
        max_length: u32,
        truncation: &str,
    ) -> Result<Vec<u32>, JsValue> {
        let fail = |row: Option<usize>, message: &str| -> JsValue {
            let err = js_sys::Error::new(message);
            if let Some(row) = row {
                let _ = js_sys::Reflect::set(&err, &"row".into(), &JsValue::from(row as u32));
            }
            err.into()
        };
        let strategy = Truncation::parse(truncation).map_err(|e| fail(None, &e))?;
        let texts = split_utf16(text, lens).map_err(|e| fail(None, &e))?;
        self.enc
            .encode(&texts, pairs, max_length as usize, strategy)
            .map(|b| b.pack())
            .map_err(|e| fail(e.row, &e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOCAB: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\na\nb\nc\nd\n,\ncafe\n中\n";

    fn tok() -> Encoder {
        Encoder::from_vocab(VOCAB, None).unwrap()
    }

    fn ids(b: &Batch, i: usize) -> Vec<u32> {
        b.row(i).0.to_vec()
    }

    #[test]
    fn single_texts_get_cls_and_sep() {
        let b = tok().encode(&["Hello, worlds", "CAFÉ 中x"], false, 512, Truncation::LongestFirst).unwrap();
        assert_eq!(b.rows(), 2);
        assert_eq!(ids(&b, 0), vec![2, 5, 12, 6, 7, 3]);
        // lowercased, accent stripped, CJK split off, unknown word → [UNK]
        assert_eq!(ids(&b, 1), vec![2, 13, 14, 1, 3]);
        assert!(b.row(0).1.iter().all(|&t| t == 0));
    }

    #[test]
    fn pairs_get_type_ids_and_second_sep() {
        let b = tok().encode(&["hello", "world a"], true, 512, Truncation::LongestFirst).unwrap();
        assert_eq!(ids(&b, 0), vec![2, 5, 3, 6, 8, 3]);
        assert_eq!(b.row(0).1, &[0, 0, 0, 1, 1, 1]);
    }

    #[test]
    fn truncation_strategies() {
        let q = "a b c d";
        let d = "a b c d a b c d";
        let mut t = tok();
        let lf = t.encode(&[q, d], true, 9, Truncation::LongestFirst).unwrap();
        assert_eq!(lf.row(0).0.len(), 9);
        // 6 content tokens: the longer (8) is cut first down to the shorter's 4, then both to 3.
        assert_eq!(ids(&lf, 0), vec![2, 8, 9, 10, 3, 8, 9, 10, 3]);
        let os = t.encode(&[q, d], true, 9, Truncation::OnlySecond).unwrap();
        assert_eq!(ids(&os, 0), vec![2, 8, 9, 10, 11, 3, 8, 9, 3]);
        let err = t.encode(&[q, d], true, 9, Truncation::OnlyFirst).unwrap_err();
        assert_eq!(err.row, Some(0));
        assert!(err.message.contains("too short"), "{}", err.message);
    }

    #[test]
    fn single_text_truncation_and_only_second_error() {
        let mut t = tok();
        let b = t.encode(&["a b c d a b c d"], false, 4, Truncation::LongestFirst).unwrap();
        assert_eq!(ids(&b, 0), vec![2, 8, 9, 3]);
        let err = t.encode(&["x", "a b c d a b c d"], false, 4, Truncation::OnlySecond).unwrap_err();
        assert_eq!(err.row, Some(1));
    }

    #[test]
    fn embedded_truncation_and_padding_do_not_leak() {
        let base = tok();
        let mut json: Value = serde_json::from_str(&base.tok.to_string(false).unwrap()).unwrap();
        json["truncation"] = serde_json::json!({"max_length": 3, "strategy": "LongestFirst", "stride": 0, "direction": "Right"});
        json["padding"] = serde_json::json!({"strategy": {"Fixed": 32}, "direction": "Right", "pad_to_multiple_of": null, "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"});
        let mut t = Encoder::from_json(&json.to_string()).unwrap();
        let b = t.encode(&["hello world a b"], false, 512, Truncation::LongestFirst).unwrap();
        assert_eq!(ids(&b, 0), vec![2, 5, 6, 8, 9, 3]);
    }

    #[test]
    fn special_tokens_in_text_are_recognised() {
        let b = tok().encode(&["[MASK] hello[SEP]"], false, 512, Truncation::LongestFirst).unwrap();
        assert_eq!(ids(&b, 0), vec![2, 4, 5, 3, 3]);
    }

    #[test]
    fn config_controls_case_and_accents() {
        let cfg = r#"{"do_lower_case": false, "strip_accents": false, "unk_token": {"content": "[UNK]"}}"#;
        let mut t = Encoder::from_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nHello\ncafé\n", Some(cfg)).unwrap();
        let b = t.encode(&["Hello hello café"], false, 512, Truncation::LongestFirst).unwrap();
        assert_eq!(ids(&b, 0), vec![2, 5, 1, 6, 3]);
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        assert!(Encoder::from_json("{").unwrap_err().contains("invalid tokenizer.json"));
        assert!(Encoder::from_vocab("", None).unwrap_err().contains("empty"));
        assert!(Encoder::from_vocab("a\nb\n", None).unwrap_err().contains("[CLS]"));
        assert!(Encoder::from_vocab(VOCAB, Some("[1]")).is_err());
        assert!(Encoder::from_vocab(VOCAB, Some("{")).is_err());
        let mut t = tok();
        assert!(t.encode(&["a"], false, 0, Truncation::LongestFirst).is_err());
        // Below the special-token count: refused for the whole batch, not a panic.
        let err = t.encode(&["a"], false, 1, Truncation::LongestFirst).unwrap_err();
        assert_eq!(err.row, None);
        assert!(t.encode(&["a", "b"], true, 2, Truncation::LongestFirst).unwrap_err().message.contains("3 special"));
        assert_eq!(t.encode(&["a", "b"], true, 3, Truncation::LongestFirst).unwrap().row(0).0, &[2, 3, 3]);
        assert!(t.encode(&["a"], true, 8, Truncation::LongestFirst).is_err());
        assert!(Truncation::parse("longest").is_err());
    }

    #[test]
    fn odd_characters_do_not_crash() {
        let long = "word ".repeat(20_000);
        let texts = ["\u{0}\u{1}\u{7f}\u{fffd}", "\u{200b}\u{a0}\t\r\n", "", "😀 e\u{301}", long.as_str()];
        let b = tok().encode(&texts, false, 512, Truncation::LongestFirst).unwrap();
        assert_eq!(ids(&b, 0), vec![2, 3]);
        assert_eq!(ids(&b, 2), vec![2, 3]);
        assert_eq!(b.row(4).0.len(), 512);
    }

    #[test]
    fn split_by_utf16_lengths() {
        let s = "a😀bcé";
        assert_eq!(split_utf16(s, &[1, 2, 0, 2, 1]).unwrap(), vec!["a", "😀", "", "bc", "é"]);
        assert!(split_utf16(s, &[2]).is_err()); // inside the emoji
        assert!(split_utf16(s, &[1]).is_err()); // leaves text over
        assert!(split_utf16(s, &[9]).is_err()); // runs past the end
        assert_eq!(split_utf16("", &[]).unwrap(), Vec::<&str>::new());
    }

    #[test]
    fn pack_layout() {
        let b = tok().encode(&["hello", "a b"], false, 512, Truncation::LongestFirst).unwrap();
        assert_eq!(b.pack(), vec![2, 7, 0, 3, 7, 2, 5, 3, 2, 8, 9, 3, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn vocab_parsing_matches_transformers() {
        let v = parse_vocab("a\r\nb\n\na\n");
        assert_eq!(v.get("a"), Some(&3));
        assert_eq!(v.get("b"), Some(&1));
        assert_eq!(v.get(""), Some(&2));
    }
}
