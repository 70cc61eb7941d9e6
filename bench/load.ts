/**
 * `npm run bench -- load [--model DIR] [--clients 32] [--docs 20] [--seconds 20] [--queue Q]`
 *
 * A bounded load test of the rerank service on loopback: the real server (`createServer`) listens on
 * 127.0.0.1 on a free port, `clients` concurrent clients send Cohere-shaped requests of `docs` real passages
 * back to back for `seconds` (at most 60), and the result reports p50/p99 latency per status, the status
 * counts, and the process memory before, at the end, and after the model is disposed and a GC.
 * Run it with `--queue` ≥ clients (no request should fail) and with a smaller queue (429s expected above it).
 * `--rounds N` repeats the load phase on the same server and records the memory after each round (after a GC
 * when node runs with --expose-gc): RSS split into anonymous and file-backed pages (Linux), V8 heap and
 * external memory. With 5 or more rounds, `memory_verdict` fits a line to RSS and heap against requests served
 * over rounds 2..N (see `memoryVerdict`; `--tolerance-kb`, default 1 KB per request).
 * The clients run in this process, so the figures include the load generator's own (fetch/undici) memory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Reranker } from '../src/rerank/reranker.js';
import { createServer, shutdown } from '../src/server/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function flag(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i < 0 ? fallback : (args[i + 1] ?? fallback);
}

const mb = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;

/** Resident anonymous, file-backed and shared memory in bytes, from /proc (Linux); null elsewhere. */
function residentSplit(): { anon: number; file: number; shmem: number } | null {
  if (!existsSync('/proc/self/status')) return null;
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile'), shmem: kb('RssShmem') };
}

export interface RoundMemory {
  round: number;
  requests_ok: number;
  rss: number;
  rss_anon: number | null;
  rss_file: number | null;
  rss_shmem: number | null;
  heap_used: number;
  external: number;
}

/** After a GC (twice: the second collects what the first one's finalizers released, e.g. Dawn objects). */
async function memoryNow(round: number, requestsOk: number): Promise<RoundMemory> {
  global.gc?.();
  await new Promise((r) => setTimeout(r, 100));
  global.gc?.();
  const m = process.memoryUsage();
  const split = residentSplit();
  return {
    round,
    requests_ok: requestsOk,
    rss: mb(m.rss),
    rss_anon: split && mb(split.anon),
    rss_file: split && mb(split.file),
    rss_shmem: split && mb(split.shmem),
    heap_used: mb(m.heapUsed),
    external: mb(m.external),
  };
}

// Student's t, two-sided 95 %, for 1..10 degrees of freedom; 2.1 (df 11-20) and 2.0 beyond are close enough.
const T95 = [12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23];
const t95 = (df: number) => T95[df - 1] ?? (df <= 20 ? 2.1 : 2.0);

/** Least-squares slope of ys against xs, with its 95 % confidence interval. */
export function slopeWithInterval(xs: number[], ys: number[]): { slope: number; low: number; high: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i] - mx) ** 2;
    sxy += (xs[i] - mx) * (ys[i] - my);
  }
  const slope = sxy / sxx;
  let residuals = 0;
  for (let i = 0; i < n; i++) residuals += (ys[i] - my - slope * (xs[i] - mx)) ** 2;
  const half = t95(n - 2) * Math.sqrt(residuals / (n - 2) / sxx);
  return { slope, low: slope - half, high: slope + half };
}

/**
 * Whether RSS and heap keep growing with the requests served, from the rounds after the first (a warm-up:
 * pipelines, allocator arenas and JIT code reach their working size there). A line is fitted to memory
 * against cumulative requests; memory has levelled off (`*_plateau`) unless the slope's 95 % interval lies
 * wholly above `toleranceKb` per request. `*_leak_bound_kb_per_request` is the interval's top: a steady
 * per-request leak larger than that would have shown. Null with fewer than 4 rounds after the warm-up.
 */
export function memoryVerdict(rounds: RoundMemory[], toleranceKb: number) {
  const measured = rounds.slice(1);
  if (measured.length < 4) return null;
  let served = 0;
  const x = measured.map((r) => (served += r.requests_ok));
  const kb = (v: number) => Math.round(v * 1024 * 100) / 100;
  const fit = (key: 'rss' | 'heap_used') => {
    const ys = measured.map((r) => r[key]);
    const { slope, low, high } = slopeWithInterval(x, ys);
    return {
      plateau: kb(low) <= toleranceKb,
      slope_kb_per_request: kb(slope),
      leak_bound_kb_per_request: kb(high),
      band_mb: [Math.min(...ys), Math.max(...ys)],
    };
  };
  const rss = fit('rss');
  const heap = fit('heap_used');
  return {
    rounds_fitted: `2..${rounds.length}`,
    requests_fitted: served,
    tolerance_kb_per_request: toleranceKb,
    rss_plateau: rss.plateau,
    rss_slope_kb_per_request: rss.slope_kb_per_request,
    rss_leak_bound_kb_per_request: rss.leak_bound_kb_per_request,
    rss_band_mb: rss.band_mb,
    heap_plateau: heap.plateau,
    heap_slope_kb_per_request: heap.slope_kb_per_request,
    heap_leak_bound_kb_per_request: heap.leak_bound_kb_per_request,
    heap_band_mb: heap.band_mb,
  };
}

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
  const toleranceKb = Number(flag(args, '--tolerance-kb', '1'));
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
  const perRound: RoundMemory[] = [];
  for (let r = 0; r < rounds; r++) {
    const okBefore = latencies.get(200)?.length ?? 0;
    deadline = performance.now() + seconds * 1000;
    await Promise.all(Array.from({ length: clients }, client));
    perRound.push(await memoryNow(r + 1, (latencies.get(200)?.length ?? 0) - okBefore));
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
    // Allocator and driver settings read at process start; they change how much freed memory RSS keeps.
    env: { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? null, LP_NUM_THREADS: process.env.LP_NUM_THREADS ?? null },
    adapter: reranker.runtime.report.description,
    requests_per_s: Math.round((ok / (seconds * rounds)) * 10) / 10,
    documents_per_s: Math.round(((ok * docsPerRequest) / (seconds * rounds)) * 10) / 10,
    by_status: byStatus,
    memory_verdict: memoryVerdict(perRound, toleranceKb),
    memory_mb: {
      gc_exposed: typeof global.gc === 'function',
      after_each_round: perRound,
      rss: { baseline: mb(baseline.rss), loaded: mb(loaded.rss), end_of_load: mb(atEnd.rss), after_dispose: mb(after.rss) },
      heap_used: { baseline: mb(baseline.heapUsed), loaded: mb(loaded.heapUsed), end_of_load: mb(atEnd.heapUsed), after_dispose: mb(after.heapUsed) },
    },
  };
}
