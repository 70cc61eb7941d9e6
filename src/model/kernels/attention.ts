/**
 * Multi-head scaled dot-product attention with key-padding masks from per-row lengths, softmax fused.
 * Works on the batch's own padded length only: the dispatch grid is (query blocks of L, heads, batch).
 */
import { InputError } from '../../errors.js';
import type { BufferBinding, DispatchStep, GpuRuntime } from '../../gpu/index.js';
import { checkDtype, params, shaderSource, StepCache, type KernelOptions } from './common.js';

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
}

/** Keys per workgroup-memory tile of the tiled variant: 32, or fewer where a head is too wide. */
function keyTile(headDim: number, storage: number): number {
  return Math.max(1, Math.min(32, Math.floor((storage - 16) / (8 * headDim))));
}

export class Attention {
  private constructor(
    private readonly cache: StepCache,
    readonly headDim: number,
    readonly variant: AttentionVariant,
    readonly workgroupSize: number,
  ) {}

  /** A kernel for one head size (a shader constant: it sizes the per-invocation arrays). */
  static async create(rt: GpuRuntime, { dtype, headDim, variant = 'auto', workgroupSize }: AttentionOptions): Promise<Attention> {
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
    const code = await shaderSource('attention', dtype, { HEAD_DIM: headDim, KEY_TILE: keyTile(headDim, rt.limits.maxComputeWorkgroupStorageSize) });
    const entryPoint = kind === 'blocked' ? 'attention_forward' : 'attention_forward_tiled';
    const pipeline = await rt.pipeline({ code, entryPoint, constants: { WG: wg }, label: `${entryPoint} ${dtype} d${headDim} wg${wg}` });
    return new Attention(new StepCache(rt, pipeline), headDim, kind, wg);
  }

  step(a: AttentionArgs): DispatchStep {
    if (a.headDim !== this.headDim) throw new InputError(`this attention kernel was built for head size ${this.headDim}, got ${a.headDim}`);
    const { stride, qOffset, kOffset, vOffset } = a.layout ?? defaultLayout(a);
    return this.cache.step(
      params([a.batch, a.length, stride, qOffset, kOffset, vOffset, a.heads * a.headDim], [1 / Math.sqrt(a.headDim)]),
      [a.lengths, a.q, a.k, a.v, a.out],
      // The blocked variant's invocations own four query rows each.
      [Math.ceil(a.length / (this.workgroupSize * (this.variant === 'blocked' ? 4 : 1))), a.heads, a.batch],
    );
  }

  /** Frees the per-shape uniform buffers. */
  destroy(): void {
    this.cache.destroy();
  }
}
