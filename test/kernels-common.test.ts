import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { GpuRuntime } from '../src/gpu/index.js';
import { fromHalf, pack, params, shaderSource, StepCache, toHalf, unpack } from '../src/model/kernels/common.js';
import { LayerNorm, layernormCpu } from '../src/model/kernels/layernorm.js';
import { download, maxError, randn, rng, upload } from './kernels-support.js';

describe('f16 packing', () => {
  it('rounds to nearest even and round-trips every half value', () => {
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(-2)).toBe(0xc000);
    expect(toHalf(65504)).toBe(0x7bff);
    expect(toHalf(65520)).toBe(0x7c00); // rounds up past the largest half: infinity
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00); // a tie: to even
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toHalf(2 ** -24)).toBe(1); // the smallest subnormal
    expect(toHalf(2 ** -26)).toBe(0);
    expect(toHalf(NaN) & 0x7c00).toBe(0x7c00);
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaNs
      expect(toHalf(fromHalf(h))).toBe(h);
    }
  });

  it('packs and unpacks buffers', () => {
    const x = Float32Array.of(0.1, -3.5, 1000, 2 ** -20);
    expect(unpack(pack(x, 'f32').buffer as ArrayBuffer, 'f32')).toEqual(x);
    const h = unpack(pack(x, 'f16').buffer as ArrayBuffer, 'f16');
    for (let i = 0; i < x.length; i++) expect(Math.abs(h[i] - x[i])).toBeLessThanOrEqual(Math.abs(x[i]) * 2 ** -11);
  });
});

describe('kernel creation', () => {
  let rt: GpuRuntime;
  beforeAll(async () => {
    rt = await GpuRuntime.create({});
  });
  afterAll(() => rt?.destroy());

  it('evicts the least recently used shape past its capacity, without disturbing submitted work', async () => {
    const pipeline = await rt.pipeline({ code: await shaderSource('layernorm', 'f32'), entryPoint: 'layernorm_forward', constants: { WG: 64 } });
    const cache = new StepCache(rt, pipeline, 1);
    const rand = rng(9);
    const [x, r, g, b] = [randn(256, rand), randn(256, rand), randn(16, rand, 1, 1), randn(16, rand)];
    const [bx, br, bg, bb] = await Promise.all([x, r, g, b].map((a) => upload(rt, a, 'f32')));
    const run = async (rows: number, eps: number) => {
      const y = await rt.storageBuffer(256 * 4);
      rt.dispatch(cache.step(params([rows, 16], [eps]), [bx, br, bg, bb, y], [1, 1]));
      return { y, rows, eps };
    };
    // Each step evicts (and destroys) the previous shape's uniform right after its dispatch.
    const runs = [await run(16, 1e-5), await run(8, 1e-2), await run(16, 1e-5)];
    for (const { y, rows, eps } of runs) {
      const want = layernormCpu(x.subarray(0, rows * 16), r, g, b, { rows, hidden: 16, eps });
      expect(maxError((await download(rt, y, 'f32', 256)).subarray(0, rows * 16), want)).toBeLessThan(1e-5);
    }
  });

  it('refuses f16 on a device created without shader-f16, and unknown dtypes', async () => {
    await expect(LayerNorm.create(rt, { dtype: 'f16' })).rejects.toThrow(/shader-f16/);
    await expect(LayerNorm.create(rt, { dtype: 'f64' as 'f32' })).rejects.toThrow(InputError);
  });
});
