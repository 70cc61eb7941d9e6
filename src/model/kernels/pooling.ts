/**
 * Pooling of a [batch, length, hidden] hidden state into [batch, hidden]: the [CLS] token (for the
 * pooler dense and classifier, which are matmuls), or the mean over valid tokens, optionally
 * L2-normalised (sentence-transformers bi-encoders). With `backward: true`, also the backward of the
 * [CLS] gather (training).
 */
import { InputError } from '../../errors.js';
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

/** CPU reference of the [CLS] gather's backward: dx [batch·length·hidden], f64. */
export function poolingClsBackwardCpu(dPooled: ArrayLike<number>, lengths: ArrayLike<number>, shape: PoolingShape): Float64Array {
  const { batch, length, hidden } = shape;
  if (dPooled.length < batch * hidden) throw new InputError(`poolingClsBackwardCpu: dPooled has ${dPooled.length} elements, needs ${batch}×${hidden}`);
  const dx = new Float64Array(batch * length * hidden);
  for (let b = 0; b < batch; b++) {
    if (lengths[b] > 0) for (let c = 0; c < hidden; c++) dx[b * length * hidden + c] = dPooled[b * hidden + c];
  }
  return dx;
}

export interface PoolingClsBackwardArgs extends PoolingShape {
  /** u32 [batch]. */
  lengths: BufferBinding;
  /** [batch, hidden] gradient of the pooled [CLS] vectors. */
  dy: BufferBinding;
  /** [batch, length, hidden], written in full. */
  dx: BufferBinding;
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
    private readonly clsBackward: StepCache | undefined,
  ) {}

  /** `backward: true` also compiles the [CLS] backward. */
  static async create(rt: GpuRuntime, { dtype, backward = false }: KernelOptions & { backward?: boolean }): Promise<Pooling> {
    checkDtype(rt, dtype, 'pooling');
    const code = await shaderSource('pooling', dtype);
    const make = (entryPoint: string) => rt.pipeline({ code, entryPoint, constants: { WG: Pooling.WG }, label: `${entryPoint} ${dtype}` });
    const entries = ['pooling_cls_forward', 'pooling_mean_forward', 'pooling_normalize_forward', ...(backward ? ['pooling_cls_backward'] : [])];
    const [cls, mean, norm, clsBackward] = await Promise.all(entries.map(make));
    return new Pooling(new StepCache(rt, cls), new StepCache(rt, mean), new StepCache(rt, norm), clsBackward && new StepCache(rt, clsBackward));
  }

  /** dx = the [CLS] gather's backward: dy[b] at (b, 0) for non-empty rows, zeros elsewhere. */
  clsBackwardStep(a: PoolingClsBackwardArgs): DispatchStep {
    if (!this.clsBackward) throw new InputError('pooling: the backward was not compiled (create the Pooling with backward: true)');
    const { batch, length, hidden } = a;
    for (const [name, v] of Object.entries({ batch, length, hidden })) {
      if (!Number.isInteger(v) || v < 1) throw new InputError(`pooling cls backward: ${name} = ${v} must be a positive integer`);
    }
    return this.clsBackward.step(params([batch, length, hidden]), [a.lengths, a.dy, a.dx], grid(batch * length * hidden, Pooling.WG));
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
    this.clsBackward?.destroy();
  }
}
