/**
 * The learning-to-rank losses of `gpurank train`, on the GPU (`shaders/losses.wgsl`) with an f64 CPU
 * reference (`lossCpu`). Both take a batch of ragged lists — list q owns rows offsets[q]..offsets[q+1] —
 * and give the scalar loss (with the reference's own reduction) and d loss / d scores.
 *
 * Definitions (n = the list's length, s its scores, y its labels, t its teacher scores; σ the logistic
 * function; "first" = lowest index; sorts are stable, descending). Each loss is the reference's, checked
 * against it by `scripts/make_train_goldens.py` (test/fixtures/goldens/train/losses.json):
 *
 *  bce         sentence-transformers 5 BinaryCrossEntropyLoss on every (query, document) pair:
 *              mean over all rows of BCEWithLogits(s, c), c = clamp(y, 0, 1) — graded labels count as
 *              relevant (targets must lie in [0, 1]; 0/1 and [0, 1] similarity labels pass unchanged).
 *  mse         sentence-transformers 5 MSELoss: mean over all rows of (s − y)². Regresses on the labels;
 *              for distillation use margin-mse or kl.
 *  margin-mse  sentence-transformers 5 MarginMSELoss with teacher scores: per list the positive p is the
 *              first document with the highest label (it must be > 0), every other document j a negative;
 *              mean over all (list, j) pairs of ((s_p − s_j) − (t_p − t_j))². One-document lists add nothing.
 *  ranknet     sentence-transformers 5 RankNetLoss = lambdaloss with the 'none' scheme (sigma, eps,
 *              reductionLog apply).
 *  listnet     sentence-transformers 5 ListNetLoss: per list −Σ softmax(y)_i · log softmax(s)_i (the
 *              labels' softmax is the target: all-zero labels give a uniform target); mean over lists.
 *  listmle     sentence-transformers 5 ListMLELoss: per list, with the documents in the order π (by label,
 *              stable; the input order when `respectInputOrder`), −Σ_r [s_π(r) − log(Σ_{u≥r} e^{s_π(u)} +
 *              1e-10)]; mean over lists. The reference defaults to the input order (it expects lists
 *              sorted by relevance); gpurank's sampler does not sort, so gpurank defaults to label order.
 *  plistmle    sentence-transformers 5 PListMLELoss: listmle with position weights w_r = 2^{n−r} − 1
 *              (r = 0-based position; v5's weights, v6 moved to 2^{n−r−1} − 1) normalised by Σ_r w_r +
 *              1e-10 — computed scaled by 2^{−n}, so lists of 128+ documents do not overflow f32.
 *  lambdaloss  sentence-transformers 5 LambdaLoss: with positions r_i in the stable sort by score, gains
 *              G_i = (2^{y_i} − 1) / max(IDCG, eps), discounts D(r) = log2(2 + r), over the pairs (i, j)
 *              with y_i > y_j (every pair, i = j included, for ndcg1) the terms
 *              −log_b(max(max(σ(sigma (s_i − s_j)), eps)^{W_ij}, eps)), b = 2 ('binary') or e ('natural'),
 *              averaged over all pairs of the batch (v5 clamps; v6 uses logsigmoid and a sum/pairs that
 *              differ only where the clamps bite). W_ij by `lambdaScheme`:
 *                none        1
 *                ndcg1       G_i / D(r_i)
 *                ndcg2       |1/log2(1 + d) − 1/log2(2 + d)| · |G_i − G_j|, d = |r_i − r_j| (0 when d = 0)
 *                lambdarank  |1/D(r_i) − 1/D(r_j)| · |G_i − G_j|
 *                ndcg2pp     mu · ndcg2 + lambdarank (the default)
 *              No @k cutoff (the reference's k = None). Labels must be ≥ 0.
 *  approx-ndcg allRank approxNDCGLoss: per list Σ_i G_i / log2(1 + P_i), P_i = 1 + Σ_{j≠i}
 *              max(σ(−alpha (s_i − s_j)), eps), G as above; the loss is −(mean over lists); lists with
 *              all-zero labels count with NDCG 0.
 *  neural-ndcg allRank neuralNDCG (deterministic NeuralSort, gains 2^y − 1, no @k): P̂ =
 *              softmax_i((s_i (n + 1 − 2(k+1)) − Σ_j |s_i − s_j|) / temperature) per rank row k, then Sinkhorn
 *              (columns then rows, sums clamped at 1e-10) until every row and column sum of *every list of
 *              the batch* is within `sinkhornTol` of 1 after the same iteration, at most `sinkhornMaxIter`
 *              iterations; NDCG = Σ_k Σ_i P̂_ki g_i / log2(k + 2) / (IDCG + 1e-10); the loss is −(mean over
 *              the lists with IDCG > 0), 0 when there are none.
 *  kl          lightning-ir 0.0.6 KLDivergence (the Rank-DistiLLM loss): per list KL(teacher ‖ student) =
 *              Σ softmax(t)_i (log softmax(t)_i − log softmax(s)_i); summed, divided by the number of lists.
 *  infonce     lightning-ir 0.0.6 InfoNCE, the localized contrastive loss: per list −log softmax(s)_p with p the
 *              first document with the highest label (it must be > 0; other relevant documents act as
 *              negatives); mean over lists.
 *
 * Reduction: every loss is Σ_lists numerator / Σ_lists count (rows for bce/mse, negatives for margin-mse,
 * pairs for ranknet/lambdaloss, lists otherwise, lists with IDCG > 0 for neural-ndcg); with a count of 0
 * the loss and its gradient are 0 (v5's LambdaLoss would give NaN there, v6 gives 0).
 *
 * Bad input: the host checks what it can see (`checkLossInput`: list shapes, finite labels and teacher
 * scores, a teacher where one is needed, a positive where one is needed) and throws InputError. The GPU
 * sees scores only there: a list with a NaN or infinite score makes the loss and that list's gradients NaN
 * (the trainer then skips the step), and a list that breaks a host check anyway (no positive) gives NaN.
 */
import { InputError } from '../errors.js';
import type { BufferBinding, DispatchStep, GpuRuntime } from '../gpu/index.js';
import { params as uniformWords, shaderSource, StepCache } from '../model/kernels/common.js';
import { Scratch } from '../model/kernels/scratch.js';

export type LossName =
  | 'bce'
  | 'mse'
  | 'margin-mse'
  | 'ranknet'
  | 'listnet'
  | 'listmle'
  | 'plistmle'
  | 'lambdaloss'
  | 'approx-ndcg'
  | 'neural-ndcg'
  | 'kl'
  | 'infonce';

export const LOSS_NAMES: readonly LossName[] = ['bce', 'mse', 'margin-mse', 'ranknet', 'listnet', 'listmle', 'plistmle', 'lambdaloss', 'approx-ndcg', 'neural-ndcg', 'kl', 'infonce'];

/** Losses that read `teacher_scores`. */
export const LOSSES_NEEDING_TEACHER: readonly LossName[] = ['margin-mse', 'kl'];
/** Losses that need at least one document with a label > 0 in every list. */
export const LOSSES_NEEDING_POSITIVE: readonly LossName[] = ['margin-mse', 'infonce'];
/** Losses whose gains 2^y − 1 need labels ≥ 0. */
const LOSSES_NEEDING_NONNEGATIVE: readonly LossName[] = ['lambdaloss', 'ranknet', 'approx-ndcg', 'neural-ndcg'];

export const lossNeedsTeacher = (name: LossName): boolean => LOSSES_NEEDING_TEACHER.includes(name);
export const lossNeedsPositive = (name: LossName): boolean => LOSSES_NEEDING_POSITIVE.includes(name);

export type LambdaScheme = 'ndcg2pp' | 'lambdarank' | 'ndcg1' | 'ndcg2' | 'none';

export interface LossOptions {
  /** lambdaloss weighting scheme; default 'ndcg2pp'. */
  lambdaScheme?: LambdaScheme;
  /** ndcg2pp: weight of the NDCG-Loss2 term; default 10. */
  mu?: number;
  /** ranknet/lambdaloss: score-difference scale in σ; default 1. */
  sigma?: number;
  /** ranknet/lambdaloss: clamp of σ and of its weighted power; approx-ndcg: clamp of σ and IDCG; default 1e-10. */
  eps?: number;
  /** ranknet/lambdaloss: log base of the pair terms; default 'binary'. */
  reductionLog?: 'binary' | 'natural';
  /** listmle/plistmle: take the input order as the true ranking instead of sorting by label; default false. */
  respectInputOrder?: boolean;
  /** approx-ndcg: score-difference scale of the approximate rank; default 1. */
  alpha?: number;
  /** neural-ndcg: NeuralSort temperature; default 1. */
  temperature?: number;
  /** neural-ndcg: Sinkhorn tolerance; default 1e-6. */
  sinkhornTol?: number;
  /** neural-ndcg: Sinkhorn iteration cap; default 50 (at most 1024). */
  sinkhornMaxIter?: number;
}

export type ResolvedLossOptions = Required<LossOptions>;

const SCHEMES: readonly LambdaScheme[] = ['none', 'ndcg1', 'ndcg2', 'lambdarank', 'ndcg2pp'];
const MAX_SINKHORN_ITER = 1024;

/** The options with the reference defaults filled in; InputError for an unknown loss or a bad value. */
export function resolveLossOptions(name: LossName, o: LossOptions = {}): ResolvedLossOptions {
  if (!LOSS_NAMES.includes(name)) throw new InputError(`unknown loss '${name}' (expected one of ${LOSS_NAMES.join(', ')})`, { code: 'LOSS_OPTIONS' });
  const r: ResolvedLossOptions = {
    lambdaScheme: o.lambdaScheme ?? 'ndcg2pp',
    mu: o.mu ?? 10,
    sigma: o.sigma ?? 1,
    eps: o.eps ?? 1e-10,
    reductionLog: o.reductionLog ?? 'binary',
    respectInputOrder: o.respectInputOrder ?? false,
    alpha: o.alpha ?? 1,
    temperature: o.temperature ?? 1,
    sinkhornTol: o.sinkhornTol ?? 1e-6,
    sinkhornMaxIter: o.sinkhornMaxIter ?? 50,
  };
  const bad = (what: string, v: unknown): never => {
    throw new InputError(`loss ${name}: ${what}, got ${JSON.stringify(v)}`, { code: 'LOSS_OPTIONS' });
  };
  if (!SCHEMES.includes(r.lambdaScheme)) bad(`lambdaScheme must be one of ${SCHEMES.join(', ')}`, r.lambdaScheme);
  if (r.reductionLog !== 'binary' && r.reductionLog !== 'natural') bad("reductionLog must be 'binary' or 'natural'", r.reductionLog);
  if (typeof r.respectInputOrder !== 'boolean') bad('respectInputOrder must be a boolean', r.respectInputOrder);
  if (!(Number.isFinite(r.mu) && r.mu >= 0)) bad('mu must be a finite number >= 0', r.mu);
  for (const key of ['sigma', 'eps', 'alpha', 'temperature', 'sinkhornTol'] as const) {
    if (!(Number.isFinite(r[key]) && r[key] > 0)) bad(`${key} must be a finite number > 0`, r[key]);
  }
  if (!(Number.isInteger(r.sinkhornMaxIter) && r.sinkhornMaxIter >= 1 && r.sinkhornMaxIter <= MAX_SINKHORN_ITER)) {
    bad(`sinkhornMaxIter must be an integer in 1..${MAX_SINKHORN_ITER}`, r.sinkhornMaxIter);
  }
  return r;
}

export interface LossList {
  scores: ArrayLike<number>;
  labels: ArrayLike<number>;
  teacher?: ArrayLike<number>;
}

/**
 * What the host can check before a batch reaches the GPU (the trainer calls this on every batch; lossCpu
 * too): at least one list, no empty list, labels (and teacher scores) as long as the scores and finite,
 * teacher scores where the loss reads them, a positive label in every list where the loss needs one,
 * labels ≥ 0 for the NDCG-weighted losses. Scores are not checked: NaN scores give a NaN loss.
 */
export function checkLossInput(name: LossName, lists: readonly { scores?: ArrayLike<number>; labels: ArrayLike<number>; teacher?: ArrayLike<number> }[]): void {
  const fail = (msg: string, code: string): never => {
    throw new InputError(`loss ${name}: ${msg}`, { code });
  };
  if (lists.length === 0) fail('the batch has no lists', 'LOSS_INPUT');
  lists.forEach((l, q) => {
    const n = l.labels.length;
    if (n === 0) fail(`list ${q} has no documents`, 'LOSS_INPUT');
    if (l.scores && l.scores.length !== n) fail(`list ${q} has ${l.scores.length} scores but ${n} labels`, 'LOSS_INPUT');
    for (let i = 0; i < n; i++) if (!Number.isFinite(l.labels[i])) fail(`list ${q} has a non-finite label (${l.labels[i]})`, 'LOSS_INPUT');
    if (LOSSES_NEEDING_NONNEGATIVE.includes(name)) {
      for (let i = 0; i < n; i++) if (l.labels[i] < 0) fail(`list ${q} has a negative label (${l.labels[i]}); gains 2^label - 1 need labels >= 0`, 'LOSS_INPUT');
    }
    if (lossNeedsTeacher(name)) {
      if (!l.teacher) fail(`needs teacher scores, and list ${q} has none`, 'LOSS_NEEDS_TEACHER');
      if (l.teacher!.length !== n) fail(`list ${q} has ${l.teacher!.length} teacher scores but ${n} labels`, 'LOSS_INPUT');
      for (let i = 0; i < n; i++) if (!Number.isFinite(l.teacher![i])) fail(`list ${q} has a non-finite teacher score (${l.teacher![i]})`, 'LOSS_INPUT');
    }
    if (lossNeedsPositive(name) && !Array.from(l.labels).some((y) => y > 0)) {
      fail(`list ${q} has no positive document (label > 0), which this loss needs`, 'LOSS_NEEDS_POSITIVE');
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// CPU reference (f64). Per list: a numerator, a count and the gradient of the numerator; the batch loss
// is Σ numerators / Σ counts, exactly the GPU's split (losses_list, losses_reduce, losses_scale).

interface ListResult {
  num: number;
  count: number;
  grad: number[];
}

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
/** log σ(x) without overflow. */
const logSigmoid = (x: number): number => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));
const log2 = (x: number): number => Math.log(x) / Math.LN2;

/** Position of each element in a stable descending sort. */
export function stableRanks(v: ArrayLike<number>): number[] {
  const n = v.length;
  const r = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let k = 0;
    for (let j = 0; j < n; j++) if (v[j] > v[i] || (v[j] === v[i] && j < i)) k++;
    r[i] = k;
  }
  return r;
}

function firstArgmax(v: ArrayLike<number>): number {
  let p = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[p]) p = i;
  return p;
}

function logSumExp(v: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < v.length; i++) m = Math.max(m, v[i]);
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += Math.exp(v[i] - m);
  return m + Math.log(sum);
}

const softmax = (v: ArrayLike<number>): number[] => {
  const lse = logSumExp(v);
  return Array.from(v, (x) => Math.exp(x - lse));
};

/** IDCG with gains 2^y − 1 and discounts log2(2 + position), labels sorted descending. */
function idcg(y: ArrayLike<number>): number {
  const r = stableRanks(y);
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += (2 ** y[i] - 1) / log2(2 + r[i]);
  return sum;
}

function pairwise(o: ResolvedLossOptions, scheme: LambdaScheme, s: ArrayLike<number>, y: ArrayLike<number>): ListResult {
  const n = s.length;
  const rank = stableRanks(s);
  const maxDcg = Math.max(idcg(y), o.eps);
  const gain = Array.from(y, (v) => (2 ** v - 1) / maxDcg);
  const invD = (pos: number): number => 1 / log2(2 + pos);
  const lnBase = o.reductionLog === 'binary' ? Math.LN2 : 1;
  const logEps = Math.log(o.eps);
  const weight = (i: number, j: number): number => {
    const ndcg2 = (): number => {
      const d = Math.abs(rank[i] - rank[j]);
      return d === 0 ? 0 : Math.abs(1 / log2(1 + d) - 1 / log2(2 + d)) * Math.abs(gain[i] - gain[j]);
    };
    const lambdarank = (): number => Math.abs(invD(rank[i]) - invD(rank[j])) * Math.abs(gain[i] - gain[j]);
    switch (scheme) {
      case 'none':
        return 1;
      case 'ndcg1':
        return gain[i] * invD(rank[i]);
      case 'ndcg2':
        return ndcg2();
      case 'lambdarank':
        return lambdarank();
      case 'ndcg2pp':
        return o.mu * ndcg2() + lambdarank();
    }
  };
  const grad = new Array<number>(n).fill(0);
  let num = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (scheme === 'ndcg1' ? false : !(y[i] > y[j])) continue;
      count++;
      const w = weight(i, j);
      const x = o.sigma * (s[i] - s[j]);
      // ℓ = −log_b(max(max(p, eps)^w, eps)), p = σ(x): the clamps are constants (no gradient) where they bite.
      const logP = logSigmoid(x);
      const logPc = Math.max(logP, logEps);
      const logQ = w * logPc;
      if (logQ < logEps) {
        num -= logEps / lnBase;
        continue;
      }
      num -= logQ / lnBase;
      if (logP < logEps) continue;
      const d = (-w * o.sigma * sigmoid(-x)) / lnBase;
      grad[i] += d;
      grad[j] -= d;
    }
  }
  return { num, count, grad };
}

function mle(o: ResolvedLossOptions, weighted: boolean, s: ArrayLike<number>, y: ArrayLike<number>): ListResult {
  const n = s.length;
  const pos = o.respectInputOrder ? Array.from({ length: n }, (_, i) => i) : stableRanks(y);
  // ŵ_r = (2^{n−r} − 1) / (Σ_u (2^{n−u} − 1) + 1e-10), numerator and denominator scaled by 2^{−n}.
  const tail = 2 ** -n;
  let wsum = 1e-10 * tail;
  for (let r = 0; r < n; r++) wsum += 2 ** -r - tail;
  const w = (r: number): number => (weighted ? (2 ** -r - tail) / wsum : 1);
  const logEps = Math.log(1e-10);
  const logNorm = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const suffix: number[] = [];
    for (let j = 0; j < n; j++) if (pos[j] >= pos[i]) suffix.push(s[j]);
    const lse = logSumExp(suffix);
    // log(Σ e^s + 1e-10) = logaddexp(lse, log 1e-10)
    const m = Math.max(lse, logEps);
    logNorm[i] = m + Math.log(Math.exp(lse - m) + Math.exp(logEps - m));
  }
  let num = 0;
  const grad = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) num -= w(pos[i]) * (s[i] - logNorm[i]);
  for (let j = 0; j < n; j++) {
    let g = -w(pos[j]);
    for (let i = 0; i < n; i++) if (pos[i] <= pos[j]) g += w(pos[i]) * Math.exp(s[j] - logNorm[i]);
    grad[j] = g;
  }
  return { num, count: 1, grad };
}

function approxNdcg(o: ResolvedLossOptions, s: ArrayLike<number>, y: ArrayLike<number>): ListResult {
  const n = s.length;
  const maxDcg = Math.max(idcg(y), o.eps);
  const gain = Array.from(y, (v) => (2 ** v - 1) / maxDcg);
  // σ(−alpha (s_i − s_j)) clamped at eps, and its derivative w.r.t. s_i (0 where clamped).
  const sig = (i: number, j: number): [number, number] => {
    const p = sigmoid(-o.alpha * (s[i] - s[j]));
    return p < o.eps ? [o.eps, 0] : [p, -o.alpha * p * (1 - p)];
  };
  const c = new Array<number>(n);
  let num = 0;
  for (let i = 0; i < n; i++) {
    let P = 1;
    for (let j = 0; j < n; j++) if (j !== i) P += sig(i, j)[0];
    const l2 = log2(1 + P);
    num -= gain[i] / l2;
    c[i] = gain[i] / (l2 * l2 * (1 + P) * Math.LN2); // d num / d P_i
  }
  const grad = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const d = sig(i, j)[1];
      grad[i] += c[i] * d;
      grad[j] -= c[i] * d;
    }
  }
  return { num, count: 1, grad };
}

/** NeuralSort's relaxed permutation P̂[k][i] (rank k, document i). */
function neuralSort(s: ArrayLike<number>, tau: number): number[][] {
  const n = s.length;
  const B = Array.from(s, (si) => Array.from(s, (sj) => Math.abs(si - sj)).reduce((a, b) => a + b, 0));
  return Array.from({ length: n }, (_, k) => softmax(Array.from(s, (si, i) => (si * (n - 1 - 2 * k) - B[i]) / tau)));
}

const SINKHORN_EPS = 1e-10;

interface SinkhornTrace {
  /** X after each half-step (columns, rows, columns, …) and the clamped sums that step divided by. */
  states: number[][][];
  sums: number[][];
}

function sinkhorn(P0: number[][], iters: number, o: ResolvedLossOptions, record: boolean): { X: number[][]; converged: boolean[]; trace: SinkhornTrace } {
  const n = P0.length;
  let X = P0.map((row) => row.slice());
  const converged: boolean[] = [];
  const trace: SinkhornTrace = { states: [], sums: [] };
  for (let t = 0; t < iters; t++) {
    const col = Array.from({ length: n }, (_, i) => X.reduce((a, row) => a + row[i], 0));
    X = X.map((row) => row.map((v, i) => v / Math.max(col[i], SINKHORN_EPS)));
    if (record) trace.states.push(X), trace.sums.push(col);
    const rowSum = X.map((row) => row.reduce((a, b) => a + b, 0));
    X = X.map((row, k) => row.map((v) => v / Math.max(rowSum[k], SINKHORN_EPS)));
    if (record) trace.states.push(X), trace.sums.push(rowSum);
    let worst = 0;
    for (let k = 0; k < n; k++) worst = Math.max(worst, Math.abs(X[k].reduce((a, b) => a + b, 0) - 1));
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(X.reduce((a, row) => a + row[i], 0) - 1));
    converged.push(worst < o.sinkhornTol);
  }
  return { X, converged, trace };
}

/** The iteration count the whole batch runs: the first iteration after which every list has converged. */
function sinkhornIterations(lists: readonly LossList[], o: ResolvedLossOptions): number {
  const flags = lists
    .filter((l) => Array.from(l.scores).every(Number.isFinite))
    .map((l) => sinkhorn(neuralSort(l.scores, o.temperature), o.sinkhornMaxIter, o, false).converged);
  for (let t = 0; t < o.sinkhornMaxIter; t++) if (flags.every((f) => f[t])) return t + 1;
  return o.sinkhornMaxIter;
}

function neuralNdcg(o: ResolvedLossOptions, iters: number, s: ArrayLike<number>, y: ArrayLike<number>): ListResult {
  const n = s.length;
  const ideal = idcg(y);
  if (ideal === 0) return { num: 0, count: 0, grad: new Array<number>(n).fill(0) };
  const gains = Array.from(y, (v) => 2 ** v - 1);
  const disc = Array.from({ length: n }, (_, k) => 1 / log2(k + 2));
  const P0 = neuralSort(s, o.temperature);
  const { X, trace } = sinkhorn(P0, iters, o, true);
  const denom = ideal + 1e-10;
  let dg = 0;
  for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) dg += X[k][i] * gains[i] * disc[k];
  // Backward: d num / d X, then through each half-step Y = X / clamp(S) in reverse.
  let dX = Array.from({ length: n }, (_, k) => gains.map((g) => (-g * disc[k]) / denom));
  for (let h = trace.states.length - 1; h >= 0; h--) {
    const Y = trace.states[h];
    const S = trace.sums[h];
    if (h % 2 === 0) {
      // columns: Y_ki = X_ki / S_i
      const t = Array.from({ length: n }, (_, i) => (S[i] >= SINKHORN_EPS ? Y.reduce((a, row, k) => a + row[i] * dX[k][i], 0) : 0));
      dX = dX.map((row) => row.map((d, i) => (d - t[i]) / Math.max(S[i], SINKHORN_EPS)));
    } else {
      const t = Y.map((row, k) => (S[k] >= SINKHORN_EPS ? row.reduce((a, v, i) => a + v * dX[k][i], 0) : 0));
      dX = dX.map((row, k) => row.map((d) => (d - t[k]) / Math.max(S[k], SINKHORN_EPS)));
    }
  }
  // Softmax rows: dZ_ki = P0_ki (dP0_ki − Σ_u dP0_ku P0_ku) / tau; Z_ki = s_i (n − 1 − 2k) − B_i.
  const dZ = P0.map((row, k) => {
    const dot = row.reduce((a, p, u) => a + p * dX[k][u], 0);
    return row.map((p, i) => (p * (dX[k][i] - dot)) / o.temperature);
  });
  const dB = Array.from({ length: n }, (_, i) => -dZ.reduce((a, row) => a + row[i], 0));
  const grad = Array.from({ length: n }, (_, m) => {
    let g = 0;
    for (let k = 0; k < n; k++) g += dZ[k][m] * (n - 1 - 2 * k);
    for (let j = 0; j < n; j++) g += Math.sign(s[m] - s[j]) * (dB[m] + dB[j]);
    return g;
  });
  return { num: -dg / denom, count: 1, grad };
}

function listLoss(name: LossName, o: ResolvedLossOptions, l: LossList, iters: number): ListResult {
  const s = l.scores;
  const y = l.labels;
  const n = s.length;
  const grad = new Array<number>(n).fill(0);
  switch (name) {
    case 'bce': {
      let num = 0;
      for (let i = 0; i < n; i++) {
        const c = Math.min(Math.max(y[i], 0), 1);
        num += Math.max(s[i], 0) - s[i] * c + Math.log1p(Math.exp(-Math.abs(s[i])));
        grad[i] = sigmoid(s[i]) - c;
      }
      return { num, count: n, grad };
    }
    case 'mse': {
      let num = 0;
      for (let i = 0; i < n; i++) {
        num += (s[i] - y[i]) ** 2;
        grad[i] = 2 * (s[i] - y[i]);
      }
      return { num, count: n, grad };
    }
    case 'margin-mse': {
      const p = firstArgmax(y);
      const t = l.teacher!;
      let num = 0;
      for (let j = 0; j < n; j++) {
        if (j === p) continue;
        const e = s[p] - s[j] - (t[p] - t[j]);
        num += e * e;
        grad[p] += 2 * e;
        grad[j] -= 2 * e;
      }
      return { num, count: n - 1, grad };
    }
    case 'ranknet':
      return pairwise(o, 'none', s, y);
    case 'lambdaloss':
      return pairwise(o, o.lambdaScheme, s, y);
    case 'listnet':
    case 'kl':
    case 'infonce': {
      const q = softmax(s);
      const lse = logSumExp(s);
      const target = name === 'listnet' ? softmax(y) : name === 'kl' ? softmax(l.teacher!) : q.map((_, i) => (i === firstArgmax(y) ? 1 : 0));
      let num = 0;
      for (let i = 0; i < n; i++) {
        if (target[i] > 0) num -= target[i] * (s[i] - lse);
        grad[i] = q[i] - target[i];
      }
      if (name === 'kl') {
        const lt = logSumExp(l.teacher!);
        for (let i = 0; i < n; i++) num += target[i] * (l.teacher![i] - lt);
      }
      return { num, count: 1, grad };
    }
    case 'listmle':
      return mle(o, false, s, y);
    case 'plistmle':
      return mle(o, true, s, y);
    case 'approx-ndcg':
      return approxNdcg(o, s, y);
    case 'neural-ndcg':
      return neuralNdcg(o, iters, s, y);
  }
}

/**
 * The loss of a batch of lists and d loss / d scores per list, in f64 — the reference the GPU kernels are
 * tested against. Throws InputError where checkLossInput does.
 */
export function lossCpu(name: LossName, o: LossOptions, lists: { scores: number[]; labels: number[]; teacher?: number[] }[]): { loss: number; grads: number[][] } {
  const opts = resolveLossOptions(name, o);
  checkLossInput(name, lists);
  const iters = name === 'neural-ndcg' ? sinkhornIterations(lists, opts) : 0;
  const parts = lists.map((l) => {
    if (!l.scores.every(Number.isFinite)) return { num: NaN, count: 0, grad: l.scores.map(() => NaN) };
    return listLoss(name, opts, l, iters);
  });
  let num = 0;
  let count = 0;
  for (const p of parts) (num += p.num), (count += p.count);
  const scale = count > 0 ? 1 / count : 0;
  return { loss: count > 0 ? num * scale : Number.isNaN(num) ? NaN : 0, grads: parts.map((p) => p.grad.map((g) => g * scale)) };
}

// ---------------------------------------------------------------------------------------------------
// GPU.

const LOSS_IDS: Record<LossName, number> = {
  bce: 0,
  mse: 1,
  'margin-mse': 2,
  ranknet: 3,
  lambdaloss: 4,
  listnet: 5,
  listmle: 6,
  plistmle: 7,
  'approx-ndcg': 8,
  'neural-ndcg': 9,
  kl: 10,
  infonce: 11,
};
const SCHEME_IDS: Record<LambdaScheme, number> = { none: 0, ndcg1: 1, ndcg2: 2, lambdarank: 3, ndcg2pp: 4 };

export interface LossStepArgs {
  lists: number;
  rows: number;
  /** u32 [lists + 1]: list q owns rows offsets[q] .. offsets[q+1]; offsets[lists] = rows. */
  offsets: BufferBinding;
  /** f32 [rows]. */
  scores: BufferBinding;
  /** f32 [rows]. */
  labels: BufferBinding;
  /** f32 [rows]; required by LOSSES_NEEDING_TEACHER. */
  teacher?: BufferBinding;
  /** f32 [1]: written with the batch loss. */
  loss: BufferBinding;
  /** f32 [rows]: written with d loss / d scores. */
  dScores: BufferBinding;
  /** neural-ndcg: the longest list (sizes its n×n scratch per list); default `rows`. Longer lists give NaN. */
  maxListLength?: number;
}

const WG = 64;

/**
 * The losses on the GPU: `steps()` returns the dispatches (no submit) that write `loss[0]` and `dScores`.
 * Every loss runs one workgroup per list, a one-invocation reduction over the lists and a scale pass;
 * neural-ndcg adds its Sinkhorn convergence pass.
 */
export class Losses {
  private readonly partials: Scratch;
  private readonly tmp: Scratch;
  private readonly work: Scratch;
  private readonly flags: Scratch;

  private constructor(
    private readonly rt: GpuRuntime,
    private readonly list: StepCache,
    private readonly reduce: StepCache,
    private readonly scale: StepCache,
    private readonly converge: StepCache,
    private readonly iters: StepCache,
    private readonly neural: StepCache,
  ) {
    this.partials = new Scratch(rt, 'loss partials');
    this.tmp = new Scratch(rt, 'loss row scratch');
    this.work = new Scratch(rt, 'neural-ndcg scratch');
    this.flags = new Scratch(rt, 'neural-ndcg sinkhorn flags');
  }

  static async create(rt: GpuRuntime): Promise<Losses> {
    const code = await shaderSource('losses', 'f32', { WG });
    const entries = ['loss_list', 'loss_reduce', 'loss_scale', 'neural_converge', 'neural_iters', 'neural_list'];
    const pipelines = await Promise.all(entries.map((entryPoint) => rt.pipeline({ code, entryPoint, label: entryPoint })));
    const [list, reduce, scale, converge, iters, neural] = pipelines.map((p) => new StepCache(rt, p));
    return new Losses(rt, list, reduce, scale, converge, iters, neural);
  }

  /** Which losses read teacher scores — so the CLI can say so up front. */
  static needsTeacher(name: LossName): boolean {
    return lossNeedsTeacher(name);
  }

  /** Which losses need a positive document in every list. */
  static needsPositive(name: LossName): boolean {
    return lossNeedsPositive(name);
  }

  /**
   * Ragged lists, flat: list q owns rows offsets[q] .. offsets[q+1]. Writes loss[0] (the scalar the
   * reference returns, incl. its reduction) and dScores = d loss / d scores. InputError for bad options,
   * shapes, or a missing teacher where the loss needs one; the data checks are `checkLossInput`'s.
   */
  steps(name: LossName, o: LossOptions, a: LossStepArgs): DispatchStep[] {
    const opts = resolveLossOptions(name, o);
    const bad = (msg: string, code = 'LOSS_INPUT'): never => {
      throw new InputError(`loss ${name}: ${msg}`, { code });
    };
    if (!(Number.isInteger(a.lists) && a.lists >= 1)) bad(`lists must be an integer >= 1, got ${a.lists}`);
    if (!(Number.isInteger(a.rows) && a.rows >= a.lists)) bad(`rows must be an integer >= lists (${a.lists}), got ${a.rows}`);
    if (a.lists > this.rt.limits.maxComputeWorkgroupsPerDimension) bad(`${a.lists} lists is over the ${this.rt.limits.maxComputeWorkgroupsPerDimension} this device runs at once`);
    if (lossNeedsTeacher(name) && !a.teacher) bad('needs teacher scores (teacher_scores in the data), and none were given', 'LOSS_NEEDS_TEACHER');
    const maxLen = a.maxListLength ?? a.rows;
    if (!(Number.isInteger(maxLen) && maxLen >= 1)) bad(`maxListLength must be an integer >= 1, got ${maxLen}`);
    const u = uniformWords(
      [a.lists, a.rows, LOSS_IDS[name], name === 'ranknet' ? SCHEME_IDS.none : SCHEME_IDS[opts.lambdaScheme], maxLen, opts.respectInputOrder ? 1 : 0, opts.reductionLog === 'natural' ? 1 : 0, opts.sinkhornMaxIter],
      [opts.sigma, opts.mu, opts.eps, opts.alpha, opts.temperature, opts.sinkhornTol, 0, 0],
    );
    const partials = this.partials.get((2 * a.lists + 1) * 4);
    const listsGrid: [number, number] = [a.lists, 1];
    const steps: DispatchStep[] = [];
    if (name === 'neural-ndcg') {
      const work = this.work.get((2 * a.rows * maxLen + 4 * a.rows * opts.sinkhornMaxIter + 2 * a.rows) * 4);
      const flags = this.flags.get((a.lists * Math.ceil(opts.sinkhornMaxIter / 32) + 1) * 4);
      steps.push(
        this.converge.step(u, [a.offsets, a.scores, work, flags], listsGrid),
        this.iters.step(u, [flags], 1),
        this.neural.step(u, [a.offsets, a.scores, work, flags, a.labels, a.dScores, partials], listsGrid),
      );
    } else {
      const tmp = this.tmp.get(2 * a.rows * 4);
      steps.push(this.list.step(u, [a.offsets, a.scores, a.labels, a.teacher ?? a.scores, a.dScores, partials, tmp], listsGrid));
    }
    steps.push(this.reduce.step(u, [partials, a.loss], 1), this.scale.step(u, [partials, a.dScores], Math.ceil(a.rows / WG)));
    return steps;
  }

  /** Frees the scratch and uniform buffers. */
  destroy(): void {
    for (const c of [this.list, this.reduce, this.scale, this.converge, this.iters, this.neural]) c.destroy();
    for (const s of [this.partials, this.tmp, this.work, this.flags]) s.destroy();
  }
}
