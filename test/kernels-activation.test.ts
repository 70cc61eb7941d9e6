/**
 * GELU forward/backward and tanh backward: the CPU backward references against finite differences
 * of the forward (geluCpu, Math.tanh), then the GPU kernels against the CPU references.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuRuntime } from '../src/gpu/index.js';
import { InputError } from '../src/errors.js';
import { Activation, geluBackwardCpu, tanhBackwardCpu } from '../src/model/kernels/activation.js';
import { geluCpu } from '../src/model/kernels/matmul.js';
import { checkGradient, dot } from './gradcheck.js';
import { download, maxError, randn, rng, upload } from './kernels-support.js';

let rt: GpuRuntime;
let act: Activation;
beforeAll(async () => {
  rt = await GpuRuntime.create();
  act = await Activation.create(rt);
});
afterAll(() => rt?.destroy());

/** Normal values, plus the tails where erf saturates and exp underflows. */
function inputs(n: number, seed: number): Float32Array {
  const z = randn(n, rng(seed), 2);
  z.set([0, -0, 3.9, -3.9, 4.5, -4.5, 8, -8, 30, -30, 1e-8, -1e-8].slice(0, n));
  return z;
}

describe('activation CPU references', () => {
  it('geluBackwardCpu matches finite differences of geluCpu', () => {
    const z = Float64Array.from(inputs(200, 1));
    const dy = Float64Array.from(randn(200, rng(2)));
    checkGradient((v) => dot(dy, Array.from(v, geluCpu)), z, geluBackwardCpu(z, dy));
  });

  it('tanhBackwardCpu (from y = tanh z) matches finite differences of Math.tanh', () => {
    const z = Float64Array.from(inputs(200, 3));
    const dy = Float64Array.from(randn(200, rng(4)));
    checkGradient((v) => dot(dy, Array.from(v, Math.tanh)), z, tanhBackwardCpu(Array.from(z, Math.tanh), dy));
  });

  it('reject mismatched lengths', () => {
    expect(() => geluBackwardCpu([1, 2], [1])).toThrow(InputError);
    expect(() => tanhBackwardCpu([1], [1, 2])).toThrow(InputError);
  });
});

describe('activation kernels', () => {
  for (const count of [1, 63, 1000, 70001]) {
    it(`gelu forward/backward and tanh backward match the CPU: ${count} elements`, async () => {
      const z = inputs(count, count);
      const y = Float32Array.from(z, Math.tanh);
      const dy = randn(count, rng(count + 1));
      const buf = async (v: Float32Array) => upload(rt, v, 'f32');
      const [zb, yb, dyb] = await Promise.all([buf(z), buf(y), buf(dy)]);
      // Outputs start as NaN: every element must be written.
      const outs = await Promise.all([0, 1, 2].map(() => buf(new Float32Array(count).fill(NaN))));
      rt.dispatch([
        act.geluForwardStep({ x: zb, y: outs[0], count }),
        act.geluBackwardStep({ z: zb, dy: dyb, dx: outs[1], count }),
        act.tanhBackwardStep({ y: yb, dy: dyb, dx: outs[2], count }),
      ]);
      const [g, dg, dt] = await Promise.all(outs.map((o) => download(rt, o, 'f32', count)));
      expect(maxError(g, Float32Array.from(z, geluCpu))).toBeLessThan(1e-5);
      expect(maxError(dg, Float32Array.from(geluBackwardCpu(z, dy)))).toBeLessThan(1e-5);
      expect(maxError(dt, Float32Array.from(tanhBackwardCpu(y, dy)))).toBeLessThan(1e-5);
    });
  }

  it('rejects a bad count', async () => {
    const b = await rt.storageBuffer(16);
    expect(() => act.geluForwardStep({ x: b, y: b, count: 0 })).toThrow(/count = 0/);
    expect(() => act.tanhBackwardStep({ y: b, dy: b, dx: b, count: 2.5 })).toThrow(InputError);
  });
});
