import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuRuntime } from '../src/gpu/index.js';
import { LayerNorm, layernormCpu } from '../src/model/kernels/layernorm.js';
import { download, dtypes, maxError, randn, rng, stored, tolerance, upload } from './kernels-support.js';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await GpuRuntime.create({ optionalFeatures: ['shader-f16'] });
});
afterAll(() => rt?.destroy());

describe('layernorm_forward (residual + LayerNorm)', () => {
  for (const [rows, hidden] of [
    [1, 32],
    [37, 384],
    [200, 33],
  ]) {
    it(`matches the CPU reference for ${rows} x ${hidden}, every dtype`, async () => {
      for (const dtype of dtypes(rt)) {
        const rand = rng(rows * 1000 + hidden);
        // A large common offset checks the two-pass statistics (no cancellation).
        const x = stored(randn(rows * hidden, rand, 1, 3), dtype);
        const r = stored(randn(rows * hidden, rand, 0.5), dtype);
        const gamma = stored(randn(hidden, rand, 0.2, 1), dtype);
        const beta = stored(randn(hidden, rand, 0.1), dtype);
        const shape = { rows, hidden, eps: 1e-12 };
        const ln = await LayerNorm.create(rt, { dtype });
        const y = await rt.storageBuffer(rows * hidden * 4);
        const bufs = await Promise.all([x, r, gamma, beta].map((a) => upload(rt, a, dtype)));
        rt.dispatch(ln.step({ ...shape, x: bufs[0], residual: bufs[1], gamma: bufs[2], beta: bufs[3], y }));
        const got = await download(rt, y, dtype, rows * hidden);
        expect(maxError(got, layernormCpu(x, r, gamma, beta, shape))).toBeLessThan(tolerance(dtype));
      }
    });
  }

  it('keeps one uniform per shape: two shapes in one dispatch list both come out right', async () => {
    const rand = rng(7);
    const ln = await LayerNorm.create(rt, { dtype: 'f32' });
    const x = randn(1024, rand);
    const r = randn(1024, rand);
    const gamma = randn(32, rand, 1, 1);
    const beta = randn(32, rand);
    const [bx, br, bg, bb] = await Promise.all([x, r, gamma, beta].map((a) => upload(rt, a, 'f32')));
    const y1 = await rt.storageBuffer(1024 * 4);
    const y2 = await rt.storageBuffer(1024 * 4);
    const shapes = [
      { rows: 64, hidden: 16, eps: 1e-5 },
      { rows: 32, hidden: 32, eps: 1e-3 },
    ];
    rt.dispatch([y1, y2].map((y, i) => ln.step({ ...shapes[i], x: bx, residual: br, gamma: bg, beta: bb, y })));
    for (const [i, y] of [y1, y2].entries()) {
      const { hidden } = shapes[i];
      const want = layernormCpu(x, r, gamma.subarray(0, hidden), beta.subarray(0, hidden), shapes[i]);
      expect(maxError(await download(rt, y, 'f32', 1024), want)).toBeLessThan(1e-5);
    }
  });
});
