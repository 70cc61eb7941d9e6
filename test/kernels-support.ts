/** Shared by the kernel tests: a seeded RNG, f16 rounding of inputs, GPU round trips, comparisons. */
import { expect } from 'vitest';
import type { GpuRuntime } from '../src/gpu/index.js';
import { pack, unpack, type Dtype } from '../src/model/kernels/common.js';

/** mulberry32: deterministic inputs, so a failure reproduces. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(n: number, rand: () => number, scale = 1, shift = 0): Float32Array {
  return Float32Array.from({ length: n }, () => shift + scale * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
}

/** The values a `dtype` buffer actually holds (f16 rounding), so references see the same inputs. */
export const stored = (x: Float32Array, dtype: Dtype): Float32Array => unpack(pack(x, dtype).slice().buffer as ArrayBuffer, dtype, x.length);

export async function upload(rt: GpuRuntime, x: Float32Array, dtype: Dtype): Promise<GPUBuffer> {
  return rt.storageBuffer(pack(x, dtype));
}

export async function download(rt: GpuRuntime, buffer: GPUBuffer, dtype: Dtype, count: number): Promise<Float32Array> {
  const [bytes] = await rt.read([buffer]);
  return unpack(bytes, dtype, count).slice();
}

/** Max |a - b| / (1 + |b|) — absolute near zero, relative for large values. */
export function maxError(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i]));
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

/** Tolerances: f32 differs from the f64 reference by rounding; f16 also rounds every stored value. */
export const tolerance = (dtype: Dtype, f32 = 1e-5): number => (dtype === 'f16' ? 4e-3 : f32);

/** The dtypes this runtime can test: f16 only with `shader-f16`. */
export const dtypes = (rt: GpuRuntime): Dtype[] => (rt.hasFeature('shader-f16') ? ['f32', 'f16'] : ['f32']);

/** Ragged lengths 1..max over `batch` rows, the longest first so L = max. */
export function raggedLengths(batch: number, max: number, rand: () => number): Uint32Array {
  const lengths = Uint32Array.from({ length: batch }, (_, i) => (i === 0 ? max : i === batch - 1 ? 1 : 1 + Math.floor(rand() * max)));
  return lengths;
}
