"""Writes data/<collection>/bm25-top100.run: BM25 top-100 candidates per query, TREC run format.

Requires: pip install bm25s==0.3.16 PyStemmer==3.1.0
Usage:    python3 scripts/make_bm25_runs.py
"""
import json
import pathlib

import bm25s
import Stemmer

ROOT = pathlib.Path(__file__).resolve().parent.parent / "data"
TOP_K = 100


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    stemmer = Stemmer.Stemmer("english")
    for name in ("cranfield", "cisi"):
        folder = ROOT / name
        corpus = read_jsonl(folder / "corpus.jsonl")
        queries = read_jsonl(folder / "queries.jsonl")
        # Cranfield's text already begins with its title; CISI's does not.
        texts = [d["text"] if d["text"].startswith(d.get("title", "")) else f'{d.get("title", "")} {d["text"]}' for d in corpus]
        retriever = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
        retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
        q_tokens = bm25s.tokenize([q["text"] for q in queries], stopwords="en", stemmer=stemmer, show_progress=False)
        docs, scores = retriever.retrieve(q_tokens, k=min(TOP_K, len(corpus)), show_progress=False)
        lines = []
        for q, row, srow in zip(queries, docs, scores):
            for rank, (i, s) in enumerate(zip(row, srow), start=1):
                lines.append(f'{q["_id"]} Q0 {corpus[int(i)]["_id"]} {rank} {float(s):.6f} bm25s')
        (folder / "bm25-top100.run").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{name}: {len(queries)} queries -> {folder / 'bm25-top100.run'}")


if __name__ == "__main__":
    main()
