/**
 * The `Reranker` on the real adapter with the tiny random cross-encoder (and the small bi-encoder fixture):
 * parity with PyTorch through the whole public path (tokenizer → batch plan → GPU → input order), ordering,
 * queueing, cancellation, and each failure case of the issue.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, ModelLoadError } from '../src/errors.js';
import { DeviceLostError } from '../src/gpu/errors.js';
import { Reranker, RerankAbortedError, RerankTimeoutError } from '../src/rerank/reranker.js';
import { TINY_BERT, logitGoldens } from './bert-support.js';

const goldens = logitGoldens();
const query = goldens[0].query;

let reranker: Reranker;
beforeAll(async () => {
  reranker = await Reranker.load(TINY_BERT, { maxLength: 128 });
});
afterAll(async () => {
  await reranker?.dispose();
});

describe('Reranker (tiny cross-encoder)', () => {
  it('scorePairs reproduces the PyTorch logits of all 50 golden pairs (max |Δ| ≤ 1e-4)', async () => {
    const scores = await reranker.scorePairs(goldens.map((g) => g.query), goldens.map((g) => g.document));
    const worst = Math.max(...goldens.map((g, i) => Math.abs(scores[i] - g.logits[0])));
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it('score and rerank: input order for scores, best first with ties by input order for rerank', async () => {
    const docs = goldens.slice(0, 10).map((g) => g.document);
    const scores = await reranker.score(query, docs);
    const ranked = await reranker.rerank(query, [...docs, docs[0]].map((text, id) => ({ id, body: { text } })), { textField: 'body.text', topK: 3 });
    expect(ranked).toHaveLength(3);
    for (let i = 1; i < ranked.length; i++) expect(ranked[i - 1].score).toBeGreaterThanOrEqual(ranked[i].score);
    const best = scores.indexOf(Math.max(...scores));
    expect(ranked[0].index).toBe(best);
    expect(ranked[0].document.id).toBe(best);
    // The duplicate of docs[0] scores the same and keeps its later place.
    const dupAt = ranked.findIndex((r) => r.index === docs.length);
    if (dupAt >= 0) expect(ranked.findIndex((r) => r.index === 0)).toBeLessThan(dupAt);
  });

  it('truncates long passages the HF way: a 100 kB passage scores like its truncated tokens', async () => {
    const long = goldens.find((g) => g.input_ids.length === 128 && g.document.length > 2000);
    expect(long).toBeDefined();
    const [s] = await reranker.score(long!.query, [long!.document + ' tail'.repeat(20_000)]);
    expect(Math.abs(s - long!.logits[0])).toBeLessThanOrEqual(1e-4);
  });

  it('queues concurrent calls and answers each with its own scores', async () => {
    const calls = goldens.slice(0, 12).map((g) => reranker.scorePairs([g.query], [g.document]));
    const results = await Promise.all(calls);
    results.forEach((r, i) => expect(Math.abs(r[0] - goldens[i].logits[0])).toBeLessThanOrEqual(1e-4));
  });

  it('10,000 documents in one call: batched under the token budget, every score finite and in order', async () => {
    const small = await Reranker.load(TINY_BERT, { maxLength: 32, batchTokens: 2048 });
    try {
      const docs = Array.from({ length: 10_000 }, (_, i) => goldens[i % goldens.length].document);
      const scores = await small.score(query, docs);
      expect(scores).toHaveLength(10_000);
      expect(scores.every(Number.isFinite)).toBe(true);
      // Same text, same score, wherever it sits in the list and whichever batch it landed in.
      for (let i = 0; i < 200; i++) expect(scores[i + goldens.length]).toBeCloseTo(scores[i], 5);
    } finally {
      await small.dispose();
    }
  });

  it('honours an AbortSignal, before and during a call', async () => {
    const before = new AbortController();
    before.abort();
    await expect(reranker.score(query, ['a'], { signal: before.signal })).rejects.toBeInstanceOf(RerankAbortedError);
    const during = new AbortController();
    const docs = Array.from({ length: 2000 }, (_, i) => goldens[i % goldens.length].document);
    const call = reranker.score(query, docs, { signal: during.signal });
    setTimeout(() => during.abort(), 5);
    await expect(call).rejects.toBeInstanceOf(RerankAbortedError);
    // The reranker is still usable afterwards.
    const [s] = await reranker.scorePairs([goldens[1].query], [goldens[1].document]);
    expect(Math.abs(s - goldens[1].logits[0])).toBeLessThanOrEqual(1e-4);
  });

  it('honours a timeout with a RerankTimeoutError', async () => {
    const docs = Array.from({ length: 4000 }, (_, i) => goldens[i % goldens.length].document);
    await expect(reranker.score(query, docs, { timeoutMs: 1 })).rejects.toBeInstanceOf(RerankTimeoutError);
  });

  it('rejects an empty query, an empty document list and non-text documents with InputErrors', async () => {
    await expect(reranker.score('', ['a'])).rejects.toMatchObject({ code: 'EMPTY_QUERY' });
    await expect(reranker.score('  ', ['a'])).rejects.toBeInstanceOf(InputError);
    await expect(reranker.score(query, [])).rejects.toMatchObject({ code: 'EMPTY_DOCUMENTS' });
    await expect(reranker.rerank(query, [])).rejects.toMatchObject({ code: 'EMPTY_DOCUMENTS' });
    await expect(reranker.score(query, [42 as unknown as string])).rejects.toMatchObject({ code: 'BAD_DOCUMENT' });
    await expect(reranker.rerank(query, [{ title: 'x' }], { textField: 'text' })).rejects.toMatchObject({ code: 'MISSING_FIELD' });
    await expect(reranker.rerank(query, ['a'], { topK: 0 })).rejects.toMatchObject({ code: 'BAD_OPTION' });
    await expect(reranker.embed(['a'])).rejects.toMatchObject({ code: 'NOT_A_BI_ENCODER' });
  });

  it('re-acquires a lost device once and finishes the call; a second loss is a clear DeviceLostError', async () => {
    const r = await Reranker.load(TINY_BERT, { maxLength: 64, batchTokens: 512 });
    try {
      const docs = goldens.map((g) => g.document);
      const expected = await r.score(query, docs);
      // Lose the device in the middle of the call: after the first batch has been read back.
      const internals = r as unknown as { bert: { forward: (b: unknown) => Promise<Float32Array> } };
      const first = internals.bert;
      const original = first.forward.bind(first);
      let calls = 0;
      internals.bert.forward = async (b) => {
        if (++calls === 2) r.runtime.device.destroy();
        return original(b);
      };
      const scores = await r.score(query, docs);
      // Batch 2 lost the device; it and the rest ran on a model rebuilt on the re-acquired device.
      expect(calls).toBe(2);
      expect(internals.bert).not.toBe(first);
      expect(Array.from(scores)).toEqual(Array.from(expected));

      // Now every forward loses the device (the re-acquired model's too): one retry, then the error.
      const proto = Object.getPrototypeOf(internals.bert) as { forward: (this: unknown, b: unknown) => Promise<Float32Array> };
      const protoForward = proto.forward;
      proto.forward = async function (this: unknown, b: unknown) {
        r.runtime.device.destroy();
        return protoForward.call(this, b);
      };
      try {
        const err = await r.score(query, docs).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DeviceLostError);
        expect((err as Error).message).toMatch(/lost again after re-acquiring/);
      } finally {
        proto.forward = protoForward;
      }
    } finally {
      await r.dispose();
    }
  });
});

describe('Reranker failure cases at load', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'gpurank-reranker-'));
  const copy = (name: string) => {
    const dir = join(tmp, name);
    cpSync(TINY_BERT, dir, { recursive: true });
    return dir;
  };

  it('a truncated safetensors file is a ModelLoadError, not a crash', async () => {
    const dir = copy('truncated');
    const file = join(dir, 'model.safetensors');
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 1000));
    await expect(Reranker.load(dir)).rejects.toBeInstanceOf(ModelLoadError);
  });

  it('a corrupted header is a ModelLoadError', async () => {
    const dir = copy('corrupt');
    const file = join(dir, 'model.safetensors');
    const bytes = Buffer.from(readFileSync(file));
    bytes.write('{"broken', 8);
    writeFileSync(file, bytes);
    await expect(Reranker.load(dir)).rejects.toBeInstanceOf(ModelLoadError);
  });

  it('a config/weights mismatch names the tensor', async () => {
    const dir = copy('mismatch');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    config.intermediate_size = 48;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    await expect(Reranker.load(dir)).rejects.toThrow(/intermediate/);
  });

  it('NaN in the weights is an error at load, never NaN scores', async () => {
    const dir = copy('nan');
    const file = join(dir, 'model.safetensors');
    const bytes = Buffer.from(readFileSync(file));
    const headerLen = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8'));
    const t = header['classifier.weight'];
    expect(t.dtype).toBe('F16');
    bytes.writeUInt16LE(0x7e00, 8 + headerLen + t.data_offsets[0]); // f16 NaN
    writeFileSync(file, bytes);
    await expect(Reranker.load(dir)).rejects.toThrow(/classifier\.weight/);
  });

});
