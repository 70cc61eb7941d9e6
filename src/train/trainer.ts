/**
 * The training loop behind `gpurank train`: fine-tunes a BERT cross-encoder on listwise data with one of
 * the learning-to-rank losses, entirely on the GPU.
 *
 * Per optimizer step, one submission holds [zero grads, forward (dropout seeded from (seed, step)), loss
 * and its gradient w.r.t. the scores, backward, global grad norm]; then the loss and the norm are read
 * back (8 bytes) and, when both are finite, a second submission applies AdamW with the schedule's lr.
 * A non-finite step is skipped with a warning; `maxBadSteps` of them in a row stop the run with a
 * TrainingDivergedError.
 *
 * Everything that decides a step is a function of (options, step) or is saved in the checkpoint (params,
 * Adam moments, step and update counters, sampler state), and every kernel is deterministic, so
 * `resume` continues bit-exactly.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { GpurankError, InputError } from '../errors.js';
import { Tokenizer } from '../core/tokenizer.js';
import { loadCore } from '../core/wasm.js';
import { evaluate, type Qrels, type Run } from '../eval/index.js';
import { GpuRuntime, type BufferBinding } from '../gpu/index.js';
import type { BertBatch } from '../model/bert-cpu.js';
import { BertTrainGraph, configDropout, type DropoutRates } from '../model/bert-train.js';
import { loadModel, type LoadedModel } from '../model/load.js';
export type { LambdaScheme };
import { bertParamSpecs, layoutParams, paramView } from '../model/params.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { loadTrainingData, type ListExample } from './data.js';
import { crossEncoderFromModel } from './init.js';
import { LOSS_NAMES, Losses, checkLossInput, lossNeedsTeacher, type LambdaScheme, type LossName, type LossOptions } from './losses.js';
import { AdamW } from './optimizer.js';
import { writeReport } from './report.js';
import { ListSampler, type ListSamplerState } from './sampler.js';
import { linearSchedule, warmupSteps } from './schedule.js';

export interface TrainOptions {
  /** Hugging Face model directory: a 1-label cross-encoder, or any BERT (it gets a fresh head). */
  model: string;
  /** Listwise JSONL file, or a BEIR folder (with `trainRun`). */
  train: string;
  /** TREC run of first-stage candidates for a BEIR `train` folder (default: the folder's own run file). */
  trainRun?: string;
  /** Held-out data (same formats) evaluated every `evalEvery` steps and at the end. */
  eval?: string;
  evalRun?: string;
  loss: LossName;
  /** Output directory: the final checkpoint, `checkpoint-<step>/` folders, `train_log.jsonl`, the report. */
  out: string;
  /** Optimizer steps in total (wins over `epochs`). */
  steps?: number;
  /** Passes over the training queries (default 1) when `steps` is not given. */
  epochs?: number;
  lr?: number;
  batchQueries?: number;
  docsPerQuery?: number;
  /** Most tokens per (query, document) pair (default: the tokenizer's, at most max_position_embeddings). */
  maxLength?: number;
  /** Below 1: a fraction of the steps; otherwise a step count (HF's rule). */
  warmup?: number;
  weightDecay?: number;
  /** Global-norm clipping threshold; 0 turns clipping off. */
  maxGradNorm?: number;
  seed?: number;
  /** false keeps the file order of the queries. */
  shuffle?: boolean;
  /** Overrides the hidden, attention and classifier dropout rates (default: the model config's). */
  dropout?: number;
  /** Evaluate on `eval` every N steps (0: only at the end). */
  evalEvery?: number;
  /** Write `checkpoint-<step>/` every N steps (0: only the final checkpoint). */
  saveEvery?: number;
  /** A checkpoint directory written by a previous run: continue from it. */
  resume?: string;
  lambdaScheme?: LambdaScheme;
  /** Keep only the first N encoder layers of the model (a smaller, faster student). */
  layers?: number;
  /** Consecutive non-finite steps tolerated before stopping. */
  maxBadSteps?: number;
  /** A runtime to share; by default one is created and destroyed by `train`. */
  device?: GpuRuntime;
}

/** Defaults close to sentence-transformers' CrossEncoder fine-tuning recipe. */
export const TRAIN_DEFAULTS = {
  epochs: 1,
  lr: 2e-5,
  batchQueries: 4,
  docsPerQuery: 8,
  warmup: 0.1,
  weightDecay: 0.01,
  maxGradNorm: 1,
  seed: 42,
  shuffle: true,
  evalEvery: 0,
  saveEvery: 0,
  maxBadSteps: 5,
} as const;

/** One optimizer step as logged (`--log-json` prints these keys first, in this order). */
export interface StepLog {
  step: number;
  /** The batch loss before the update; null when it was not finite. */
  loss: number | null;
  lr: number;
  /** Global L2 norm of the gradient before clipping; null when not finite. */
  grad_norm: number | null;
  epoch: number;
  /** Real (unpadded) tokens in the batch. */
  tokens: number;
  /** Rows × padded length: what the GPU computed over. */
  padded_tokens: number;
  /** Seconds since the start of this process's training. */
  elapsed_s: number;
  /** Present (true) when the update was skipped for a non-finite loss or gradient. */
  skipped?: true;
}

export interface EvalLog {
  step: number;
  ndcg10: number;
  mrr10: number;
  /** Queries with at least one positive label (the ones averaged). */
  queries: number;
}

export interface TrainStart {
  startStep: number;
  totalSteps: number;
  trainQueries: number;
  evalQueries: number;
  warmupSteps: number;
  device: string;
  options: ResolvedTrainOptions;
}

export interface TrainHooks {
  onStart?(info: TrainStart): void;
  onStep?(log: StepLog): void;
  onEval?(log: EvalLog): void;
  onWarning?(message: string): void;
  onCheckpoint?(dir: string, step: number): void;
}

export interface TrainResult {
  out: string;
  steps: StepLog[];
  evals: EvalLog[];
  /** Updates skipped for non-finite values during this run. */
  skipped: number;
}

/** An evaluation as a log line (`--log-json` and train_log.jsonl). */
export function evalLine(e: EvalLog): { eval: true; step: number; 'ndcg@10': number; 'mrr@10': number; queries: number } {
  return { eval: true, step: e.step, 'ndcg@10': e.ndcg10, 'mrr@10': e.mrr10, queries: e.queries };
}

/** Too many consecutive steps with a non-finite loss or gradient norm. */
export class TrainingDivergedError extends GpurankError {
  readonly step: number;
  constructor(step: number, count: number, detail: string) {
    super(
      `training diverged: ${count} consecutive steps with a non-finite loss or gradient (last: step ${step}, ${detail}); ` +
        'lower --lr, or check the data and the teacher scores',
      { code: 'TRAINING_DIVERGED' },
    );
    this.step = step;
  }
}

/** `TrainOptions` after defaults and checks: every tunable set, dropout per site, no runtime. */
export type ResolvedTrainOptions = Required<Omit<TrainOptions, 'trainRun' | 'eval' | 'evalRun' | 'lambdaScheme' | 'layers' | 'resume' | 'epochs' | 'dropout' | 'device'>> &
  Pick<TrainOptions, 'trainRun' | 'eval' | 'evalRun' | 'lambdaScheme' | 'layers' | 'resume'> & { dropout: DropoutRates };

/** What the checkpoint's trainer_state.json carries for `resume`. */
interface TrainerState {
  step: number;
  /** AdamW's t: updates applied so far (skipped steps do not count). */
  updates: number;
  /** Non-finite steps in a row at the checkpoint, so a resumed run stops where the original would. */
  badSteps?: number;
  sampler: ListSamplerState;
  args: ResolvedTrainOptions;
  log: StepLog[];
  evals: EvalLog[];
}

function badOption(message: string): InputError {
  return new InputError(message, { code: 'BAD_OPTION' });
}

function checkInt(name: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) throw badOption(`${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

function checkNumber(name: string, v: number, min: number, maxExclusive = Infinity): number {
  if (!Number.isFinite(v) || v < min || v >= maxExclusive) {
    throw badOption(`${name} must be a number in [${min}, ${maxExclusive === Infinity ? '∞' : maxExclusive}), got ${v}`);
  }
  return v;
}

/** A u32 dropout seed for `step`, decorrelated from neighbouring steps and seeds (murmur3's finalizer). */
export function stepSeed(seed: number, step: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(step >>> 0, 0x85ebca77)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The model with only its first `n` encoder layers (same tensors, fewer of them). */
export function keepLayers(model: LoadedModel, n: number): LoadedModel {
  const total = model.config.numHiddenLayers;
  if (!Number.isInteger(n) || n < 1 || n > total) throw badOption(`layers must be an integer in 1..${total} (the model's layers), got ${n}`);
  if (n === total) return model;
  const config = { ...model.config, numHiddenLayers: n };
  const specs = bertParamSpecs(config, model.kind, { pooler: model.params.entries.has('pooler.dense.weight') });
  const params = layoutParams(specs.map((s) => ({ ...s, sourceName: model.params.entries.get(s.name)!.sourceName })));
  for (const s of specs) paramView(params, s.name).set(paramView(model.params, s.name));
  const sourceDtypes = new Map([...model.sourceDtypes].filter(([name]) => params.entries.has(name)));
  return { ...model, config, params, sourceDtypes };
}

/** Fills in defaults and checks every option; the model config supplies the dropout default. */
function resolveOptions(o: TrainOptions, model: LoadedModel, tokenizerMax: number, trainQueries: number): ResolvedTrainOptions {
  if (!LOSS_NAMES.includes(o.loss)) throw badOption(`unknown loss '${o.loss}' (expected one of ${LOSS_NAMES.join(', ')})`);
  const batchQueries = checkInt('batch-queries', o.batchQueries ?? TRAIN_DEFAULTS.batchQueries, 1);
  const docsPerQuery = checkInt('docs-per-query', o.docsPerQuery ?? TRAIN_DEFAULTS.docsPerQuery, 1);
  const maxPos = model.config.maxPositionEmbeddings;
  const maxLength = o.maxLength === undefined ? Math.min(tokenizerMax, maxPos) : checkInt('max-length', o.maxLength, 1);
  if (maxLength > maxPos) throw badOption(`max-length ${maxLength} is over the model's max_position_embeddings (${maxPos})`);
  let steps: number;
  if (o.steps !== undefined) {
    steps = checkInt('steps', o.steps, 1);
  } else {
    const epochs = checkInt('epochs', o.epochs ?? TRAIN_DEFAULTS.epochs, 1);
    steps = epochs * Math.ceil(trainQueries / batchQueries);
  }
  const rate = o.dropout === undefined ? undefined : checkNumber('dropout', o.dropout, 0, 1);
  return {
    model: o.model,
    train: o.train,
    ...(o.trainRun !== undefined ? { trainRun: o.trainRun } : {}),
    ...(o.eval !== undefined ? { eval: o.eval } : {}),
    ...(o.evalRun !== undefined ? { evalRun: o.evalRun } : {}),
    loss: o.loss,
    out: o.out,
    steps,
    lr: checkNumber('lr', o.lr ?? TRAIN_DEFAULTS.lr, 0),
    batchQueries,
    docsPerQuery,
    maxLength,
    warmup: checkNumber('warmup', o.warmup ?? TRAIN_DEFAULTS.warmup, 0),
    weightDecay: checkNumber('weight-decay', o.weightDecay ?? TRAIN_DEFAULTS.weightDecay, 0),
    maxGradNorm: checkNumber('max-grad-norm', o.maxGradNorm ?? TRAIN_DEFAULTS.maxGradNorm, 0),
    seed: checkInt('seed', o.seed ?? TRAIN_DEFAULTS.seed, 0),
    shuffle: o.shuffle ?? TRAIN_DEFAULTS.shuffle,
    dropout: rate === undefined
      ? configDropout(model)
      : { hidden: rate, attention: rate, classifier: rate },
    evalEvery: checkInt('eval-every', o.evalEvery ?? TRAIN_DEFAULTS.evalEvery, 0),
    saveEvery: checkInt('save-every', o.saveEvery ?? TRAIN_DEFAULTS.saveEvery, 0),
    ...(o.lambdaScheme !== undefined ? { lambdaScheme: o.lambdaScheme } : {}),
    ...(o.layers !== undefined ? { layers: o.layers } : {}),
    maxBadSteps: checkInt('max-bad-steps', o.maxBadSteps ?? TRAIN_DEFAULTS.maxBadSteps, 1),
    ...(o.resume !== undefined ? { resume: o.resume } : {}),
  };
}

/** Options that must match the checkpoint's for `resume` to continue the same run. */
const RESUME_KEYS = ['loss', 'batchQueries', 'docsPerQuery', 'seed', 'shuffle', 'maxLength', 'layers'] as const;

function checkResumeArgs(now: ResolvedTrainOptions, saved: ResolvedTrainOptions, dir: string): void {
  for (const key of RESUME_KEYS) {
    if (now[key] !== saved[key]) {
      throw new InputError(`--resume ${dir}: ${key} is ${JSON.stringify(now[key])} but the checkpoint was trained with ${JSON.stringify(saved[key])}`, {
        code: 'RESUME_MISMATCH',
      });
    }
  }
}

/**
 * Checks the whole data set against the loss before any GPU work (every batch is a subsample of these
 * lists): teacher scores where the loss reads them (named by query), then the loss's own input checks.
 */
function checkData(loss: LossName, examples: ListExample[], source: string): void {
  if (lossNeedsTeacher(loss)) {
    const i = examples.findIndex((e) => e.teacherScores === undefined);
    if (i >= 0) {
      const q = examples[i].qid !== undefined ? `query ${examples[i].qid}` : `list ${i + 1}`;
      throw new InputError(`loss '${loss}' needs "teacher_scores" on every list, but ${q} has none`, { file: source, code: 'TEACHER_SCORES_MISSING' });
    }
  }
  try {
    checkLossInput(loss, examples.map((e) => ({ labels: e.labels, teacher: e.teacherScores })));
  } catch (err) {
    // Its lists are numbered from 0 in data order.
    if (err instanceof InputError) throw new InputError(`${err.message} (lists numbered from 0 in file order)`, { file: source, code: err.code, cause: err });
    throw err;
  }
}

/** A batch of lists flattened into rows, with the loss's per-row inputs. */
interface FlatBatch {
  queries: string[];
  documents: string[];
  offsets: Uint32Array;
  labels: Float32Array;
  teacher?: Float32Array;
}

function flatten(lists: readonly ListExample[], withTeacher: boolean): FlatBatch {
  const queries: string[] = [];
  const documents: string[] = [];
  const labels: number[] = [];
  const teacher: number[] = [];
  const offsets = new Uint32Array(lists.length + 1);
  lists.forEach((list, q) => {
    list.documents.forEach((d, i) => {
      queries.push(list.query);
      documents.push(d);
      labels.push(list.labels[i]);
      if (withTeacher) teacher.push(list.teacherScores![i]);
    });
    offsets[q + 1] = documents.length;
  });
  return {
    queries,
    documents,
    offsets,
    labels: Float32Array.from(labels),
    ...(withTeacher ? { teacher: Float32Array.from(teacher) } : {}),
  };
}

/** Tokenized pairs as the graph's batch; `tokens` counts real tokens. */
function toBertBatch(tokenizer: Tokenizer, queries: string[], documents: string[], maxLength: number): { batch: BertBatch; tokens: number } {
  const enc = tokenizer.encodePairs(queries, documents, { maxLength });
  let longest = 1;
  for (const n of enc.lengths) longest = Math.max(longest, n);
  return {
    batch: { ids: enc.ids, typeIds: enc.typeIds, lengths: enc.lengths, paddedLength: longest, size: enc.size },
    tokens: enc.ids.length,
  };
}

const f32 = (bytes: ArrayBuffer) => new Float32Array(bytes)[0];
const range = (buffer: GPUBuffer, bytes: number): BufferBinding => ({ buffer, offset: 0, size: Math.max(4, bytes) });

/**
 * Scores every document of every list with the graph in eval mode (no dropout), `maxRows` pairs per
 * submission, in list order.
 */
export async function scoreLists(
  graph: BertTrainGraph,
  tokenizer: Tokenizer,
  lists: readonly ListExample[],
  o: { maxRows: number; maxLength: number },
): Promise<Float32Array[]> {
  const pairs = lists.flatMap((l) => l.documents.map((d) => [l.query, d] as const));
  const flat = new Float32Array(pairs.length);
  for (let at = 0; at < pairs.length; at += o.maxRows) {
    const chunk = pairs.slice(at, at + o.maxRows);
    const { batch } = toBertBatch(tokenizer, chunk.map((p) => p[0]), chunk.map((p) => p[1]), o.maxLength);
    flat.set(await graph.score(batch), at);
  }
  const out: Float32Array[] = [];
  let at = 0;
  for (const l of lists) {
    out.push(flat.slice(at, at + l.documents.length));
    at += l.documents.length;
  }
  return out;
}

/**
 * nDCG@10 and MRR@10 (trec_eval semantics) of lists ranked by `scores`, judged by their own labels,
 * averaged over the lists that have a positive label.
 */
export function rankingMetrics(lists: readonly ListExample[], scores: readonly Float32Array[]): { ndcg10: number; mrr10: number; queries: number } {
  const qrels: Qrels = new Map();
  const results = new Map<string, Map<string, number>>();
  lists.forEach((l, i) => {
    if (!l.labels.some((y) => y > 0)) return;
    // Lists are keyed by position: JSONL qids are optional and need not be unique.
    const key = String(i);
    qrels.set(key, new Map(l.labels.map((y, d) => [String(d), y])));
    results.set(key, new Map(Array.from(scores[i], (s, d) => [String(d), s])));
  });
  if (qrels.size === 0) return { ndcg10: 0, mrr10: 0, queries: 0 };
  const run: Run = { results, runId: 'gpurank-train' };
  const e = evaluate(qrels, run, { measures: ['ndcg_cut_10', 'recip_rank'], recipRankCutoff: 10 });
  return { ndcg10: Number(e.all.get('ndcg_cut_10')), mrr10: Number(e.all.get('recip_rank')), queries: qrels.size };
}

/** Fine-tunes a cross-encoder; see the module comment. Resolves when the final checkpoint is written. */
export async function train(options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const warn = (m: string) => hooks.onWarning?.(m);
  const resumed = options.resume === undefined ? undefined : await loadCheckpoint(options.resume);
  const state = resumed?.state as unknown as TrainerState | undefined;
  if (resumed && !resumed.optimizer) {
    throw new InputError(`--resume ${options.resume}: the checkpoint has no optimizer state (optimizer.safetensors)`, { code: 'RESUME_MISMATCH' });
  }

  // The model: the checkpoint's when resuming (already a cross-encoder with the chosen layers).
  let model = resumed ? resumed.model : await loadModel(options.model);
  if (!resumed && options.layers !== undefined) model = keepLayers(model, options.layers);
  if (!(model.kind === 'cross-encoder' && model.numLabels === 1)) {
    warn(`${options.model} is not a 1-label cross-encoder: training a fresh classification head`);
    model = crossEncoderFromModel(model, { seed: options.seed ?? TRAIN_DEFAULTS.seed });
  }
  const tokenizerDir = options.resume ?? options.model;
  const tokenizer = await Tokenizer.fromModelDir(tokenizerDir);
  const disposables: { dispose(): void }[] = [tokenizer];
  const buffers: GPUBuffer[] = [];
  let owned: GpuRuntime | undefined;
  let logFile: WriteStream | undefined;
  try {
    const trainData = await loadTrainingData(options.train, options.trainRun !== undefined ? { run: options.trainRun } : {});
    const o = resolveOptions(options, model, tokenizer.maxLength, trainData.length);
    if (state) checkResumeArgs(o, state.args, options.resume!);
    checkData(o.loss, trainData, o.train);
    const evalData = o.eval === undefined ? [] : await loadTrainingData(o.eval, o.evalRun !== undefined ? { run: o.evalRun } : {});
    await loadCore();

    // A runtime the caller passed in stays theirs.
    const rt = options.device ?? (owned = await GpuRuntime.create());
    const maxRows = o.batchQueries * o.docsPerQuery;
    const graph = await BertTrainGraph.create(rt, model, { maxRows, maxTokens: maxRows * o.maxLength, dropout: o.dropout });
    disposables.push(graph);
    const losses = await Losses.create(rt);
    disposables.push({ dispose: () => losses.destroy() });
    const adamw = await AdamW.create(rt, model.params, graph.params, graph.grads, {
      lr: o.lr,
      weightDecay: o.weightDecay,
      maxGradNorm: o.maxGradNorm,
    });
    disposables.push({ dispose: () => adamw.destroy() });
    if (resumed) adamw.writeState(resumed.optimizer!);
    const buf = async (bytes: number, label: string) => {
      const b = await rt.storageBuffer(Math.max(4, bytes), { label });
      buffers.push(b);
      return b;
    };
    const offsetsBuf = await buf((o.batchQueries + 1) * 4, 'train list offsets');
    const labelsBuf = await buf(maxRows * 4, 'train labels');
    const teacherBuf = lossNeedsTeacher(o.loss) ? await buf(maxRows * 4, 'train teacher scores') : undefined;
    const lossBuf = await buf(4, 'train loss');
    const dScoresBuf = await buf(maxRows * 4, 'train dScores');

    const sampler = state
      ? ListSampler.restore(trainData, state.sampler)
      : new ListSampler({ examples: trainData, batchQueries: o.batchQueries, docsPerQuery: o.docsPerQuery, seed: o.seed, shuffle: o.shuffle });
    const schedule = linearSchedule({ lr: o.lr, warmup: o.warmup, total: o.steps });
    const lossOptions: LossOptions = o.lambdaScheme !== undefined ? { lambdaScheme: o.lambdaScheme } : {};
    const startStep = state?.step ?? 0;
    let updates = state?.updates ?? 0;
    const log: StepLog[] = [...(state?.log ?? [])];
    const evals: EvalLog[] = [...(state?.evals ?? [])];
    if (startStep > o.steps) throw badOption(`--resume ${o.resume}: the checkpoint is at step ${startStep}, past --steps ${o.steps}`);

    await mkdir(o.out, { recursive: true });
    logFile = createWriteStream(join(o.out, 'train_log.jsonl'));
    // The resumed run's history first, each evaluation after its step, as the original run wrote them.
    for (const l of log) {
      logFile.write(JSON.stringify(l) + '\n');
      for (const e of evals) if (e.step === l.step) logFile.write(JSON.stringify(evalLine(e)) + '\n');
    }

    hooks.onStart?.({
      startStep,
      totalSteps: o.steps,
      trainQueries: trainData.length,
      evalQueries: evalData.length,
      warmupSteps: warmupSteps(o.warmup, o.steps),
      device: rt.report.description || rt.report.architecture || 'webgpu',
      options: o,
    });

    const runEval = async (step: number) => {
      const scores = await scoreLists(graph, tokenizer, evalData, { maxRows, maxLength: o.maxLength });
      const m = rankingMetrics(evalData, scores);
      const e: EvalLog = { step, ndcg10: m.ndcg10, mrr10: m.mrr10, queries: m.queries };
      evals.push(e);
      logFile!.write(JSON.stringify(evalLine(e)) + '\n');
      hooks.onEval?.(e);
    };
    const save = async (dir: string, step: number) => {
      const trainerState: TrainerState = { step, updates, badSteps: bad, sampler: sampler.state(), args: o, log, evals };
      await saveCheckpoint(dir, { model, params: await graph.readParams(), optimizer: await adamw.readState(), tokenizerDir, state: trainerState });
      hooks.onCheckpoint?.(dir, step);
    };

    const t0 = performance.now();
    let bad = state?.badSteps ?? 0;
    let skipped = 0;
    for (let step = startStep + 1; step <= o.steps; step++) {
      // The epoch this batch belongs to (after next(), the sampler points at the following batch's).
      const epoch = sampler.epoch;
      const lists = sampler.next();
      const flat = flatten(lists, teacherBuf !== undefined);
      const rows = flat.documents.length;
      const { batch, tokens } = toBertBatch(tokenizer, flat.queries, flat.documents, o.maxLength);
      rt.write(offsetsBuf, flat.offsets);
      rt.write(labelsBuf, flat.labels);
      if (teacherBuf) rt.write(teacherBuf, flat.teacher!);
      const dScores = range(dScoresBuf, rows * 4);
      graph.zeroGrads();
      rt.dispatch([
        ...graph.forwardSteps(batch, { train: true, seed: stepSeed(o.seed, step) }),
        ...losses.steps(o.loss, lossOptions, {
          lists: lists.length,
          rows,
          maxListLength: Math.max(...lists.map((l) => l.documents.length)),
          offsets: range(offsetsBuf, (lists.length + 1) * 4),
          scores: range(graph.scores, rows * 4),
          labels: range(labelsBuf, rows * 4),
          ...(teacherBuf ? { teacher: range(teacherBuf, rows * 4) } : {}),
          loss: lossBuf,
          dScores,
        }),
        ...graph.backwardSteps(dScores),
        ...adamw.normSteps(),
      ]);
      const [lossBytes, normBytes] = await rt.read([lossBuf, range(adamw.norm, 4)]);
      const loss = f32(lossBytes);
      const norm = f32(normBytes);
      const lr = schedule(step - 1);
      const finite = Number.isFinite(loss) && Number.isFinite(norm);
      if (finite) {
        adamw.observeNorm(norm);
        bad = 0;
        updates++;
        rt.dispatch(adamw.updateSteps(lr, updates));
      } else {
        bad++;
        skipped++;
        const detail = `loss ${loss}, gradient norm ${norm}`;
        warn(`step ${step}: ${detail}; update skipped`);
      }
      const entry: StepLog = {
        step,
        loss: Number.isFinite(loss) ? loss : null,
        lr,
        grad_norm: Number.isFinite(norm) ? norm : null,
        epoch,
        tokens,
        padded_tokens: batch.size * batch.paddedLength,
        elapsed_s: Math.round(performance.now() - t0) / 1000,
        ...(finite ? {} : { skipped: true as const }),
      };
      log.push(entry);
      logFile.write(JSON.stringify(entry) + '\n');
      hooks.onStep?.(entry);
      if (bad >= o.maxBadSteps) throw new TrainingDivergedError(step, bad, `loss ${loss}, gradient norm ${norm}`);
      if (evalData.length > 0 && o.evalEvery > 0 && step % o.evalEvery === 0 && step !== o.steps) await runEval(step);
      if (o.saveEvery > 0 && step % o.saveEvery === 0 && step !== o.steps) await save(join(o.out, `checkpoint-${step}`), step);
    }
    if (evalData.length > 0 && (evals.length === 0 || evals[evals.length - 1].step !== o.steps)) await runEval(o.steps);
    await save(o.out, o.steps);
    await writeReport(o.out, {
      steps: log,
      evals,
      title: `gpurank train: ${o.loss} on ${o.train}`,
      summary: {
        model: o.model,
        loss: o.loss,
        steps: o.steps,
        'queries × documents per step': `${o.batchQueries} × ${o.docsPerQuery}`,
        'max length': o.maxLength,
        lr: o.lr,
        warmup: o.warmup,
        'weight decay': o.weightDecay,
        'max grad norm': o.maxGradNorm,
        dropout: `hidden ${o.dropout.hidden}, attention ${o.dropout.attention}, classifier ${o.dropout.classifier}`,
        seed: o.seed,
        device: rt.report.description || rt.report.vendor,
        'skipped updates': skipped,
        'seconds (this process)': Math.round(performance.now() - t0) / 1000,
      },
    });
    return { out: resolve(o.out), steps: log, evals, skipped };
  } finally {
    if (logFile) await new Promise<void>((res) => logFile!.end(() => res()));
    for (const b of buffers) b.destroy();
    for (const d of disposables.reverse()) d.dispose();
    owned?.destroy();
  }
}
