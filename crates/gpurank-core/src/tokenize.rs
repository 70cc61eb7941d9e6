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
use tokenizers::{
    AddedToken, Encoding, Model, ModelWrapper, NormalizedString, Normalizer, NormalizerWrapper, OffsetReferential,
    OffsetType, PostProcessor, PreTokenizedString, PreTokenizer, PreTokenizerWrapper, Tokenizer, TruncationDirection,
    TruncationParams, TruncationStrategy,
};
use std::hash::{BuildHasherDefault, Hasher};
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
    /// Set when the pipeline is plain BERT: then texts skip the generic machinery.
    fast: Option<FastBert>,
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
        let fast = FastBert::from_tokenizer(&tok);
        Self { tok, truncation: None, fast }
    }

    /// Whether the BERT fast path is in use (exposed for tests and benchmarks).
    pub fn has_fast_path(&self) -> bool {
        self.fast.is_some()
    }

    /// Turns the fast path off, so the crate does everything (to compare the two).
    pub fn disable_fast_path(&mut self) {
        self.fast = None;
    }

    /// One row through the fast path when it applies to every text of the row, else the crate.
    fn encode_row(&self, first: &str, second: Option<&str>, scratch: &mut Scratch) -> tokenizers::Result<Encoding> {
        if let Some(fast) = &self.fast {
            if fast.applies(first) && second.is_none_or(|t| fast.applies(t)) {
                // Like the crate, stop tokenizing a text once it has `max_length` tokens (whole
                // words): the pair truncation below sees those capped lengths, not the full ones.
                let (max_length, truncation) = self.truncation.unwrap_or((usize::MAX, Truncation::LongestFirst));
                let first_limit = if truncation == Truncation::OnlySecond { usize::MAX } else { max_length };
                let a = fast.encoding(first, 0, first_limit, scratch)?;
                let b = second.map(|t| fast.encoding(t, 1, max_length, scratch)).transpose()?;
                // The crate's own truncation and template, so both paths cut and wrap alike.
                return self.tok.post_process(a, b, true);
            }
        }
        match second {
            Some(t) => self.tok.encode_fast((first, t), true),
            None => self.tok.encode_fast(first, true),
        }
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
        let mut scratch = Scratch::default();
        for row in 0..rows {
            let encoded = if pairs {
                self.encode_row(texts[2 * row], Some(texts[2 * row + 1]), &mut scratch)
            } else {
                self.encode_row(texts[row], None, &mut scratch)
            };
            let enc = encoded.map_err(|e| EncodeError { row: Some(row), message: e.to_string() })?;
            batch.ids.extend_from_slice(enc.get_ids());
            batch.type_ids.extend_from_slice(enc.get_type_ids());
            batch.offsets.push(batch.ids.len() as u32);
        }
        Ok(batch)
    }
}

/// BERT's pipeline (BertNormalizer with clean_text, BertPreTokenizer, WordPiece) without the
/// generic machinery's added-token scan, alignment tracking and per-character Unicode table
/// look-ups, which cost most of the time. ASCII whitespace always separates words in this
/// pipeline, so a text is cut into runs at it: ASCII runs are handled byte by byte here, and runs
/// with other characters go through the crate's own normalizer, pre-tokenizer and model. Only used
/// for texts that contain no added token; tests compare it with the full crate path.
#[derive(Debug)]
struct FastBert {
    vocab: HashMap<String, u32, BuildHasherDefault<FxHasher>>,
    unk_id: u32,
    prefix: String,
    max_chars: usize,
    /// Longest vocabulary entry in bytes: longer candidates cannot match.
    max_token: usize,
    normalizer: BertNormalizer,
    model: WordPiece,
    added: Vec<String>,
}

/// Buffers reused across texts of a batch.
#[derive(Default)]
struct Scratch {
    word: Vec<u8>,
    candidate: String,
}

impl FastBert {
    fn from_tokenizer(tok: &Tokenizer) -> Option<Self> {
        let normalizer = match tok.get_normalizer()? {
            NormalizerWrapper::BertNormalizer(n) if n.clean_text => *n,
            _ => return None,
        };
        if !matches!(tok.get_pre_tokenizer()?, PreTokenizerWrapper::BertPreTokenizer(_)) {
            return None;
        }
        let ModelWrapper::WordPiece(wp) = tok.get_model() else { return None };
        let vocab: HashMap<String, u32, BuildHasherDefault<FxHasher>> = wp.get_vocab().into_iter().collect();
        let unk_id = *vocab.get(&wp.unk_token)?;
        let max_token = vocab.keys().map(String::len).max().unwrap_or(0);
        let mut added = Vec::new();
        for t in tok.get_added_tokens_decoder().into_values() {
            // Normalized added tokens match the normalized text; keep those cases on the crate.
            if t.normalized {
                return None;
            }
            added.push(t.content);
        }
        Some(Self {
            vocab,
            unk_id,
            prefix: wp.continuing_subword_prefix.clone(),
            max_chars: wp.max_input_chars_per_word,
            max_token,
            normalizer,
            model: wp.clone(),
            added,
        })
    }

    fn applies(&self, text: &str) -> bool {
        !self.added.iter().any(|t| text.contains(t.as_str()))
    }

    /// The encoding the crate would produce before post-processing (ids and type ids are what
    /// truncation and the template read; the rest is filled so lengths agree).
    fn encoding(&self, text: &str, type_id: u32, limit: usize, scratch: &mut Scratch) -> tokenizers::Result<Encoding> {
        let mut ids = Vec::with_capacity((text.len() / 4 + 1).min(limit.saturating_add(8)));
        self.tokenize(text, &mut ids, limit, scratch)?;
        let n = ids.len();
        Ok(Encoding::new(
            ids,
            vec![type_id; n],
            vec![String::new(); n],
            vec![None; n],
            vec![(0, 0); n],
            vec![0; n],
            vec![1; n],
            Vec::new(),
            Default::default(),
        ))
    }

    /// Stops after the word that brings the count to `limit` or more, as the crate does.
    fn tokenize(&self, text: &str, ids: &mut Vec<u32>, limit: usize, scratch: &mut Scratch) -> tokenizers::Result<()> {
        // Splitting bytes is safe: ASCII bytes never occur inside a multi-byte character.
        for run in text.as_bytes().split(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
            let done = if run.is_ascii() {
                self.ascii_run(run, ids, limit, scratch)
            } else {
                let run = std::str::from_utf8(run).map_err(|e| e.to_string())?;
                self.unicode_run(run, ids, limit)?
            };
            if done {
                break;
            }
        }
        Ok(())
    }

    fn ascii_run(&self, run: &[u8], ids: &mut Vec<u32>, limit: usize, scratch: &mut Scratch) -> bool {
        scratch.word.clear();
        for &b in run {
            match b {
                // Other ASCII controls (category Cc, incl. VT, FF and DEL) are removed by clean_text.
                0..=0x1f | 0x7f => {}
                // ASCII punctuation becomes a word of its own.
                b'!'..=b'/' | b':'..=b'@' | b'['..=b'`' | b'{'..=b'~' => {
                    if self.flush_word(ids, scratch) && ids.len() >= limit {
                        return true;
                    }
                    scratch.word.push(b);
                    if self.flush_word(ids, scratch) && ids.len() >= limit {
                        return true;
                    }
                }
                _ => scratch.word.push(if self.normalizer.lowercase { b.to_ascii_lowercase() } else { b }),
            }
        }
        self.flush_word(ids, scratch) && ids.len() >= limit
    }

    fn unicode_run(&self, run: &str, ids: &mut Vec<u32>, limit: usize) -> tokenizers::Result<bool> {
        let mut normalized = NormalizedString::from(run);
        self.normalizer.normalize(&mut normalized)?;
        let mut words = PreTokenizedString::from(normalized);
        BertPreTokenizer.pre_tokenize(&mut words)?;
        for (word, _, _) in words.get_splits(OffsetReferential::Original, OffsetType::None) {
            ids.extend(self.model.tokenize(word)?.iter().map(|t| t.id));
            if ids.len() >= limit {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// WordPiece on the buffered ASCII word: greedy longest match first, `##` continuations,
    /// [UNK] for the whole word when a piece cannot be matched or the word is too long.
    /// Returns whether there was a word.
    fn flush_word(&self, ids: &mut Vec<u32>, scratch: &mut Scratch) -> bool {
        let word = &scratch.word;
        if word.is_empty() {
            return false;
        }
        let mark = ids.len();
        if word.len() > self.max_chars {
            ids.push(self.unk_id);
        } else {
            let mut start = 0;
            while start < word.len() {
                let prefix = if start > 0 { self.prefix.len() } else { 0 };
                let mut end = word.len().min(start + self.max_token.saturating_sub(prefix));
                let mut found = None;
                while end > start {
                    let cand = &mut scratch.candidate;
                    cand.clear();
                    if start > 0 {
                        cand.push_str(&self.prefix);
                    }
                    // ASCII bytes, so always valid UTF-8.
                    cand.push_str(std::str::from_utf8(&word[start..end]).unwrap_or_default());
                    if let Some(&id) = self.vocab.get(cand.as_str()) {
                        found = Some(id);
                        break;
                    }
                    end -= 1;
                }
                match found {
                    Some(id) => {
                        ids.push(id);
                        start = end;
                    }
                    None => {
                        ids.truncate(mark);
                        ids.push(self.unk_id);
                        break;
                    }
                }
            }
        }
        scratch.word.clear();
        true
    }
}

/// FxHash (as in rustc): much cheaper than SipHash for the short keys of a vocabulary, and the
/// keys are not attacker-chosen.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().unwrap_or_default());
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
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

    /// The fast path against the crate, on random text (every ASCII byte class, accents,
    /// combining marks, CJK, emoji, Unicode spaces and punctuation, long words, special-token
    /// look-alikes) and on the real and edge texts of the parity fixtures.
    #[test]
    fn fast_path_matches_the_crate() {
        let json = include_str!("../../../test/fixtures/tokenizer/bert-base-uncased/tokenizer.json");
        let mut fast = Encoder::from_json(json).unwrap();
        let mut slow = Encoder::from_json(json).unwrap();
        assert!(fast.has_fast_path());
        slow.disable_fast_path();

        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pieces = [
            "the ", "Aerodynamic", "unwanted", "running", "x", "Q", "1999", "3.5", "don't", "##ing", "[CLS]", "[cls]",
            "[SEP", "MASK]", "\t", "\n", "\r\n", " ", "  ", "\u{0}", "\u{1}", "\u{b}", "\u{c}", "\u{1f}", "\u{7f}",
            "!", "\"", "#", "$", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/", ":", ";", "<", "=", ">",
            "?", "@", "[", "\\", "]", "^", "_", "`", "{", "|", "}", "~", "supercalifragilistic", "zzqxj", "a",
            "café", "É", "e\u{301}", "\u{301}", "中文", "東", "😀", "👨‍👩‍👧", "\u{a0}", "\u{3000}", "\u{2003}", "\u{200b}",
            "\u{feff}", "\u{fffd}", "\u{85}", "«", "—", "…", "¿", "İ", "ß", "ﬁ", "Ｆｕｌｌ", "Ωμέγα", "привет", "ا",
        ];
        let mut texts: Vec<String> = (0..1500)
            .map(|_| {
                let n = (next() % 40) as usize;
                let mut t: String = (0..n).map(|_| pieces[(next() % pieces.len() as u64) as usize]).collect();
                if next() % 20 == 0 {
                    t.push_str(&"ab".repeat(40 + (next() % 30) as usize)); // around the 100-char limit
                }
                t
            })
            .collect();
        let cases = include_str!("../../../test/fixtures/tokenizer/cases.jsonl");
        for line in cases.lines() {
            let c: Value = serde_json::from_str(line).unwrap();
            for k in ["text", "text_pair"] {
                if let Some(t) = c.get(k).and_then(Value::as_str) {
                    texts.push(t.to_string());
                }
            }
        }
        let fast_texts = texts.iter().filter(|t| fast.fast.as_ref().unwrap().applies(t)).count();
        assert!(fast_texts > 1200, "only {fast_texts} texts take the fast path");
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for (max_length, strategy) in [(512, Truncation::LongestFirst), (16, Truncation::LongestFirst), (64, Truncation::OnlySecond)] {
            assert_eq!(
                fast.encode(&refs, false, max_length, Truncation::LongestFirst),
                slow.encode(&refs, false, max_length, Truncation::LongestFirst)
            );
            // Pairs row by row, so a refused truncation in one row does not hide the others.
            for pair in refs.chunks_exact(2) {
                assert_eq!(fast.encode(pair, true, max_length, strategy), slow.encode(pair, true, max_length, strategy), "{pair:?}");
            }
        }
    }

    #[test]
    fn fast_path_only_for_plain_bert_pipelines() {
        assert!(tok().has_fast_path());
        let mut json: Value = serde_json::from_str(&tok().tok.to_string(false).unwrap()).unwrap();
        json["pre_tokenizer"] = serde_json::json!({"type": "Whitespace"});
        assert!(!Encoder::from_json(&json.to_string()).unwrap().has_fast_path());
        let mut json: Value = serde_json::from_str(&tok().tok.to_string(false).unwrap()).unwrap();
        json["added_tokens"][0]["normalized"] = Value::Bool(true);
        assert!(!Encoder::from_json(&json.to_string()).unwrap().has_fast_path());
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
