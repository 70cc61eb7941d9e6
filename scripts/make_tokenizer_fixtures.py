#!/usr/bin/env python3
"""Builds the tokenizer parity fixtures in test/fixtures/tokenizer/.

Run once by hand (the outputs are committed; tests never run Python):

    python3 -m venv /tmp/venv-tok && /tmp/venv-tok/bin/pip install tokenizers==0.23.2 transformers==5.24.0
    /tmp/venv-tok/bin/python scripts/make_tokenizer_fixtures.py /path/to/shared/data

It builds a bert-base-uncased tokenizer.json from the WordPiece vocabulary with the `tokenizers`
library, checks it against the 30 goldens, then records what transformers' fast BertTokenizer gives
for a few hundred texts and (query, passage) pairs at several max lengths and all three truncation
strategies. The slow (pure Python) tokenizer is run on every case too; where it disagrees with the
fast one (its longest_first cuts pairs differently, and it does not fail where the fast one does)
the fast one is the reference, and the case says so.
"""
import json
import os
import random
import shutil
import sys
import unicodedata

import tokenizers
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import BertTokenizerFast

try:  # transformers >= 5 renamed the pure-Python tokenizer
    from transformers import BertTokenizerLegacy as SlowBertTokenizer
except ImportError:  # pragma: no cover - transformers 4
    from transformers import BertTokenizer as SlowBertTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "tokenizer")
MAX_LENGTHS = [8, 16, 32, 64, 128, 512]
STRATEGIES = ["longest_first", "only_first", "only_second"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# Hand-picked edge cases: accents, CJK, emoji (ZWJ sequences, skin tones, flags), zero-width and
# control characters, NBSP and other spaces, very long words, empty and blank texts, scripts
# without spaces, special-token strings inside text, and U+FFFD (what lone surrogates become).
EDGE_TEXTS = [
    "",
    " ",
    "\t\n\r ",
    "Héllo wörld, ça va? Ångström naïve façade coöperate",
    "ÀÉÎÕÜ àéîõü ÇÑ çñ ß ø Æ œ",
    "e\u0301 a\u0300 combining marks o\u0308",
    "東京は日本の首都です。北京是中国的首都。",
    "한국어 텍스트와 日本語 mixed with English",
    "ah博推zz 中文english混合",
    "😂 👍 🎉 ❤️ 👨‍👩‍👧‍👦 👋🏽 🇫🇷 🏳️‍🌈",
    "emoji😀inside😀words",
    "zero\u200bwidth\u200cjoiner\u200dhere\ufeffbom",
    "nbsp\u00a0between\u00a0words and\u2003em\u2009thin\u3000ideographic",
    "nul\u0000byte and bell\u0007 and escape\u001b[0m and del\u007f",
    "line\u2028separator\u2029paragraph\u0085next",
    "replacement \ufffd character \ufffd\ufffd",
    "a" * 101,
    "x" * 150 + " short " + "ab" * 60,
    "pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious",
    "[CLS] [SEP] [MASK] [PAD] [UNK] inside text [mask] lower",
    "hello[SEP]world[MASK]",
    "Привет, мир! Ελληνικά κείμενα. مرحبا بالعالم. שלום עולם",
    "हिन्दी पाठ और ภาษาไทย ไม่มีช่องว่าง",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ～",
    "3.14159 1,000,000 $5.99 €10 50% #hashtag @mention",
    "https://example.com/path?q=a+b&x=1#frag user@example.org",
    "C++ and C# and F#; x->y; a!=b; i++; `code`",
    "don't won't can't it's y'all rock'n'roll",
    "“curly quotes” ‘single’ «guillemets» — em dash – en dash …",
    "Mr. O'Neil's café-restaurant (est. 1999) — “the best”!",
    "ℌ𝔢𝔩𝔩𝔬 𝓦𝓸𝓻𝓵𝓭 ① ② ﬁ ﬂ ™ ㎏",
    "\u00ad soft\u00adhyphen",
    "tab\tseparated\tvalues\nand\nnewlines",
    "UPPER CASE SHOUTING TEXT",
    "wing-body interference at supersonic speeds (M = 1.5 to 2.0)",
]


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def build_tokenizer(vocab_path):
    vocab = {}
    with open(vocab_path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            vocab[line.rstrip("\n")] = i
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(SPECIALS)
    return tok


def check_goldens(tok, goldens):
    for g in goldens:
        enc = tok.encode(g["text"], g["text_pair"]) if g.get("text_pair") is not None else tok.encode(g["text"])
        if enc.ids != g["ids"]:
            sys.exit(f"golden {g['name']} differs: {enc.ids} != {g['ids']}")


def words(text):
    return [w for w in text.split() if w]


def passages(corpus, rng, n, target_words):
    """Real abstracts, concatenated until about `target_words` words."""
    docs = [d for d in corpus if d.get("text", "").strip()]
    out = []
    for _ in range(n):
        acc = []
        while len(acc) < target_words:
            d = rng.choice(docs)
            acc.extend(words((d.get("title") or "") + " " + d["text"]))
        out.append(" ".join(acc[:target_words]))
    return out


def noisy(text, rng):
    """Sprinkles edge characters into real text."""
    inserts = ["é", "中", "😀", "\u200b", "\u00a0", "\u0000", "\t", "Ω", "ß", "\ufffd", "[SEP]"]
    ws = words(text)
    for _ in range(max(1, len(ws) // 8)):
        ws.insert(rng.randrange(len(ws) + 1), rng.choice(inserts))
    return " ".join(ws)


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data")
    vocab_path = os.path.join(data, "tokenizer", "bert-base-uncased-vocab.txt")
    goldens_path = os.path.join(data, "tokenizer", "bert_base_uncased_vectors.jsonl")
    rng = random.Random(20240613)

    tok = build_tokenizer(vocab_path)
    goldens = load_jsonl(goldens_path)
    check_goldens(tok, goldens)

    json_dir = os.path.join(OUT, "bert-base-uncased")
    vocab_dir = os.path.join(OUT, "bert-base-uncased-vocab")
    os.makedirs(json_dir, exist_ok=True)
    os.makedirs(vocab_dir, exist_ok=True)
    tok.save(os.path.join(json_dir, "tokenizer.json"))
    config = {
        "do_lower_case": True,
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        "model_max_length": 512,
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
        "tokenizer_class": "BertTokenizer",
    }
    for d in (json_dir, vocab_dir):
        with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
    shutil.copyfile(vocab_path, os.path.join(vocab_dir, "vocab.txt"))
    shutil.copyfile(goldens_path, os.path.join(OUT, "bert_base_uncased_vectors.jsonl"))

    # transformers' fast tokenizer, loaded from the directory with the new tokenizer.json.
    fast = BertTokenizerFast.from_pretrained(json_dir)
    slow = SlowBertTokenizer(vocab_file=vocab_path, do_lower_case=True)
    check_goldens_fast = [g for g in goldens if fast(g["text"], g.get("text_pair"))["input_ids"] != g["ids"]]
    if check_goldens_fast:
        sys.exit(f"transformers disagrees with the goldens: {[g['name'] for g in check_goldens_fast]}")

    cranfield = load_jsonl(os.path.join(data, "cranfield", "corpus.jsonl"))
    cisi = load_jsonl(os.path.join(data, "cisi", "corpus.jsonl"))
    queries = [q["text"] for q in load_jsonl(os.path.join(data, "cranfield", "queries.jsonl"))]
    queries += [q["text"] for q in load_jsonl(os.path.join(data, "cisi", "queries.jsonl"))]
    corpus = cranfield + cisi

    short_passages = passages(corpus, rng, 40, 60)
    long_passages = passages(corpus, rng, 25, 300)
    texts = EDGE_TEXTS + [noisy(p, rng) for p in short_passages[:15]] + short_passages[15:] + long_passages[:8]
    # One long (~20 kB) passage, to check long inputs stay exact at the 512 limit.
    huge = " ".join(passages(corpus, rng, 1, 3000))

    cases = []

    def record(kind, a, b, max_length, strategy):
        try:
            if b is None:
                got = fast([a], truncation=strategy, max_length=max_length)
            else:
                # Batched call: a single-pair call treats an empty second text as absent.
                got = fast([a], [b], truncation=strategy, max_length=max_length)
            ids, types = got["input_ids"][0], got["token_type_ids"][0]
            error = None
        except Exception as e:  # the fast tokenizer refuses some truncations; so must we
            ids, types, error = None, None, str(e)
        try:
            s = slow(a, b, truncation=strategy, max_length=max_length) if b is not None else slow(a, truncation=strategy, max_length=max_length)
            slow_ids = s["input_ids"]
        except Exception:
            slow_ids = None
        case = {"id": len(cases), "kind": kind, "text": a}
        if b is not None:
            case["text_pair"] = b
        case.update({"max_length": max_length, "truncation": strategy})
        if error is None:
            case.update({"input_ids": ids, "token_type_ids": types})
        else:
            case["error"] = error
        case["slow_agrees"] = slow_ids == ids
        cases.append(case)

    for t in texts:
        record("text", t, None, 512, "longest_first")
    for t in [p for p in long_passages[8:14]] + EDGE_TEXTS[3:12]:
        for m in MAX_LENGTHS[:-1]:
            record("text", t, None, m, rng.choice(["longest_first", "only_first"]))
    record("text", huge, None, 512, "longest_first")

    pair_texts = EDGE_TEXTS + short_passages
    for i in range(400):
        q = rng.choice(queries + EDGE_TEXTS) if i % 4 else rng.choice(EDGE_TEXTS)
        d = rng.choice(long_passages + pair_texts)
        strategy = STRATEGIES[i % 3]
        if strategy == "only_first" and rng.random() < 0.7:
            q, d = d, q  # mostly cut a long first text; a short one makes the fast tokenizer fail
        record("pair", q, d, rng.choice(MAX_LENGTHS), strategy)
    for q, d in [(queries[0], long_passages[0]), (queries[1], huge), (long_passages[1], queries[2])]:
        for m in MAX_LENGTHS:
            for s in STRATEGIES:
                record("pair", q, d, m, s)
    # Tiny limits, below and at the number of special tokens, and empty sides.
    for m in [1, 2, 3, 4, 5]:
        for s in STRATEGIES:
            record("pair", "hello world again", "a b c d e f g", m, s)
    for q, d in [("", ""), ("", "only a document"), ("only a query", ""), (" ", "\u0000")]:
        for s in STRATEGIES:
            record("pair", q, d, 8, s)

    path = os.path.join(OUT, "cases.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")

    # Raw material for `npm run bench -- tokenize`: real queries and abstracts, which the benchmark
    # concatenates into ~300-word passages.
    bench = {
        "source": "Cranfield and CISI test collections (Glasgow IR group)",
        "queries": rng.sample(queries, 150),
        "passages": [
            (d.get("title") or "") + " " + d["text"]
            for d in rng.sample([d for d in corpus if d.get("text", "").strip()], 250)
        ],
    }
    with open(os.path.join(OUT, "bench_texts.json"), "w", encoding="utf-8") as f:
        json.dump(bench, f, ensure_ascii=False)

    errors = sum(1 for c in cases if "error" in c)
    agree = sum(1 for c in cases if c["slow_agrees"])
    untruncated_disagree = [
        c["id"] for c in cases
        if not c["slow_agrees"] and "error" not in c and len(c["input_ids"]) < c["max_length"]
    ]
    summary = {
        "tokenizers": tokenizers.__version__,
        "transformers": transformers.__version__,
        "unicodedata": unicodedata.unidata_version,
        "cases": len(cases),
        "errors": errors,
        "slow_agrees": agree,
        "untruncated_slow_disagreements": untruncated_disagree,
        "bytes": os.path.getsize(path),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
