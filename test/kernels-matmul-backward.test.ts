/**
 * Backward of y = x·wᵀ + b: the CPU reference against finite differences of the CPU forward, then
 * the GPU kernels (vec4 and scalar, accumulate on and off) against the CPU reference.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuRuntime } from '../src/gpu/index.js';
import { InputError } from '../src/errors.js';
import { Matmul, matmulBackwardCpu, matmulCpu } from '../src/model/kernels/matmul.js';
import { checkGradient, dot } from './gradcheck.js';
import { download, maxError, randn, rng, upload } from './kernels-support.js';

let rt: GpuRuntime;
let mm: Matmul;
let plain: Matmul;
beforeAll(async () => {
  rt = await GpuRuntime.create({ optionalFeatures: ['shader-f16', 'subgroups'] });
  mm = await Matmul.create(rt, { dtype: 'f32', backward: true });
  plain = await Matmul.create(rt, { dtype: 'f32', backward: true, subgroups: false });
});
afterAll(() => rt?.destroy());

const f64 = (a: Float32Array): Float64Array => Float64Array.from(a);

describe('matmulBackwardCpu', () => {
  for (const [m, n, k] of [
    [1, 1, 1],
    [3, 5, 7],
    [4, 8, 4],
    [6, 1, 9],
  ] as const) {
    it(`matches finite differences of matmulCpu: m ${m}, n ${n}, k ${k}`, () => {
      const rand = rng(m * 100 + n * 10 + k);
      const x = f64(randn(m * k, rand));
      const w = f64(randn(n * k, rand));
      const b = f64(randn(n, rand));
      const dy = f64(randn(m * n, rand));
      // f = Σ dy ⊙ y, so ∂f/∂(x, w, b) is exactly the backward of dy.
      const f = () => dot(dy, matmulCpu(x, w, b, m, n, k, 'none', new Float64Array(m * n)));
      const g = matmulBackwardCpu(dy, x, w, m, n, k);
      checkGradient(f, x, g.dx, { tol: 1e-7 });
      checkGradient(f, w, g.dw, { tol: 1e-7 });
      checkGradient(f, b, g.db, { tol: 1e-7 });
    });
  }
});

describe('matmul backward kernels', () => {
  // vec4 kernels (n % 4 == 0 and k % 4 == 0) and scalar ones; edges not multiples of any block,
  // n = 1 (the classifier), m = 1.
  const SHAPES: [number, number, number][] = [
    [1, 1, 1],
    [7, 13, 5],
    [17, 31, 67],
    [33, 20, 8],
    [18, 16, 12],
    [65, 64, 68],
    [5, 1, 32],
    [1, 40, 44],
    [70, 3, 41],
    [37, 96, 36],
  ];

  it('pick the subgroup dx kernel where it can run, vec4 or scalar elsewhere', () => {
    expect([plain.backwardInputKernel(8, 12), plain.backwardInputKernel(5, 12), plain.backwardInputKernel(8, 6)]).toEqual(['vec4', 'scalar', 'scalar']);
    if (mm.subgroupSize) expect([mm.backwardInputKernel(5, 12), mm.backwardInputKernel(8, 6)]).toEqual(['subgroup', 'scalar']);
  });

  for (const subgroups of [true, false]) {
    it(`match matmulBackwardCpu, accumulate off and on, for every shape${subgroups ? '' : ', without subgroups'}`, async () => {
      const kernels = subgroups ? mm : plain;
      const cases = await Promise.all(
        SHAPES.flatMap(([m, n, k], s) =>
          [false, true].map(async (accumulate) => {
            const rand = rng(1000 + 2 * s + (accumulate ? 1 : 0));
            const [x, w, dy] = [randn(m * k, rand), randn(n * k, rand), randn(m * n, rand)];
            // Gradient buffers start non-zero: dw and db always accumulate; dx only with `accumulate`.
            const [dx0, dw0, db0] = [randn(m * k, rand), randn(n * k, rand), randn(n, rand)];
            const bufs = { x: await upload(rt, x, 'f32'), w: await upload(rt, w, 'f32'), dy: await upload(rt, dy, 'f32') };
            const out = { dx: await upload(rt, dx0, 'f32'), dw: await upload(rt, dw0, 'f32'), db: await upload(rt, db0, 'f32') };
            const steps = [
              kernels.backwardInputStep({ dy: bufs.dy, w: bufs.w, dx: out.dx, accumulate, m, n, k }),
              ...kernels.backwardWeightSteps({ dy: bufs.dy, x: bufs.x, dw: out.dw, db: out.db, m, n, k }),
            ];
            const ref = matmulBackwardCpu(dy, x, w, m, n, k);
            const expected = {
              dx: Float32Array.from(ref.dx, (v, i) => (accumulate ? dx0[i] : 0) + v),
              dw: Float32Array.from(ref.dw, (v, i) => dw0[i] + v),
              db: Float32Array.from(ref.db, (v, i) => db0[i] + v),
            };
            return { m, n, k, accumulate, steps, out, expected };
          }),
        ),
      );
      rt.dispatch(cases.flatMap((c) => c.steps));
      for (const c of cases) {
        const got = {
          dx: await download(rt, c.out.dx, 'f32', c.m * c.k),
          dw: await download(rt, c.out.dw, 'f32', c.n * c.k),
          db: await download(rt, c.out.db, 'f32', c.n),
        };
        const errors = { dx: maxError(got.dx, c.expected.dx), dw: maxError(got.dw, c.expected.dw), db: maxError(got.db, c.expected.db) };
        for (const [name, e] of Object.entries(errors)) expect(e, `${name} of m ${c.m}, n ${c.n}, k ${c.k}, accumulate ${c.accumulate}`).toBeLessThan(1e-5);
      }
    });
  }

  it('give the same bits on every run (fixed summation order)', async () => {
    const [m, n, k] = [300, 12, 20];
    const rand = rng(5);
    const [x, w, dy] = [await upload(rt, randn(m * k, rand), 'f32'), await upload(rt, randn(n * k, rand), 'f32'), await upload(rt, randn(m * n, rand), 'f32')];
    const runs = await Promise.all(
      [0, 1].map(async () => {
        const out = { dx: await rt.storageBuffer(m * k * 4), dw: await rt.storageBuffer(n * k * 4), db: await rt.storageBuffer(n * 4) };
        rt.dispatch([mm.backwardInputStep({ dy, w, dx: out.dx, m, n, k }), ...mm.backwardWeightSteps({ dy, x, dw: out.dw, db: out.db, m, n, k })]);
        return rt.read([out.dx, out.dw, out.db]);
      }),
    );
    for (let i = 0; i < 3; i++) expect(Buffer.from(runs[0][i]).equals(Buffer.from(runs[1][i]))).toBe(true);
  });

  it('reject bad shapes, f16, bad blocks, and use without backward: true', async () => {
    const buf = await rt.storageBuffer(16);
    expect(() => mm.backwardInputStep({ dy: buf, w: buf, dx: buf, m: 0, n: 1, k: 1 })).toThrow(InputError);
    expect(() => mm.backwardWeightSteps({ dy: buf, x: buf, dw: buf, m: 1, n: 1.5, k: 1 })).toThrow(/n = 1.5/);
    const forwardOnly = await Matmul.create(rt, { dtype: 'f32' });
    expect(() => forwardOnly.backwardInputStep({ dy: buf, w: buf, dx: buf, m: 1, n: 1, k: 1 })).toThrow(/backward: true/);
    await expect(Matmul.create(rt, { dtype: 'f32', backward: true, backwardBlock: { dxm: 0 } })).rejects.toThrow(/backwardBlock.dxm/);
    if (rt.hasFeature('shader-f16')) await expect(Matmul.create(rt, { dtype: 'f16', backward: true })).rejects.toThrow(/f32 only/);
    expect(() => matmulBackwardCpu(new Float32Array(1), new Float32Array(1), new Float32Array(1), 1, 2, 1)).toThrow(/dy has 1 elements/);
  });
});
