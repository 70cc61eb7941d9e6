/**
 * Ten AdamW steps on the tiny BERT (listnet, warmup 2 of 10, clipping at 1, weight decay 0.01) against
 * PyTorch's run of the same (test/fixtures/goldens/train/adamw-curve.json): graph, loss kernel,
 * gradient norm, schedule and update all together, as the trainer chains them.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GpuRuntime } from '../src/gpu/index.js';
import { BertTrainGraph } from '../src/model/bert-train.js';
import { loadModel } from '../src/model/load.js';
import { Losses } from '../src/train/losses.js';
import { AdamW } from '../src/train/optimizer.js';
import { linearSchedule } from '../src/train/schedule.js';
import { goldenBatch, modelGolden, TINY_BERT, TRAIN_GOLDENS } from './train-support.js';

interface Curve {
  loss: string;
  optimizer: { lr: number; betas: [number, number]; eps: number; weight_decay: number; max_grad_norm: number };
  schedule: { warmup: number; total: number };
  steps: { step: number; loss: number; lr: number; grad_norm: number }[];
  final_logits: number[];
}

const curve: Curve = JSON.parse(readFileSync(new URL('adamw-curve.json', TRAIN_GOLDENS), 'utf8'));
const golden = modelGolden();

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await GpuRuntime.create();
});
afterAll(() => rt?.destroy());

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

it('follows PyTorch AdamW for 10 steps: loss, lr and grad norm per step, final logits (relative 1e-3)', async () => {
  const model = await loadModel(TINY_BERT);
  const batch = goldenBatch(golden.lists);
  const graph = await BertTrainGraph.create(rt, model, { maxRows: 8, maxTokens: 8 * 48, dropout: { hidden: 0, attention: 0, classifier: 0 } });
  const losses = await Losses.create(rt);
  const o = curve.optimizer;
  const adamw = await AdamW.create(rt, model.params, graph.params, graph.grads, { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weight_decay, maxGradNorm: o.max_grad_norm });
  const schedule = linearSchedule({ lr: o.lr, warmup: curve.schedule.warmup, total: curve.schedule.total });
  const offsets = [0];
  for (const l of golden.lists) offsets.push(offsets[offsets.length - 1] + l.labels.length);
  const bufs = {
    offsets: await rt.storageBuffer(Uint32Array.from(offsets)),
    labels: await rt.storageBuffer(Float32Array.from(golden.lists.flatMap((l) => l.labels))),
    loss: await rt.storageBuffer(16),
    dScores: await rt.storageBuffer(batch.size * 4),
  };
  const got: { loss: number; lr: number; norm: number }[] = [];
  for (let step = 0; step < curve.steps.length; step++) {
    graph.zeroGrads();
    rt.dispatch([
      ...graph.forwardSteps(batch, { train: true, seed: step }),
      ...losses.steps(curve.loss as 'listnet', {}, { lists: golden.lists.length, rows: batch.size, offsets: bufs.offsets, scores: graph.scores, labels: bufs.labels, loss: bufs.loss, dScores: bufs.dScores }),
      ...graph.backwardSteps(bufs.dScores),
      ...adamw.normSteps(),
    ]);
    const [lossBytes, normBytes] = await rt.read([{ buffer: bufs.loss, offset: 0, size: 4 }, { buffer: adamw.norm, offset: 0, size: 4 }]);
    const norm = new Float32Array(normBytes)[0];
    adamw.observeNorm(norm);
    const lr = schedule(step);
    rt.dispatch(adamw.updateSteps(lr, step + 1));
    got.push({ loss: new Float32Array(lossBytes)[0], lr, norm });
  }
  const logits = await graph.score(batch);
  curve.steps.forEach((want, i) => {
    expect(got[i].lr).toBeCloseTo(want.lr, 12);
    expect(rel(got[i].loss, want.loss), `loss at step ${want.step}`).toBeLessThan(1e-3);
    expect(rel(got[i].norm, want.grad_norm), `grad norm at step ${want.step}`).toBeLessThan(1e-3);
  });
  // The run must have moved: the last loss is well below the first.
  expect(got[9].loss).toBeLessThan(got[0].loss - 0.05);
  // Logits up to one shared shift: listnet ignores a shift, so the classifier bias's gradient is
  // rounding noise, which Adam's normalisation turns into steps of about lr in either direction
  // (here torch and gpurank end 0.003 apart on every logit). The differences carry the model.
  const centre = (v: ArrayLike<number>) => Array.from(v, (x) => x - Array.from(v).reduce((a, b) => a + b, 0) / v.length);
  const [mine, theirs] = [centre(logits), centre(curve.final_logits)];
  const scale = Math.max(...theirs.map(Math.abs));
  theirs.forEach((want, i) => expect(Math.abs(mine[i] - want) / scale, `centred logit ${i}`).toBeLessThan(1e-3));
  for (const b of Object.values(bufs)) b.destroy();
  adamw.destroy();
  graph.dispose();
});
