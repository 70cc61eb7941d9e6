/**
 * `gpurank demo` end to end on the bundled Cranfield data, kept small for lavapipe: the tiny cross-encoder
 * (pairs path) and, when `npm run setup` has fetched it, the default all-MiniLM-L6-v2 (bi-encoder path).
 * The BM25 row must equal `gpurank eval` on the same queries; the reranked rows must be real evaluations.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const MINILM = 'models/all-MiniLM-L6-v2';

function gpurank(args: string[]) {
  const res = spawnSync(process.execPath, ['bin/gpurank.js', ...args], { cwd: root, encoding: 'utf8', timeout: 240_000 });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr.split('\n').filter((l) => l && !l.startsWith('Warning:')) };
}

/** nDCG@10, MRR@10 and MAP of BM25 over the first `n` judged queries, by `gpurank eval`. */
function bm25Baseline(n: number): number[] {
  const run = readFileSync(join(root, 'data/cranfield/bm25-top100.run'), 'utf8').split('\n');
  const qids = [...new Set(run.filter(Boolean).map((l) => l.split(' ')[0]))].slice(0, n);
  const file = join(mkdtempSync(join(tmpdir(), 'gpurank-demo-')), 'bm25.run');
  writeFileSync(file, run.filter((l) => qids.includes(l.split(' ')[0])).join('\n') + '\n');
  const ev = gpurank(['eval', '--qrels', 'data/cranfield/qrels.tsv', '--run', file, '-m', 'ndcg_cut_10,recip_rank,map', '--recip-rank-cutoff', '10', '--json']);
  const all = JSON.parse(ev.stdout).all;
  return [all.ndcg_cut_10, all.recip_rank, all.map];
}

function table(stdout: string): Map<string, number[]> {
  const rows = new Map<string, number[]>();
  for (const line of stdout.split('\n')) {
    const m = /^ {2}(BM25 top-100|BM25 → rerank|BM25 \+ rerank \(RRF\))\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$/.exec(line);
    if (m) rows.set(m[1], [Number(m[2]), Number(m[3]), Number(m[4])]);
  }
  return rows;
}

describe('gpurank demo', () => {
  it('reranks with a cross-encoder and reports before/after quality', () => {
    const r = gpurank(['demo', '--model', 'test/fixtures/models/tiny-bert', '--queries', '4', '--window', '6', '--max-length', '64', '--show', '2']);
    expect(r.stderr).toEqual([]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/model: cross-encoder, f(16|32)/);
    expect(r.stdout).toMatch(/scored 24 \(query, document\) pairs/);
    const rows = table(r.stdout);
    expect([...rows.keys()]).toEqual(['BM25 top-100', 'BM25 → rerank', 'BM25 + rerank (RRF)']);
    bm25Baseline(4).forEach((v, i) => expect(rows.get('BM25 top-100')![i]).toBeCloseTo(v, 4));
    expect((r.stdout.match(/^ {2}q\d+: /gm) ?? []).length).toBe(2);
  });

  it.skipIf(!existsSync(join(root, MINILM, 'model.safetensors')))('reranks with the default bi-encoder, embedding each candidate once', () => {
    const r = gpurank(['demo', '--queries', '2', '--window', '5', '--max-length', '128']);
    expect(r.stderr).toEqual([]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/model: bi-encoder/);
    expect(r.stdout).toMatch(/embedded \d+ candidate documents and 2 queries/);
    const rows = table(r.stdout);
    bm25Baseline(2).forEach((v, i) => expect(rows.get('BM25 top-100')![i]).toBeCloseTo(v, 4));
    expect(rows.get('BM25 → rerank')).toHaveLength(3);
  });

  it('rejects an unknown collection and a directory without a model with one line each', () => {
    const bad = gpurank(['demo', '--collection', 'trec-covid']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toEqual(["gpurank: unknown collection 'trec-covid' (choose cranfield or cisi)"]);
    const noModel = gpurank(['demo', '--model', 'data/cranfield']);
    expect(noModel.status).toBe(1);
    expect(noModel.stderr).toHaveLength(1);
    expect(noModel.stderr[0]).toMatch(/^gpurank: /);
  });
});
