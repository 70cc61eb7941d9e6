#!/usr/bin/env python3
"""Condenses scripts/device/run.sh's output folder into one results table (JSON on stdout): the card, gpurank's
score bench (cross-encoder and bi-encoder, f32/f16), the PyTorch peer on the same card, the matmul suite's
best rates, and score agreement between the engines on the same weights. Missing pieces are reported as such.
Usage: summarize.py OUT_DIR"""
import json
import sys
from pathlib import Path


def load(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return {"missing": f"{path.name}: {err.__class__.__name__}: {err}"}


def pick(d, keys=("p50_ms", "p95_ms", "pairs_per_s", "max_abs_diff_vs_f32", "skipped")):
    return {k: d[k] for k in keys if isinstance(d, dict) and k in d}


def main() -> None:
    out = Path(sys.argv[1])
    env = (out / "env.txt").read_text().splitlines() if (out / "env.txt").exists() else []
    cross, bi = load(out / "score-cross.json"), load(out / "score-bi.json")
    torch_r, matmul, doctor = load(out / "torch.json"), load(out / "matmul.json"), load(out / "doctor.json")
    adapter = cross.get("adapter") or doctor.get("adapter") or {}
    result = {
        "env": env,
        "adapter": {k: adapter.get(k) for k in ("description", "vendor", "architecture", "backend", "software", "subgroupMinSize", "subgroupMaxSize")}
        | {"features": [f for f in adapter.get("features", []) if f in ("shader-f16", "subgroups", "timestamp-query")]},
        "doctor_compute": doctor.get("compute", doctor.get("missing")),
        "weights": "MiniLM-shaped (all-MiniLM-L6-v2 config: 6 layers, hidden 384, 12 heads, FFN 1536), seeded random "
        "weights from scripts/device/make_minilm_shaped.py; timings depend on shapes, not weight values",
        "workload": cross.get("workload", cross.get("missing")),
        "gpurank": {
            "cross_encoder": {k: pick(v) for k, v in cross.get("gpurank", {}).items()} or cross.get("missing"),
            "bi_encoder": {k: pick(v) for k, v in bi.get("gpurank", {}).items()} or bi.get("missing"),
        },
        "torch": {
            "env": torch_r.get("env", torch_r.get("missing")),
            "cross_encoder": {k: pick(v) for k, v in torch_r.get("cross_encoder", {}).items()},
            "bi_encoder": {k: pick(v) for k, v in torch_r.get("bi_encoder", {}).items()},
        },
    }
    rows = matmul.get("results", [])
    result["matmul"] = {
        "note": matmul.get("note", matmul.get("missing")),
        "best_tflops": {
            d: max((r for r in rows if r["dtype"] == d), key=lambda r: r["gflops"]["median"], default=None)
            for d in ("f32", "f16")
        },
        "all": [
            {k: r[k] for k in ("variant", "kernel", "dtype", "m", "n", "k", "max_rel_err")} | {"tflops_median": round(r["gflops"]["median"] / 1000, 2)}
            for r in rows
        ],
    }
    for d, r in result["matmul"]["best_tflops"].items():
        if r:
            result["matmul"]["best_tflops"][d] = {"tflops_median": round(r["gflops"]["median"] / 1000, 2), "tflops_best": round(r["gflops"]["best"] / 1000, 2), "variant": r["variant"], "kernel": r["kernel"], "shape": [r["m"], r["n"], r["k"]]}
    # Same weights in both engines: gpurank's f32 logits (gpurank score CLI) against torch's fp32 ones.
    try:
        g = [json.loads(line)["logit"] for line in (out / "gpurank-scores.jsonl").read_text().splitlines() if line.strip()]
        t = json.loads((out / "torch-scores.json").read_text())["logits"]
        result["agreement"] = {"pairs": len(g), "max_abs_logit_diff_gpurank_f32_vs_torch_fp32": max(abs(a - b) for a, b in zip(g, t, strict=True))}
    except (OSError, ValueError, KeyError) as err:
        result["agreement"] = {"missing": f"{err.__class__.__name__}: {err}"}
    steps = out / "steps.txt"
    result["steps"] = steps.read_text().splitlines() if steps.exists() else []
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
