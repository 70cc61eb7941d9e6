/**
 * Backward of the [CLS] gather: the CPU reference against finite differences of poolingCpu, then
 * the GPU kernel against the CPU reference on ragged batches (an empty row included).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuRuntime } from '../src/gpu/index.js';
import { InputError } from '../src/errors.js';
import { Pooling, poolingClsBackwardCpu, poolingCpu } from '../src/model/kernels/pooling.js';
import { checkGradient, dot } from './gradcheck.js';
import { download, dtypes, maxError, randn, raggedLengths, rng, stored, tolerance, upload } from './kernels-support.js';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await GpuRuntime.create({ optionalFeatures: ['shader-f16'] });
});
afterAll(() => rt?.destroy());

/** Ragged lengths with an empty row in the middle. */
function lengthsOf(batch: number, length: number, seed: number): Uint32Array {
  const lengths = raggedLengths(batch, length, rng(seed));
  if (batch > 2) lengths[1] = 0;
  return lengths;
}

describe('pooling cls backward', () => {
  it('poolingClsBackwardCpu matches finite differences of poolingCpu (cls)', () => {
    const shape = { batch: 4, length: 5, hidden: 3 };
    const lengths = lengthsOf(4, 5, 1);
    const x = Float64Array.from(randn(4 * 5 * 3, rng(2)));
    const r = Float64Array.from(randn(4 * 3, rng(3)));
    // poolingCpu stores f32: a step of 2^-10 keeps x ± h exact in f32 for these magnitudes.
    const f = (v: Float64Array) => dot(r, poolingCpu(Float32Array.from(v), lengths, shape, 'cls', false));
    checkGradient(f, x, poolingClsBackwardCpu(r, lengths, shape), { h: 2 ** -10, tol: 1e-9 });
  });

  for (const [batch, length, hidden] of [
    [1, 1, 1],
    [5, 7, 12],
    [9, 33, 40],
  ] as const) {
    it(`the kernel writes all of dx like the CPU reference: batch ${batch}, length ${length}, hidden ${hidden}, every dtype`, async () => {
      const shape = { batch, length, hidden };
      const lengths = lengthsOf(batch, length, batch);
      for (const dtype of dtypes(rt)) {
        const pool = await Pooling.create(rt, { dtype, backward: true });
        const dy = stored(randn(batch * hidden, rng(hidden)), dtype);
        // dx starts as NaN: every element must be written.
        const dx = await upload(rt, new Float32Array(batch * length * hidden).fill(NaN), dtype);
        rt.dispatch(pool.clsBackwardStep({ ...shape, lengths: await rt.storageBuffer(lengths), dy: await upload(rt, dy, dtype), dx }));
        const got = await download(rt, dx, dtype, batch * length * hidden);
        expect(maxError(got, Float32Array.from(poolingClsBackwardCpu(dy, lengths, shape)))).toBeLessThan(tolerance(dtype));
      }
    });
  }

  it('rejects bad shapes and use without backward: true', async () => {
    const b = await rt.storageBuffer(16);
    const pool = await Pooling.create(rt, { dtype: 'f32', backward: true });
    expect(() => pool.clsBackwardStep({ batch: 1, length: 0, hidden: 4, lengths: b, dy: b, dx: b })).toThrow(/length = 0/);
    const forwardOnly = await Pooling.create(rt, { dtype: 'f32' });
    expect(() => forwardOnly.clsBackwardStep({ batch: 1, length: 1, hidden: 4, lengths: b, dy: b, dx: b })).toThrow(/backward: true/);
    expect(() => poolingClsBackwardCpu([1], [1], { batch: 1, length: 1, hidden: 2 })).toThrow(InputError);
  });
});
