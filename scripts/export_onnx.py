#!/usr/bin/env python3
"""Exports a Hugging Face BERT directory to ONNX, for the onnxruntime baseline of the benchmarks.

    python3 -m venv /tmp/venv-model
    /tmp/venv-model/bin/pip install torch==2.15.0 transformers==5.24.0 onnx==1.23.2 onnxscript==0.7.2 onnxruntime==1.32.0
    /tmp/venv-model/bin/python scripts/export_onnx.py models/all-MiniLM-L6-v2 models/all-MiniLM-L6-v2/onnx/model.onnx

Graph contract (what bench/ feeds and reads):
- inputs `input_ids`, `attention_mask`, `token_type_ids`: int64 [batch, sequence], both axes dynamic;
- cross-encoder (BertForSequenceClassification): output `logits` float32 [batch, num_labels];
- bi-encoder (sentence-transformers modules.json): output `sentence_embedding` float32 [batch, hidden], the
  pooling (mean over attention_mask, or [CLS]) and the L2 normalization its modules.json asks for done
  inside the graph, so the ONNX side does the same work as gpurank's bi-encoder forward.

--kind is read from the directory when left out (modules.json present: bi-encoder). After the export the
graph is run with onnxruntime (CPU) on batches of other shapes than the export example, and compared with
torch; the script fails if the max abs difference exceeds 1e-4.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

TOLERANCE = 1e-4


class BiEncoder(torch.nn.Module):
    """BertModel + sentence-transformers Pooling (+ Normalize), as sentence-transformers computes them."""

    def __init__(self, bert, mode, normalize):
        super().__init__()
        self.bert, self.mode, self.normalize = bert, mode, normalize

    def forward(self, input_ids, attention_mask, token_type_ids):
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        if self.mode == "mean":
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        else:
            pooled = h[:, 0]
        return torch.nn.functional.normalize(pooled, p=2, dim=1) if self.normalize else pooled


class CrossEncoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits


def sentence_transformers_pooling(model_dir):
    """(mode, normalize) from modules.json and the Pooling module's config.json."""
    with open(os.path.join(model_dir, "modules.json")) as f:
        modules = json.load(f)
    types = [m["type"].rsplit(".", 1)[-1] for m in modules]
    pooling = next(m for m in modules if m["type"].endswith("Pooling"))
    with open(os.path.join(model_dir, pooling["path"], "config.json")) as f:
        cfg = json.load(f)
    modes = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v is True]
    names = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
    if len(modes) != 1 or modes[0] not in names:
        sys.exit(f"unsupported pooling {modes} in {model_dir}")
    extra = [t for t in types if t not in ("Transformer", "Pooling", "Normalize")]
    if extra:
        sys.exit(f"unsupported sentence-transformers modules {extra} in {model_dir}")
    return names[modes[0]], "Normalize" in types


def build(model_dir, kind):
    if kind == "bi-encoder":
        mode, normalize = sentence_transformers_pooling(model_dir)
        bert = AutoModel.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
        return BiEncoder(bert, mode, normalize).eval(), "sentence_embedding", f"{mode} pooling{' + normalize' if normalize else ''}"
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    return CrossEncoder(model).eval(), "logits", f"{model.config.num_labels} label(s)"


SAMPLE_QUERIES = ["how do wings make lift", "", "東京の天気 🙂", "boundary layer transition at supersonic speeds"]
SAMPLE_DOCS = [
    "The lift of a wing comes from the pressure difference between its surfaces.",
    "short",
    "Control\tcharacters and emoji 🚀 in a passage. " * 12,
    "",
]


def inputs(tokenizer, kind, n, max_length):
    q = (SAMPLE_QUERIES * n)[:n]
    d = (SAMPLE_DOCS * n)[:n]
    enc = tokenizer(q, d, padding=True, truncation=True, max_length=max_length, return_tensors="pt") if kind == "cross-encoder" \
        else tokenizer([a + " " + b for a, b in zip(q, d)], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    if "token_type_ids" not in enc:
        enc["token_type_ids"] = torch.zeros_like(enc["input_ids"])
    return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--kind", choices=["bi-encoder", "cross-encoder"])
    ap.add_argument("--opset", type=int, default=18)
    args = ap.parse_args()
    kind = args.kind or ("bi-encoder" if os.path.exists(os.path.join(args.model_dir, "modules.json")) else "cross-encoder")

    t0 = time.time()
    module, output, what = build(args.model_dir, kind)
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    example = inputs(tokenizer, kind, 2, 16)
    batch, seq = torch.export.Dim("batch", min=1, max=4096), torch.export.Dim("sequence", min=1, max=512)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            module,
            (example["input_ids"], example["attention_mask"], example["token_type_ids"]),
            args.out,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=[output],
            dynamic_shapes={name: {0: batch, 1: seq} for name in example},
            opset_version=args.opset,
            dynamo=True,
            external_data=False,
        )
    t_export = time.time() - t0

    import onnxruntime as ort

    session = ort.InferenceSession(args.out, providers=["CPUExecutionProvider"])
    worst = 0.0
    # Shapes other than the export example: dynamic batch and sequence axes, padding, truncation at 128.
    for n, max_length in [(1, 8), (3, 64), (8, 128), (5, 512)]:
        feed = inputs(tokenizer, kind, n, max_length)
        with torch.no_grad():
            want = module(**feed).numpy()
        got = session.run([output], {k: v.numpy() for k, v in feed.items()})[0]
        if got.shape != want.shape:
            sys.exit(f"onnxruntime gave shape {got.shape}, torch {want.shape} (batch {n}, max_length {max_length})")
        worst = max(worst, float(np.abs(got - want).max()))
    size_mb = os.path.getsize(args.out) / 1e6
    print(f"{args.out}: {kind} ({what}), output {output}, opset {args.opset}, {size_mb:.1f} MB; "
          f"export {t_export:.1f}s; onnxruntime vs torch max |diff| {worst:.3g}")
    if worst > TOLERANCE:
        sys.exit(f"onnxruntime and torch disagree by {worst:.3g} > {TOLERANCE}")


if __name__ == "__main__":
    main()
