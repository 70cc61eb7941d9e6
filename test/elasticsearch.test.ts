/**
 * `withReranking` and `mineCandidates` on real clients with mocked connections: `@elastic/elasticsearch` v9
 * through `@elastic/elasticsearch-mock`, and `@opensearch-project/opensearch` through an injected Connection
 * that answers from the same fake engine. Happy paths rerank with the real tiny cross-encoder; failure paths use
 * scorers that throw or hang. Expected orders are recomputed here from the model's own scores.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Client as EsClient, errors as esErrors } from '@elastic/elasticsearch';
import MockModule from '@elastic/elasticsearch-mock';
import { Client as OsClient, Connection as OsConnection } from '@opensearch-project/opensearch';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GpurankError, InputError } from '../src/errors.js';
import { Reranker } from '../src/rerank/reranker.js';
import { hitText, inferQuery, mineCandidates, RerankFailedError, withReranking, type Scorer } from '../src/elasticsearch/index.js';
import { TINY_BERT } from './bert-support.js';

const SENTENCES = [
  'the boundary layer separates near the trailing edge of the wing',
  'heat transfer in hypersonic flow over a blunt body',
  'a cat sat on the warm mat by the door',
  'supersonic jets produce shock cells and screech tones',
  'laminar flow becomes turbulent at high reynolds numbers',
  'the stock market fell sharply on tuesday',
  'pressure distribution on a delta wing at incidence',
  'buckling of thin cylindrical shells under axial load',
  'recipes for bread need flour water salt and yeast',
  'skin friction drag measured in a wind tunnel',
  'vortex shedding behind a circular cylinder',
  'the election results were announced at midnight',
  'stagnation point heating of re-entry vehicles',
  'transition of the boundary layer on a flat plate',
  'flutter of aircraft panels in supersonic flow',
  'a short history of the printing press',
  'compressible flow through converging diverging nozzles',
  'aeroelastic response of slender wings',
  'ice cream melts quickly in the summer sun',
  'numerical solution of the navier stokes equations',
  'shock wave boundary layer interaction on ramps',
  'gardening tips for growing tomatoes',
  'heat shield ablation during atmospheric entry',
  'wing tip vortices and induced drag',
  'the orchestra played a symphony by brahms',
];
interface Doc {
  _id: string;
  _score: number;
  _source: { title: string; body?: { text: string } };
  highlight?: Record<string, string[]>;
}
// The mock is CommonJS (`module.exports = Mocker`) while its typings declare a default export.
const Mock = MockModule as unknown as typeof MockModule.default;
type EsConnectionClass = NonNullable<NonNullable<ConstructorParameters<typeof EsClient>[0]>['Connection']>;

const DOCS: Doc[] = SENTENCES.map((text, i) => ({ _id: `d${i}`, _score: 30 - i, _source: { title: `doc ${i}`, body: { text } } }));
const QUERY = 'boundary layer flow over a wing';
const AGGS = { by_year: { buckets: [{ key: 1960, doc_count: 12 }, { key: 1961, doc_count: 13 }] } };
const SUGGEST = { s: [{ text: 'wnig', offset: 0, length: 4, options: [{ text: 'wing', score: 0.75 }] }] };

/** The fake engine: answers `from`/`size` of DOCS (the engine's order) and records each request body. */
function engine(seen: Record<string, unknown>[], docs = DOCS) {
  return (body: Record<string, any>, querystring: Record<string, any> = {}) => {
    seen.push({ ...body, ...querystring });
    const from = Number(querystring.from ?? body.from ?? 0);
    const size = Number(querystring.size ?? body.size ?? 10);
    const page = docs.slice(from, from + size);
    return {
      took: 7,
      timed_out: false,
      _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
      hits: { total: { value: docs.length, relation: 'eq' }, max_score: page[0]?._score ?? null, hits: page.map((d) => ({ _index: 'docs', ...d })) },
      aggregations: AGGS,
      suggest: SUGGEST,
    };
  };
}

function esClient(seen: Record<string, unknown>[], docs = DOCS) {
  const mock = new Mock();
  const answer = engine(seen, docs);
  mock.add({ method: ['GET', 'POST'], path: '/docs/_search' }, (params: any) => answer(params.body ?? {}, params.querystring));
  // The mock's typings name the CommonJS build of @elastic/transport, the client's its ESM build.
  const Connection = mock.getConnection() as unknown as EsConnectionClass;
  return { client: new EsClient({ node: 'http://localhost:9200', Connection, maxRetries: 0 }), mock };
}

/** An OpenSearch Connection that answers from the fake engine instead of the network. */
function osClient(seen: Record<string, unknown>[]) {
  const answer = engine(seen);
  class FakeConnection extends OsConnection {
    override request(params: any, callback: (err: Error | null, res: any) => void) {
      const query = Object.fromEntries(new URLSearchParams(params.querystring ?? ''));
      const payload = JSON.stringify(answer(params.body ? JSON.parse(params.body) : {}, query));
      const res: any = new PassThrough();
      res.statusCode = 200;
      res.headers = { 'content-type': 'application/json; charset=UTF-8', 'content-length': String(Buffer.byteLength(payload)) };
      process.nextTick(() => {
        callback(null, res);
        res.end(payload);
      });
      return { abort: () => {} } as any;
    }
  }
  return new OsClient({ node: 'http://localhost:9200', Connection: FakeConnection as any, maxRetries: 0 });
}

/** The tiny model's order of `texts` (stable: ties keep input order), and its scores. */
async function modelOrder(query: string, texts: string[]) {
  const scores = Array.from(await reranker.score(query, texts));
  const order = texts.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  return { order, scores };
}

const failing = (err: Error): Scorer => ({ score: vi.fn(async () => Promise.reject(err)) });
const silent = () => {};

let reranker: Reranker;
beforeAll(async () => {
  reranker = await Reranker.load(TINY_BERT, { maxLength: 64 });
});
afterAll(async () => {
  await reranker?.dispose();
});

describe('withReranking on @elastic/elasticsearch v9', () => {
  it('fetches the default window of 100, reranks it with the model and returns the first page, annotated', async () => {
    const seen: Record<string, unknown>[] = [];
    const { client } = esClient(seen);
    const es = withReranking(client, reranker, { field: 'body.text' });
    const res: any = await es.search({ index: 'docs', query: { match: { 'body.text': QUERY } }, size: 5 });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ from: 0, size: 100 });
    const { order, scores } = await modelOrder(QUERY, SENTENCES);
    expect(res.hits.hits.map((h: any) => h._id)).toEqual(order.slice(0, 5).map((i) => `d${i}`));
    res.hits.hits.forEach((h: any, j: number) => {
      const i = order[j];
      expect(h._score).toBeCloseTo(scores[i], 5);
      expect(h._rerank).toEqual({ score: h._score, original_score: 30 - i, original_rank: i });
      expect(h._source).toEqual(DOCS[i]._source);
    });
    expect(res.hits.max_score).toBe(res.hits.hits[0]._score);
    expect(res.gpurank).toMatchObject({ reranked: true, window: 100 });
    expect(res.gpurank.ms).toBeGreaterThanOrEqual(0);
  });

  it('passes aggregations, total, took, _shards and suggest through untouched', async () => {
    const { client } = esClient([]);
    const res: any = await withReranking(client, reranker, { field: 'body.text' }).search({ index: 'docs', query: { match: { 'body.text': QUERY } } });
    expect(res.aggregations).toEqual(AGGS);
    expect(res.suggest).toEqual(SUGGEST);
    expect(res.hits.total).toEqual({ value: DOCS.length, relation: 'eq' });
    expect(res.took).toBe(7);
    expect(res._shards).toEqual({ total: 1, successful: 1, skipped: 0, failed: 0 });
    expect(res.hits.hits).toHaveLength(10);
  });

  it('slices from/size inside the window out of one reranked window', async () => {
    const seen: Record<string, unknown>[] = [];
    const { client } = esClient(seen);
    const es = withReranking(client, reranker, { field: 'body.text', window: 20 });
    const res: any = await es.search({ index: 'docs', query: { match: { 'body.text': QUERY } }, from: 5, size: 5 });
    expect(seen[0]).toMatchObject({ from: 0, size: 20 });
    const { order } = await modelOrder(QUERY, SENTENCES.slice(0, 20));
    expect(res.hits.hits.map((h: any) => h._id)).toEqual(order.slice(5, 10).map((i) => `d${i}`));
  });

  it('grows the window to from + size at its edge', async () => {
    const seen: Record<string, unknown>[] = [];
    const { client } = esClient(seen);
    const es = withReranking(client, reranker, { field: 'body.text', window: 20 });
    const res: any = await es.search({ index: 'docs', query: { match: { 'body.text': QUERY } }, from: 15, size: 8, rerank: { window: 10 } });
    expect(seen[0]).toMatchObject({ from: 0, size: 23 });
    const { order } = await modelOrder(QUERY, SENTENCES.slice(0, 23));
    expect(res.hits.hits.map((h: any) => h._id)).toEqual(order.slice(15, 23).map((i) => `d${i}`));
    expect(res.gpurank.window).toBe(23);
  });

  it('returns a short last page when the engine has fewer hits than from + size', async () => {
    const { client } = esClient([]);
    const res: any = await withReranking(client, reranker, { field: 'body.text' }).search({ index: 'docs', query: { match: { 'body.text': QUERY } }, from: 20, size: 10 });
    const { order } = await modelOrder(QUERY, SENTENCES);
    expect(res.hits.hits.map((h: any) => h._id)).toEqual(order.slice(20).map((i) => `d${i}`));
  });

  it('ranks hits without text last, in the engine order, with a null score', async () => {
    const docs = DOCS.slice(0, 8).map((d, i) => (i === 1 || i === 4 ? { ...d, _source: { title: d._source.title } } : d));
    const { client } = esClient([], docs);
    const res: any = await withReranking(client, reranker, { field: 'body.text' }).search({ index: 'docs', query: { match: { 'body.text': QUERY } }, size: 8 });
    const ids = res.hits.hits.map((h: any) => h._id);
    expect(ids.slice(6)).toEqual(['d1', 'd4']);
    expect(res.hits.hits[6]._rerank).toEqual({ score: null, original_score: 29, original_rank: 1 });
    expect(res.hits.hits[7]._score).toBeNull();
    const kept = [0, 2, 3, 5, 6, 7];
    const { order } = await modelOrder(QUERY, kept.map((i) => SENTENCES[i]));
    expect(ids.slice(0, 6)).toEqual(order.map((j) => `d${kept[j]}`));
  });

  it('uses the per-request query and topK: only the best topK are reranked, the rest follow in engine order', async () => {
    const { client } = esClient([]);
    const q = 'shock waves';
    const res: any = await withReranking(client, reranker, { field: 'body.text' }).search({
      index: 'docs',
      query: { bool: { should: [{ match: { 'body.text': 'a' } }, { match: { title: 'b' } }] } },
      size: 12,
      rerank: { query: q, topK: 6 },
    });
    const { order } = await modelOrder(q, SENTENCES.slice(0, 6));
    expect(res.hits.hits.map((h: any) => h._id)).toEqual([...order.map((i) => `d${i}`), 'd6', 'd7', 'd8', 'd9', 'd10', 'd11']);
    expect(res.hits.hits[6]._rerank).toBeUndefined();
  });

  it('fuses with the engine order by RRF', async () => {
    const { client } = esClient([]);
    const es = withReranking(client, reranker, { field: 'body.text', window: 10, blend: { method: 'rrf', k: 10 } });
    const res: any = await es.search({ index: 'docs', query: { match: { 'body.text': QUERY } } });
    const { order, scores } = await modelOrder(QUERY, SENTENCES.slice(0, 10));
    const fused = Array.from({ length: 10 }, (_, i) => 1 / (10 + i + 1) + 1 / (10 + order.indexOf(i) + 1));
    const expected = fused.map((_, i) => i).sort((a, b) => fused[b] - fused[a] || a - b);
    expect(res.hits.hits.map((h: any) => h._id)).toEqual(expected.map((i) => `d${i}`));
    for (const h of res.hits.hits) {
      const i = h._rerank.original_rank;
      expect(h._rerank.blended_score).toBeCloseTo(fused[i], 9);
      expect(h._score).toBe(h._rerank.blended_score);
      expect(h._rerank.score).toBeCloseTo(scores[i], 5);
    }
  });

  it('blends linearly with min-max normalisation', async () => {
    const { client } = esClient([]);
    const es = withReranking(client, reranker, { field: 'body.text', window: 10, blend: { method: 'linear', alpha: 0.7, normalization: 'minmax' } });
    const res: any = await es.search({ index: 'docs', query: { match: { 'body.text': QUERY } } });
    const { scores } = await modelOrder(QUERY, SENTENCES.slice(0, 10));
    const engineScores = scores.map((_, i) => 30 - i);
    const mm = (xs: number[]) => xs.map((x) => (x - Math.min(...xs)) / (Math.max(...xs) - Math.min(...xs)));
    const [r, e] = [mm(scores), mm(engineScores)];
    const blended = r.map((x, i) => 0.7 * x + 0.3 * e[i]);
    const expected = blended.map((_, i) => i).sort((a, b) => blended[b] - blended[a] || a - b);
    expect(res.hits.hits.map((h: any) => h._id)).toEqual(expected.map((i) => `d${i}`));
    res.hits.hits.forEach((h: any) => expect(h._score).toBeCloseTo(blended[h._rerank.original_rank], 5));
  });

  it('falls back to the engine order when the reranker throws: flagged, logged once', async () => {
    const { client } = esClient([]);
    const logger = vi.fn();
    const scorer = failing(new Error('GPU on fire'));
    const es = withReranking(client, scorer, { field: 'body.text', window: 20, logger });
    const first: any = await es.search({ index: 'docs', query: { match: { 'body.text': QUERY } }, from: 3, size: 4 });
    expect(first.hits.hits.map((h: any) => h._id)).toEqual(['d3', 'd4', 'd5', 'd6']);
    expect(first.hits.hits[0]._score).toBe(27);
    expect(first.hits.hits[0]._rerank).toBeUndefined();
    expect(first.gpurank).toEqual({ reranked: false, error: 'GPU on fire' });
    expect(first.aggregations).toEqual(AGGS);
    const second: any = await es.search({ index: 'docs', query: { match: { 'body.text': QUERY } } });
    expect(second.gpurank.reranked).toBe(false);
    expect(scorer.score).toHaveBeenCalledTimes(2);
    expect(logger).toHaveBeenCalledTimes(1);
    expect(logger.mock.calls[0][0]).toMatch(/GPU on fire/);
  });

  it('falls back on timeout, even when the scorer ignores timeoutMs', async () => {
    const { client } = esClient([]);
    const logger = vi.fn();
    const hanging: Scorer = { score: vi.fn(() => new Promise<Float32Array>(() => {})) };
    const es = withReranking(client, hanging, { field: 'body.text', timeoutMs: 50, logger });
    const res: any = await es.search({ index: 'docs', query: { match: { 'body.text': QUERY } }, size: 3 });
    expect(res.hits.hits.map((h: any) => h._id)).toEqual(['d0', 'd1', 'd2']);
    expect(res.gpurank).toEqual({ reranked: false, error: 'reranking timed out after 50 ms' });
    expect(hanging.score).toHaveBeenCalledWith(QUERY, SENTENCES, { timeoutMs: 50 });
    expect(logger).toHaveBeenCalledTimes(1);
  });

  it('falls back when the real reranker times out in its queue', async () => {
    const { client } = esClient([]);
    const logger = vi.fn();
    const es = withReranking(client, reranker, { field: 'body.text', timeoutMs: 1, logger });
    // A long job ahead in the Reranker's queue makes the 1 ms deadline expire while queued.
    const ahead = reranker.score(QUERY, Array.from({ length: 200 }, (_, i) => SENTENCES[i % SENTENCES.length]));
    const res: any = await es.search({ index: 'docs', query: { match: { 'body.text': QUERY } }, size: 3 });
    await ahead;
    expect(res.gpurank).toEqual({ reranked: false, error: 'rerank timed out after 1 ms' });
    expect(res.hits.hits.map((h: any) => h._id)).toEqual(['d0', 'd1', 'd2']);
  });

  it('falls back when the scorer returns the wrong number of scores, or a linear blend meets hits without _score', async () => {
    const { client } = esClient([]);
    const short: Scorer = { score: async () => new Float32Array(2) };
    const res: any = await withReranking(client, short, { field: 'body.text', logger: silent }).search({ index: 'docs', query: { match: { 'body.text': QUERY } }, size: 2 });
    expect(res.gpurank).toEqual({ reranked: false, error: 'the reranker returned 2 scores for 25 documents' });
    const unscored = DOCS.slice(0, 5).map((d) => ({ ...d, _score: null as unknown as number }));
    const sorted = esClient([], unscored).client;
    const blended: any = await withReranking(sorted, reranker, { field: 'body.text', blend: { method: 'linear', alpha: 0.5 }, logger: silent }).search({
      index: 'docs',
      query: { match: { 'body.text': QUERY } },
      sort: [{ year: 'desc' }],
    });
    expect(blended.gpurank.reranked).toBe(false);
    expect(blended.gpurank.error).toMatch(/linear blend needs the engine _score/);
    expect(blended.hits.hits.map((h: any) => h._id)).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
  });

  it("raises a typed RerankFailedError with the cause in 'throw' mode", async () => {
    const { client } = esClient([]);
    const cause = new Error('GPU on fire');
    const es = withReranking(client, failing(cause), { field: 'body.text', onError: 'throw', logger: silent });
    const err = await es.search({ index: 'docs', query: { match: { 'body.text': QUERY } } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RerankFailedError);
    expect(err).toBeInstanceOf(GpurankError);
    expect((err as RerankFailedError).code).toBe('RERANK_FAILED');
    expect((err as RerankFailedError).cause).toBe(cause);
  });

  it('propagates engine errors unchanged, without calling the reranker', async () => {
    const scorer: Scorer = { score: vi.fn() };
    // Nothing listens on loopback port 1: the real client raises its own ConnectionError.
    const down = withReranking(new EsClient({ node: 'http://127.0.0.1:1', maxRetries: 0 }), scorer, { field: 'body.text', onError: 'throw' });
    const err = await down.search({ index: 'docs', query: { match: { 'body.text': QUERY } } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(esErrors.ConnectionError);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    const { client } = esClient([]);
    const es = withReranking(client, scorer, { field: 'body.text', onError: 'throw' });
    const missing = await es.search({ index: 'nope', query: { match: { 'body.text': QUERY } } }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(esErrors.ResponseError);
    expect((missing as esErrors.ResponseError).statusCode).toBe(404);
    expect(scorer.score).not.toHaveBeenCalled();
  });

  it('sends searches through untouched with rerank.enabled false, size 0, and keeps other client methods', async () => {
    const seen: Record<string, unknown>[] = [];
    const { client } = esClient(seen);
    const scorer: Scorer = { score: vi.fn() };
    const es = withReranking(client, scorer, { field: 'body.text' });
    const off: any = await es.search({ index: 'docs', query: { match: { 'body.text': QUERY } }, size: 3, rerank: { enabled: false } });
    expect(seen[0]).toMatchObject({ size: 3 });
    expect(seen[0]).not.toHaveProperty('rerank');
    expect(off.gpurank).toBeUndefined();
    expect(off.hits.hits.map((h: any) => h._id)).toEqual(['d0', 'd1', 'd2']);
    const aggsOnly: any = await es.search({ index: 'docs', size: 0, aggs: { by_year: { terms: { field: 'year' } } } });
    expect(aggsOnly.aggregations).toEqual(AGGS);
    expect(scorer.score).not.toHaveBeenCalled();
    expect(es.transport).toBe(client.transport);
    expect(typeof es.count).toBe('function');
  });

  it('handles { meta: true } responses ({ body, statusCode, ... })', async () => {
    const { client } = esClient([]);
    const res: any = await withReranking(client, reranker, { field: 'body.text', window: 10 }).search(
      { index: 'docs', query: { match: { 'body.text': QUERY } }, size: 3 },
      { meta: true },
    );
    expect(res.statusCode).toBe(200);
    const { order } = await modelOrder(QUERY, SENTENCES.slice(0, 10));
    expect(res.body.hits.hits.map((h: any) => h._id)).toEqual(order.slice(0, 3).map((i) => `d${i}`));
    expect(res.body.gpurank.reranked).toBe(true);
  });

  it('takes text from highlight fragments as configured', async () => {
    const docs = DOCS.slice(0, 4).map((d, i) => ({ ...d, highlight: { 'body.text': [`<em>frag</em> ${i}`, 'second fragment'] } }));
    const { client } = esClient([], docs);
    const seenTexts: string[][] = [];
    const recording: Scorer = { score: async (q, texts, o) => (seenTexts.push([...texts]), reranker.score(q, texts, o)) };
    const res: any = await withReranking(client, recording, { field: { highlight: 'body.text' } }).search({
      index: 'docs',
      query: { match: { 'body.text': QUERY } },
      highlight: { fields: { 'body.text': {} } },
    });
    expect(seenTexts[0]).toEqual([0, 1, 2, 3].map((i) => `<em>frag</em> ${i} second fragment`));
    expect(res.gpurank.reranked).toBe(true);
  });

  it('rejects requests it cannot rerank before calling the engine', async () => {
    const seen: Record<string, unknown>[] = [];
    const { client } = esClient(seen);
    const es = withReranking(client, reranker, { field: 'body.text' });
    const ambiguous = { bool: { should: [{ match: { a: 'one' } }, { match: { b: 'two' } }] } };
    await expect(es.search({ index: 'docs', query: ambiguous })).rejects.toMatchObject({ code: 'RERANK_QUERY_REQUIRED' });
    await expect(es.search({ index: 'docs', query: { match_all: {} } })).rejects.toBeInstanceOf(InputError);
    await expect(es.search({ index: 'docs', query: { match: { a: 'x' } }, rerank: { topK: 0 } })).rejects.toMatchObject({ code: 'BAD_RERANK' });
    await expect(es.search({ index: 'docs', query: { match: { a: 'x' } }, from: -1 })).rejects.toMatchObject({ code: 'BAD_RERANK' });
    await expect(withReranking(client, reranker).search({ index: 'docs', query: { match: { a: 'x' } } })).rejects.toMatchObject({ code: 'RERANK_FIELD_REQUIRED' });
    await expect(es.search({ index: 'docs', query: { match: { a: 'x' } }, rerank: { field: { nope: 'x' } as any } })).rejects.toMatchObject({ code: 'BAD_OPTION' });
    expect(seen).toHaveLength(0);
  });

  it('wraps a plain object client, and refuses the callback API', async () => {
    const calls: unknown[] = [];
    const plain = { search: async (params: unknown, ...rest: unknown[]) => (calls.push(params, ...rest), engine([])({}, {})) };
    const es = withReranking(plain, reranker, { field: 'body.text' });
    const res: any = await es.search({ index: 'docs', query: { match: { 'body.text': QUERY } } });
    expect(res.gpurank.reranked).toBe(true);
    await expect(es.search({ index: 'docs', query: { match: { a: 'x' } } }, {}, () => {})).rejects.toThrow(/callback API is not supported/);
    expect(calls).toHaveLength(1);
  });

  it('rejects bad options and non-clients', () => {
    const { client } = esClient([]);
    expect(() => withReranking({} as any, reranker)).toThrow(/no search\(\) method/);
    expect(() => withReranking(client, {} as any)).toThrow(/no score\(\) method/);
    expect(() => withReranking(client, reranker, { window: 0 })).toThrow(/window must be a positive integer/);
    expect(() => withReranking(client, reranker, { blend: { method: 'linear', alpha: 2 } })).toThrow(/alpha/);
    expect(() => withReranking(client, reranker, { blend: { method: 'rrf', k: 0 } })).toThrow(/k must be positive/);
    expect(() => withReranking(client, reranker, { blend: { method: 'max' } as any })).toThrow(/blend.method/);
    expect(() => withReranking(client, reranker, { timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => withReranking(client, reranker, { onError: 'ignore' as any })).toThrow(/onError/);
  });
});

describe('withReranking on @opensearch-project/opensearch ({ body } requests and responses)', () => {
  it('rewrites from/size in the body and reranks the { body } response', async () => {
    const seen: Record<string, unknown>[] = [];
    const os = withReranking(osClient(seen), reranker, { field: 'body.text', window: 12 });
    const res: any = await os.search({ index: 'docs', body: { query: { multi_match: { query: QUERY, fields: ['body.text'] } }, from: 2, size: 4 } });
    expect(seen[0]).toMatchObject({ from: 0, size: 12 });
    expect(res.statusCode).toBe(200);
    const { order } = await modelOrder(QUERY, SENTENCES.slice(0, 12));
    expect(res.body.hits.hits.map((h: any) => h._id)).toEqual(order.slice(2, 6).map((i) => `d${i}`));
    expect(res.body.aggregations).toEqual(AGGS);
    expect(res.body.gpurank).toMatchObject({ reranked: true, window: 12 });
  });

  it('moves top-level (querystring) from/size into the body, and falls back in the same shape', async () => {
    const seen: Record<string, unknown>[] = [];
    const os = withReranking(osClient(seen), failing(new Error('boom')), { field: 'body.text', window: 10, logger: silent });
    const res: any = await os.search({ index: 'docs', from: 8, size: 5, body: { query: { query_string: { query: QUERY } } } });
    expect(seen[0]).toMatchObject({ from: 0, size: 13 });
    expect(res.body.hits.hits.map((h: any) => h._id)).toEqual(['d8', 'd9', 'd10', 'd11', 'd12']);
    expect(res.body.gpurank).toEqual({ reranked: false, error: 'boom' });
  });
});

describe('hitText and inferQuery', () => {
  const hit = {
    _source: { title: 'T', 'flat.name': 'flat', nested: { a: { b: 'deep' } }, tags: ['x', 'y'], authors: [{ name: 'A' }, { name: 'B' }], n: 3 },
    fields: { 'body.text': ['f1', 'f2'] },
    highlight: { body: ['<em>h</em>'] },
  };
  it('reads dotted, flat-dotted, array, array-of-object, field and highlight values', () => {
    expect(hitText(hit, 'nested.a.b')).toBe('deep');
    expect(hitText(hit, { source: 'flat.name' })).toBe('flat');
    expect(hitText(hit, 'tags')).toBe('x y');
    expect(hitText(hit, 'authors.name')).toBe('A B');
    expect(hitText(hit, 'n')).toBe('3');
    expect(hitText(hit, { fields: 'body.text' })).toBe('f1 f2');
    expect(hitText(hit, { highlight: 'body' })).toBe('<em>h</em>');
    expect(hitText(hit, ['title', 'missing', 'nested.a.b'])).toBe('T deep');
    expect(hitText(hit, 'missing')).toBeUndefined();
    expect(hitText({ _source: { t: '  ' } }, 't')).toBeUndefined();
    expect(hitText({}, 'title')).toBeUndefined();
  });
  it('infers the query from one obvious full-text clause', () => {
    expect(inferQuery({ match: { body: 'q1' } })).toBe('q1');
    expect(inferQuery({ match: { body: { query: 'q2', operator: 'and' } } })).toBe('q2');
    expect(inferQuery({ bool: { must: [{ multi_match: { query: 'q3' } }], filter: [{ term: { y: 1 } }] } })).toBe('q3');
    expect(inferQuery({ bool: { should: [{ match: { a: 'q4' } }, { match: { b: 'q4' } }] } })).toBe('q4');
    expect(inferQuery({ query_string: { query: 'q5' } })).toBe('q5');
    expect(inferQuery({ bool: { should: [{ match: { a: 'one' } }, { match: { b: 'two' } }] } })).toBeUndefined();
    expect(inferQuery({ term: { a: 'x' } })).toBeUndefined();
    expect(inferQuery(undefined)).toBeUndefined();
  });
});

describe('mineCandidates', () => {
  it('writes the engine top-k as a TREC run and listwise JSONL with qrels labels, atomically', async () => {
    const seen: Record<string, unknown>[] = [];
    const { client } = esClient(seen);
    const dir = mkdtempSync(join(tmpdir(), 'gpurank-mine-'));
    const out = { run: join(dir, 'bm25.run'), jsonl: join(dir, 'train.jsonl') };
    const qrels = new Map([['1', new Map([['d2', 2], ['d0', 1], ['d99', 1]])], ['2', new Map([['d1', 1]])]]);
    const result = await mineCandidates(client, {
      index: 'docs',
      queries: [{ id: '1', text: 'wing flow' }, { id: '3', text: 'unjudged' }, { id: '2', text: 'hypersonic heat' }],
      qrels,
      field: 'body.text',
      k: 4,
      out,
    });
    expect(seen).toHaveLength(2);
    expect(seen[0]).toEqual({ query: { match: { 'body.text': 'wing flow' } }, size: 4 });
    expect(result.skipped).toEqual(['3']);
    const runLines = result.run.trim().split('\n');
    expect(runLines).toHaveLength(8);
    expect(runLines.slice(0, 2)).toEqual(['1 Q0 d0 1 30 bm25', '1 Q0 d1 2 29 bm25']);
    expect(runLines[4]).toBe('2 Q0 d0 1 30 bm25');
    expect(result.examples).toEqual([
      { query: 'wing flow', documents: SENTENCES.slice(0, 4), labels: [1, 0, 2, 0] },
      { query: 'hypersonic heat', documents: SENTENCES.slice(0, 4), labels: [0, 1, 0, 0] },
    ]);
    expect(readFileSync(out.run, 'utf8')).toBe(result.run);
    const lines = readFileSync(out.jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual(result.examples);
    expect(readdirSync(dir).sort()).toEqual(['bm25.run', 'train.jsonl']);
  });

  it('accepts plain-object qrels and the OpenSearch client; rejects bad options', async () => {
    const os = osClient([]);
    const result = await mineCandidates(os, { index: 'docs', queries: [{ id: 'q', text: 'wing' }], qrels: { q: { d1: 1 } }, field: { source: 'body.text' }, k: 2 });
    expect(result.examples).toEqual([{ query: 'wing', documents: SENTENCES.slice(0, 2), labels: [0, 1] }]);
    await expect(mineCandidates(os, { index: 'docs', queries: [], qrels: {}, field: 'x', k: 0 })).rejects.toThrow(/k must be a positive integer/);
    await expect(mineCandidates(os, { index: 'docs', queries: [{ id: 'q', text: ' ' }], qrels: {}, field: 'x' })).rejects.toMatchObject({ code: 'BAD_QUERY' });
    await expect(mineCandidates(os, { index: 'docs', queries: [], qrels: {}, field: { highlight: 'x' } })).rejects.toThrow(/_source path/);
  });
});
