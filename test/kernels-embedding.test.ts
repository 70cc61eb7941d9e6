import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuRuntime } from '../src/gpu/index.js';
import { Embedding, embeddingCpu } from '../src/model/kernels/embedding.js';
import { download, dtypes, maxError, randn, raggedLengths, rng, stored, tolerance, upload } from './kernels-support.js';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await GpuRuntime.create({ optionalFeatures: ['shader-f16'] });
});
afterAll(() => rt?.destroy());

describe('embedding_forward (word + position + token type, LayerNorm)', () => {
  for (const [name, batch, length, hidden] of [
    ['batch size 1', 1, 12, 32],
    ['a ragged batch (lengths 1..L)', 7, 40, 48],
  ] as const) {
    it(`matches the CPU reference: ${name}, every dtype`, async () => {
      const vocab = 50;
      const rand = rng(batch * 31 + length);
      const lengths = raggedLengths(batch, length, rand);
      const ids = Uint32Array.from({ length: batch * length }, () => Math.floor(rand() * vocab));
      const typeIds = Uint32Array.from({ length: batch * length }, () => (rand() < 0.5 ? 0 : 1));
      for (const dtype of dtypes(rt)) {
        const w = {
          word: stored(randn(vocab * hidden, rand), dtype),
          position: stored(randn(length * hidden, rand, 0.5), dtype),
          tokenType: stored(randn(2 * hidden, rand, 0.5), dtype),
          gamma: stored(randn(hidden, rand, 0.1, 1), dtype),
          beta: stored(randn(hidden, rand, 0.1), dtype),
        };
        const shape = { batch, length, hidden, eps: 1e-12 };
        const emb = await Embedding.create(rt, { dtype });
        const [word, position, tokenType, gamma, beta] = await Promise.all(Object.values(w).map((a) => upload(rt, a, dtype)));
        const y = await upload(rt, new Float32Array(batch * length * hidden).fill(NaN), dtype);
        const [bi, bt, bl] = await Promise.all([ids, typeIds, lengths].map((a) => rt.storageBuffer(a)));
        rt.dispatch(emb.step({ ...shape, ids: bi, typeIds: bt, lengths: bl, word, position, tokenType, gamma, beta, y }));
        const got = await download(rt, y, dtype, batch * length * hidden);
        expect(maxError(got, embeddingCpu(ids, typeIds, lengths, w, shape))).toBeLessThan(tolerance(dtype));
      }
    });
  }
});
