/**
 * `gpurank score` and `gpurank rerank` end to end: spawns the built CLI (dist/, built by `pretest`) on the
 * tiny cross-encoder and checks its output against the PyTorch goldens, and each error path.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TINY_BERT, logitGoldens } from './bert-support.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const goldens = logitGoldens();

function gpurank(args: string[], input: string) {
  const res = spawnSync(process.execPath, ['bin/gpurank.js', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000, input });
  const stderr = res.stderr.split('\n').filter((l) => l && !l.startsWith('Warning:')); // Dawn's own stderr noise
  return { status: res.status, stdout: res.stdout, stderr };
}
const lines = (s: string) => s.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('gpurank score', () => {
  it('scores JSONL pairs in input order: logits equal PyTorch within 1e-4, score = sigmoid(logit)', () => {
    const input = goldens.map((g) => JSON.stringify({ query: g.query, document: g.document })).join('\n');
    const r = gpurank(['score', '--model', TINY_BERT, '--max-length', '128', '--batch-size', '7'], input);
    expect(r.stderr).toEqual([]);
    expect(r.status).toBe(0);
    const out = lines(r.stdout);
    expect(out).toHaveLength(goldens.length);
    out.forEach((o, i) => {
      expect(Math.abs(o.logit - goldens[i].logits[0])).toBeLessThanOrEqual(1e-4);
      expect(o.score).toBeCloseTo(1 / (1 + Math.exp(-o.logit)), 12);
    });
  });

  it('answers the lines before a malformed one, then fails with its line number', () => {
    const good = JSON.stringify({ query: 'q', document: 'd' });
    const r = gpurank(['score', '--model', TINY_BERT], `${good}\n${good}\n{"query": "q"}\n${good}\n`);
    expect(r.status).toBe(1);
    expect(lines(r.stdout)).toHaveLength(2);
    expect(r.stderr).toEqual(['gpurank: <stdin>:3: "document" is missing or not a string']);
  });

  it('rejects invalid JSON with its line number', () => {
    const r = gpurank(['score', '--model', TINY_BERT], '{"query":"q","document":"d"}\n{nope\n');
    expect(r.status).toBe(1);
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr[0]).toMatch(/^gpurank: <stdin>:2: line is not valid JSON/);
  });

  it('a directory without model files is one clear line', () => {
    const r = gpurank(['score', '--model', 'data/cranfield'], '{"query":"q","document":"d"}\n');
    expect(r.status).toBe(1);
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr[0]).toMatch(/^gpurank: .*config\.json/);
  });
});

describe('gpurank rerank', () => {
  const query = goldens[0].query;
  const docs = goldens.slice(0, 8).map((g) => g.document);

  it('ranks string documents best first with their input index', () => {
    const r = gpurank(['rerank', '--model', TINY_BERT, '--query', query], docs.map((d) => JSON.stringify(d)).join('\n'));
    expect(r.stderr).toEqual([]);
    expect(r.status).toBe(0);
    const out = lines(r.stdout);
    expect(out.map((o) => o.index).sort((a, b) => a - b)).toEqual([...docs.keys()]);
    for (let i = 1; i < out.length; i++) expect(out[i - 1].score).toBeGreaterThanOrEqual(out[i].score);
    out.forEach((o) => expect(o.document).toBe(docs[o.index]));
  });

  it('takes object documents with --field (dotted) and --top-k', () => {
    const input = docs.map((d, i) => JSON.stringify({ id: `doc-${i}`, body: { text: d } })).join('\n');
    const all = lines(gpurank(['rerank', '--model', TINY_BERT, '--query', query, '--field', 'body.text'], input).stdout);
    const r = gpurank(['rerank', '--model', TINY_BERT, '--query', query, '--field', 'body.text', '--top-k', '3'], input);
    expect(r.status).toBe(0);
    const top = lines(r.stdout);
    expect(top).toEqual(all.slice(0, 3));
    expect(top[0].document.id).toBe(`doc-${top[0].index}`);
  });

  it('a document without the field, and no documents at all, are one-line errors', () => {
    const missing = gpurank(['rerank', '--model', TINY_BERT, '--query', query, '--field', 'body'], '{"title":"x"}\n');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toEqual(["gpurank: <stdin>:1: document 0 has no string field 'body'"]);
    const none = gpurank(['rerank', '--model', TINY_BERT, '--query', query], '');
    expect(none.status).toBe(1);
    expect(none.stderr).toEqual(['gpurank: no documents on stdin']);
  });
});
