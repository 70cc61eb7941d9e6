#!/usr/bin/env python3
"""Makes two MiniLM-shaped models with seeded random weights, for timing on a machine that cannot take the
real 87 MB weights (the lent GPU machine: 64 MiB carry limit, no hub access). Timings do not depend on the
weight values, only on the shapes, which come from the real model's config.json.

  --src DIR   config.json + tokenizer files of all-MiniLM-L6-v2 (no weights needed)
  --out DIR   writes DIR/cross-encoder (BertForSequenceClassification, num_labels 1) and
              DIR/bi-encoder (sentence-transformers: BertModel + mean pooling + Normalize, modules.json),
              both as model.safetensors with the tokenizer files copied alongside.
"""
import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer, models
from transformers import BertConfig, BertForSequenceClassification, BertModel

TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]


def copy_tokenizer(src: Path, dst: Path) -> None:
    for name in TOKENIZER_FILES:
        if (src / name).exists():
            shutil.copy(src / name, dst / name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()

    raw = json.loads((a.src / "config.json").read_text())
    cross_dir = a.out / "cross-encoder"
    bi_dir = a.out / "bi-encoder"
    cross_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(a.seed)
    cfg = BertConfig(**{**raw, "num_labels": 1, "architectures": ["BertForSequenceClassification"]})
    BertForSequenceClassification(cfg).eval().save_pretrained(cross_dir, safe_serialization=True)
    copy_tokenizer(a.src, cross_dir)

    torch.manual_seed(a.seed + 1)
    with tempfile.TemporaryDirectory() as tmp:
        BertModel(BertConfig(**{**raw, "architectures": ["BertModel"]}), add_pooling_layer=False).save_pretrained(tmp, safe_serialization=True)
        copy_tokenizer(a.src, Path(tmp))
        max_seq = json.loads((a.src / "sentence_bert_config.json").read_text())["max_seq_length"] if (a.src / "sentence_bert_config.json").exists() else 256
        transformer = models.Transformer(tmp, max_seq_length=max_seq)
        dim = getattr(transformer, "get_embedding_dimension", None) or transformer.get_word_embedding_dimension  # renamed in sentence-transformers 6
        pooling = models.Pooling(dim(), pooling_mode="mean")
        SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu").save(str(bi_dir), safe_serialization=True)
    # sentence-transformers >= 6 writes new module paths (sentence_transformers.base.modules...) and a new
    # pooling config ({"pooling_mode": "mean"}); write the classic forms, as the real all-MiniLM-L6-v2 has
    # them, which every version (and gpurank's loader) reads.
    modules = json.loads((bi_dir / "modules.json").read_text())
    for m in modules:
        m["type"] = "sentence_transformers.models." + m["type"].rsplit(".", 1)[1]
    (bi_dir / "modules.json").write_text(json.dumps(modules, indent=2))
    pooling_config = {
        "word_embedding_dimension": raw["hidden_size"],
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    (bi_dir / "1_Pooling" / "config.json").write_text(json.dumps(pooling_config, indent=2))
    print(json.dumps({"cross_encoder": str(cross_dir), "bi_encoder": str(bi_dir), "seed": a.seed}))


if __name__ == "__main__":
    main()
