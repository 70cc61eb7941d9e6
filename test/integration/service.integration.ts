/**
 * The rerank service contract against a real `gpurank serve` process on loopback (the unit tests use
 * fastify's inject): auth, both rerank shapes, health, metrics, and a graceful SIGTERM. When an engine
 * runs, the documents come from its BM25 hits, as an Elasticsearch inference endpoint would send them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reranker } from '../../src/rerank/reranker.js';
import { ENGINES, bm25Query, calls, engineUrl, makeClient } from '../../scripts/engines/lib.js';

const TINY_BERT = 'test/fixtures/models/tiny-bert';
const KEY = 'integration-key';
const QUERY = 'what is information science';

let proc: ChildProcess;
let base: string;
let stderr = '';
let documents: string[];

beforeAll(async () => {
  proc = spawn(process.execPath, ['bin/gpurank.js', 'serve', '--model', TINY_BERT, '--max-length', '128', '--port', '0', '--api-key', KEY], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, GPURANK_LOG_LEVEL: 'warn' },
  });
  proc.stderr!.setEncoding('utf8');
  base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gpurank serve did not start in 60 s:\n${stderr}`)), 60_000);
    proc.stderr!.on('data', (chunk: string) => {
      stderr += chunk;
      const m = /serving .* on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.once('exit', (code) => reject(new Error(`gpurank serve exited with ${code}:\n${stderr}`)));
  });

  const engine = ENGINES.find((e) => engineUrl(e));
  if (engine) {
    const client = makeClient(engine, engineUrl(engine)!);
    const res = await calls(client).search({ index: 'cisi', body: { query: bm25Query(QUERY), size: 20 } as never });
    documents = (res.body.hits.hits as { _source: { text: string } }[]).map((h) => h._source.text);
    await client.close();
  } else {
    console.warn('[integration] no engine running: the service test ranks fixed documents instead of BM25 hits');
    documents = ['Information science studies how information is collected and retrieved.', 'A history of the Dewey Decimal Classification.', 'Bibliometrics of citation networks.'];
  }
});

afterAll(() => {
  if (proc.exitCode === null) proc.kill('SIGKILL');
});

const post = (path: string, body: unknown, key: string | null = KEY) =>
  fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });

describe('gpurank serve (a real process)', () => {
  it('refuses rerank requests without the bearer key (401, JSON error)', async () => {
    const res = await post('/v1/rerank', { query: QUERY, documents }, null);
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/json/);
  });

  it('POST /v1/rerank ranks every document, best first, with the scores of the in-process Reranker', async () => {
    const res = await post('/v1/rerank', { query: QUERY, documents, return_documents: true });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: { index: number; relevance_score: number; document?: { text: string } }[] };
    expect(results.map((r) => r.index).sort((a, b) => a - b)).toEqual(documents.map((_, i) => i));
    for (let i = 1; i < results.length; i++) expect(results[i - 1].relevance_score).toBeGreaterThanOrEqual(results[i].relevance_score);
    for (const r of results) expect(r.document?.text).toBe(documents[r.index]);
    const local = await Reranker.load(TINY_BERT, { maxLength: 128 });
    try {
      const logits = await local.score(QUERY, documents);
      for (const r of results) expect(r.relevance_score).toBeCloseTo(1 / (1 + Math.exp(-logits[r.index])), 5);
    } finally {
      await local.dispose();
    }
  });

  it('POST /rerank (TEI) honours top_n and agrees with /v1/rerank', async () => {
    const cohere = (await (await post('/v1/rerank', { query: QUERY, documents })).json()) as { results: { index: number }[] };
    const res = await post('/rerank', { query: QUERY, texts: documents, top_n: 3 });
    expect(res.status).toBe(200);
    const tei = (await res.json()) as { index: number; score: number }[];
    expect(tei.map((r) => r.index)).toEqual(cohere.results.slice(0, 3).map((r) => r.index));
  });

  it('GET /health and GET /metrics answer, the metrics counting the documents scored', async () => {
    const health = (await (await fetch(base + '/health')).json()) as { status: string; model: { name: string; kind: string } };
    expect(health).toMatchObject({ status: 'ok', model: { name: 'tiny-bert', kind: 'cross-encoder' } });
    const metrics = await (await fetch(base + '/metrics')).text();
    // Summed over the counter's label sets (one per endpoint).
    const scored = [...metrics.matchAll(/^gpurank_documents_scored_total(?:\{[^}]*\})? (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    expect(scored).toBeGreaterThanOrEqual(documents.length * 3);
  });

  it('exits 0 on SIGTERM', async () => {
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    const [code] = await Promise.race([exited, new Promise((_, reject) => setTimeout(() => reject(new Error('no exit in 20 s')), 20_000))]) as [number];
    expect(code).toBe(0);
    expect(stderr).toContain('gpurank: stopped');
  });
});
