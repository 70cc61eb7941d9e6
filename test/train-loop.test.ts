/**
 * The training loop (src/train/trainer.ts) on the tiny cross-encoder and the Cranfield list fixture:
 * the loss goes down, a resumed run continues bit-exactly, divergence stops cleanly, evaluation reports
 * trec_eval's nDCG@10 / MRR@10, and the helpers (layer truncation, step seeds, metrics) behave.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCore } from '../src/core/wasm.js';
import { GpuRuntime } from '../src/gpu/index.js';
import { loadModel } from '../src/model/load.js';
import { paramView } from '../src/model/params.js';
import { readSafetensorsDir } from '../src/model/safetensors.js';
import { keepLayers, rankingMetrics, stepSeed, train, TrainingDivergedError, type StepLog, type TrainOptions } from '../src/train/trainer.js';
import { TINY_BERT } from './bert-support.js';

const LISTS = 'test/fixtures/train/cranfield-lists.jsonl';
let rt: GpuRuntime;
const dirs: string[] = [];
const tmp = (name: string) => {
  const d = mkdtempSync(join(tmpdir(), `gpurank-train-${name}-`));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  rt = await GpuRuntime.create();
  await loadCore();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  rt?.destroy();
});

const base = (out: string): TrainOptions => ({
  model: TINY_BERT,
  train: LISTS,
  loss: 'listnet',
  out,
  batchQueries: 2,
  docsPerQuery: 4,
  maxLength: 64,
  device: rt,
});

async function run(o: TrainOptions): Promise<StepLog[]> {
  const logs: StepLog[] = [];
  await train(o, { onStep: (l) => logs.push(l) });
  return logs;
}

/** The raw bytes of every tensor of a checkpoint's model.safetensors, by name. */
async function tensorBytes(dir: string): Promise<Map<string, Buffer>> {
  const tensors = await readSafetensorsDir(dir);
  const out = new Map<string, Buffer>();
  for (const [name, t] of tensors) {
    const file = readFileSync(t.file);
    out.set(name, file.subarray(t.begin, t.end));
  }
  return out;
}

describe('train', () => {
  it('lowers the loss over 20 steps on a fixed batch (no dropout, no shuffle)', async () => {
    const logs = await run({ ...base(tmp('decrease')), train: LISTS, batchQueries: 2, docsPerQuery: 6, steps: 20, lr: 1e-3, warmup: 0, dropout: 0, shuffle: false, loss: 'lambdaloss' });
    expect(logs.map((l) => l.step)).toEqual([...Array(20).keys()].map((i) => i + 1));
    // Each step is logged with the epoch its batch belongs to: 4 steps per epoch.
    expect(logs.map((l) => l.epoch)).toEqual([...Array(20).keys()].map((i) => Math.floor(i / 4)));
    for (const l of logs) {
      expect(Number.isFinite(l.loss)).toBe(true);
      expect(Number.isFinite(l.grad_norm)).toBe(true);
    }
    // 8 lists, 2 per step, no shuffle: every 4th step sees the same batch again.
    const first = logs.slice(0, 4).map((l) => l.loss!);
    const last = logs.slice(16, 20).map((l) => l.loss!);
    last.forEach((loss, i) => expect(loss).toBeLessThan(first[i]));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(last)).toBeLessThan(0.9 * mean(first));
  });

  it('resumes bit-exactly: 6 steps straight = 3 steps + resume for 3 (with dropout and shuffling)', async () => {
    const straight = tmp('straight');
    const opts = { steps: 6, saveEvery: 3, dropout: 0.1, lr: 5e-4, seed: 7, eval: LISTS, evalEvery: 3 };
    const a = await run({ ...base(straight), ...opts });
    const resumed = tmp('resumed');
    const b = await run({ ...base(resumed), ...opts, resume: join(straight, 'checkpoint-3') });
    expect(b.map((l) => l.step)).toEqual([4, 5, 6]);
    expect(b.map((l) => [l.loss, l.lr, l.grad_norm])).toEqual(a.slice(3).map((l) => [l.loss, l.lr, l.grad_norm]));
    const [x, y] = await Promise.all([tensorBytes(straight), tensorBytes(resumed)]);
    expect([...y.keys()].sort()).toEqual([...x.keys()].sort());
    for (const [name, bytes] of x) expect(Buffer.compare(bytes, y.get(name)!), name).toBe(0);
    // The resumed run's log holds the whole history, evaluations included, as the straight run's does.
    const log = (dir: string) =>
      readFileSync(join(dir, 'train_log.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => ({ ...JSON.parse(l), elapsed_s: undefined }));
    expect(log(resumed)).toEqual(log(straight));
    expect(log(straight).filter((l) => l.eval).map((l) => l.step)).toEqual([3, 6]);
  });

  it('refuses to resume with a different sampler configuration', async () => {
    const out = tmp('mismatch');
    await run({ ...base(out), steps: 2, saveEvery: 1 });
    await expect(run({ ...base(tmp('mismatch2')), steps: 2, batchQueries: 3, resume: join(out, 'checkpoint-1') })).rejects.toThrow(
      /batchQueries is 3 but the checkpoint was trained with 2/,
    );
  });

  it('refuses bad options and data before training, each with a clear message', async () => {
    const out = tmp('bad');
    await expect(run({ ...base(out), maxLength: 1000 })).rejects.toThrow("max-length 1000 is over the model's max_position_embeddings (512)");
    await expect(run({ ...base(out), loss: 'hinge' as never })).rejects.toThrow(/unknown loss 'hinge' \(expected one of bce, /);
    await expect(run({ ...base(out), steps: 0 })).rejects.toThrow('steps must be an integer >= 1, got 0');
    await expect(run({ ...base(out), dropout: 1 })).rejects.toThrow('dropout must be a number in [0, 1), got 1');
    const negative = join(out, 'negative.jsonl');
    writeFileSync(negative, JSON.stringify({ query: 'q', documents: ['a', 'b'], labels: [1, -1] }) + '\n');
    await expect(run({ ...base(out), train: negative, loss: 'lambdaloss' })).rejects.toThrow(
      `${negative}: loss lambdaloss: list 0 has a negative label (-1); gains 2^label - 1 need labels >= 0 (lists numbered from 0 in file order)`,
    );
  });

  it('refuses to resume past --steps, or from a checkpoint without optimizer state', async () => {
    const out = tmp('resume-bad');
    await run({ ...base(out), steps: 2, saveEvery: 1 });
    await expect(run({ ...base(tmp('resume-bad2')), steps: 1, resume: out })).rejects.toThrow(`--resume ${out}: the checkpoint is at step 2, past --steps 1`);
    rmSync(join(out, 'checkpoint-1', 'optimizer.safetensors'));
    await expect(run({ ...base(tmp('resume-bad3')), steps: 2, resume: join(out, 'checkpoint-1') })).rejects.toThrow(
      /the checkpoint has no optimizer state \(optimizer\.safetensors\)/,
    );
  });

  it('skips non-finite steps with a warning and stops after maxBadSteps of them', async () => {
    const warnings: string[] = [];
    const logs: StepLog[] = [];
    const err = await train(
      { ...base(tmp('diverge')), steps: 30, lr: 1e30, warmup: 0, maxGradNorm: 0, maxBadSteps: 3, dropout: 0 },
      { onStep: (l) => logs.push(l), onWarning: (w) => warnings.push(w) },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect((err as Error).message).toMatch(/training diverged: 3 consecutive steps/);
    const skipped = logs.filter((l) => l.skipped);
    expect(skipped).toHaveLength(3);
    expect(skipped.every((l) => l.loss === null || l.grad_norm === null)).toBe(true);
    expect(warnings.filter((w) => /update skipped/.test(w))).toHaveLength(3);
  });

  it('evaluates held-out lists every --eval-every steps and at the end', async () => {
    const evals: { step: number; ndcg10: number; mrr10: number; queries: number }[] = [];
    const out = tmp('eval');
    await train({ ...base(out), steps: 4, evalEvery: 2, eval: LISTS }, { onEval: (e) => evals.push(e) });
    expect(evals.map((e) => e.step)).toEqual([2, 4]);
    for (const e of evals) {
      expect(e.queries).toBe(8);
      expect(e.ndcg10).toBeGreaterThan(0);
      expect(e.ndcg10).toBeLessThanOrEqual(1);
      expect(e.mrr10).toBeGreaterThan(0);
      expect(e.mrr10).toBeLessThanOrEqual(1);
    }
    const lines = readFileSync(join(out, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.eval).map((l) => Object.keys(l))).toEqual([
      ['eval', 'step', 'ndcg@10', 'mrr@10', 'queries'],
      ['eval', 'step', 'ndcg@10', 'mrr@10', 'queries'],
    ]);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<svg');
  });
});

describe('training helpers', () => {
  it('rankingMetrics: trec_eval nDCG@10 and MRR@10 over lists with a positive', () => {
    const lists = [
      { query: 'a', documents: ['x', 'y', 'z'], labels: [0, 2, 1] },
      { query: 'b', documents: ['x', 'y'], labels: [0, 0] }, // no positive: not averaged
      { query: 'c', documents: ['x', 'y'], labels: [1, 0] },
    ];
    const perfect = rankingMetrics(lists, [Float32Array.of(0, 2, 1), Float32Array.of(1, 0), Float32Array.of(1, 0)]);
    expect(perfect).toEqual({ ndcg10: 1, mrr10: 1, queries: 2 });
    const worst = rankingMetrics(lists, [Float32Array.of(2, 0, 1), Float32Array.of(1, 0), Float32Array.of(0, 1)]);
    // List a: z (gain 1) at rank 2, y (gain 2) at rank 3; list c: its positive at rank 2.
    const dcgA = 1 / Math.log2(3) + 2 / Math.log2(4);
    const idealA = 2 + 1 / Math.log2(3);
    expect(worst.ndcg10).toBeCloseTo((dcgA / idealA + 1 / Math.log2(3)) / 2, 4);
    expect(worst.mrr10).toBeCloseTo(0.5, 6);
  });

  it('stepSeed is a deterministic u32 that differs between steps and seeds', () => {
    const seeds = new Set<number>();
    for (const s of [0, 1, 42]) for (let step = 1; step <= 100; step++) seeds.add(stepSeed(s, step));
    expect(seeds.size).toBe(300);
    for (const v of seeds) expect(Number.isInteger(v) && v >= 0 && v <= 0xffffffff).toBe(true);
    expect(stepSeed(42, 7)).toBe(stepSeed(42, 7));
  });

  it('keepLayers keeps the first N layers with their weights and refuses out-of-range N', async () => {
    const model = await loadModel(TINY_BERT);
    const one = keepLayers(model, 1);
    expect(one.config.numHiddenLayers).toBe(1);
    expect([...one.params.entries.keys()].some((n) => n.startsWith('encoder.layer.1.'))).toBe(false);
    for (const name of ['embeddings.word_embeddings.weight', 'encoder.layer.0.output.dense.weight', 'classifier.weight']) {
      expect(paramView(one.params, name)).toEqual(paramView(model.params, name));
    }
    expect(keepLayers(model, 2)).toBe(model);
    expect(() => keepLayers(model, 3)).toThrow(/layers must be an integer in 1\.\.2/);
  });
});
