/**
 * The matmul kernels (blocked and tiled, f32 and f16) against `matmulCpu` on the real adapter,
 * for ragged shapes (primes, m = 1, k not a multiple of 4), with and without bias, each activation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHalf, toHalf } from '../src/model/kernels/common.js';
import { GpuRuntime } from '../src/gpu/index.js';
import { InputError } from '../src/errors.js';
import { GpuFeatureError, Matmul, erf, expandTemplate, geluCpu, matmulCpu, requireDtype, type Activation, type Dtype, type MatmulVariant } from '../src/model/kernels/matmul.js';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await GpuRuntime.create({ optionalFeatures: ['shader-f16', 'subgroups'] });
});
afterAll(() => rt?.destroy());

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** Host data in the kernel's storage type, padded to 4 bytes; `exact` is what the GPU sees. */
function encode(v: Float32Array, dtype: Dtype): { bytes: Uint8Array; exact: Float32Array } {
  if (dtype === 'f32') return { bytes: new Uint8Array(v.buffer), exact: v };
  const h = new Uint16Array(v.length + (v.length % 2));
  v.forEach((x, i) => (h[i] = toHalf(x)));
  return { bytes: new Uint8Array(h.buffer), exact: Float32Array.from(v, (_, i) => fromHalf(h[i])) };
}

function decode(buf: ArrayBuffer, n: number, dtype: Dtype): Float32Array {
  if (dtype === 'f32') return new Float32Array(buf, 0, n);
  const h = new Uint16Array(buf, 0, n);
  return Float32Array.from(h, fromHalf);
}

interface Case {
  m: number;
  n: number;
  k: number;
  bias: boolean;
  activation: Activation;
}

// m, n, k in 1..70: primes, k % 4 != 0, m = 1 (batch size 1), and exact tile multiples.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 40, 16],
  [33, 20, 8],
  [18, 17, 12],
  [5, 19, 40],
  [1, 37, 64],
  [1, 64, 3],
  [7, 13, 5],
  [17, 31, 67],
  [64, 64, 64],
  [70, 3, 41],
  [2, 70, 1],
  [61, 59, 53],
  [65, 66, 68],
];
const CASES: Case[] = SHAPES.flatMap(([m, n, k]) =>
  [false, true].flatMap((bias) => (['none', 'gelu', 'tanh'] as Activation[]).map((activation) => ({ m, n, k, bias, activation }))),
);

/** Runs every case on one kernel in one submission and returns the worst error, per case. */
async function runCases(variant: MatmulVariant, dtype: Dtype, subgroups: boolean): Promise<{ c: Case; maxErr: number; tol: number }[]> {
  const mm = await Matmul.create(rt, { dtype, variant, subgroups });
  expect(mm.variant).toBe(variant);
  // The subgroup kernels take k % 4 == 0 (f16 packed: k % 8 == 0), with tails when k is not a
  // multiple of the step; the rest fall back to the plain blocked kernel.
  if (variant === 'blocked') {
    const expected = !subgroups ? ['blocked', 'blocked', 'blocked'] : dtype === 'f16' ? ['subgroup-f16', 'subgroup', 'blocked'] : ['subgroup', 'subgroup', 'blocked'];
    expect([mm.kernelFor(64), mm.kernelFor(68), mm.kernelFor(67)]).toEqual(expected);
  }
  const prepared = await Promise.all(
    CASES.map(async (c, i) => {
      const x = encode(values(c.m * c.k, 3 * i + 1), dtype);
      const w = encode(values(c.n * c.k, 3 * i + 2), dtype);
      const b = encode(values(c.n, 3 * i + 3), dtype);
      const ySize = c.m * c.n * (dtype === 'f32' ? 4 : 2);
      const y = await rt.storageBuffer(ySize + (ySize % 4), { label: 'y' });
      const step = mm.step({
        x: await rt.storageBuffer(x.bytes),
        w: await rt.storageBuffer(w.bytes),
        bias: c.bias ? await rt.storageBuffer(b.bytes) : undefined,
        y,
        m: c.m,
        n: c.n,
        k: c.k,
        activation: c.activation,
      });
      const expected = matmulCpu(x.exact, w.exact, c.bias ? b.exact : undefined, c.m, c.n, c.k, c.activation);
      // Error scale: the sum of |terms| bounds the accumulation error of any summation order.
      const scale = new Float32Array(c.m * c.n).map((_, ij) => {
        const [r, col] = [Math.floor(ij / c.n), ij % c.n];
        let s = c.bias ? Math.abs(b.exact[col]) : 0;
        for (let t = 0; t < c.k; t++) s += Math.abs(x.exact[r * c.k + t] * w.exact[col * c.k + t]);
        return s;
      });
      return { c, y, step, expected, scale };
    }),
  );
  rt.dispatch(prepared.map((p) => p.step));
  const outs = await rt.read(prepared.map((p) => p.y));
  return prepared.map(({ c, expected, scale }, i) => {
    const got = decode(outs[i], c.m * c.n, dtype);
    // f32: ~1e-5 relative to the terms' magnitude; f16: the output's own rounding (2^-11) dominates.
    const [rel, out] = dtype === 'f32' ? [1e-5, 1e-6] : [2e-4, 1e-3];
    let maxErr = 0;
    let tol = Infinity;
    got.forEach((g, j) => {
      const allowed = rel * (1 + scale[j]) + out * Math.abs(expected[j]);
      const excess = Math.abs(g - expected[j]) / allowed;
      if (!(excess <= maxErr)) [maxErr, tol] = [Number.isNaN(excess) ? Infinity : excess, allowed];
    });
    return { c, maxErr, tol };
  });
}

describe.each([
  ['blocked', 'f32', true],
  ['blocked', 'f16', true],
  ['blocked', 'f32', false],
  ['blocked', 'f16', false],
  ['tiled', 'f32', false],
  ['tiled', 'f16', false],
] as [MatmulVariant, Dtype, boolean][])('%s %s kernel (subgroups: %s)', (variant, dtype, subgroups) => {
  it('matches matmulCpu for ragged shapes, with and without bias, each activation', async () => {
    const results = await runCases(variant, dtype, subgroups);
    const bad = results.filter((r) => !(r.maxErr <= 1)).map((r) => `${JSON.stringify(r.c)}: ${r.maxErr.toFixed(2)}× tolerance ${r.tol.toExponential(1)}`);
    expect(bad).toEqual([]);
    expect(results).toHaveLength(CASES.length);
  });
});

describe('variant choice and validation', () => {
  it("'auto' picks the subgroup kernel where it runs, else register blocks on CPUs and tiles on GPUs", async () => {
    expect(rt.report.software).toBe(true);
    const cpu = await Matmul.create(rt, { dtype: 'f32' });
    expect([cpu.variant, cpu.subgroupSize, cpu.kernelFor(384), cpu.kernelFor(7)]).toEqual(['blocked', 8, 'subgroup', 'blocked']);
    const plain = await Matmul.create(rt, { dtype: 'f32', subgroups: false });
    expect([plain.variant, plain.subgroupSize, plain.kernelFor(384)]).toEqual(['blocked', undefined, 'blocked']);
    // The same device reported as hardware: shapes the subgroup kernel cannot take go to tiles.
    const report = rt.report;
    rt.report = { ...report, software: false };
    try {
      const gpu = await Matmul.create(rt, { dtype: 'f32' });
      expect([gpu.variant, gpu.kernelFor(384), gpu.kernelFor(7)]).toEqual(['blocked', 'subgroup', 'tiled']);
      const noSubgroups = await Matmul.create(rt, { dtype: 'f32', subgroups: false });
      expect([noSubgroups.variant, noSubgroups.kernelFor(384)]).toEqual(['tiled', 'tiled']);
    } finally {
      rt.report = report;
    }
  });

  it('refuses f16 on a device without shader-f16, with a typed error', async () => {
    expect(() => requireDtype({ hasFeature: () => false }, 'f16', 'matmul')).toThrow(GpuFeatureError);
    expect(() => requireDtype({ hasFeature: () => false }, 'f32', 'matmul')).not.toThrow();
    const plain = await GpuRuntime.create();
    try {
      expect(plain.hasFeature('shader-f16')).toBe(false);
      const err = await Matmul.create(plain, { dtype: 'f16' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GpuFeatureError);
      expect(err).toMatchObject({ code: 'GPU_FEATURE_MISSING', feature: 'shader-f16' });
      expect(String((err as Error).message)).toMatch(/shader-f16.*use dtype f32/);
    } finally {
      plain.destroy();
    }
  });

  it('rejects unknown dtypes, variants, activations, bad blocks and non-positive sizes', async () => {
    await expect(Matmul.create(rt, { dtype: 'f64' as Dtype })).rejects.toThrow(InputError);
    await expect(Matmul.create(rt, { dtype: 'f32', variant: 'fast' as MatmulVariant })).rejects.toThrow(/unknown variant 'fast'/);
    await expect(Matmul.create(rt, { dtype: 'f32', block: { tm: 0 } })).rejects.toThrow(/block.tm = 0 must be an integer in 1..64/);
    const mm = await Matmul.create(rt, { dtype: 'f32', variant: 'blocked' });
    const buf = await rt.storageBuffer(64);
    const args = { x: buf, w: buf, y: buf, m: 2, n: 2, k: 2 };
    expect(() => mm.step({ ...args, activation: 'relu' as Activation })).toThrow(/unknown activation 'relu'/);
    expect(() => mm.step({ ...args, m: 0 })).toThrow(InputError);
    expect(() => mm.step({ ...args, k: 1.5 })).toThrow(/k = 1.5 must be a positive integer/);
  });

  it('matmulCpu rejects arrays shorter than the shape', () => {
    expect(() => matmulCpu(new Float32Array(5), new Float32Array(6), undefined, 2, 2, 3)).toThrow(/x has 5 elements, needs 2×3/);
    expect(() => matmulCpu(new Float32Array(6), new Float32Array(6), new Float32Array(1), 2, 2, 3)).toThrow(/bias has 1 elements/);
  });
});

describe('template expansion', () => {
  it('unrolls nested //#for blocks and substitutes their variables', () => {
    const src = ['a', '//#for i < TM', '  x${i}', '  //#for j < 2', '  y${i}_${j}', '  //#end', '//#end', 'b ${i}'].join('\n');
    expect(expandTemplate(src, { TM: 2 }).split('\n')).toEqual(['a', '  x0', '  y0_0', '  y0_1', '  x1', '  y1_0', '  y1_1', 'b ${i}']);
    expect(expandTemplate('//#for i < 0\nz${i}\n//#end\nend', {})).toBe('end');
    expect(() => expandTemplate('//#for i < NOPE\n//#end', {})).toThrow(/unknown bound 'NOPE'/);
  });
});

describe('CPU references', () => {
  it('erf matches known values to 1e-12', () => {
    const known: [number, number][] = [
      [0, 0],
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [2.9, 0.9999589021219005],
      [3.5, 0.9999992569016276],
      [5, 0.9999999999984626],
      [-1.5, -0.9661051464753108],
    ];
    for (const [x, v] of known) expect(Math.abs(erf(x) - v)).toBeLessThan(1e-12);
    // erfc in the continued-fraction range keeps its relative accuracy.
    expect(Math.abs((1 + erf(-4)) / 1.541725790028002e-8 - 1)).toBeLessThan(1e-7);
  });

  it('geluCpu is x·Φ(x), the exact erf GELU', () => {
    const known: [number, number][] = [
      [0, 0],
      [1, 0.8413447460685429],
      [-1, -0.15865525393145707],
      [0.5, 0.34573123063700656],
      [2, 1.9544997361036416],
      [-3, -0.0040496940948906],
      [-5, -1.4332578593959696e-6],
      [10, 10],
    ];
    for (const [x, v] of known) expect(Math.abs(geluCpu(x) - v)).toBeLessThanOrEqual(1e-7 * Math.max(1e-6, Math.abs(v)) + 1e-15);
    // It is not the tanh approximation, which differs by ~1e-4 around |x| = 2.
    const tanhApprox = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    expect(Math.abs(geluCpu(-2) - tanhApprox(-2))).toBeGreaterThan(5e-5);
  });

  it('matmulCpu computes a small Linear by hand', () => {
    // x = [[1, 2]], w = [[3, 4], [5, 6]], b = [0.5, -20]: [1·3 + 2·4 + 0.5, 1·5 + 2·6 - 20] = [11.5, -3]
    const y = matmulCpu(new Float32Array([1, 2]), new Float32Array([3, 4, 5, 6]), new Float32Array([0.5, -20]), 1, 2, 2);
    expect(Array.from(y)).toEqual([11.5, -3]);
    const t = matmulCpu(new Float32Array([1, 2]), new Float32Array([3, 4, 5, 6]), new Float32Array([0.5, -20]), 1, 2, 2, 'tanh');
    expect(t[0]).toBe(Math.fround(Math.tanh(11.5)));
    expect(t[1]).toBe(Math.fround(Math.tanh(-3)));
  });
});
