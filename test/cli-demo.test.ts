/**
 * `npm run demo` end to end on the bundled Cranfield data: spawns the built CLI (dist/, built by
 * `pretest`) and checks its first-stage numbers against `gpurank eval` on the same run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const model = 'models/all-MiniLM-L6-v2';
const fixtureTokenizer = 'test/fixtures/tokenizer/bert-base-uncased';

function gpurank(args: string[]) {
  const res = spawnSync(process.execPath, ['bin/gpurank.js', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('gpurank demo', () => {
  // The default model comes from `npm run setup`; the bundled test tokenizer has the same vocabulary.
  const modelDir = existsSync(`${root}${model}/tokenizer.json`) ? model : fixtureTokenizer;

  it('tokenizes every BM25 candidate pair, plans batches and reports first-stage quality', () => {
    const r = gpurank(['demo', '--model', modelDir, '--show', '2', '--max-length', '128']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Tokenized 22500 \(query, candidate\) pairs/);
    expect(r.stdout).toMatch(/truncated at 128/);
    const plan = /Batch plan under 16384 padded tokens: (\d+) batches, padding ([\d.]+)% \(input order would need (\d+) batches, padding ([\d.]+)%\)/.exec(r.stdout);
    expect(plan).not.toBeNull();
    expect(Number(plan![2])).toBeLessThan(Number(plan![4]));
    expect(Number(plan![1])).toBeLessThanOrEqual(Number(plan![3]));

    const row = /BM25 top-100\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)/.exec(r.stdout);
    expect(row).not.toBeNull();
    const ev = gpurank(['eval', '--qrels', 'data/cranfield/qrels.tsv', '--run', 'data/cranfield/bm25-top100.run',
      '-m', 'ndcg_cut_10,recip_rank,map', '--recip-rank-cutoff', '10', '--json']);
    expect(ev.status).toBe(0);
    const all = JSON.parse(ev.stdout).all;
    expect(Number(row![1])).toBeCloseTo(all.ndcg_cut_10, 4);
    expect(Number(row![2])).toBeCloseTo(all.recip_rank, 4);
    expect(Number(row![3])).toBeCloseTo(all.map, 4);
    expect((r.stdout.match(/^ {2}q\d+: /gm) ?? []).length).toBe(2);
    expect(r.stdout).toMatch(/not implemented in this build/);
  });

  it('rejects an unknown collection with one line', () => {
    const r = gpurank(['demo', '--collection', 'trec-covid']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe("gpurank: unknown collection 'trec-covid' (choose cranfield or cisi)");
  });

  it('rejects a model directory without tokenizer files with one line', () => {
    const r = gpurank(['demo', '--model', 'data/cranfield']);
    expect(r.status).toBe(1);
    const last = r.stderr.trim().split('\n').at(-1)!;
    expect(last).toMatch(/^gpurank: .*tokenizer/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
