/**
 * Multi-head scaled dot-product attention with key-padding masks from per-row lengths, softmax fused.
 * Works on the batch's own padded length only: the dispatch grid is (query blocks of L, heads, batch).
 */
import { InputError } from '../../errors.js';
import type { BufferBinding, DispatchStep, GpuRuntime } from '../../gpu/index.js';
import { checkDtype, params, shaderSource, StepCache, type KernelOptions } from './common.js';
import { dropoutScale } from './rng.js';
import { Scratch } from './scratch.js';

export interface AttentionShape {
  batch: number;
  /** Padded length L. */
  length: number;
  heads: number;
  headDim: number;
}

/**
 * Where q, k and v live: element (b, l, h, c) of q is at (b * length + l) * stride + qOffset +
 * h * headDim + c (likewise k, v). Separate [B, L, H] tensors: stride H, offsets 0 (the default);
 * one fused [B, L, 3H] tensor: stride 3H, offsets 0, H, 2H.
 */
export interface QkvLayout {
  stride: number;
  qOffset: number;
  kOffset: number;
  vOffset: number;
}

const defaultLayout = (s: AttentionShape): QkvLayout => ({ stride: s.heads * s.headDim, qOffset: 0, kOffset: 0, vOffset: 0 });

/** CPU reference; returns [batch, length, heads * headDim] with padded query rows zero. */
export function attentionCpu(q: Float32Array, k: Float32Array, v: Float32Array, lengths: ArrayLike<number>, shape: AttentionShape, layout: QkvLayout = defaultLayout(shape)): Float32Array {
  const { batch, length, heads, headDim } = shape;
  const hidden = heads * headDim;
  const { stride, qOffset, kOffset, vOffset } = layout;
  const out = new Float32Array(batch * length * hidden);
  const scale = 1 / Math.sqrt(headDim);
  const scores = new Float64Array(length);
  for (let b = 0; b < batch; b++) {
    const len = Math.min(lengths[b], length);
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < len; i++) {
        const qb = (b * length + i) * stride + qOffset + h * headDim;
        let max = -Infinity;
        for (let j = 0; j < len; j++) {
          const kb = (b * length + j) * stride + kOffset + h * headDim;
          let s = 0;
          for (let c = 0; c < headDim; c++) s += q[qb + c] * k[kb + c];
          scores[j] = s * scale;
          max = Math.max(max, scores[j]);
        }
        let sum = 0;
        for (let j = 0; j < len; j++) sum += scores[j] = Math.exp(scores[j] - max);
        const o = (b * length + i) * hidden + h * headDim;
        for (let c = 0; c < headDim; c++) {
          let acc = 0;
          for (let j = 0; j < len; j++) acc += scores[j] * v[(b * length + j) * stride + vOffset + h * headDim + c];
          out[o + c] = acc / sum;
        }
      }
    }
  }
  return out;
}

export interface AttentionArgs extends AttentionShape {
  /** u32 [batch]. */
  lengths: BufferBinding;
  q: BufferBinding;
  k: BufferBinding;
  v: BufferBinding;
  /** [batch, length, heads * headDim]; must not alias q, k or v. */
  out: BufferBinding;
  layout?: QkvLayout;
}

/** The largest head size accepted (the blocked kernel keeps 8 × headDim floats per invocation). */
export const MAX_HEAD_DIM = 256;

/**
 * `blocked`: four query rows per invocation in registers, no workgroup memory or barriers (CPU
 * drivers). `tiled`: one row per invocation, key/value tiles shared through workgroup memory
 * (hardware GPUs). `auto` picks by adapter.
 */
export type AttentionVariant = 'blocked' | 'tiled';

export interface AttentionOptions extends KernelOptions {
  headDim: number;
  variant?: 'auto' | AttentionVariant;
  /**
   * Invocations per workgroup. Default: blocked 8 (one SIMD batch of lavapipe; measured fastest
   * there), tiled 64.
   */
  workgroupSize?: number;
  /** Also compile the training forward and the backward (f32 only). */
  training?: boolean;
}

/** Keys per workgroup-memory tile of the tiled variant: 32, or fewer where a head is too wide. */
function keyTile(headDim: number, storage: number): number {
  return Math.max(1, Math.min(32, Math.floor((storage - 16) / (8 * headDim))));
}

/** Dropout on the attention probabilities (HF: softmax, dropout, then · V). */
export interface AttentionDropout {
  /** Probability in [0, 1) of dropping each attention probability; 0 is the identity. */
  p: number;
  /** u32; changes every step. */
  seed: number;
  /** u32; tells dropout sites apart (e.g. one per layer). */
  stream: number;
}

const NO_DROPOUT: AttentionDropout = { p: 0, seed: 0, stream: 0 };

function checkDropout(d: AttentionDropout = NO_DROPOUT): AttentionDropout {
  if (!(d.p >= 0 && d.p < 1)) throw new InputError(`attention dropout probability must be in [0, 1), got ${d.p}`);
  for (const [name, v] of [['seed', d.seed], ['stream', d.stream]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new InputError(`attention dropout ${name} must be a u32, got ${v}`);
  }
  return d;
}

/** The RNG counter of probability (b, h, i, j) in attention.wgsl (u32 arithmetic). */
export function attentionDropoutIndex(shape: AttentionShape, b: number, h: number, i: number, j: number): number {
  return (((b * shape.heads + h) * shape.length + i) * shape.length + j) >>> 0;
}

/** The dropout factor of probability (b, h, i, j): 0 or 1 / (1 - p), as the shader draws it (p as f32). */
function dropFactor(d: AttentionDropout, shape: AttentionShape, b: number, h: number, i: number, j: number): number {
  return d.p === 0 ? 1 : dropoutScale(d.seed, d.stream, attentionDropoutIndex(shape, b, h, i, j), Math.fround(d.p));
}

type ArrayType<A> = new (n: number) => A;

/**
 * CPU reference of the training forward (f64 arithmetic) for separate [B, L, H] q, k, v: `out` as
 * `attentionCpu` gives with the probabilities dropped out, and `lse` [batch, heads, length] (each query
 * row's log-sum-exp of its scaled scores; 0 for padded rows). `Out` picks the result arrays
 * (Float64Array for gradient checks).
 */
export function attentionForwardTrainCpu<A extends Float32Array | Float64Array = Float32Array>(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  lengths: ArrayLike<number>,
  shape: AttentionShape,
  dropout: AttentionDropout = NO_DROPOUT,
  Out: ArrayType<A> = Float32Array as unknown as ArrayType<A>,
): { out: A; lse: A } {
  const { batch, length, heads, headDim } = shape;
  const H = heads * headDim;
  const out = new Out(batch * length * H);
  const lse = new Out(batch * heads * length);
  const scale = 1 / Math.sqrt(headDim);
  const s = new Float64Array(length);
  for (let b = 0; b < batch; b++) {
    const len = Math.min(lengths[b], length);
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < len; i++) {
        const qb = (b * length + i) * H + h * headDim;
        let max = -Infinity;
        for (let j = 0; j < len; j++) {
          const kb = (b * length + j) * H + h * headDim;
          let dotQk = 0;
          for (let c = 0; c < headDim; c++) dotQk += q[qb + c] * k[kb + c];
          s[j] = dotQk * scale;
          max = Math.max(max, s[j]);
        }
        let sum = 0;
        for (let j = 0; j < len; j++) sum += Math.exp(s[j] - max);
        lse[(b * heads + h) * length + i] = max + Math.log(sum);
        for (let c = 0; c < headDim; c++) {
          let acc = 0;
          for (let j = 0; j < len; j++) acc += (Math.exp(s[j] - max) / sum) * dropFactor(dropout, shape, b, h, i, j) * v[(b * length + j) * H + h * headDim + c];
          out[qb + c] = acc;
        }
      }
    }
  }
  return { out, lse };
}

/**
 * CPU reference of the backward (f64 arithmetic): dq, dk, dv [B, L, H] from dout, with the same dropout.
 * Probabilities come from the scores directly (not from an lse), D_i from the dropped probabilities.
 */
export function attentionBackwardCpu(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dout: ArrayLike<number>,
  lengths: ArrayLike<number>,
  shape: AttentionShape,
  dropout: AttentionDropout = NO_DROPOUT,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const { batch, length, heads, headDim } = shape;
  const H = heads * headDim;
  const [dq, dk, dv] = [0, 1, 2].map(() => new Float64Array(batch * length * H));
  const scale = 1 / Math.sqrt(headDim);
  const P = new Float64Array(length);
  const dP = new Float64Array(length);
  const at = (b: number, l: number, h: number) => (b * length + l) * H + h * headDim;
  for (let b = 0; b < batch; b++) {
    const len = Math.min(lengths[b], length);
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < len; i++) {
        const qi = at(b, i, h);
        let max = -Infinity;
        for (let j = 0; j < len; j++) {
          let dotQk = 0;
          for (let c = 0; c < headDim; c++) dotQk += q[qi + c] * k[at(b, j, h) + c];
          P[j] = dotQk * scale;
          max = Math.max(max, P[j]);
        }
        let sum = 0;
        for (let j = 0; j < len; j++) sum += P[j] = Math.exp(P[j] - max);
        let D = 0;
        for (let j = 0; j < len; j++) {
          P[j] /= sum;
          const z = dropFactor(dropout, shape, b, h, i, j);
          const vj = at(b, j, h);
          let dotDv = 0;
          for (let c = 0; c < headDim; c++) {
            dotDv += dout[qi + c] * v[vj + c];
            dv[vj + c] += P[j] * z * dout[qi + c];
          }
          dP[j] = z * dotDv;
          D += P[j] * dP[j];
        }
        for (let j = 0; j < len; j++) {
          const dS = P[j] * (dP[j] - D) * scale;
          const kj = at(b, j, h);
          for (let c = 0; c < headDim; c++) {
            dq[qi + c] += dS * k[kj + c];
            dk[kj + c] += dS * q[qi + c];
          }
        }
      }
    }
  }
  return { dq: Float32Array.from(dq), dk: Float32Array.from(dk), dv: Float32Array.from(dv) };
}

export interface AttentionTrainArgs extends AttentionShape {
  /** u32 [batch]. */
  lengths: BufferBinding;
  /** f32 [batch, length, heads * headDim] each (stride H). */
  q: BufferBinding;
  k: BufferBinding;
  v: BufferBinding;
  /** f32 [batch, length, H], written (padded query rows as zeros); must not alias q, k or v. */
  out: BufferBinding;
  /** f32 [batch, heads, length], written: log-sum-exp of each query row's scaled scores (0 when padded). */
  lse: BufferBinding;
  /** Default: none. */
  dropout?: AttentionDropout;
}

export interface AttentionBackwardArgs extends AttentionShape {
  lengths: BufferBinding;
  /** The forward's inputs and its outputs `out` and `lse`. */
  q: BufferBinding;
  k: BufferBinding;
  v: BufferBinding;
  out: BufferBinding;
  lse: BufferBinding;
  /** f32 [batch, length, H]: gradient of `out` (padded rows are never read). */
  dout: BufferBinding;
  /** f32 [batch, length, H] each, written (zeros at padded positions). */
  dq: BufferBinding;
  dk: BufferBinding;
  dv: BufferBinding;
  /** The forward's dropout (same p, seed, stream): the masks are regenerated. */
  dropout?: AttentionDropout;
}

/** Invocations per workgroup of the training kernels (one row each). */
const TRAIN_WG_SOFTWARE = 16;
const TRAIN_WG_HARDWARE = 64;

interface Training {
  forward: StepCache;
  query: StepCache;
  key: StepCache;
  /** D_i = dout_i · out_i [batch, heads, length], from the query pass to the key pass. */
  delta: Scratch;
  workgroupSize: number;
}

export class Attention {
  private constructor(
    private readonly cache: StepCache,
    readonly headDim: number,
    readonly variant: AttentionVariant,
    readonly workgroupSize: number,
    private readonly training: Training | null,
  ) {}

  /** A kernel for one head size (a shader constant: it sizes the per-invocation arrays). */
  static async create(rt: GpuRuntime, { dtype, headDim, variant = 'auto', workgroupSize, training = false }: AttentionOptions): Promise<Attention> {
    if (training && dtype !== 'f32') throw new InputError(`attention: training is f32 only, got ${dtype}`);
    checkDtype(rt, dtype, 'attention');
    if (!Number.isInteger(headDim) || headDim < 1 || headDim > MAX_HEAD_DIM) {
      throw new InputError(`attention head size must be an integer in 1..${MAX_HEAD_DIM}, got ${headDim}`);
    }
    if (!['auto', 'blocked', 'tiled'].includes(variant)) throw new InputError(`attention: unknown variant '${String(variant)}' (expected auto, blocked or tiled)`);
    const kind: AttentionVariant = variant === 'auto' ? (rt.report.software ? 'blocked' : 'tiled') : variant;
    const wg = workgroupSize ?? (kind === 'blocked' ? 8 : 64);
    if (!Number.isInteger(wg) || wg < 1 || wg > rt.limits.maxComputeWorkgroupSizeX) {
      throw new InputError(`attention workgroup size must be an integer in 1..${rt.limits.maxComputeWorkgroupSizeX}, got ${wg}`);
    }
    // The training entry points call dropout_scale (rng.wgsl); the module is one for all entry points.
    const code = await shaderSource('attention', dtype, { HEAD_DIM: headDim, KEY_TILE: keyTile(headDim, rt.limits.maxComputeWorkgroupStorageSize) }, ['rng']);
    const entryPoint = kind === 'blocked' ? 'attention_forward' : 'attention_forward_tiled';
    const pipeline = await rt.pipeline({ code, entryPoint, constants: { WG: wg }, label: `${entryPoint} ${dtype} d${headDim} wg${wg}` });
    let train: Training | null = null;
    if (training) {
      const twg = rt.report.software ? TRAIN_WG_SOFTWARE : TRAIN_WG_HARDWARE;
      const compile = (name: string) => rt.pipeline({ code, entryPoint: name, constants: { WG: twg }, label: `${name} d${headDim} wg${twg}` });
      const [forward, query, key] = await Promise.all(['attention_forward_train', 'attention_backward_query', 'attention_backward_key'].map(compile));
      train = {
        forward: new StepCache(rt, forward),
        query: new StepCache(rt, query),
        key: new StepCache(rt, key),
        delta: new Scratch(rt, 'attention backward D'),
        workgroupSize: twg,
      };
    }
    return new Attention(new StepCache(rt, pipeline), headDim, kind, wg, train);
  }

  step(a: AttentionArgs): DispatchStep {
    this.checkHeadDim(a);
    const { stride, qOffset, kOffset, vOffset } = a.layout ?? defaultLayout(a);
    return this.cache.step(
      params([a.batch, a.length, stride, qOffset, kOffset, vOffset, a.heads * a.headDim], [1 / Math.sqrt(a.headDim)]),
      [a.lengths, a.q, a.k, a.v, a.out],
      // The blocked variant's invocations own four query rows each.
      [Math.ceil(a.length / (this.workgroupSize * (this.variant === 'blocked' ? 4 : 1))), a.heads, a.batch],
    );
  }

  /**
   * Training forward: `out` as `step` gives (q, k, v separate [B, L, H] f32 tensors), with the
   * probabilities dropped out, and each query row's log-sum-exp in `lse`. One dispatch.
   */
  forwardTrainStep(a: AttentionTrainArgs): DispatchStep {
    const t = this.trainingKernels('forwardTrainStep');
    this.checkHeadDim(a);
    return t.forward.step(this.trainParams(a), [a.lengths, a.q, a.k, a.v, a.out, a.lse], this.trainGrid(a, t));
  }

  /**
   * Backward of `forwardTrainStep` (same inputs, seed and stream): dq, dk, dv written. Two dispatches
   * (query rows, then key rows), to run in this order.
   */
  backwardSteps(a: AttentionBackwardArgs): DispatchStep[] {
    const t = this.trainingKernels('backwardSteps');
    this.checkHeadDim(a);
    const u = this.trainParams(a);
    const delta = t.delta.get(a.batch * a.heads * a.length * 4);
    const shared = [a.lengths, a.q, a.k, a.v, a.dout, a.lse];
    return [t.query.step(u, [...shared, a.out, delta, a.dq], this.trainGrid(a, t)), t.key.step(u, [...shared, delta, a.dk, a.dv], this.trainGrid(a, t))];
  }

  /** Frees the per-shape uniform buffers (and the backward's scratch). */
  destroy(): void {
    this.cache.destroy();
    if (this.training) {
      for (const c of [this.training.forward, this.training.query, this.training.key]) c.destroy();
      this.training.delta.destroy();
    }
  }

  private checkHeadDim(a: AttentionShape): void {
    if (a.headDim !== this.headDim) throw new InputError(`this attention kernel was built for head size ${this.headDim}, got ${a.headDim}`);
  }

  private trainingKernels(what: string): Training {
    if (!this.training) throw new InputError(`attention: ${what} needs a kernel created with training: true`);
    return this.training;
  }

  private trainParams(a: AttentionShape & { dropout?: AttentionDropout }): ArrayBuffer {
    const { p, seed, stream } = checkDropout(a.dropout);
    return params([a.batch, a.length, a.heads, seed, stream], [1 / Math.sqrt(a.headDim), p]);
  }

  private trainGrid(a: AttentionShape, t: Training): [number, number, number] {
    return [Math.ceil(a.length / t.workgroupSize), a.heads, a.batch];
  }
}
