import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpurankError, InputError } from '../src/errors.js';
import { GpuRuntime } from '../src/gpu/index.js';
import { layoutParams, type FlatParams } from '../src/model/params.js';
import { AdamW, adamwCpu, decayBlockBits, decayMask, decaysWeight, gradNormCpu, type AdamWOptions } from '../src/train/optimizer.js';
import { maxError, randn, rng } from './kernels-support.js';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await GpuRuntime.create();
});
afterAll(() => rt?.destroy());

/** A small layout with every kind of tensor; sizes that are not multiples of PARAM_ALIGN leave padding. */
function smallLayout(): FlatParams {
  return layoutParams([
    { name: 'embeddings.word_embeddings.weight', shape: [50, 7] },
    { name: 'embeddings.LayerNorm.weight', shape: [7] },
    { name: 'embeddings.LayerNorm.bias', shape: [7] },
    { name: 'encoder.layer.0.intermediate.dense.weight', shape: [300, 7] },
    { name: 'encoder.layer.0.intermediate.dense.bias', shape: [300] },
    { name: 'classifier.weight', shape: [1, 7] },
    { name: 'classifier.bias', shape: [1] },
  ]);
}

/** Values in tensor ranges, zero in the padding (what the trainer's buffers hold). */
function fill(layout: FlatParams, rand: () => number, scale: number): Float32Array {
  const out = new Float32Array(layout.totalElements);
  for (const e of layout.entries.values()) out.set(randn(e.size, rand, scale), e.offset);
  return out;
}

async function readF32(buffer: GPUBuffer): Promise<Float32Array> {
  const [bytes] = await rt.read([buffer]);
  return new Float32Array(bytes);
}

describe('decay mask', () => {
  it('decays weights but not biases or LayerNorm weights', () => {
    expect(decaysWeight('encoder.layer.3.attention.self.query.weight')).toBe(true);
    expect(decaysWeight('bert.embeddings.word_embeddings.weight')).toBe(true);
    expect(decaysWeight('classifier.weight')).toBe(true);
    expect(decaysWeight('pooler.dense.weight')).toBe(true);
    expect(decaysWeight('encoder.layer.3.attention.self.query.bias')).toBe(false);
    expect(decaysWeight('encoder.layer.0.output.LayerNorm.weight')).toBe(false);
    expect(decaysWeight('bert.embeddings.LayerNorm.weight')).toBe(false);
    expect(decaysWeight('classifier.bias')).toBe(false);
  });

  it('marks exactly the decayed tensors, per element and per block', () => {
    const layout = smallLayout();
    const mask = decayMask(layout);
    const bits = decayBlockBits(layout);
    for (const e of layout.entries.values()) {
      const want = decaysWeight(e.name) ? 1 : 0;
      expect([...mask.subarray(e.offset, e.offset + e.size)].every((m) => m === want), e.name).toBe(true);
      for (let i = e.offset; i < e.offset + e.size; i += 37) {
        const block = Math.floor(i / 128);
        expect((bits[block >>> 5] >>> (block & 31)) & 1, e.name).toBe(want);
      }
    }
    // Padding is never decayed in the element mask.
    const covered = new Uint8Array(layout.totalElements);
    for (const e of layout.entries.values()) covered.fill(1, e.offset, e.offset + e.size);
    expect(mask.every((m, i) => covered[i] === 1 || m === 0)).toBe(true);
  });
});

describe('AdamW on the GPU', () => {
  async function setup(layout: FlatParams, seed: number, o: AdamWOptions) {
    const rand = rng(seed);
    const p0 = fill(layout, rand, 0.5);
    const params = await rt.storageBuffer(p0);
    const grads = await rt.storageBuffer(layout.totalElements * 4);
    const adam = await AdamW.create(rt, layout, params, grads, o);
    return { rand, p0, params, grads, adam };
  }

  it('computes the global norm deterministically and close to f64', async () => {
    // Several stage-1 workgroups (4096 elements each) and a ragged tail.
    const layout = layoutParams([{ name: 'w.weight', shape: [9, 1234] }]);
    const { rand, grads, adam } = await setup(layout, 3, { lr: 1e-3, weightDecay: 0 });
    const g = fill(layout, rand, 3);
    rt.write(grads, g);
    rt.dispatch(adam.normSteps());
    const first = await adam.readNorm();
    rt.dispatch(adam.normSteps());
    const second = await adam.readNorm();
    expect(Object.is(first, second)).toBe(true);
    expect(Math.abs(first - gradNormCpu(g)) / gradNormCpu(g)).toBeLessThan(1e-6);
    adam.destroy();
  });

  for (const [label, maxGradNorm, scale] of [
    ['clipping active', 0.5, 1],
    ['clipping inactive', 1e6, 1],
    ['clipping off', 0, 1],
  ] as const) {
    it(`matches the f64 reference over 6 steps, ${label}`, async () => {
      const layout = smallLayout();
      const o = { lr: 1e-2, weightDecay: 0.1, maxGradNorm };
      const { rand, p0, params, grads, adam } = await setup(layout, 11, o);
      const mask = decayMask(layout);
      const cpu = { params: Float64Array.from(p0), m: new Float64Array(p0.length), v: new Float64Array(p0.length) };
      const norms: number[] = [];
      for (let t = 1; t <= 6; t++) {
        const g = fill(layout, rand, scale * (t % 2 ? 0.005 : 2));
        const lr = o.lr * (1 - (t - 1) / 6);
        rt.write(grads, g);
        rt.dispatch(adam.normSteps());
        const norm = await adam.readNorm();
        rt.dispatch(adam.updateSteps(lr, t));
        const want = adamwCpu(cpu, g, mask, { ...o, lr, t });
        expect(Math.abs(norm - want) / want).toBeLessThan(1e-6);
        norms.push(want);
      }
      if (maxGradNorm === 0.5) expect(norms.some((n) => n > 0.5) && norms.some((n) => n < 0.5)).toBe(true);
      const got = await readF32(params);
      const { m, v } = await adam.readState();
      // Parameters move by ~lr per step: compare the movement, relative to lr.
      const moved = Float32Array.from(got, (x, i) => (x - p0[i]) / o.lr);
      const wantMoved = Float32Array.from(cpu.params, (x, i) => (x - p0[i]) / o.lr);
      expect(maxError(moved, wantMoved)).toBeLessThan(1e-4);
      expect(maxError(m, Float32Array.from(cpu.m))).toBeLessThan(1e-6);
      expect(maxError(v, Float32Array.from(cpu.v))).toBeLessThan(1e-6);
      // Padding stays zero.
      const covered = new Uint8Array(layout.totalElements);
      for (const e of layout.entries.values()) covered.fill(1, e.offset, e.offset + e.size);
      expect(got.every((x, i) => covered[i] === 1 || x === 0)).toBe(true);
      adam.destroy();
    });
  }

  it('is bit-identical across two runs, and across a state save/restore', async () => {
    const layout = smallLayout();
    const o = { lr: 5e-3, weightDecay: 0.01, maxGradNorm: 1 };
    const run = async (restoreAfter?: number) => {
      let { rand, params, grads, adam } = await setup(layout, 21, o);
      for (let t = 1; t <= 4; t++) {
        rt.write(grads, fill(layout, rand, 0.7));
        rt.dispatch(adam.normSteps());
        await adam.readNorm();
        rt.dispatch(adam.updateSteps(o.lr, t));
        if (t === restoreAfter) {
          const state = await adam.readState();
          const p = await readF32(params);
          adam.destroy();
          params = await rt.storageBuffer(p);
          grads = await rt.storageBuffer(layout.totalElements * 4);
          adam = await AdamW.create(rt, layout, params, grads, o);
          adam.writeState(state);
        }
      }
      const out = await readF32(params);
      adam.destroy();
      return out;
    };
    const a = await run();
    expect(Buffer.from((await run()).buffer).equals(Buffer.from(a.buffer))).toBe(true);
    expect(Buffer.from((await run(2)).buffer).equals(Buffer.from(a.buffer))).toBe(true);
  });

  it('refuses to update without a fresh finite norm', async () => {
    const layout = smallLayout();
    const { params, grads, adam } = await setup(layout, 5, { lr: 1e-3, weightDecay: 0 });
    const before = await readF32(params);
    expect(() => adam.updateSteps(1e-3, 1)).toThrow(expect.objectContaining({ code: 'OPTIMIZER_NORM_UNREAD' }));
    for (const bad of [NaN, Infinity]) {
      const g = new Float32Array(layout.totalElements);
      g[3] = 1;
      g[200] = bad;
      rt.write(grads, g);
      rt.dispatch(adam.normSteps());
      const norm = await adam.readNorm();
      expect(Number.isFinite(norm)).toBe(false);
      expect(() => adam.updateSteps(1e-3, 1)).toThrow(expect.objectContaining({ code: 'OPTIMIZER_NONFINITE' }));
    }
    // One update per norm read.
    rt.write(grads, new Float32Array(layout.totalElements));
    rt.dispatch(adam.normSteps());
    adam.observeNorm((await rt.read([adam.norm])).map((b) => new Float32Array(b)[0])[0]);
    rt.dispatch(adam.updateSteps(1e-3, 1));
    expect(() => adam.updateSteps(1e-3, 2)).toThrow(GpurankError);
    // Zero gradients and no decay leave the parameters as they were.
    expect(Buffer.from((await readF32(params)).buffer).equals(Buffer.from(before.buffer))).toBe(true);
    adam.destroy();
  });

  it('rejects bad options, steps, buffers and state with typed errors', async () => {
    const layout = smallLayout();
    const params = await rt.storageBuffer(layout.totalElements * 4);
    const grads = await rt.storageBuffer(layout.totalElements * 4);
    const bad: Partial<AdamWOptions>[] = [
      { lr: -1 },
      { lr: NaN },
      { betas: [1, 0.999] },
      { betas: [0.9] as never },
      { eps: -1 },
      { weightDecay: Infinity },
      { maxGradNorm: -1 },
    ];
    for (const b of bad) {
      await expect(AdamW.create(rt, layout, params, grads, { lr: 1e-3, weightDecay: 0, ...b })).rejects.toThrow(
        expect.objectContaining({ code: 'OPTIMIZER_OPTIONS' }),
      );
    }
    const small = await rt.storageBuffer(64);
    await expect(AdamW.create(rt, layout, small, grads, { lr: 1e-3, weightDecay: 0 })).rejects.toThrow(/params buffer has 64 bytes/);
    const adam = await AdamW.create(rt, layout, params, grads, { lr: 1e-3, weightDecay: 0 });
    rt.dispatch(adam.normSteps());
    await adam.readNorm();
    expect(() => adam.updateSteps(1e-3, 0)).toThrow(/1-based/);
    expect(() => adam.updateSteps(-1, 1)).toThrow(InputError);
    expect(() => adam.writeState({ m: new Float32Array(3), v: new Float32Array(layout.totalElements) })).toThrow(
      expect.objectContaining({ code: 'OPTIMIZER_STATE_SIZE' }),
    );
    adam.destroy();
    const misaligned = { ...layout, entries: new Map([['x.weight', { name: 'x.weight', sourceName: 'x.weight', shape: [4], offset: 5, size: 4 }]]) };
    expect(() => decayBlockBits(misaligned)).toThrow(/not PARAM_ALIGN-aligned/);
    const state = { params: new Float64Array(4), m: new Float64Array(4), v: new Float64Array(4) };
    expect(() => adamwCpu(state, new Float32Array(3), new Uint8Array(4), { lr: 1e-3, weightDecay: 0, t: 1 })).toThrow(/lengths differ/);
    expect(() => adamwCpu(state, new Float32Array(4), new Uint8Array(4), { lr: 1e-3, weightDecay: 0, t: 0 })).toThrow(/1-based/);
  });
});

interface GoldenStep {
  lr: number;
  norm: number;
  grads: Record<string, number[]>;
  params: Record<string, number[]>;
  exp_avg: Record<string, number[]>;
  exp_avg_sq: Record<string, number[]>;
}
interface GoldenCase {
  max_grad_norm: number;
  lr: number;
  weight_decay: number;
  betas: [number, number];
  eps: number;
  shapes: Record<string, number[]>;
  initial: Record<string, number[]>;
  steps: GoldenStep[];
}
const golden = JSON.parse(readFileSync(new URL('./fixtures/goldens/adamw-small.json', import.meta.url), 'utf8')) as { adamw: GoldenCase[] };

describe('AdamW against torch.optim.AdamW + clip_grad_norm_ (golden)', () => {
  for (const c of golden.adamw) {
    it(`GPU and CPU reference follow torch for 5 steps (max_grad_norm ${c.max_grad_norm})`, async () => {
      const layout = layoutParams(Object.entries(c.shapes).map(([name, shape]) => ({ name, shape })));
      const flat = (values: Record<string, number[]>): Float32Array => {
        const out = new Float32Array(layout.totalElements);
        for (const [name, v] of Object.entries(values)) out.set(v, layout.entries.get(name)!.offset);
        return out;
      };
      const o = { lr: c.lr, betas: c.betas, eps: c.eps, weightDecay: c.weight_decay, maxGradNorm: c.max_grad_norm };
      const p0 = flat(c.initial);
      const params = await rt.storageBuffer(p0);
      const grads = await rt.storageBuffer(layout.totalElements * 4);
      const adam = await AdamW.create(rt, layout, params, grads, o);
      const mask = decayMask(layout);
      const cpu = { params: Float64Array.from(p0), m: new Float64Array(p0.length), v: new Float64Array(p0.length) };
      for (const [s, step] of c.steps.entries()) {
        const g = flat(step.grads);
        rt.write(grads, g);
        rt.dispatch(adam.normSteps());
        const norm = await adam.readNorm();
        expect(Math.abs(norm - step.norm) / step.norm).toBeLessThan(1e-6);
        rt.dispatch(adam.updateSteps(step.lr, s + 1));
        adamwCpu(cpu, g, mask, { ...o, lr: step.lr, t: s + 1 });
        const [gotP, state] = await Promise.all([readF32(params), adam.readState()]);
        const want = { p: flat(step.params), m: flat(step.exp_avg), v: flat(step.exp_avg_sq) };
        // The same f32 operations as torch's kernels: within ~2 ulps (sqrt and fma contraction may differ).
        expect(maxError(gotP, want.p)).toBeLessThan(2e-7);
        expect(maxError(state.m, want.m)).toBeLessThan(2e-7);
        expect(maxError(state.v, want.v)).toBeLessThan(2e-7);
        // The f64 reference differs from f32 torch by f32 rounding only.
        expect(maxError(Float32Array.from(cpu.params), want.p)).toBeLessThan(1e-6);
        expect(maxError(Float32Array.from(cpu.m), want.m)).toBeLessThan(1e-6);
      }
      adam.destroy();
    });
  }
});
