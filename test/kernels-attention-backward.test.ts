import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { GpuRuntime } from '../src/gpu/index.js';
import {
  Attention,
  attentionBackwardCpu,
  attentionCpu,
  attentionForwardTrainCpu,
  type AttentionDropout,
  type AttentionShape,
} from '../src/model/kernels/attention.js';
import { checkGradient, dot } from './gradcheck.js';
import { download, maxError, randn, raggedLengths, rng, upload } from './kernels-support.js';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await GpuRuntime.create();
});
afterAll(() => rt?.destroy());

const NONE: AttentionDropout = { p: 0, seed: 0, stream: 0 };
const DROP: AttentionDropout = { p: 0.25, seed: 1234, stream: 7 };

function inputs(shape: AttentionShape, seed: number, scale = 1) {
  const n = shape.batch * shape.length * shape.heads * shape.headDim;
  const rand = rng(seed);
  const lengths = raggedLengths(shape.batch, shape.length, rand);
  const [q, k, v, dout] = [scale, scale, 1, 1].map((s) => randn(n, rand, s));
  return { n, lengths, q, k, v, dout };
}

describe('attention CPU references', () => {
  it('the training forward with dropout 0 is the inference forward, and lse is the log-sum-exp of the scaled scores', () => {
    const shape = { batch: 3, length: 6, heads: 2, headDim: 4 };
    const { q, k, v, lengths } = inputs(shape, 1, 2);
    const { out, lse } = attentionForwardTrainCpu(q, k, v, lengths, shape);
    expect(maxError(out, attentionCpu(q, k, v, lengths, shape))).toBeLessThan(1e-7);
    // Row b = 0, head 1, query 2, by hand.
    const len = lengths[0];
    let sum = 0;
    for (let j = 0; j < len; j++) {
      let s = 0;
      for (let c = 0; c < 4; c++) s += q[2 * 8 + 4 + c] * k[j * 8 + 4 + c];
      sum += Math.exp(s / 2);
    }
    expect(lse[(0 * 2 + 1) * 6 + 2]).toBeCloseTo(Math.log(sum), 5);
    // Padded rows (the last row has length 1) have lse 0.
    expect(lse[(2 * 2 + 0) * 6 + 3]).toBe(0);
  });

  for (const [name, dropout] of [
    ['no dropout', NONE],
    ['dropout 0.25', DROP],
  ] as const) {
    it(`the backward agrees with central differences of the f64 forward: ragged lengths (incl. 1), ${name}`, () => {
      const shape = { batch: 3, length: 5, heads: 2, headDim: 3 };
      const { q, k, v, dout, lengths } = inputs(shape, 2, 1.5);
      const grads = attentionBackwardCpu(q, k, v, dout, lengths, shape, dropout);
      const f = (o: { q?: Float64Array; k?: Float64Array; v?: Float64Array }) =>
        dot(dout, attentionForwardTrainCpu(o.q ?? q, o.k ?? k, o.v ?? v, lengths, shape, dropout, Float64Array).out);
      checkGradient((x) => f({ q: x }), Float64Array.from(q), grads.dq, { tol: 1e-5 });
      checkGradient((x) => f({ k: x }), Float64Array.from(k), grads.dk, { tol: 1e-5 });
      checkGradient((x) => f({ v: x }), Float64Array.from(v), grads.dv, { tol: 1e-5 });
    });
  }

  it('drops about p of the probabilities, and a different seed or stream draws a different mask', () => {
    const shape = { batch: 1, length: 40, heads: 1, headDim: 1 };
    // Uniform scores (q = 0) and v = 1: out_i = Σ_j Z_ij / L, so the mean over i of out_i is the mean of
    // 1600 dropout factors, E[Z] = 1 (inverted dropout keeps the expectation).
    const q = new Float32Array(40);
    const v = new Float32Array(40).fill(1);
    const lengths = [40];
    const mean = (d: AttentionDropout) => attentionForwardTrainCpu(q, q, v, lengths, shape, d).out.reduce((a, b) => a + b, 0) / 40;
    expect(mean(NONE)).toBeCloseTo(1, 6);
    expect(Math.abs(mean(DROP) - 1)).toBeLessThan(0.05);
    const a = attentionForwardTrainCpu(q, q, v, lengths, shape, DROP).out;
    expect(attentionForwardTrainCpu(q, q, v, lengths, shape, { ...DROP, seed: 1235 }).out).not.toEqual(a);
    expect(attentionForwardTrainCpu(q, q, v, lengths, shape, { ...DROP, stream: 8 }).out).not.toEqual(a);
  });
});

describe('attention training kernels (GPU)', () => {
  async function run(shape: AttentionShape, seed: number, dropout: AttentionDropout) {
    const { n, lengths, q, k, v, dout } = inputs(shape, seed, 1.5);
    // Padded rows of dout must never be read.
    const { length, heads, headDim } = shape;
    for (let b = 0; b < shape.batch; b++) dout.fill(NaN, (b * length + lengths[b]) * heads * headDim, (b + 1) * length * heads * headDim);
    const attn = await Attention.create(rt, { dtype: 'f32', headDim, training: true });
    const [bq, bk, bv, bdout] = await Promise.all([q, k, v, dout].map((a) => upload(rt, a, 'f32')));
    const bl = await rt.storageBuffer(lengths);
    // Outputs start as NaN: everything, padding included, must be written.
    const nan = (count: number) => upload(rt, new Float32Array(count).fill(NaN), 'f32');
    const [out, dq, dk, dv] = await Promise.all([n, n, n, n].map(nan));
    const lse = await nan(shape.batch * heads * length);
    const io = { ...shape, lengths: bl, q: bq, k: bk, v: bv, out, lse, dropout };
    rt.dispatch([attn.forwardTrainStep(io), ...attn.backwardSteps({ ...io, dout: bdout, dq, dk, dv })]);
    const [gOut, gLse, gDq, gDk, gDv] = await Promise.all([out, lse, dq, dk, dv].map((b, i) => download(rt, b, 'f32', i === 1 ? shape.batch * heads * length : n)));
    return { data: { q, k, v, dout, lengths }, got: { out: gOut, lse: gLse, dq: gDq, dk: gDk, dv: gDv }, attn, buffers: { bq, bk, bv, bl } };
  }

  const shapes: [string, AttentionShape][] = [
    ['a small ragged batch (lengths 1..L)', { batch: 4, length: 9, heads: 2, headDim: 8 }],
    ['MiniLM head size, L past one workgroup', { batch: 3, length: 37, heads: 3, headDim: 32 }],
  ];
  for (const [name, shape] of shapes) {
    for (const [dname, dropout] of [
      ['no dropout', NONE],
      ['dropout 0.25', DROP],
    ] as const) {
      it(`forward (out, lse) and backward (dq, dk, dv) match the CPU references: ${name}, ${dname}`, async () => {
        const { data, got } = await run(shape, shape.length, dropout);
        const { q, k, v, dout, lengths } = data;
        const want = attentionForwardTrainCpu(q, k, v, lengths, shape, dropout);
        expect(maxError(got.out, want.out)).toBeLessThan(1e-5);
        expect(maxError(got.lse, want.lse)).toBeLessThan(1e-5);
        const grads = attentionBackwardCpu(q, k, v, dout, lengths, shape, dropout);
        expect(maxError(got.dq, grads.dq)).toBeLessThan(1e-5);
        expect(maxError(got.dk, grads.dk)).toBeLessThan(1e-5);
        expect(maxError(got.dv, grads.dv)).toBeLessThan(1e-5);
      });
    }
  }

  it('with dropout 0 the training forward gives the inference forward (attention_forward)', async () => {
    const shape = { batch: 3, length: 21, heads: 2, headDim: 16 };
    const { got, attn, buffers } = await run(shape, 5, NONE);
    const n = 3 * 21 * 32;
    const out = await rt.storageBuffer(n * 4);
    rt.dispatch(attn.step({ ...shape, lengths: buffers.bl, q: buffers.bq, k: buffers.bk, v: buffers.bv, out }));
    expect(maxError(got.out, await download(rt, out, 'f32', n))).toBeLessThan(1e-6);
  });

  it('dropout changes the output, and the same seed gives the same bits (forward and backward)', async () => {
    const shape = { batch: 2, length: 12, heads: 2, headDim: 4 };
    const a = await run(shape, 6, DROP);
    const b = await run(shape, 6, DROP);
    const none = await run(shape, 6, NONE);
    expect(b.got).toEqual(a.got);
    expect(maxError(a.got.out, none.got.out)).toBeGreaterThan(1e-3);
  });

  it('refuses bad dropout, f16 training, training calls on an inference kernel, and another head size', async () => {
    const b = await rt.storageBuffer(64);
    const attn = await Attention.create(rt, { dtype: 'f32', headDim: 4, training: true });
    const io = { batch: 1, length: 1, heads: 1, headDim: 4, lengths: b, q: b, k: b, v: b, out: b, lse: b };
    expect(() => attn.forwardTrainStep({ ...io, dropout: { p: 1, seed: 0, stream: 0 } })).toThrow(/dropout probability must be in \[0, 1\)/);
    expect(() => attn.forwardTrainStep({ ...io, dropout: { p: -0.1, seed: 0, stream: 0 } })).toThrow(InputError);
    expect(() => attn.forwardTrainStep({ ...io, dropout: { p: 0.1, seed: -1, stream: 0 } })).toThrow(/seed must be a u32/);
    expect(() => attn.backwardSteps({ ...io, dout: b, dq: b, dk: b, dv: b, dropout: { p: 0.1, seed: 0, stream: 2 ** 32 } })).toThrow(/stream must be a u32/);
    expect(() => attn.forwardTrainStep({ ...io, headDim: 8 })).toThrow(/head size 4/);
    await expect(Attention.create(rt, { dtype: 'f16', headDim: 4, training: true })).rejects.toThrow(/training is f32 only/);
    const inference = await Attention.create(rt, { dtype: 'f32', headDim: 4 });
    expect(() => inference.forwardTrainStep(io)).toThrow(/training: true/);
    expect(() => inference.backwardSteps({ ...io, dout: b, dq: b, dk: b, dv: b })).toThrow(/training: true/);
  });
});
