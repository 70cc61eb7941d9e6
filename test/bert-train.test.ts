/**
 * The training graph on the tiny BERT against PyTorch (test/fixtures/goldens/train, made by
 * scripts/make_train_goldens.py): logits, every parameter's gradient for each loss's dScores, and the
 * dropout paths' determinism. The 10-step AdamW curve is in train-goldens.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuRuntime } from '../src/gpu/index.js';
import { BertTrainGraph } from '../src/model/bert-train.js';
import { loadModel, type LoadedModel } from '../src/model/load.js';
import { readSafetensorsHeader, readTensorsInto } from '../src/model/safetensors.js';
import { goldenBatch, modelGolden, TINY_BERT, TRAIN_GOLDENS } from './train-support.js';

const golden = modelGolden();

/** Golden gradients as one flat array in the model's layout (word-embedding rows scattered back). */
async function goldenGrads(model: LoadedModel, file: string): Promise<Float32Array> {
  const header = await readSafetensorsHeader(new URL(file, TRAIN_GOLDENS).pathname);
  const flat = new Float32Array(model.params.totalElements);
  const jobs = [];
  for (const [name, tensor] of header.tensors) {
    if (name.startsWith('embeddings.word_embeddings.weight.')) continue;
    const e = model.params.entries.get(name);
    if (!e) throw new Error(`golden gradient for unknown parameter ${name}`);
    jobs.push({ tensor, dest: flat, offset: e.offset });
  }
  await readTensorsInto(jobs);
  const rows = header.tensors.get('embeddings.word_embeddings.weight.rows')!;
  const values = header.tensors.get('embeddings.word_embeddings.weight.values')!;
  const ids = new Float32Array(rows.size);
  const vals = new Float32Array(values.size);
  await readTensorsInto([
    { tensor: rows, dest: ids, offset: 0 },
    { tensor: values, dest: vals, offset: 0 },
  ]);
  const word = model.params.entries.get('embeddings.word_embeddings.weight')!;
  const H = model.config.hiddenSize;
  ids.forEach((id, r) => flat.set(vals.subarray(r * H, (r + 1) * H), word.offset + id * H));
  return flat;
}

/**
 * Per tensor: max |got − want| / max |want| (the error relative to the tensor's scale). The key biases
 * are the exception: their gradient is exactly 0 in exact arithmetic (softmax ignores a shift shared by
 * all keys), so both sides hold only rounding noise, measured against the largest gradient instead.
 */
function tensorErrors(model: LoadedModel, got: Float32Array, want: Float32Array): Map<string, number> {
  const out = new Map<string, number>();
  const largest = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  for (const e of model.params.entries.values()) {
    let diff = 0;
    let scale = 0;
    for (let i = e.offset; i < e.offset + e.size; i++) {
      const d = Math.abs(got[i] - want[i]);
      diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
      scale = Math.max(scale, Math.abs(want[i]));
    }
    out.set(e.name, diff / (e.name.endsWith('attention.self.key.bias') ? largest : scale));
  }
  return out;
}

let rt: GpuRuntime;
let model: LoadedModel;
let graph: BertTrainGraph;
const batch = goldenBatch(golden.lists);

beforeAll(async () => {
  rt = await GpuRuntime.create();
  model = await loadModel(TINY_BERT);
  graph = await BertTrainGraph.create(rt, model, { maxRows: 16, maxTokens: 16 * 48, dropout: { hidden: 0, attention: 0, classifier: 0 } });
});
afterAll(() => {
  graph?.dispose();
  rt?.destroy();
});

describe('BertTrainGraph on the tiny BERT vs PyTorch', () => {
  it('gives the logits of transformers (training forward, dropout 0)', async () => {
    const steps = graph.forwardSteps(batch, { train: true, seed: 1 });
    rt.dispatch(steps);
    const [bytes] = await rt.read([{ buffer: graph.scores, offset: 0, size: batch.size * 4 }]);
    const got = new Float32Array(bytes);
    for (let i = 0; i < batch.size; i++) expect(got[i]).toBeCloseTo(golden.logits[i], 5);
    expect(Array.from(await graph.score(batch))).toEqual(Array.from(got));
  });

  for (const [loss, g] of Object.entries(golden.losses)) {
    it(`matches autograd's gradient of every parameter for ${loss} (max error 1e-3 of each tensor's scale)`, async () => {
      const dScores = await rt.storageBuffer(Float32Array.from(g.dScores));
      graph.zeroGrads();
      rt.dispatch([...graph.forwardSteps(batch, { train: true, seed: 7 }), ...graph.backwardSteps(dScores)]);
      const got = await graph.readGrads();
      dScores.destroy();
      const errors = tensorErrors(model, got, await goldenGrads(model, g.file));
      const worst = [...errors].sort((a, b) => b[1] - a[1])[0];
      expect(errors.size).toBe(model.params.entries.size);
      expect(worst[1], `worst tensor ${worst[0]}`).toBeLessThan(1e-3);
    });
  }

  it('accumulates: two backward passes give twice the gradient', async () => {
    const dScores = await rt.storageBuffer(Float32Array.from(golden.losses.listnet.dScores));
    graph.zeroGrads();
    rt.dispatch([...graph.forwardSteps(batch, { train: true, seed: 7 }), ...graph.backwardSteps(dScores)]);
    const once = await graph.readGrads();
    rt.dispatch(graph.backwardSteps(dScores));
    const twice = await graph.readGrads();
    dScores.destroy();
    for (let i = 0; i < once.length; i += 97) expect(twice[i]).toBeCloseTo(2 * once[i], 6);
  });
});

describe('BertTrainGraph with dropout', () => {
  it('draws masks from the seed: same seed same bits, another seed other scores, eval mode none', async () => {
    const drop = await BertTrainGraph.create(rt, model, { maxRows: 16, maxTokens: 16 * 48, dropout: { hidden: 0.1, attention: 0.1, classifier: 0.1 } });
    try {
      const dScores = await rt.storageBuffer(Float32Array.from(golden.losses.listnet.dScores));
      const run = async (seed: number) => {
        drop.zeroGrads();
        rt.dispatch([...drop.forwardSteps(batch, { train: true, seed }), ...drop.backwardSteps(dScores)]);
        const [scores] = await rt.read([{ buffer: drop.scores, offset: 0, size: batch.size * 4 }]);
        return { scores: new Float32Array(scores), grads: await drop.readGrads() };
      };
      const a = await run(11);
      const b = await run(11);
      const c = await run(12);
      dScores.destroy();
      expect(Buffer.from(a.grads.buffer).equals(Buffer.from(b.grads.buffer))).toBe(true);
      expect(Array.from(a.scores)).toEqual(Array.from(b.scores));
      expect(Array.from(a.scores)).not.toEqual(Array.from(c.scores));
      expect(a.grads.every(Number.isFinite)).toBe(true);
      const evalScores = await drop.score(batch);
      for (let i = 0; i < batch.size; i++) expect(evalScores[i]).toBeCloseTo(golden.logits[i], 5);
    } finally {
      drop.dispose();
    }
  });

  it('gives the gradient of the dropped-out network: directional derivatives match central differences (same seed)', async () => {
    const drop = await BertTrainGraph.create(rt, model, { maxRows: 16, maxTokens: 16 * 48, dropout: { hidden: 0.2, attention: 0.2, classifier: 0.2 } });
    try {
      // L = c · scores for a fixed c: dL/dscores = c. The masks depend only on the seed, so L is a smooth
      // function of the parameters and a central difference along v must equal grad · v.
      const rand = (() => {
        let a = 12345;
        return () => ((a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
      })();
      const c = Float32Array.from({ length: batch.size }, rand);
      const dScores = await rt.storageBuffer(c);
      const base = model.params.data.slice();
      const loss = async (params: Float32Array) => {
        drop.writeParams(params);
        rt.dispatch(drop.forwardSteps(batch, { train: true, seed: 99 }));
        const [bytes] = await rt.read([{ buffer: drop.scores, offset: 0, size: batch.size * 4 }]);
        return new Float32Array(bytes).reduce((s, x, i) => s + x * c[i], 0);
      };
      drop.writeParams(base);
      drop.zeroGrads();
      rt.dispatch([...drop.forwardSteps(batch, { train: true, seed: 99 }), ...drop.backwardSteps(dScores)]);
      const grads = await drop.readGrads();
      dScores.destroy();
      for (const prefix of ['encoder.layer.0.', 'embeddings.', 'pooler.', 'encoder.layer.1.attention.']) {
        // A random direction over the tensors with this prefix, scaled to each tensor's size.
        const v = new Float32Array(base.length);
        for (const e of model.params.entries.values()) {
          if (!e.name.startsWith(prefix)) continue;
          for (let i = e.offset; i < e.offset + e.size; i++) v[i] = rand();
        }
        const h = 1e-3;
        const plus = await loss(base.map((x, i) => x + h * v[i]));
        const minus = await loss(base.map((x, i) => x - h * v[i]));
        const numeric = (plus - minus) / (2 * h);
        const analytic = grads.reduce((s, g, i) => s + g * v[i], 0);
        expect(Math.abs(numeric - analytic) / Math.abs(analytic), `${prefix}: ${numeric} vs ${analytic}`).toBeLessThan(2e-3);
      }
    } finally {
      drop.dispose();
    }
  });

  it('refuses a bi-encoder, bad rates and a backward without a forward', async () => {
    await expect(BertTrainGraph.create(rt, { ...model, kind: 'bi-encoder', numLabels: 0 }, { maxRows: 1, maxTokens: 8, dropout: { hidden: 0, attention: 0, classifier: 0 } })).rejects.toThrow(
      /cross-encoder with one label/,
    );
    await expect(BertTrainGraph.create(rt, model, { maxRows: 1, maxTokens: 8, dropout: { hidden: 1, attention: 0, classifier: 0 } })).rejects.toThrow(/dropout.hidden/);
    const fresh = await BertTrainGraph.create(rt, model, { maxRows: 1, maxTokens: 8, dropout: { hidden: 0, attention: 0, classifier: 0 } });
    try {
      const dummy = await rt.storageBuffer(16);
      expect(() => fresh.backwardSteps(dummy)).toThrow(/needs a forward first/);
      expect(() => fresh.forwardSteps(batch, { train: true, seed: 1 })).toThrow(/over the budget/);
      dummy.destroy();
    } finally {
      fresh.dispose();
    }
  });
});
