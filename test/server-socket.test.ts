/**
 * The rerank service on a real socket (127.0.0.1, port 0) with the real tiny cross-encoder: a request over
 * HTTP, graceful shutdown (an in-flight request is answered after close starts, new connections are refused,
 * the model is freed), cancellation when the client disconnects, and `gpurank serve` itself under SIGTERM.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reranker, type CallOptions } from '../src/rerank/reranker.js';
import { createServer, shutdown, type ServedReranker } from '../src/server/index.js';
import { TINY_BERT, logitGoldens } from './bert-support.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const goldens = logitGoldens().filter((g) => g.query.trim() !== '');
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let reranker: Reranker;
beforeAll(async () => {
  reranker = await Reranker.load(TINY_BERT, { maxLength: 128 });
});
afterAll(async () => {
  await reranker?.dispose();
});

/** The real model behind a delay, recording each call's options (to see its AbortSignal). */
function delayed(inner: ServedReranker, ms: number) {
  const calls: CallOptions[] = [];
  const served: ServedReranker = {
    kind: inner.kind,
    dtype: inner.dtype,
    maxLength: inner.maxLength,
    score: async (q, texts, options = {}) => {
      calls.push(options);
      // Abortable like the real model's queue: an abort ends the call at once.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, ms);
        options.signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(options.signal!.reason);
        });
      });
      return inner.score(q, texts, options);
    },
  };
  return { served, calls };
}

const rerankBody = (g = goldens[2]) => JSON.stringify({ query: g.query, documents: [g.document] });
const postJson = (url: string, body: string, signal?: AbortSignal) =>
  fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' }, signal });

describe('rerank service over HTTP', () => {
  it('answers on a real socket, then shuts down gracefully: the in-flight request completes, new ones are refused, the model is freed', async () => {
    const own = await Reranker.load(TINY_BERT, { maxLength: 128 });
    const { served } = delayed(own, 400);
    const app = createServer(served);
    const base = await app.listen({ port: 0, host: '127.0.0.1' });

    const direct = await postJson(`${base}/v1/rerank`, rerankBody());
    expect(direct.status).toBe(200);
    const { results } = await direct.json();
    expect(Math.abs(results[0].relevance_score - sigmoid(goldens[2].logits[0]))).toBeLessThanOrEqual(1e-4);

    const inFlight = postJson(`${base}/v1/rerank`, rerankBody(goldens[3]));
    await sleep(100); // the request is now inside the (delayed) model call
    const closing = shutdown(app, own);
    await sleep(20);
    await expect(fetch(`${base}/health`)).rejects.toThrow(); // no longer accepting connections
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.headers.get('connection')).toBe('close'); // so close() need not wait for the keep-alive socket
    const late = await res.json();
    expect(Math.abs(late.results[0].relevance_score - sigmoid(goldens[3].logits[0]))).toBeLessThanOrEqual(1e-4);
    await closing;
    await expect(own.score('q', ['d'])).rejects.toMatchObject({ code: 'DISPOSED' });
  });

  it('a client that disconnects cancels its model call and frees its slot', async () => {
    const { served, calls } = delayed(reranker, 300);
    const app = createServer(served, { concurrency: 1, queue: 0 });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const ac = new AbortController();
      const gone = postJson(`${base}/rerank`, JSON.stringify({ query: 'q', texts: ['a', 'b'] }), ac.signal);
      await sleep(100);
      ac.abort();
      await expect(gone).rejects.toThrow();
      await sleep(50);
      expect(calls).toHaveLength(1);
      expect(calls[0].signal?.aborted).toBe(true);
      // With no queue, a held slot would turn this into a 429.
      const next = await postJson(`${base}/rerank`, JSON.stringify({ query: goldens[4].query, texts: [goldens[4].document] }));
      expect(next.status).toBe(200);
      expect(Math.abs((await next.json())[0].score - sigmoid(goldens[4].logits[0]))).toBeLessThanOrEqual(1e-4);
    } finally {
      await app.close();
    }
  });
});

describe('gpurank serve', () => {
  it('serves on the port it reports, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, ['bin/gpurank.js', 'serve', '--model', TINY_BERT, '--port', '0', '--max-length', '64', '--api-key', 'k1'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, GPURANK_LOG_LEVEL: 'warn' },
    });
    let stderr = '';
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    const base = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /serving cross-encoder .* on (http:\/\/\S+)/.exec(stderr);
        if (m) resolve(m[1]);
      });
      exited.then(() => reject(new Error(`serve exited early: ${stderr}`)));
    });
    const health = await (await fetch(`${base}/health`)).json();
    expect(health).toMatchObject({ status: 'ok', model: { name: 'tiny-bert', kind: 'cross-encoder', max_length: 64 } });
    expect((await fetch(`${base}/rerank`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(401);
    const ok = await fetch(`${base}/rerank`, {
      method: 'POST',
      body: JSON.stringify({ query: 'wing', texts: ['a wing', 'a cat'] }),
      headers: { 'content-type': 'application/json', authorization: 'Bearer k1' },
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toHaveLength(2);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toContain('gpurank: stopped');
  });

  it('rejects a bad flag with one line and exit 1', async () => {
    const child = spawn(process.execPath, ['bin/gpurank.js', 'serve', '--model', TINY_BERT, '--port', '70000'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(1);
    expect(stderr.trim()).toMatch(/^gpurank: .*--port.*expected an integer from 0 to 65535$/);
  });
});
