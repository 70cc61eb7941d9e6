/**
 * `npm run bench -- load [--model DIR] [--clients 32] [--docs 20] [--seconds 20] [--queue Q]`
 *
 * A bounded load test of the rerank service on loopback: the real server (`createServer`) listens on
 * 127.0.0.1 on a free port, `clients` concurrent clients send Cohere-shaped requests of `docs` real passages
 * back to back for `seconds` (at most 60), and the result reports p50/p99 latency per status, the status
 * counts, and the process memory before, at the end, and after the model is disposed and a GC.
 * Run it with `--queue` ≥ clients (no request should fail) and with a smaller queue (429s expected above it).
 * `--rounds N` repeats the load phase on the same server, with the memory after each round (after a GC when
 * node runs with --expose-gc): a plateau rather than growth shows memory is bounded.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Reranker } from '../src/rerank/reranker.js';
import { createServer, shutdown } from '../src/server/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function flag(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i < 0 ? fallback : (args[i + 1] ?? fallback);
}

const mb = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] * 10) / 10;
}

export async function run(args: string[]): Promise<unknown> {
  const model = flag(args, '--model', `${ROOT}test/fixtures/models/tiny-bert`);
  const clients = Number(flag(args, '--clients', '32'));
  const docsPerRequest = Number(flag(args, '--docs', '20'));
  const seconds = Math.min(60, Number(flag(args, '--seconds', '20')));
  const queue = Number(flag(args, '--queue', String(clients)));
  const rounds = Math.max(1, Number(flag(args, '--rounds', '1')));
  const passages = readFileSync(`${ROOT}data/cranfield/corpus.jsonl`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { text: string }).text)
    .filter((t) => t.length > 0);

  global.gc?.();
  const baseline = process.memoryUsage();
  const reranker = await Reranker.load(model, { maxLength: 256 });
  const app = createServer(reranker, { concurrency: 1, queue, timeoutMs: 60_000, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}/v1/rerank`;
  const loaded = process.memoryUsage();

  const latencies = new Map<number, number[]>();
  let deadline = 0;
  let next = 0;
  const client = async () => {
    while (performance.now() < deadline) {
      const start = next;
      next += docsPerRequest;
      const documents = Array.from({ length: docsPerRequest }, (_, i) => passages[(start + i) % passages.length]);
      const t = performance.now();
      let status: number;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: 'supersonic boundary layer heat transfer', documents, top_n: 5 }),
        });
        await res.arrayBuffer();
        status = res.status;
      } catch {
        status = 0; // connection error
      }
      const ms = performance.now() - t;
      if (!latencies.has(status)) latencies.set(status, []);
      latencies.get(status)!.push(ms);
      // A refused request retries after a short pause instead of spinning.
      if (status === 429) await new Promise((r) => setTimeout(r, 50));
    }
  };
  const perRound: { rss: number; heap_used: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    deadline = performance.now() + seconds * 1000;
    await Promise.all(Array.from({ length: clients }, client));
    global.gc?.();
    const m = process.memoryUsage();
    perRound.push({ rss: mb(m.rss), heap_used: mb(m.heapUsed) });
  }
  const atEnd = process.memoryUsage();
  await shutdown(app, reranker);
  global.gc?.();
  await new Promise((r) => setTimeout(r, 200));
  const after = process.memoryUsage();

  const byStatus: Record<string, unknown> = {};
  for (const [status, ms] of latencies) {
    const s = [...ms].sort((a, b) => a - b);
    byStatus[String(status)] = { count: s.length, p50_ms: percentile(s, 50), p99_ms: percentile(s, 99) };
  }
  const ok = latencies.get(200)?.length ?? 0;
  return {
    suite: 'load',
    workload: { model: model.replace(ROOT, ''), clients, docs_per_request: docsPerRequest, seconds, rounds, concurrency: 1, queue, endpoint: 'POST /v1/rerank' },
    adapter: reranker.runtime.report.description,
    requests_per_s: Math.round((ok / (seconds * rounds)) * 10) / 10,
    documents_per_s: Math.round(((ok * docsPerRequest) / (seconds * rounds)) * 10) / 10,
    by_status: byStatus,
    memory_mb: {
      gc_exposed: typeof global.gc === 'function',
      after_each_round: perRound,
      rss: { baseline: mb(baseline.rss), loaded: mb(loaded.rss), end_of_load: mb(atEnd.rss), after_dispose: mb(after.rss) },
      heap_used: { baseline: mb(baseline.heapUsed), loaded: mb(loaded.heapUsed), end_of_load: mb(atEnd.heapUsed), after_dispose: mb(after.heapUsed) },
    },
  };
}
