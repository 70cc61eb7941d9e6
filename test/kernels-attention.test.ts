import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { GpuRuntime } from '../src/gpu/index.js';
import { Attention, attentionCpu, type AttentionShape } from '../src/model/kernels/attention.js';
import { download, dtypes, maxError, randn, raggedLengths, rng, stored, tolerance, upload } from './kernels-support.js';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await GpuRuntime.create({ optionalFeatures: ['shader-f16'] });
});
afterAll(() => rt?.destroy());

describe('attention_forward', () => {
  const cases: [string, AttentionShape][] = [
    ['batch size 1', { batch: 1, length: 9, heads: 2, headDim: 8 }],
    ['a ragged batch (lengths 1..L), MiniLM head size', { batch: 6, length: 45, heads: 3, headDim: 32 }],
    ['a ragged batch, odd head size, L past one workgroup', { batch: 4, length: 70, heads: 2, headDim: 5 }],
  ];
  for (const [name, shape] of cases) {
    it(`matches the CPU reference: ${name}, every dtype, both variants (software and hardware), two workgroup sizes each`, async () => {
      const { batch, length, heads, headDim } = shape;
      const rand = rng(batch * 100 + length);
      const lengths = raggedLengths(batch, length, rand);
      const n = batch * length * heads * headDim;
      const configs = dtypes(rt).flatMap((d) => [
        [d, 'blocked', 8],
        [d, 'blocked', 32],
        [d, 'tiled', 64],
        [d, 'tiled', 16],
      ] as const);
      for (const [dtype, variant, workgroupSize] of configs) {
        // Large scores (scale 3) so that an unstable softmax would overflow.
        const [q, k, v] = [3, 3, 1].map((s) => stored(randn(n, rand, s), dtype));
        const attn = await Attention.create(rt, { dtype, headDim, variant, workgroupSize });
        const [bq, bk, bv] = await Promise.all([q, k, v].map((a) => upload(rt, a, dtype)));
        const bl = await rt.storageBuffer(lengths);
        // Filled with NaN first: padded query rows must be written (as zeros) too.
        const out = await upload(rt, new Float32Array(n).fill(NaN), dtype);
        rt.dispatch(attn.step({ ...shape, lengths: bl, q: bq, k: bk, v: bv, out }));
        const got = await download(rt, out, dtype, n);
        expect(maxError(got, attentionCpu(q, k, v, lengths, shape)), `${dtype} ${variant} wg${workgroupSize}`).toBeLessThan(tolerance(dtype, 2e-5));
      }
    });
  }

  it('reads q, k and v from one fused [B, L, 3H] buffer, both variants', async () => {
    const shape = { batch: 3, length: 17, heads: 4, headDim: 8 };
    const hidden = 32;
    const rand = rng(11);
    const lengths = raggedLengths(3, 17, rand);
    const qkv = randn(3 * 17 * 3 * hidden, rand, 2);
    const layout = { stride: 3 * hidden, qOffset: 0, kOffset: hidden, vOffset: 2 * hidden };
    const want = attentionCpu(qkv, qkv, qkv, lengths, shape, layout);
    for (const variant of ['blocked', 'tiled'] as const) {
      const attn = await Attention.create(rt, { dtype: 'f32', headDim: 8, variant });
      const b = await upload(rt, qkv, 'f32');
      const out = await rt.storageBuffer(3 * 17 * hidden * 4);
      rt.dispatch(attn.step({ ...shape, layout, lengths: await rt.storageBuffer(lengths), q: b, k: b, v: b, out }));
      expect(maxError(await download(rt, out, 'f32', want.length), want)).toBeLessThan(2e-5);
    }
  });

  it('gives each row the result it has alone (no leakage across rows or from padding)', async () => {
    const shape = { batch: 3, length: 20, heads: 2, headDim: 16 };
    const rand = rng(5);
    const lengths = Uint32Array.of(20, 4, 13);
    const n = 3 * 20 * 32;
    const [q, k, v] = [1, 1, 1].map(() => randn(n, rand, 2));
    const attn = await Attention.create(rt, { dtype: 'f32', headDim: 16 });
    const [bq, bk, bv] = await Promise.all([q, k, v].map((a) => upload(rt, a, 'f32')));
    const out = await rt.storageBuffer(n * 4);
    rt.dispatch(attn.step({ ...shape, lengths: await rt.storageBuffer(lengths), q: bq, k: bk, v: bv, out }));
    const batched = await download(rt, out, 'f32', n);
    for (let b = 0; b < 3; b++) {
      const len = lengths[b];
      const row = (a: Float32Array) => a.slice(b * 20 * 32, (b * 20 + len) * 32);
      const [sq, sk, sv] = [q, k, v].map(row).map((a) => upload(rt, a, 'f32'));
      const one = await rt.storageBuffer(len * 32 * 4);
      rt.dispatch(attn.step({ batch: 1, length: len, heads: 2, headDim: 16, lengths: await rt.storageBuffer(Uint32Array.of(len)), q: await sq, k: await sk, v: await sv, out: one }));
      expect(await download(rt, one, 'f32', len * 32)).toEqual(row(batched));
    }
  });

  it('refuses head sizes it cannot hold, bad workgroup sizes or variants, and a step of another head size', async () => {
    await expect(Attention.create(rt, { dtype: 'f32', headDim: 0 })).rejects.toThrow(InputError);
    await expect(Attention.create(rt, { dtype: 'f32', headDim: 257 })).rejects.toThrow(/head size/);
    await expect(Attention.create(rt, { dtype: 'f32', headDim: 8, workgroupSize: 0 })).rejects.toThrow(/workgroup size/);
    await expect(Attention.create(rt, { dtype: 'f32', headDim: 8, variant: 'fast' as 'tiled' })).rejects.toThrow(/unknown variant 'fast'/);
    const attn = await Attention.create(rt, { dtype: 'f32', headDim: 8 });
    const b = await rt.storageBuffer(64);
    expect(() => attn.step({ batch: 1, length: 1, heads: 1, headDim: 4, lengths: b, q: b, k: b, v: b, out: b })).toThrow(InputError);
  });
});
