import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { GpuRuntime } from '../src/gpu/index.js';
import { LayerNorm, layernormBackwardCpu, layernormCpu, type LayerNormShape } from '../src/model/kernels/layernorm.js';
import { checkGradient, dot } from './gradcheck.js';
import { download, maxError, randn, rng, upload } from './kernels-support.js';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await GpuRuntime.create();
});
afterAll(() => rt?.destroy());

/** Random forward inputs and an upstream gradient whose rows in `zeroRows` are zero (padding). */
function inputs(shape: LayerNormShape, seed: number, zeroRows: number[] = []) {
  const { rows, hidden } = shape;
  const rand = rng(seed);
  const x = randn(rows * hidden, rand, 1, 0.5);
  const residual = randn(rows * hidden, rand, 0.7);
  const gamma = randn(hidden, rand, 0.3, 1);
  const beta = randn(hidden, rand, 0.1);
  const dy = randn(rows * hidden, rand);
  for (const r of zeroRows) dy.fill(0, r * hidden, (r + 1) * hidden);
  return { x, residual, gamma, beta, dy };
}

describe('layernormBackwardCpu', () => {
  for (const shape of [
    { rows: 1, hidden: 1, eps: 1e-5 },
    { rows: 3, hidden: 8, eps: 1e-12 },
    { rows: 4, hidden: 13, eps: 1e-5 },
  ]) {
    it(`agrees with central differences of the f64 forward: ${shape.rows} x ${shape.hidden}, eps ${shape.eps}`, () => {
      const { x, residual, gamma, beta, dy } = inputs(shape, shape.rows * 31 + shape.hidden);
      const n = shape.rows * shape.hidden;
      const grads = layernormBackwardCpu(x, residual, gamma, dy, shape);
      // f = Σ dy · y as a function of one input at a time, the others fixed.
      const f = (o: { x?: Float64Array; residual?: Float64Array; gamma?: Float64Array; beta?: Float64Array }) =>
        dot(dy, layernormCpu(o.x ?? x, o.residual ?? residual, o.gamma ?? gamma, o.beta ?? beta, shape, new Float64Array(n)));
      checkGradient((v) => f({ x: v }), Float64Array.from(x), grads.dx, { tol: 1e-5 });
      checkGradient((v) => f({ residual: v }), Float64Array.from(residual), grads.dx, { tol: 1e-5 });
      checkGradient((v) => f({ gamma: v }), Float64Array.from(gamma), grads.dgamma, { tol: 1e-5 });
      checkGradient((v) => f({ beta: v }), Float64Array.from(beta), grads.dbeta, { tol: 1e-5 });
    });
  }

  it('without a residual is the gradient of LN(x)', () => {
    const shape = { rows: 2, hidden: 6, eps: 1e-5 };
    const { x, gamma, beta, dy } = inputs(shape, 3);
    const grads = layernormBackwardCpu(x, null, gamma, dy, shape);
    checkGradient((v) => dot(dy, layernormCpu(v, null, gamma, beta, shape, new Float64Array(12))), Float64Array.from(x), grads.dx, { tol: 1e-5 });
  });
});

describe('layernorm_backward (GPU)', () => {
  async function run(shape: LayerNormShape, seed: number, zeroRows: number[] = []) {
    const { rows, hidden } = shape;
    const data = inputs(shape, seed, zeroRows);
    const rand = rng(seed + 1);
    // The parameter gradients are accumulated: start from earlier values, in a bigger buffer.
    const before = randn(2 * hidden + 64, rand);
    const kernel = await LayerNorm.create(rt, { dtype: 'f32', training: true });
    const [x, residual, gamma, dy] = await Promise.all([data.x, data.residual, data.gamma, data.dy].map((a) => upload(rt, a, 'f32')));
    const grads = await upload(rt, before, 'f32');
    // dx is written everywhere, so NaN must not survive.
    const dx = await upload(rt, new Float32Array(rows * hidden).fill(NaN), 'f32');
    // dgamma and dbeta are 256-byte-aligned ranges of one buffer, as in the flat grads layout.
    const dgamma = { buffer: grads, offset: 0, size: hidden * 4 };
    const dbeta = { buffer: grads, offset: 256 * Math.ceil((hidden * 4) / 256), size: hidden * 4 };
    rt.dispatch(kernel.backwardSteps({ ...shape, x, residual, gamma, dy, dx, dgamma, dbeta }));
    const [gotDx, gotGrads] = await Promise.all([download(rt, dx, 'f32', rows * hidden), download(rt, grads, 'f32', before.length)]);
    const want = layernormBackwardCpu(data.x, data.residual, data.gamma, data.dy, shape);
    return { data, before, gotDx, gotGrads, want, betaAt: dbeta.offset / 4 };
  }

  for (const [name, shape, zeroRows] of [
    ['one row', { rows: 1, hidden: 32, eps: 1e-12 }, []],
    ['a MiniLM-wide batch with zero-gradient (padding) rows', { rows: 37, hidden: 384, eps: 1e-12 }, [3, 4, 36]],
    ['an odd width past one workgroup of columns', { rows: 70, hidden: 65, eps: 1e-5 }, [0]],
  ] as [string, LayerNormShape, number[]][]) {
    it(`matches the CPU reference: ${name}`, async () => {
      const { rows, hidden } = shape;
      const { before, gotDx, gotGrads, want, betaAt } = await run(shape, rows * 7 + hidden, zeroRows);
      expect(maxError(gotDx, want.dx)).toBeLessThan(1e-5);
      const expected = before.slice();
      for (let c = 0; c < hidden; c++) {
        expected[c] += want.dgamma[c];
        expected[betaAt + c] += want.dbeta[c];
      }
      expect(maxError(gotGrads, expected)).toBeLessThan(1e-5);
      for (const r of zeroRows) expect(Array.from(gotDx.subarray(r * hidden, (r + 1) * hidden)).every((v) => v === 0)).toBe(true);
    });
  }

  it('runs two shapes in one dispatch list (the row statistics scratch is shared and grows)', async () => {
    const kernel = await LayerNorm.create(rt, { dtype: 'f32', training: true });
    const shapes = [
      { rows: 3, hidden: 16, eps: 1e-5 },
      { rows: 40, hidden: 24, eps: 1e-5 },
    ];
    const steps = [];
    const outs = [];
    for (const [i, shape] of shapes.entries()) {
      const data = inputs(shape, 20 + i);
      const [x, residual, gamma, dy] = await Promise.all([data.x, data.residual, data.gamma, data.dy].map((a) => upload(rt, a, 'f32')));
      const dx = await rt.storageBuffer(shape.rows * shape.hidden * 4);
      const dgamma = await rt.storageBuffer(shape.hidden * 4);
      const dbeta = await rt.storageBuffer(shape.hidden * 4);
      steps.push(...kernel.backwardSteps({ ...shape, x, residual, gamma, dy, dx, dgamma, dbeta }));
      outs.push({ shape, data, dx, dgamma, dbeta });
    }
    rt.dispatch(steps);
    for (const { shape, data, dx, dgamma, dbeta } of outs) {
      const want = layernormBackwardCpu(data.x, data.residual, data.gamma, data.dy, shape);
      expect(maxError(await download(rt, dx, 'f32', shape.rows * shape.hidden), want.dx)).toBeLessThan(1e-5);
      expect(maxError(await download(rt, dgamma, 'f32', shape.hidden), want.dgamma)).toBeLessThan(1e-5);
      expect(maxError(await download(rt, dbeta, 'f32', shape.hidden), want.dbeta)).toBeLessThan(1e-5);
    }
  });

  it('refuses f16 training and a backward from an inference kernel', async () => {
    await expect(LayerNorm.create(rt, { dtype: 'f16', training: true })).rejects.toThrow(/training is f32 only/);
    const kernel = await LayerNorm.create(rt, { dtype: 'f32' });
    const b = await rt.storageBuffer(64);
    expect(() => kernel.backwardSteps({ rows: 1, hidden: 4, eps: 1e-5, x: b, residual: b, gamma: b, dy: b, dx: b, dgamma: b, dbeta: b })).toThrow(InputError);
  });

  it('is deterministic: the same inputs give the same bits', async () => {
    const shape = { rows: 50, hidden: 48, eps: 1e-5 };
    const a = await run(shape, 9);
    const b = await run(shape, 9);
    expect(b.gotDx).toEqual(a.gotDx);
    expect(b.gotGrads).toEqual(a.gotGrads);
  });
});
