/**
 * Dropout: the CPU backward against finite differences of the CPU forward, the GPU against the CPU
 * (bit-exact: the mask comes from the shared counter RNG), p = 0 as an exact identity, keep rates,
 * and the backward regenerating exactly the forward's mask.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuRuntime } from '../src/gpu/index.js';
import { InputError } from '../src/errors.js';
import { Dropout, dropoutBackwardCpu, dropoutCpu } from '../src/model/kernels/dropout.js';
import { checkGradient, dot } from './gradcheck.js';
import { download, randn, rng, upload } from './kernels-support.js';

let rt: GpuRuntime;
let drop: Dropout;
beforeAll(async () => {
  rt = await GpuRuntime.create();
  drop = await Dropout.create(rt);
});
afterAll(() => rt?.destroy());

const bits = (a: ArrayLike<number>): Uint32Array => new Uint32Array(Float32Array.from(a).buffer);

/** Forward of x and backward of dy on the GPU with one mask. */
async function run(x: Float32Array, dy: Float32Array, mask: { p: number; seed: number; stream: number }): Promise<{ y: Float32Array; dx: Float32Array }> {
  const count = x.length;
  const [xb, dyb] = await Promise.all([upload(rt, x, 'f32'), upload(rt, dy, 'f32')]);
  const [yb, dxb] = await Promise.all([0, 1].map(() => upload(rt, new Float32Array(count).fill(NaN), 'f32')));
  rt.dispatch([drop.forwardStep({ x: xb, y: yb, count, ...mask }), drop.backwardStep({ dy: dyb, dx: dxb, count, ...mask })]);
  return { y: await download(rt, yb, 'f32', count), dx: await download(rt, dxb, 'f32', count) };
}

describe('dropout CPU references', () => {
  it('dropoutBackwardCpu matches finite differences of dropoutCpu', () => {
    const mask = { p: 0.3, seed: 9, stream: 2 };
    const x = Float64Array.from(randn(300, rng(1)));
    const r = Float64Array.from(randn(300, rng(2)));
    checkGradient((v) => dot(r, dropoutCpu(v, mask)), x, dropoutBackwardCpu(r, mask), { tol: 1e-7 });
  });
});

describe('dropout kernels', () => {
  it('p = 0 is an exact identity, forward and backward', async () => {
    const x = randn(1000, rng(3));
    x.set([0, -0, 1e-30, -3.5e38, Infinity, -Infinity]);
    const { y, dx } = await run(x, x, { p: 0, seed: 1, stream: 0 });
    expect(bits(y)).toEqual(bits(x));
    expect(bits(dx)).toEqual(bits(x));
  });

  for (const p of [0.1, 0.5]) {
    it(`p = ${p}: bit-exact with the CPU reference, keep rate 1 − p, the backward regenerates the mask`, async () => {
      const count = 100_003;
      const x = randn(count, rng(4), 1, 0.5);
      const dy = randn(count, rng(5));
      const mask = { p, seed: 0xdeadbeef, stream: 7 };
      const { y, dx } = await run(x, dy, mask);
      expect(bits(y)).toEqual(bits(dropoutCpu(x, mask)));
      expect(bits(dx)).toEqual(bits(dropoutBackwardCpu(dy, mask)));
      let dropped = 0;
      const scale = Math.fround(1 / Math.fround(1 - p));
      for (let i = 0; i < count; i++) {
        // Zeros in exactly the same places, and the same factor where kept.
        const keptY = y[i] !== 0;
        if (keptY !== (dx[i] !== 0)) throw new Error(`mask differs at ${i}`);
        if (keptY) expect(y[i]).toBe(Math.fround(x[i] * scale));
        else dropped++;
      }
      // 5 standard deviations of a binomial rate.
      expect(Math.abs(dropped / count - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / count));
    });
  }

  it('another seed or stream gives another mask', async () => {
    const x = new Float32Array(4096).fill(1);
    const masks = await Promise.all(
      [
        { p: 0.5, seed: 1, stream: 0 },
        { p: 0.5, seed: 2, stream: 0 },
        { p: 0.5, seed: 1, stream: 1 },
      ].map(async (m) => (await run(x, x, m)).y),
    );
    const agree = (a: Float32Array, b: Float32Array) => a.filter((v, i) => (v === 0) === (b[i] === 0)).length / a.length;
    expect(agree(masks[0], masks[1])).toBeLessThan(0.6);
    expect(agree(masks[0], masks[2])).toBeLessThan(0.6);
  });

  it('rejects bad p, seed, stream and count', async () => {
    const b = await rt.storageBuffer(16);
    const ok = { x: b, y: b, count: 4, p: 0.1, seed: 1, stream: 0 };
    for (const bad of [{ p: 1 }, { p: -0.1 }, { p: NaN }, { seed: -1 }, { seed: 2 ** 32 }, { stream: 0.5 }, { count: 0 }]) {
      expect(() => drop.forwardStep({ ...ok, ...bad }), JSON.stringify(bad)).toThrow(InputError);
    }
    expect(() => drop.backwardStep({ dy: b, dx: b, count: 4, p: 1.5, seed: 1, stream: 0 })).toThrow(/p = 1.5/);
    expect(() => dropoutCpu([1], { p: 1, seed: 0, stream: 0 })).toThrow(InputError);
  });
});
