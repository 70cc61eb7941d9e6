/**
 * search → rerank → response through `withReranking`, against each real engine that scripts/engines/start.sh
 * started and scripts/engines/index.ts filled: OpenSearch via `@opensearch-project/opensearch`, Elasticsearch
 * 7.10 via `@elastic/elasticsearch` 7.13. The reranker is the tiny test cross-encoder, for speed.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RerankFailedError, withReranking, type Scorer } from '../../src/elasticsearch/index.js';
import { Reranker } from '../../src/rerank/reranker.js';
import { ENGINES, bm25Query, calls, engineUrl, makeClient, type EngineClient } from '../../scripts/engines/lib.js';

const TINY_BERT = 'test/fixtures/models/tiny-bert';
const QUERY = 'what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft';

type Hit = { _id: string; _score: number | null; _source: { text: string }; _rerank?: { score: number | null; original_score: number | null; original_rank: number } };
type Body = { hits: { total: unknown; hits: Hit[] }; gpurank?: { reranked: boolean; window?: number; error?: string } };

let reranker: Reranker;
beforeAll(async () => {
  if (ENGINES.some((e) => engineUrl(e))) reranker = await Reranker.load(TINY_BERT, { maxLength: 128 });
});
afterAll(async () => {
  await reranker?.dispose();
});

for (const engine of ENGINES) {
  const url = engineUrl(engine);
  if (!url) console.warn(`[integration] ${engine} is not running: its tests are skipped (scripts/engines/start.sh ${engine} && npx tsx scripts/engines/index.ts)`);

  describe.skipIf(!url)(`${engine} at ${url}`, () => {
    let client: EngineClient;
    const search = async (c: unknown, params: Record<string, unknown>): Promise<Body> =>
      ((await (c as { search: (p: unknown) => Promise<{ body: Body }> }).search({ index: 'cranfield', ...params })).body);
    /** The engine's own top-n for QUERY. */
    const plain = (n: number, from = 0) => search(client, { body: { query: bm25Query(QUERY), from, size: n } });
    /** The window reranked by hand: the reranker's scores over the engine's top-n, best first (stable). */
    const expectedOrder = async (n: number) => {
      const hits = (await plain(n)).hits.hits;
      const s = await reranker.score(QUERY, hits.map((h) => h._source.text));
      return hits.map((h, i) => ({ id: h._id, s: s[i], i })).sort((a, b) => b.s - a.s || a.i - b.i).map((x) => x.id);
    };

    beforeAll(() => {
      client = makeClient(engine, url!);
    });
    afterAll(async () => {
      await client?.close();
    });

    it('holds the bundled collections', async () => {
      expect((await calls(client).count({ index: 'cranfield' })).body.count).toBe(1400);
      expect((await calls(client).count({ index: 'cisi' })).body.count).toBe(1460);
    });

    it('reranks the engine window and returns the top page, annotated, with hits.total untouched', async () => {
      const wrapped = withReranking(client, reranker, { field: 'text' });
      const engineTop = await plain(50);
      const res = await search(wrapped, { body: { query: bm25Query(QUERY), size: 10 }, rerank: { window: 50 } });
      expect(res.gpurank).toMatchObject({ reranked: true, window: 50 });
      expect(res.hits.total).toEqual(engineTop.hits.total);
      expect(res.hits.hits.map((h) => h._id)).toEqual((await expectedOrder(50)).slice(0, 10));
      const engineRank = new Map(engineTop.hits.hits.map((h, i) => [h._id, i]));
      for (const h of res.hits.hits) {
        expect(h._rerank!.original_rank).toBe(engineRank.get(h._id));
        expect(h._rerank!.original_score).toBe(engineTop.hits.hits[h._rerank!.original_rank]._score);
        expect(h._score).toBe(h._rerank!.score);
      }
      // The reranker moved something: the tiny model's order is not BM25's.
      expect(res.hits.hits.map((h) => h._id)).not.toEqual(engineTop.hits.hits.slice(0, 10).map((h) => h._id));
    });

    it('pages inside the window and at its edge (the window grows to from + size)', async () => {
      const wrapped = withReranking(client, reranker, { field: 'text', window: 30 });
      const order = await expectedOrder(30);
      const inside = await search(wrapped, { body: { query: bm25Query(QUERY), from: 10, size: 10 } });
      expect(inside.hits.hits.map((h) => h._id)).toEqual(order.slice(10, 20));
      const last = await search(wrapped, { body: { query: bm25Query(QUERY), from: 20, size: 10 } });
      expect(last.gpurank).toMatchObject({ reranked: true, window: 30 });
      expect(last.hits.hits.map((h) => h._id)).toEqual(order.slice(20, 30));
      const beyond = await search(wrapped, { body: { query: bm25Query(QUERY), from: 25, size: 10 } });
      expect(beyond.gpurank).toMatchObject({ reranked: true, window: 35 });
      expect(beyond.hits.hits.map((h) => h._id)).toEqual((await expectedOrder(35)).slice(25, 35));
    });

    it("falls back to the engine's order, flagged and logged once, when the reranker throws", async () => {
      const logs: string[] = [];
      const broken: Scorer = { score: async () => { throw new Error('GPU lost'); } };
      const wrapped = withReranking(client, broken, { field: 'text', logger: (m) => logs.push(m) });
      const engineTop = await plain(10, 10);
      for (let i = 0; i < 2; i++) {
        const res = await search(wrapped, { body: { query: bm25Query(QUERY), from: 10, size: 10 } });
        expect(res.gpurank).toEqual({ reranked: false, error: 'GPU lost' });
        expect(res.hits.hits.map((h) => h._id)).toEqual(engineTop.hits.hits.map((h) => h._id));
      }
      expect(logs).toHaveLength(1);
      expect(logs[0]).toContain('GPU lost');
    });

    it("raises RerankFailedError with onError: 'throw'", async () => {
      const broken: Scorer = { score: async () => { throw new Error('GPU lost'); } };
      const wrapped = withReranking(client, broken, { field: 'text', onError: 'throw' });
      await expect(search(wrapped, { body: { query: bm25Query(QUERY) } })).rejects.toBeInstanceOf(RerankFailedError);
    });

    it("rejects with the client's ConnectionError, promptly, when the engine is down", async () => {
      // A port that was free a moment ago: nothing listens there.
      const port = await new Promise<number>((done) => {
        const srv = createServer().listen(0, '127.0.0.1', () => {
          const p = (srv.address() as { port: number }).port;
          srv.close(() => done(p));
        });
      });
      const down = withReranking(makeClient(engine, `http://127.0.0.1:${port}`, 5_000), reranker, { field: 'text' });
      const t0 = performance.now();
      await expect(search(down, { body: { query: bm25Query(QUERY) } })).rejects.toMatchObject({ name: 'ConnectionError' });
      expect(performance.now() - t0).toBeLessThan(5_000);
    });
  });
}
