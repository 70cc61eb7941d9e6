/**
 * The training goldens themselves (scripts/make_train_goldens.py): the tiny-BERT file set matches the
 * model's parameter layout, the loss values and dScores PyTorch recorded for the whole model agree with
 * lossCpu on the recorded logits, and the AdamW curve's learning rates are the linear schedule's.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readBertConfig } from '../src/model/config.js';
import { bertParamSpecs } from '../src/model/params.js';
import { readSafetensorsHeader } from '../src/model/safetensors.js';
import { LOSS_NAMES, lossCpu, type LossName } from '../src/train/losses.js';
import { linearSchedule } from '../src/train/schedule.js';
import { gradientError } from './gradcheck.js';
import { modelGolden, TINY_BERT, TRAIN_GOLDENS } from './train-support.js';

const golden = modelGolden() as ReturnType<typeof modelGolden> & { losses: Record<string, { sinkhorn_iterations?: number }> };

describe('tiny-BERT training goldens', () => {
  it('hold every loss, for 3 lists of 4, 3 and 1 documents', () => {
    expect(Object.keys(golden.losses).sort()).toEqual([...LOSS_NAMES].sort());
    expect(golden.lists.map((l) => l.input_ids.length)).toEqual([4, 3, 1]);
    expect(golden.logits).toHaveLength(8);
  });

  for (const name of LOSS_NAMES) {
    it(`${name}: PyTorch's loss and dScores equal lossCpu on the recorded logits (1e-4)`, () => {
      const g = golden.losses[name];
      let at = 0;
      const lists = golden.lists.map((l) => {
        const n = l.labels.length;
        return { scores: golden.logits.slice(at, (at += n)), labels: l.labels, teacher: l.teacher_scores };
      });
      // neural-ndcg at the reference's own Sinkhorn iteration count (f32 rounding decides it).
      const o = name === 'neural-ndcg' ? { sinkhornTol: 1e-300, sinkhornMaxIter: g.sinkhorn_iterations } : {};
      const got = lossCpu(name as LossName, o, lists);
      expect(Math.abs(got.loss - g.loss) / Math.abs(g.loss)).toBeLessThan(1e-4);
      const scale = Math.max(...g.dScores.map(Math.abs));
      expect(gradientError(got.grads.flat(), g.dScores, 1e-2 * scale)).toBeLessThan(1e-4);
    });
  }

  it('every grads-<loss>.safetensors holds each parameter of the model once, F32, in its shape', async () => {
    const config = readBertConfig(TINY_BERT);
    const specs = bertParamSpecs(config, 'cross-encoder', { pooler: true });
    const touched = [...new Set(golden.lists.flatMap((l) => l.input_ids.flat()))].sort((a, b) => a - b);
    const want = new Map<string, number[]>(specs.filter((s) => s.name !== 'embeddings.word_embeddings.weight').map((s) => [s.name, s.shape]));
    want.set('embeddings.word_embeddings.weight.rows', [touched.length]);
    want.set('embeddings.word_embeddings.weight.values', [touched.length, config.hiddenSize]);
    for (const name of LOSS_NAMES) {
      const file = await readSafetensorsHeader(new URL(golden.losses[name].file, TRAIN_GOLDENS).pathname);
      expect(new Map([...file.tensors].map(([k, t]) => [k, t.shape])), name).toEqual(want);
      expect([...file.tensors.values()].every((t) => t.dtype === 'F32'), name).toBe(true);
      const rows = file.tensors.get('embeddings.word_embeddings.weight.rows')!;
      const buf = readFileSync(rows.file).subarray(rows.begin, rows.end);
      expect(Array.from(new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)))).toEqual(touched);
    }
  });

  it("the AdamW curve's learning rates follow linearSchedule (warmup 2, total 10) and its first loss is the listnet golden's", () => {
    const curve = JSON.parse(readFileSync(new URL('adamw-curve.json', TRAIN_GOLDENS), 'utf8')) as { steps: { step: number; loss: number; lr: number; grad_norm: number }[] };
    const schedule = linearSchedule({ lr: 1e-3, warmup: 2, total: 10 });
    expect(curve.steps).toHaveLength(10);
    curve.steps.forEach((s, i) => expect(s.lr).toBeCloseTo(schedule(i), 12));
    expect(curve.steps[0].loss).toBe(golden.losses.listnet.loss);
    // The loss falls once the learning rate is above 0.
    expect(curve.steps[9].loss).toBeLessThan(curve.steps[1].loss);
  });
});
