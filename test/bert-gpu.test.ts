/**
 * The GPU forward (tiny-bert on the machine's adapter, lavapipe in CI) against PyTorch's goldens and
 * the CPU reference; ragged batches against rows run alone; f16 against f32; budget errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, ModelLoadError } from '../src/errors.js';
import { GpuRuntime } from '../src/gpu/index.js';
import { BatchBudgetError, BertGpu } from '../src/model/bert.js';
import { bertForwardCpu, type BertBatch } from '../src/model/bert-cpu.js';
import { loadModel, type LoadedModel } from '../src/model/load.js';
import { paramView } from '../src/model/params.js';
import { batchOf, hiddenGoldens, kendallTau, logitGoldens, maxAbsDiff, TINY_BERT } from './bert-support.js';
import { rng } from './kernels-support.js';

let rt: GpuRuntime;
let model: LoadedModel;
let bert: BertGpu;
beforeAll(async () => {
  rt = await GpuRuntime.create({ optionalFeatures: ['shader-f16'] });
  model = await loadModel(TINY_BERT);
  bert = await BertGpu.create(rt, model, { dtype: 'f32', maxTokens: 64 * 128, maxRows: 64 });
});
afterAll(() => {
  bert?.dispose();
  rt?.destroy();
});

/** `n` random pairs shaped like the tokenizer's: [CLS] query [SEP] document [SEP], lengths 3..max. */
function randomPairs(n: number, max: number, seed: number): { input_ids: number[]; token_type_ids: number[] }[] {
  const rand = rng(seed);
  return Array.from({ length: n }, () => {
    const len = 3 + Math.floor(rand() * (max - 2));
    const q = 1 + Math.floor(rand() * Math.min(20, len - 2));
    const word = () => 1000 + Math.floor(rand() * 29000);
    const ids = [101, ...Array.from({ length: q - 1 }, word), 102, ...Array.from({ length: len - q - 2 }, word), 102];
    return { input_ids: ids.slice(0, len), token_type_ids: ids.slice(0, len).map((_, i) => (i <= q ? 0 : 1)) };
  });
}

/** Rows [from, to) of a padded [size, L, hidden] state, valid tokens only. */
function validRows(state: Float32Array, batch: BertBatch, hidden: number, row: number): Float32Array {
  const start = row * batch.paddedLength * hidden;
  return state.subarray(start, start + batch.lengths[row] * hidden);
}

describe('BertGpu f32 (tiny-bert)', () => {
  it('gives the 50 golden pairs their PyTorch logits in one ragged batch (max |Δ| ≤ 1e-4)', async () => {
    const cases = logitGoldens();
    const logits = await bert.forward(batchOf(cases));
    const err = maxAbsDiff(logits, cases.flatMap((c) => c.logits));
    console.log(`tiny-bert GPU f32 vs PyTorch: max |Δ| = ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-4);
  });

  it('matches the embeddings and every layer’s hidden states', async () => {
    const cases = hiddenGoldens();
    const batch = batchOf(cases);
    const states = await bert.hiddenStates(batch);
    expect(states.length).toBe(model.config.numHiddenLayers + 1);
    const H = model.config.hiddenSize;
    let worst = 0;
    cases.forEach((c, r) => {
      worst = Math.max(worst, maxAbsDiff(validRows(states[0], batch, H, r), c.embeddings.flat()));
      c.layers.forEach((layer, l) => (worst = Math.max(worst, maxAbsDiff(validRows(states[l + 1], batch, H, r), layer.flat()))));
    });
    console.log(`tiny-bert GPU f32 hidden states vs PyTorch: max |Δ| = ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it('matches the CPU reference on generated pairs', async () => {
    const batch = batchOf(randomPairs(24, 96, 1));
    const gpu = await bert.forward(batch);
    expect(maxAbsDiff(gpu, bertForwardCpu(model, batch).output)).toBeLessThanOrEqual(1e-5);
  });

  it('gives each row of a ragged batch (lengths 1..L) what it gets alone', async () => {
    const rows = randomPairs(12, 60, 2);
    rows.push({ input_ids: [101], token_type_ids: [0] });
    const batched = await bert.forward(batchOf(rows));
    for (const [i, row] of rows.entries()) {
      const alone = await bert.forward(batchOf([row]));
      expect(Math.abs(alone[0] - batched[i])).toBeLessThanOrEqual(1e-6);
    }
  });

  it('pads to a longer paddedLength without changing results', async () => {
    const rows = randomPairs(5, 20, 3);
    const tight = await bert.forward(batchOf(rows));
    const loose = await bert.forward({ ...batchOf(rows), paddedLength: 77 });
    expect(maxAbsDiff(loose, tight)).toBeLessThanOrEqual(1e-6);
  });

  it('returns nothing for an empty batch', async () => {
    expect((await bert.forward({ ids: [], typeIds: [], lengths: [], paddedLength: 1, size: 0 })).length).toBe(0);
  });

  it('refuses batches over its token or row budget, and bad batches', async () => {
    const small = await BertGpu.create(rt, model, { dtype: 'f32', maxTokens: 100, maxRows: 4 });
    try {
      await expect(small.forward(batchOf(randomPairs(5, 10, 4)))).rejects.toThrow(BatchBudgetError);
      await expect(small.forward({ ...batchOf(randomPairs(2, 10, 5)), paddedLength: 51 })).rejects.toThrow(/102 padded tokens is over the budget of 100/);
      await expect(small.forward(batchOf([{ input_ids: [101, 99999] }]))).rejects.toThrow(InputError);
      expect((await small.forward(batchOf(randomPairs(4, 25, 6)))).length).toBe(4);
    } finally {
      small.dispose();
    }
    await expect(small.forward(batchOf([{ input_ids: [101] }]))).rejects.toThrow(/disposed/);
    await expect(BertGpu.create(rt, model, { dtype: 'f32', maxTokens: 0, maxRows: 1 })).rejects.toThrow(InputError);
  });
});

describe('BertGpu f16 (tiny-bert)', () => {
  it('stays close to f32 and ranks 150 pairs in the same order (Kendall τ ≥ 0.99)', async (ctx) => {
    if (!rt.hasFeature('shader-f16')) ctx.skip();
    const half = await BertGpu.create(rt, model, { dtype: 'f16', maxTokens: 64 * 128, maxRows: 64 });
    try {
      const rows = [...logitGoldens(), ...randomPairs(100, 128, 7)];
      const run = async (m: BertGpu) => {
        const out: number[] = [];
        for (let i = 0; i < rows.length; i += 50) out.push(...(await m.forward(batchOf(rows.slice(i, i + 50)))));
        return out;
      };
      const [a, b] = [await run(bert), await run(half)];
      const tau = kendallTau(a, b);
      console.log(`tiny-bert f16 vs f32 over ${a.length} pairs: max |Δ| = ${maxAbsDiff(a, b).toExponential(2)}, Kendall τ = ${tau.toFixed(4)}`);
      expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(5e-3);
      // The random model's logits crowd into about ±0.3 (neighbours often 1e-4 apart), so a few
      // near-ties may swap; the acceptance bar is τ ≥ 0.99 all the same.
      expect(tau).toBeGreaterThanOrEqual(0.99);
    } finally {
      half.dispose();
    }
  });
});

describe('BertGpu f16 range', () => {
  /** tiny-bert with its parameters copied, `edit` applied to the named tensor. */
  function edited(name: string, edit: (w: Float32Array) => void): LoadedModel {
    const params = { ...model.params, data: model.params.data.slice() };
    edit(paramView(params, name));
    return { ...model, params };
  }

  it('refuses weights beyond f16’s range, naming the tensor', async (ctx) => {
    if (!rt.hasFeature('shader-f16')) ctx.skip();
    const huge = edited('encoder.layer.1.output.dense.weight', (w) => (w[5] = 1e6));
    const err = await BertGpu.create(rt, huge, { dtype: 'f16', maxTokens: 64, maxRows: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(String(err)).toMatch(/encoder\.layer\.1\.output\.dense\.weight holds 1000000, beyond f16/);
  });
});
