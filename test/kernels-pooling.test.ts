import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuRuntime } from '../src/gpu/index.js';
import { Pooling, poolingCpu } from '../src/model/kernels/pooling.js';
import { download, dtypes, maxError, randn, raggedLengths, rng, stored, tolerance, upload } from './kernels-support.js';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await GpuRuntime.create({ optionalFeatures: ['shader-f16'] });
});
afterAll(() => rt?.destroy());

describe('pooling (CLS gather, mean over valid tokens, L2 normalisation)', () => {
  for (const [name, batch, length, hidden] of [
    ['batch size 1', 1, 5, 16],
    ['a ragged batch (lengths 1..L)', 9, 33, 40],
  ] as const) {
    for (const [mode, normalize] of [
      ['cls', false],
      ['mean', false],
      ['mean', true],
      ['cls', true],
    ] as const) {
      it(`${mode}${normalize ? ' + normalize' : ''} matches the CPU reference: ${name}, every dtype`, async () => {
        const rand = rng(batch * 7 + hidden);
        const lengths = raggedLengths(batch, length, rand);
        for (const dtype of dtypes(rt)) {
          const x = stored(randn(batch * length * hidden, rand, 1, 0.3), dtype);
          const pool = await Pooling.create(rt, { dtype });
          const y = await upload(rt, new Float32Array(batch * hidden).fill(NaN), dtype);
          const shape = { batch, length, hidden };
          rt.dispatch(pool.step({ ...shape, mode, normalize, lengths: await rt.storageBuffer(lengths), x: await upload(rt, x, dtype), y }));
          const got = await download(rt, y, dtype, batch * hidden);
          expect(maxError(got, poolingCpu(x, lengths, shape, mode, normalize))).toBeLessThan(tolerance(dtype));
        }
      });
    }
  }

  it('normalised rows have unit length', () => {
    const rand = rng(3);
    const y = poolingCpu(randn(4 * 6 * 8, rand), Uint32Array.of(6, 1, 3, 2), { batch: 4, length: 6, hidden: 8 }, 'mean', true);
    for (let b = 0; b < 4; b++) expect(Math.hypot(...y.subarray(b * 8, b * 8 + 8))).toBeCloseTo(1, 6);
  });
});
