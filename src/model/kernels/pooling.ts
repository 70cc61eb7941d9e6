/**
 * Pooling of a [batch, length, hidden] hidden state into [batch, hidden]: the [CLS] token (for the
 * pooler dense and classifier, which are matmuls), or the mean over valid tokens, optionally
 * L2-normalised (sentence-transformers bi-encoders).
 */
import type { BufferBinding, DispatchStep, GpuRuntime } from '../../gpu/index.js';
import { checkDtype, grid, params, shaderSource, StepCache, type KernelOptions } from './common.js';

export interface PoolingShape {
  batch: number;
  length: number;
  hidden: number;
}

export type PoolingMode = 'cls' | 'mean';

/** CPU reference. */
export function poolingCpu(x: Float32Array, lengths: ArrayLike<number>, shape: PoolingShape, mode: PoolingMode, normalize: boolean): Float32Array {
  const { batch, length, hidden } = shape;
  const y = new Float32Array(batch * hidden);
  for (let b = 0; b < batch; b++) {
    const len = Math.min(lengths[b], length);
    const row = new Float64Array(hidden);
    if (mode === 'cls') {
      if (len > 0) for (let c = 0; c < hidden; c++) row[c] = x[b * length * hidden + c];
    } else {
      for (let l = 0; l < len; l++) for (let c = 0; c < hidden; c++) row[c] += x[(b * length + l) * hidden + c];
      for (let c = 0; c < hidden; c++) row[c] /= Math.max(len, 1e-9);
    }
    let scale = 1;
    if (normalize) {
      let sq = 0;
      for (let c = 0; c < hidden; c++) sq += Math.fround(row[c]) ** 2;
      scale = 1 / Math.max(Math.sqrt(sq), 1e-12);
    }
    for (let c = 0; c < hidden; c++) y[b * hidden + c] = Math.fround(row[c]) * scale;
  }
  return y;
}

export interface PoolingArgs extends PoolingShape {
  mode: PoolingMode;
  normalize: boolean;
  /** u32 [batch]. */
  lengths: BufferBinding;
  x: BufferBinding;
  y: BufferBinding;
}

export class Pooling {
  static readonly WG = 64;

  private constructor(
    private readonly cls: StepCache,
    private readonly mean: StepCache,
    private readonly norm: StepCache,
  ) {}

  static async create(rt: GpuRuntime, { dtype }: KernelOptions): Promise<Pooling> {
    checkDtype(rt, dtype, 'pooling');
    const code = await shaderSource('pooling', dtype);
    const make = (entryPoint: string) => rt.pipeline({ code, entryPoint, constants: { WG: Pooling.WG }, label: `${entryPoint} ${dtype}` });
    const [cls, mean, norm] = await Promise.all(['pooling_cls_forward', 'pooling_mean_forward', 'pooling_normalize_forward'].map(make));
    return new Pooling(new StepCache(rt, cls), new StepCache(rt, mean), new StepCache(rt, norm));
  }

  /** One or two dispatches (the pooling, then the normalisation in place). */
  step(a: PoolingArgs): DispatchStep[] {
    const u = params([a.batch, a.length, a.hidden]);
    const pool = (a.mode === 'cls' ? this.cls : this.mean).step(u, [a.lengths, a.x, a.y], grid(a.batch * a.hidden, Pooling.WG));
    return a.normalize ? [pool, this.norm.step(u, [a.y], grid(a.batch, Pooling.WG))] : [pool];
  }

  /** Frees the per-shape uniform buffers. */
  destroy(): void {
    this.cls.destroy();
    this.mean.destroy();
    this.norm.destroy();
  }
}
