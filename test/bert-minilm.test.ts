/**
 * The real all-MiniLM-L6-v2 (made by `npm run setup`; skipped when absent) against
 * sentence-transformers' embeddings, in f32, and f16 against f32.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuRuntime } from '../src/gpu/index.js';
import { BertGpu } from '../src/model/bert.js';
import { loadModel, type LoadedModel } from '../src/model/load.js';
import { batchOf, cosine, kendallTau, MINILM, minilmGoldens } from './bert-support.js';

const present = existsSync(`${MINILM}/model.safetensors`);

describe.skipIf(!present)('all-MiniLM-L6-v2 on the GPU', () => {
  let rt: GpuRuntime;
  let model: LoadedModel;
  const cases = minilmGoldens();
  // One text is 256 tokens, the others at most 35: padding all to 256 would cost 5x the work.
  const long = (c: (typeof cases)[number]) => c.input_ids.length > 64;
  const groups = [cases.filter((c) => !long(c)), ...cases.filter(long).map((c) => [c])];
  const maxTokens = Math.max(...groups.map((g) => g.length * Math.max(...g.map((c) => c.input_ids.length))));
  const H = 384;
  let f32: Float32Array;

  /** Embeddings of every case, in case order. */
  async function embed(bert: BertGpu): Promise<Float32Array> {
    const out = new Float32Array(cases.length * H);
    for (const group of groups) {
      const rows = await bert.forward(batchOf(group));
      group.forEach((c, r) => out.set(rows.subarray(r * H, (r + 1) * H), cases.indexOf(c) * H));
    }
    return out;
  }

  beforeAll(async () => {
    rt = await GpuRuntime.create({ optionalFeatures: ['shader-f16'] });
    model = await loadModel(MINILM);
    const bert = await BertGpu.create(rt, model, { dtype: 'f32', maxTokens, maxRows: cases.length });
    f32 = await embed(bert);
    bert.dispose();
  });
  afterAll(() => rt?.destroy());

  const row = (x: Float32Array, i: number) => x.subarray(i * H, (i + 1) * H);

  it('gives sentence-transformers’ embeddings in f32 (cosine ≥ 0.9999 for each of 20 texts)', () => {
    expect(model.kind).toBe('bi-encoder');
    const cos = cases.map((c, i) => cosine(row(f32, i), c.embedding));
    console.log(`MiniLM GPU f32 vs sentence-transformers: 1 - min cosine = ${(1 - Math.min(...cos)).toExponential(2)}`);
    for (const c of cos) expect(c).toBeGreaterThanOrEqual(0.9999);
  });

  it('ranks the 190 text pairs’ cosine scores in f16 as in f32 (Kendall τ ≥ 0.99)', async (ctx) => {
    if (!rt.hasFeature('shader-f16')) ctx.skip();
    const bert = await BertGpu.create(rt, model, { dtype: 'f16', maxTokens, maxRows: cases.length });
    const f16 = await embed(bert);
    bert.dispose();
    const scores = (x: Float32Array) => cases.flatMap((_, i) => cases.slice(i + 1).map((__, d) => cosine(row(x, i), row(x, i + 1 + d))));
    const tau = kendallTau(scores(f32), scores(f16));
    const minCos = Math.min(...cases.map((_, i) => cosine(row(f16, i), row(f32, i))));
    console.log(`MiniLM f16 vs f32: min cosine = ${minCos.toFixed(6)}, Kendall τ over 190 pair scores = ${tau.toFixed(4)}`);
    expect(minCos).toBeGreaterThanOrEqual(0.999);
    expect(tau).toBeGreaterThanOrEqual(0.99);
  });
});
