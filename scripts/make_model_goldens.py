#!/usr/bin/env python3
"""Builds the model fixtures and goldens in test/fixtures/models/ and test/fixtures/goldens/.

Run once by hand (the outputs are committed; tests and CI never run Python or install torch):

    python3 -m venv /tmp/venv-model
    /tmp/venv-model/bin/pip install torch==2.15.0 transformers==5.24.0 sentence-transformers==6.2.0 safetensors==0.8.0
    bash scripts/fetch-model.sh      # models/all-MiniLM-L6-v2, for minilm-embeddings.json
    /tmp/venv-model/bin/python scripts/make_model_goldens.py

What it writes:
- models/tiny-bert/: a seeded random BertForSequenceClassification over the bert-base-uncased vocabulary
  (2 layers, hidden 32, 4 heads, intermediate 64, 1 label), stored in F16 to keep the fixture near 2 MB.
  The goldens are computed in float32 from exactly those f16-rounded weights, so they are exact for it.
- models/small-vocab/{f32,f16,bf16,sharded}/: one small-vocabulary (128) cross-encoder with 2 labels,
  saved four ways to test the loader's dtypes and the sharded index; small-vocab/bi-encoder/: a BertModel
  with sentence-transformers modules.json (mean pooling + Normalize).
- goldens/tiny-bert-logits.json: logits of ~50 (query, passage) pairs, hostile texts included, each run
  alone (no padding), with the input ids the HF tokenizer gave (truncation=True, max_length=MAX_LENGTH).
- goldens/tiny-bert-hidden.json: embeddings output, each layer's output, pooled output and logits for 3 pairs.
- goldens/minilm-embeddings.json: sentence-transformers embeddings of ~20 texts from the real
  models/all-MiniLM-L6-v2 (its modules: mean pooling, Normalize), with their input ids.

Weights are not the usual N(0, 0.02): that makes near-uniform attention and near-zero logits, which would
let wrong kernels pass. Weights are N(0, 0.2), biases N(0, 0.1), LayerNorm gains 1 + N(0, 0.1).
"""
import copy
import json
import os
import shutil
import sys
import time

import torch
import transformers
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "test", "fixtures")
MODELS = os.path.join(FIX, "models")
GOLDENS = os.path.join(FIX, "goldens")
TOKENIZER_SRC = os.path.join(FIX, "tokenizer", "bert-base-uncased")
MINILM = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
CRANFIELD = os.environ.get("GPURANK_SHARED_DATA", "/work/shared/data") + "/cranfield"
MAX_LENGTH = 128
SEED = 20240613


def tiny_config(vocab_size, max_position, num_labels):
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=max_position,
        type_vocab_size=2,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=num_labels,
    )


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "LayerNorm.weight" in name:
                p.copy_(1 + 0.1 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.2 * noise)
    return model.eval()


def g9(x):
    """float32 values at 9 significant digits: enough to round-trip an f32 exactly, half the JSON."""
    return [float(f"{v:.9g}") for v in x]


def nested(t):
    return [g9(row) for row in t.tolist()] if t.dim() == 2 else g9(t.tolist())


def copy_tokenizer(dest):
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(TOKENIZER_SRC, f), dest)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def pairs():
    """~50 (query, passage) pairs: real Cranfield queries with judged abstracts, then hostile texts."""
    queries = {q["_id"]: q["text"] for q in read_jsonl(os.path.join(CRANFIELD, "queries.jsonl"))}
    corpus = {d["_id"]: d for d in read_jsonl(os.path.join(CRANFIELD, "corpus.jsonl"))}
    out = []
    with open(os.path.join(CRANFIELD, "qrels.tsv"), encoding="utf-8") as f:
        next(f)
        seen = set()
        for line in f:
            qid, did, _ = line.rstrip("\n").split("\t")
            if qid in seen or not corpus[did]["text"].strip():
                continue
            seen.add(qid)
            out.append((queries[qid], corpus[did]["text"]))
            if len(out) == 30:
                break
    long_passage = " ".join(corpus[str(i)]["text"] for i in range(1, 6))
    out += [
        ("what is a cross-encoder?", ""),
        ("", "an empty query against a normal passage"),
        ("", ""),
        ("emoji 🙂🙃 search", "👩‍👩‍👧‍👦 family 🇯🇵 flag 👍🏽 thumbs 🚀🚀🚀"),
        ("東京の天気", "今日は晴れです。明日は雨が降るでしょう。北京 서울"),
        ("control\tchars\u0000here", "line one\nline two\r\n\u0007bell\u200bzero\u00a0nbsp\ufeffbom"),
        ("Crème brûlée naïve façade", "ÀÉÎÕÜ çñ ß Ωμέγα Привет мир"),
        ("long passage", long_passage),
        (long_passage, "a long query and a short passage"),
        (long_passage, long_passage),
        ("antidisestablishmentarianism" * 4, "supercalifragilisticexpialidocious" * 6),
        ("[CLS] [SEP] [PAD] [MASK] [UNK]", "special tokens written as text [SEP]"),
        ("a", "b"),
        ("   ", "\t\n  "),
        ("UPPER CASE QUERY", "upper case query"),
        ("numbers 3.14159 1e-12 -42", "0x1F 1,000,000 ½ ⅓ ² ³"),
        ("math ∑∫√∞ ≤ ≥ ≠", "arrows → ← ↔ and boxes ■□▲"),
        ("https://example.com/a?b=c&d=e", "email me at someone@example.org #hashtag @mention"),
        ("Ǆ ǅ ǆ ﬁ ﬂ ligatures", "Ａｂｃ full-width ｱｲｳ half-width"),
        ("punctuation!!!???...", "«quotes» “curly” ‘single’ — dashes – …"),
    ]
    return out


def tokenizer_for(path):
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.is_fast, "goldens must come from the fast (tokenizer.json) tokenizer"
    return tok


def encode_pair(tok, query, doc):
    # Batched form on purpose: a single-pair call treats an empty document as no document at all
    # ([CLS] q [SEP] instead of [CLS] q [SEP] [SEP]); the tokenizer fixtures use the batched form too.
    return tok([query], [doc], truncation=True, max_length=MAX_LENGTH, return_tensors="pt")


def make_tiny_bert():
    dest = os.path.join(MODELS, "tiny-bert")
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    model = randomize(BertForSequenceClassification(tiny_config(30522, 512, 1)), SEED)
    model = model.half().float().eval()  # the f16-rounded weights are the model
    copy.deepcopy(model).half().save_pretrained(dest, safe_serialization=True)
    copy_tokenizer(dest)
    return model, tokenizer_for(dest)


def logits_goldens(model, tok):
    cases = []
    for query, doc in pairs():
        enc = encode_pair(tok, query, doc)
        with torch.no_grad():
            logits = model(**enc).logits[0]
        cases.append({
            "query": query,
            "document": doc,
            "input_ids": enc["input_ids"][0].tolist(),
            "token_type_ids": enc["token_type_ids"][0].tolist(),
            "logits": g9(logits.tolist()),
        })
    # The same pairs as one padded batch: padding must not move the logits (HF masks it).
    batch = tok([c["query"] for c in cases], [c["document"] for c in cases], truncation=True,
                max_length=MAX_LENGTH, padding=True, return_tensors="pt")
    with torch.no_grad():
        batched = model(**batch).logits
    alone = torch.tensor([c["logits"] for c in cases])
    pad_diff = (batched - alone).abs().max().item()
    return cases, pad_diff


def hidden_goldens(model, tok, cases):
    out = []
    for c in cases:
        enc = encode_pair(tok, c["query"], c["document"])
        with torch.no_grad():
            res = model(**enc, output_hidden_states=True)
            pooled = model.bert.pooler(res.hidden_states[-1])
        out.append({
            "query": c["query"],
            "document": c["document"],
            "input_ids": enc["input_ids"][0].tolist(),
            "token_type_ids": enc["token_type_ids"][0].tolist(),
            "embeddings": nested(res.hidden_states[0][0]),
            "layers": [nested(h[0]) for h in res.hidden_states[1:]],
            "pooled": nested(pooled[0]),
            "logits": g9(res.logits[0].tolist()),
        })
    return out


def make_small_vocab():
    base = os.path.join(MODELS, "small-vocab")
    shutil.rmtree(base, ignore_errors=True)
    config = tiny_config(128, 32, 2)
    config.id2label = {0: "irrelevant", 1: "relevant"}
    config.label2id = {"irrelevant": 0, "relevant": 1}
    model = randomize(BertForSequenceClassification(config), SEED + 1)
    model.save_pretrained(os.path.join(base, "f32"), safe_serialization=True)
    # .half() and .to() convert in place: convert copies so every variant comes from the same f32 weights.
    copy.deepcopy(model).half().save_pretrained(os.path.join(base, "f16"), safe_serialization=True)
    copy.deepcopy(model).to(torch.bfloat16).save_pretrained(os.path.join(base, "bf16"), safe_serialization=True)
    model.save_pretrained(os.path.join(base, "sharded"), safe_serialization=True, max_shard_size="30KB")
    assert os.path.exists(os.path.join(base, "sharded", "model.safetensors.index.json")), "sharding did not happen"

    bi = randomize(BertModel(tiny_config(128, 32, 2)), SEED + 2)
    bi_dir = os.path.join(base, "bi-encoder")
    bi.save_pretrained(bi_dir, safe_serialization=True)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    with open(os.path.join(bi_dir, "modules.json"), "w") as f:
        json.dump(modules, f, indent=2)
    os.makedirs(os.path.join(bi_dir, "1_Pooling"))
    with open(os.path.join(bi_dir, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
                   "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}, f, indent=2)


MINILM_TEXTS = [
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "how do aircraft wings generate lift",
    "The boundary layer separates from the wing at high angles of attack.",
    "",
    "   ",
    "a",
    "🙂 emoji only 🚀👩‍👩‍👧‍👦",
    "東京は日本の首都です。",
    "Crème brûlée is a dessert of rich custard.",
    "control\tcharacters\u0000and\u200bzero width\ufeff",
    "UPPERCASE AND lowercase and MiXeD",
    "numbers: 3.14159, 1e-12, -42, ½",
    "https://example.com/search?q=rerank&page=2",
    "supercalifragilisticexpialidocious " * 3,
    "The quick brown fox jumps over the lazy dog. " * 40,
    "Привет, как дела?",
    "[CLS] [SEP] [MASK] written as text",
    "Sentence embeddings map text to a dense vector space.",
    "Cross-encoders score a query and a document together.",
]


def minilm_goldens():
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(MINILM, device="cpu")
    st.eval()
    emb = st.encode(MINILM_TEXTS, convert_to_tensor=True, batch_size=len(MINILM_TEXTS))
    modules = [type(m).__name__ for m in st]
    max_len = st.max_seq_length
    tok = st.tokenizer
    cases = []
    for text, e in zip(MINILM_TEXTS, emb):
        ids = tok(text, truncation=True, max_length=max_len)["input_ids"]
        cases.append({"text": text, "input_ids": ids, "embedding": g9(e.tolist())})
    # Each text alone vs all in one padded batch: how much batching moves the reference.
    alone = torch.stack([st.encode([t], convert_to_tensor=True)[0] for t in MINILM_TEXTS])
    return {"modules": modules, "max_seq_length": max_len, "cases": cases}, (alone - emb).abs().max().item()


def write_json(name, obj):
    path = os.path.join(GOLDENS, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    return path


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    os.makedirs(GOLDENS, exist_ok=True)
    t0 = time.time()
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    model, tok = make_tiny_bert()
    cases, pad_diff = logits_goldens(model, tok)
    write_json("tiny-bert-logits.json", {
        "model": "test/fixtures/models/tiny-bert",
        "max_length": MAX_LENGTH,
        "made_by": "scripts/make_model_goldens.py",
        "versions": versions,
        "note": "logits of each pair run alone in float32, eval mode; input ids from the HF fast tokenizer",
        "cases": cases,
    })
    write_json("tiny-bert-hidden.json", {
        "model": "test/fixtures/models/tiny-bert",
        "max_length": MAX_LENGTH,
        "made_by": "scripts/make_model_goldens.py",
        "versions": versions,
        "note": "embeddings = embedding LayerNorm output; layers[i] = output of encoder layer i; pooled = tanh(dense(h[CLS]))",
        "cases": hidden_goldens(model, tok, [cases[0], cases[33], cases[37]]),
    })
    make_small_vocab()
    print(f"tiny-bert and small-vocab fixtures: {time.time() - t0:.1f}s; padded-batch vs alone max |diff| {pad_diff:.3g}")

    if os.path.exists(os.path.join(MINILM, "model.safetensors")):
        t1 = time.time()
        import sentence_transformers
        goldens, batch_diff = minilm_goldens()
        goldens.update({
            "model": "models/all-MiniLM-L6-v2",
            "made_by": "scripts/make_model_goldens.py",
            "versions": {**versions, "sentence_transformers": sentence_transformers.__version__},
        })
        write_json("minilm-embeddings.json", goldens)
        print(f"minilm embeddings: {time.time() - t1:.1f}s; batched vs alone max |diff| {batch_diff:.3g}")
    else:
        print(f"skipped minilm-embeddings.json: {MINILM} is absent (run bash scripts/fetch-model.sh)", file=sys.stderr)


if __name__ == "__main__":
    main()
