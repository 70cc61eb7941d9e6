#!/usr/bin/env python3
"""PyTorch peer of `npm run bench -- score`: the same query and passages (the score bench's `--dump` file),
the same MiniLM-shaped models, timed with sentence-transformers on CUDA (CPU when no CUDA device is present;
the output says which).

- cross-encoder: `CrossEncoder.predict` of the (query, passage) pairs, batch_size 32 and 100, fp32 and fp16;
- bi-encoder: `SentenceTransformer.encode` of [query] + passages (batch_size 32), fp32 and fp16, plus the
  cosines: the same call as gpurank's bi-encoder `score`.
Each case: warm-up calls, then `--runs` timed calls, each ending in `torch.cuda.synchronize()`.
`--scores-out FILE` writes the fp32 cross-encoder logits (for comparison with gpurank's on the same weights).
"""
import argparse
import json
import math
import subprocess
import time

import torch
from sentence_transformers import CrossEncoder, SentenceTransformer


def percentile(sorted_ms, p):
    i = min(len(sorted_ms) - 1, max(0, math.ceil(p / 100 * len(sorted_ms)) - 1))
    return sorted_ms[i]


def summary(ms, pairs):
    s = sorted(ms)
    p50 = percentile(s, 50)
    return {
        "runs_ms": [round(x, 2) for x in ms],
        "p50_ms": round(p50, 2),
        "p95_ms": round(percentile(s, 95), 2),
        "pairs_per_s": round(pairs / (p50 / 1000), 1),
    }


def timed(call, runs, warmup, sync):
    for _ in range(warmup):
        call()
    sync()
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        call()
        sync()
        ms.append((time.perf_counter() - t) * 1000)
    return ms


def to_half(model):
    # CrossEncoder is an nn.Module from sentence-transformers 5 on; before that it wraps one in `.model`.
    (model if isinstance(model, torch.nn.Module) else model.model).half()
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", required=True, help="JSON {query, docs} from the score bench's --dump")
    ap.add_argument("--cross", required=True)
    ap.add_argument("--bi", required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--scores-out")
    a = ap.parse_args()

    w = json.load(open(a.workload))
    query, docs = w["query"], w["docs"]
    pairs = [(query, d) for d in docs]
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    import sentence_transformers
    import transformers

    env = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu (no CUDA device: CPU timings, not a GPU peer)",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "cpu_threads": torch.get_num_threads(),
    }
    if cuda:
        try:
            env["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
        except OSError:
            pass
    out = {
        "suite": "torch-peer",
        "env": env,
        "workload": {"query": query, "docs": len(docs), "runs": a.runs, "warmup": a.warmup},
        "cross_encoder": {},
        "bi_encoder": {},
    }

    for dtype in ["fp32", "fp16"]:
        # max_length 512 as gpurank's score bench (the pairs are ~215 tokens, so nothing is cut either way).
        ce = CrossEncoder(a.cross, device=device, max_length=512)
        if dtype == "fp16":
            to_half(ce)
        def logits_fn(bs):
            # Raw logits, as gpurank returns them (the activation keyword was `activation_fct` before v4).
            try:
                return ce.predict(pairs, batch_size=bs, show_progress_bar=False, activation_fn=torch.nn.Identity())
            except TypeError:
                return ce.predict(pairs, batch_size=bs, show_progress_bar=False, activation_fct=torch.nn.Identity())

        for bs in [32, 100]:
            out["cross_encoder"][f"{dtype}_batch{bs}"] = summary(timed(lambda: logits_fn(bs), a.runs, a.warmup, sync), len(docs))
        if dtype == "fp32" and a.scores_out:
            json.dump({"logits": [float(x) for x in logits_fn(32)]}, open(a.scores_out, "w"))
        del ce

        st = SentenceTransformer(a.bi, device=device)
        if dtype == "fp16":
            st.half()

        def bi_call():
            emb = st.encode([query] + docs, batch_size=32, show_progress_bar=False, convert_to_tensor=True)
            return (emb[1:] @ emb[0]).cpu()

        out["bi_encoder"][f"{dtype}_batch32"] = summary(timed(bi_call, a.runs, a.warmup, sync), len(docs))
        del st
        if cuda:
            torch.cuda.empty_cache()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
