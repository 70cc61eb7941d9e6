/**
 * The rerank HTTP service through fastify's `inject`, on the real tiny cross-encoder: each endpoint's contract
 * with scores checked against the PyTorch goldens, and every error status. Only the queue test and the
 * opaque-500 test use wrappers around the real model (to make requests slow, or to fail in an unknown way).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Reranker } from '../src/rerank/reranker.js';
import { createServer, type ServedReranker, type ServerOptions } from '../src/server/index.js';
import { TINY_BERT, logitGoldens } from './bert-support.js';

const goldens = logitGoldens().filter((g) => g.query.trim() !== '');
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const docs = goldens.map((g) => g.document);
const q0 = goldens[0].query;

let reranker: Reranker;
let app: FastifyInstance;
const apps: FastifyInstance[] = [];
function serve(options: ServerOptions = {}, r: ServedReranker = reranker): FastifyInstance {
  const a = createServer(r, options);
  apps.push(a);
  return a;
}
const post = (a: FastifyInstance, url: string, payload: unknown, headers: Record<string, string> = {}) =>
  a.inject({ method: 'POST', url, payload: payload as object, headers });

beforeAll(async () => {
  reranker = await Reranker.load(TINY_BERT, { maxLength: 128 });
  app = serve({ modelName: 'tiny-bert' });
});
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await reranker?.dispose();
});

describe('POST /v1/rerank (Cohere)', () => {
  it('relevance_score = sigmoid(PyTorch logit) for each golden pair (|Δ| ≤ 1e-4), with an id and no document by default', async () => {
    const responses = await Promise.all(goldens.map((g) => post(app, '/v1/rerank', { query: g.query, documents: [g.document] })));
    responses.forEach((res, i) => {
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(typeof body.id).toBe('string');
      expect(body.results).toHaveLength(1);
      expect(body.results[0].index).toBe(0);
      expect(body.results[0]).not.toHaveProperty('document');
      expect(Math.abs(body.results[0].relevance_score - sigmoid(goldens[i].logits[0]))).toBeLessThanOrEqual(1e-4);
    });
  });

  it('ranks best first (ties by input order), top_n cuts, return_documents echoes {text}, {text} objects score as strings', async () => {
    const scores = await reranker.score(q0, docs);
    const expected = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b);
    const full = (await post(app, '/v1/rerank', { query: q0, documents: docs })).json();
    expect(full.results.map((r: { index: number }) => r.index)).toEqual(expected);
    full.results.forEach((r: { index: number; relevance_score: number }) => {
      expect(r.relevance_score).toBeCloseTo(sigmoid(scores[r.index]), 6);
      expect(r.relevance_score).toBeGreaterThan(0);
      expect(r.relevance_score).toBeLessThan(1);
    });
    // The golden pair in the list keeps its PyTorch score.
    const first = full.results.find((r: { index: number }) => r.index === 0);
    expect(Math.abs(first.relevance_score - sigmoid(goldens[0].logits[0]))).toBeLessThanOrEqual(1e-4);

    const cut = (await post(app, '/v1/rerank', { query: q0, documents: docs.map((text) => ({ text })), top_n: 3, return_documents: true })).json();
    expect(cut.results).toHaveLength(3);
    cut.results.forEach((r: { index: number; relevance_score: number; document: { text: string } }, i: number) => {
      expect(r.index).toBe(expected[i]);
      expect(r.relevance_score).toBe(full.results[i].relevance_score);
      expect(r.document).toEqual({ text: docs[r.index] });
    });
    // top_n beyond the list returns the whole list.
    expect((await post(app, '/v1/rerank', { query: q0, documents: docs.slice(0, 2), top_n: 10 })).json().results).toHaveLength(2);
  });
});

describe('POST /rerank (TEI)', () => {
  it('a bare array, best first: sigmoid scores by default, logits with raw_scores (|Δ| ≤ 1e-4 vs PyTorch)', async () => {
    const sample = goldens.slice(0, 12);
    for (const raw of [false, true]) {
      const responses = await Promise.all(sample.map((g) => post(app, '/rerank', { query: g.query, texts: [g.document], raw_scores: raw, truncate: true })));
      responses.forEach((res, i) => {
        expect(res.statusCode).toBe(200);
        const [hit, ...rest] = res.json();
        expect(rest).toEqual([]);
        expect(hit.index).toBe(0);
        expect(hit).not.toHaveProperty('text');
        const want = raw ? sample[i].logits[0] : sigmoid(sample[i].logits[0]);
        expect(Math.abs(hit.score - want)).toBeLessThanOrEqual(1e-4);
      });
    }
  });

  it('orders like the model, top_n cuts, return_text echoes the text', async () => {
    const scores = await reranker.score(q0, docs);
    const expected = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b);
    const res = await post(app, '/rerank', { query: q0, texts: docs, top_n: 5, return_text: true });
    expect(res.statusCode).toBe(200);
    const hits = res.json();
    expect(Array.isArray(hits)).toBe(true);
    expect(hits.map((h: { index: number }) => h.index)).toEqual(expected.slice(0, 5));
    hits.forEach((h: { index: number; score: number; text: string }) => {
      expect(h.score).toBeCloseTo(sigmoid(scores[h.index]), 6);
      expect(h.text).toBe(docs[h.index]);
    });
  });
});

describe('GET /health and /metrics', () => {
  it('/health: 200 with the model and limits', async () => {
    const res = await app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      status: 'ok',
      model: { name: 'tiny-bert', kind: 'cross-encoder', dtype: 'f32', max_length: 128 },
      limits: { max_documents: 1000, max_body_bytes: 10 * 1024 * 1024, concurrency: 1, queue: 64, timeout_ms: 30_000 },
      in_flight: 0,
      queue_depth: 0,
    });
  });

  it('/metrics: Prometheus text with request counts by route and status, latency, documents, queue depth, in-flight', async () => {
    const a = serve();
    await post(a, '/v1/rerank', { query: q0, documents: docs.slice(0, 7) });
    await post(a, '/rerank', { query: q0, texts: docs.slice(0, 3) });
    await post(a, '/rerank', { query: '', texts: ['x'] });
    const res = await a.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.body;
    expect(text).toContain('gpurank_http_requests_total{route="/v1/rerank",method="POST",status="200"} 1');
    expect(text).toContain('gpurank_http_requests_total{route="/rerank",method="POST",status="200"} 1');
    expect(text).toContain('gpurank_http_requests_total{route="/rerank",method="POST",status="400"} 1');
    expect(text).toContain('gpurank_http_request_duration_seconds_count{route="/v1/rerank"} 1');
    expect(text).toContain('gpurank_documents_scored_total{route="/v1/rerank"} 7');
    expect(text).toContain('gpurank_documents_scored_total{route="/rerank"} 3');
    expect(text).toContain('gpurank_queue_depth 0');
    expect(text).toContain('gpurank_in_flight 0');
  });
});

describe('errors', () => {
  const expectError = (res: { statusCode: number; json: () => { error: string; message: string } }, status: number, code?: string) => {
    expect(res.statusCode).toBe(status);
    const body = res.json();
    expect(typeof body.error).toBe('string');
    expect(typeof body.message).toBe('string');
    expect(body.message).not.toMatch(/\n\s+at /); // no stack traces
    if (code) expect(body.error).toBe(code);
  };

  it('400: empty or blank query, empty documents, missing fields, non-string documents, bad top_n, malformed JSON', async () => {
    const bad: [string, unknown, string][] = [
      ['/v1/rerank', { query: '', documents: ['a'] }, 'INVALID_REQUEST'],
      ['/v1/rerank', { query: '   ', documents: ['a'] }, 'EMPTY_QUERY'],
      ['/v1/rerank', { query: 'q', documents: [] }, 'INVALID_REQUEST'],
      ['/v1/rerank', { documents: ['a'] }, 'INVALID_REQUEST'],
      ['/v1/rerank', { query: 'q' }, 'INVALID_REQUEST'],
      ['/v1/rerank', { query: 'q', documents: ['a', 5] }, 'INVALID_REQUEST'],
      ['/v1/rerank', { query: 'q', documents: [null] }, 'INVALID_REQUEST'],
      ['/v1/rerank', { query: 'q', documents: [{ body: 'no text field' }] }, 'INVALID_REQUEST'],
      ['/v1/rerank', { query: 'q', documents: 'a' }, 'INVALID_REQUEST'],
      ['/v1/rerank', { query: 5, documents: ['a'] }, 'INVALID_REQUEST'],
      ['/v1/rerank', { query: 'q', documents: ['a'], top_n: 0 }, 'INVALID_REQUEST'],
      ['/rerank', { query: '', texts: ['a'] }, 'INVALID_REQUEST'],
      ['/rerank', { query: 'q', texts: [] }, 'INVALID_REQUEST'],
      ['/rerank', { query: 'q', texts: [{ text: 'objects are not TEI' }] }, 'INVALID_REQUEST'],
      ['/rerank', { query: 'q', texts: ['a'], raw_scores: 'yes' }, 'INVALID_REQUEST'],
      ['/rerank', [], 'INVALID_REQUEST'],
    ];
    for (const [url, payload, code] of bad) expectError(await post(app, url, payload), 400, code);
    const malformed = await app.inject({ method: 'POST', url: '/v1/rerank', payload: '{"query": "q", "documents": [', headers: { 'content-type': 'application/json' } });
    expectError(malformed, 400);
    // The service is still up.
    expect((await post(app, '/rerank', { query: q0, texts: ['a'] })).statusCode).toBe(200);
  });

  it('unicode garbage in valid JSON strings is scored, not a crash: lone surrogates, controls, emoji, invalid UTF-8 bytes', async () => {
    const garbage = ['\ud800\udfff\ud800', '\u0000\u0001\u001f\u007f', '🦀'.repeat(500), '\u202e\u200b\ufeff', 'e\u0301'.repeat(300)];
    const res = await post(app, '/v1/rerank', { query: '\udc00 ☃ query', documents: garbage });
    expect(res.statusCode).toBe(200);
    expect(res.json().results.every((r: { relevance_score: number }) => Number.isFinite(r.relevance_score))).toBe(true);
    const bytes = Buffer.concat([Buffer.from('{"query":"q","texts":["'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('"]}')]);
    const raw = await app.inject({ method: 'POST', url: '/rerank', payload: bytes, headers: { 'content-type': 'application/json' } });
    expect(raw.statusCode).toBe(200);
    expect(Number.isFinite(raw.json()[0].score)).toBe(true);
  });

  it('401: missing or wrong bearer key on the rerank routes (also from a key of another length); /health stays open', async () => {
    const a = serve({ apiKey: 's3cret-key' });
    const body = { query: q0, documents: ['a'] };
    const missing = await post(a, '/v1/rerank', body);
    expectError(missing, 401, 'UNAUTHORIZED');
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    expectError(await post(a, '/v1/rerank', body, { authorization: 'Bearer s3cret-kez' }), 401, 'UNAUTHORIZED');
    expectError(await post(a, '/rerank', { query: q0, texts: ['a'] }, { authorization: 'Bearer s' }), 401, 'UNAUTHORIZED');
    expectError(await post(a, '/rerank', { query: q0, texts: ['a'] }, { authorization: 'Basic s3cret-key' }), 401, 'UNAUTHORIZED');
    expect((await post(a, '/v1/rerank', body, { authorization: 'Bearer s3cret-key' })).statusCode).toBe(200);
    expect((await post(a, '/rerank', { query: q0, texts: ['a'] }, { authorization: 'bearer s3cret-key' })).statusCode).toBe(200);
    expect((await a.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });

  it('413: a body over the limit (an 11 MB body under the 10 MB default), too many documents (1001 and 100k)', async () => {
    const big = { query: 'q', documents: ['x'.repeat(11 * 1024 * 1024)] };
    expectError(await post(app, '/v1/rerank', big), 413, 'FST_ERR_CTP_BODY_TOO_LARGE');
    const over = await post(app, '/v1/rerank', { query: 'q', documents: Array.from({ length: 1001 }, () => 'd') });
    expectError(over, 413, 'TOO_MANY_DOCUMENTS');
    expect(over.json().message).toContain('at most 1000');
    expectError(await post(app, '/rerank', { query: 'q', texts: Array.from({ length: 100_000 }, (_, i) => `doc ${i}`) }), 413, 'TOO_MANY_DOCUMENTS');
    const small = serve({ maxBodyBytes: 1024, maxDocuments: 2 });
    expectError(await post(small, '/rerank', { query: 'q', texts: ['y'.repeat(2000)] }), 413, 'FST_ERR_CTP_BODY_TOO_LARGE');
    expectError(await post(small, '/rerank', { query: 'q', texts: ['a', 'b', 'c'] }), 413, 'TOO_MANY_DOCUMENTS');
    expect((await post(small, '/rerank', { query: 'q', texts: ['a', 'b'] })).statusCode).toBe(200);
  });

  it('504: the per-request deadline (real model, 1000 documents, 1 ms)', async () => {
    const a = serve({ timeoutMs: 1 });
    const res = await post(a, '/rerank', { query: q0, texts: Array.from({ length: 1000 }, (_, i) => docs[i % docs.length]) });
    expectError(res, 504, 'TIMEOUT');
    expect((await a.inject({ method: 'GET', url: '/health' })).json()).toMatchObject({ in_flight: 0, queue_depth: 0 });
  });

  it('500: a model error keeps its typed code and message; an unknown failure is opaque (no message, no stack)', async () => {
    const disposed = await Reranker.load(TINY_BERT, { maxLength: 32 });
    await disposed.dispose();
    expectError(await post(serve({}, disposed), '/v1/rerank', { query: 'q', documents: ['a'] }), 500, 'DISPOSED');
    const broken: ServedReranker = {
      kind: 'cross-encoder',
      dtype: 'f32',
      maxLength: 128,
      score: () => Promise.reject(new TypeError('cannot read /secret/internal/path')),
    };
    const res = await post(serve({}, broken), '/rerank', { query: 'q', texts: ['a'] });
    expectError(res, 500, 'INTERNAL_ERROR');
    expect(res.body).not.toContain('secret');
  });

  it('404: unknown routes answer JSON', async () => {
    expectError(await app.inject({ method: 'GET', url: '/v2/rerank' }), 404, 'NOT_FOUND');
  });

  it('bad server options are refused when the server is built', () => {
    expect(() => createServer(reranker, { concurrency: 0 })).toThrow(/concurrency/);
    expect(() => createServer(reranker, { queue: -1 })).toThrow(/queue/);
  });
});

describe('concurrency limit and bounded queue', () => {
  it('concurrency 1, queue 1: the second request waits, the third gets 429 at once; all slots are freed after', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // Holds every call until the gate opens, then scores with the real model.
    const slow: ServedReranker = {
      kind: reranker.kind,
      dtype: reranker.dtype,
      maxLength: reranker.maxLength,
      score: async (q, texts, options) => {
        await gate;
        return reranker.score(q, texts, options);
      },
    };
    const a = serve({ concurrency: 1, queue: 1 }, slow);
    const body = { query: goldens[1].query, texts: [goldens[1].document] };
    const first = post(a, '/rerank', body);
    const second = post(a, '/rerank', body);
    await new Promise((r) => setTimeout(r, 50));
    const health = (await a.inject({ method: 'GET', url: '/health' })).json();
    expect(health).toMatchObject({ in_flight: 1, queue_depth: 1 });
    const metrics = (await a.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('gpurank_queue_depth 1');
    expect(metrics).toContain('gpurank_in_flight 1');
    const third = await post(a, '/rerank', body);
    expect(third.statusCode).toBe(429);
    expect(third.json().error).toBe('QUEUE_FULL');
    release();
    const done = await Promise.all([first, second]);
    for (const res of done) {
      expect(res.statusCode).toBe(200);
      expect(Math.abs(res.json()[0].score - sigmoid(goldens[1].logits[0]))).toBeLessThanOrEqual(1e-4);
    }
    expect((await a.inject({ method: 'GET', url: '/health' })).json()).toMatchObject({ in_flight: 0, queue_depth: 0 });
    expect((await post(a, '/rerank', body)).statusCode).toBe(200);
  });
});
