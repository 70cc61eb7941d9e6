/** Residual add + LayerNorm: y = LN(x + residual) * gamma + beta over rows of `hidden`. */
import { InputError } from '../../errors.js';
import type { BufferBinding, DispatchStep, GpuRuntime } from '../../gpu/index.js';
import { checkDtype, grid, params, shaderSource, StepCache, type KernelOptions } from './common.js';
import { Scratch } from './scratch.js';

export interface LayerNormShape {
  rows: number;
  hidden: number;
  eps: number;
}

/**
 * CPU reference (f64 arithmetic, f32 storage). `residual` may be omitted (treated as zeros). Pass a
 * Float64Array `out` for f64 results (gradient checks take finite differences of them).
 */
export function layernormCpu<O extends Float32Array | Float64Array = Float32Array>(
  x: ArrayLike<number>,
  residual: ArrayLike<number> | null,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  shape: LayerNormShape,
  out?: O,
): O {
  const { rows, hidden, eps } = shape;
  const y = out ?? (new Float32Array(rows * hidden) as O);
  const row = new Float64Array(hidden);
  for (let r = 0; r < rows; r++) {
    const base = r * hidden;
    let sum = 0;
    for (let c = 0; c < hidden; c++) {
      row[c] = x[base + c] + (residual ? residual[base + c] : 0);
      sum += row[c];
    }
    const mean = sum / hidden;
    let sq = 0;
    for (let c = 0; c < hidden; c++) sq += (row[c] - mean) ** 2;
    const inv = 1 / Math.sqrt(sq / hidden + eps);
    for (let c = 0; c < hidden; c++) y[base + c] = (row[c] - mean) * inv * gamma[c] + beta[c];
  }
  return y;
}

export interface LayerNormArgs extends LayerNormShape {
  x: BufferBinding;
  residual: BufferBinding;
  gamma: BufferBinding;
  beta: BufferBinding;
  y: BufferBinding;
}

/** Gradients of y = LN(x + residual) * gamma + beta: `dx` is d/d(x + residual), the others per column. */
export interface LayerNormGrads {
  dx: Float32Array;
  dgamma: Float32Array;
  dbeta: Float32Array;
}

/**
 * CPU reference of the backward (f64 arithmetic, f32 storage). `dgamma`/`dbeta` are this batch's sums
 * alone (the GPU kernel adds them to what the grads buffer holds).
 */
export function layernormBackwardCpu(x: ArrayLike<number>, residual: ArrayLike<number> | null, gamma: ArrayLike<number>, dy: ArrayLike<number>, shape: LayerNormShape): LayerNormGrads {
  const { rows, hidden, eps } = shape;
  const dx = new Float32Array(rows * hidden);
  const dgamma = new Float64Array(hidden);
  const dbeta = new Float64Array(hidden);
  const xhat = new Float64Array(hidden);
  for (let r = 0; r < rows; r++) {
    const base = r * hidden;
    let sum = 0;
    for (let c = 0; c < hidden; c++) sum += x[base + c] + (residual ? residual[base + c] : 0);
    const mean = sum / hidden;
    let sq = 0;
    for (let c = 0; c < hidden; c++) sq += (x[base + c] + (residual ? residual[base + c] : 0) - mean) ** 2;
    const inv = 1 / Math.sqrt(sq / hidden + eps);
    let sg = 0;
    let sgx = 0;
    for (let c = 0; c < hidden; c++) {
      xhat[c] = (x[base + c] + (residual ? residual[base + c] : 0) - mean) * inv;
      const g = dy[base + c] * gamma[c];
      sg += g;
      sgx += g * xhat[c];
      dgamma[c] += dy[base + c] * xhat[c];
      dbeta[c] += dy[base + c];
    }
    for (let c = 0; c < hidden; c++) dx[base + c] = inv * (dy[base + c] * gamma[c] - sg / hidden - (xhat[c] * sgx) / hidden);
  }
  return { dx, dgamma: Float32Array.from(dgamma), dbeta: Float32Array.from(dbeta) };
}

export interface LayerNormBackwardArgs extends LayerNormShape {
  /** The forward's inputs (f32): the gradient is taken at x + residual. */
  x: BufferBinding;
  residual: BufferBinding;
  gamma: BufferBinding;
  /** f32 [rows, hidden]: gradient of the forward's y. Zero rows (padding) contribute nothing. */
  dy: BufferBinding;
  /** f32 [rows, hidden], written: the gradient of x + residual (one tensor for both branches). */
  dx: BufferBinding;
  /** f32 [hidden], accumulated (+=). */
  dgamma: BufferBinding;
  /** f32 [hidden], accumulated (+=). */
  dbeta: BufferBinding;
}

export interface LayerNormOptions extends KernelOptions {
  /** Also compile the backward (f32 only). */
  training?: boolean;
}

interface Backward {
  rows: StepCache;
  columns: StepCache;
  /** Each row's mean and 1/std, from the row pass to the column pass. */
  stats: Scratch;
}

export class LayerNorm {
  static readonly WG = 64;

  private constructor(
    private readonly cache: StepCache,
    private readonly backward: Backward | null,
  ) {}

  static async create(rt: GpuRuntime, { dtype, training = false }: LayerNormOptions): Promise<LayerNorm> {
    if (training && dtype !== 'f32') throw new InputError(`layernorm: training is f32 only, got ${dtype}`);
    checkDtype(rt, dtype, 'layernorm');
    const code = await shaderSource('layernorm', dtype);
    const compile = (entryPoint: string) => rt.pipeline({ code, entryPoint, constants: { WG: LayerNorm.WG }, label: `${entryPoint} ${dtype}` });
    const pipeline = await compile('layernorm_forward');
    let backward: Backward | null = null;
    if (training) {
      const [rows, columns] = await Promise.all([compile('layernorm_backward'), compile('layernorm_backward_params')]);
      backward = { rows: new StepCache(rt, rows), columns: new StepCache(rt, columns), stats: new Scratch(rt, 'layernorm backward stats') };
    }
    return new LayerNorm(new StepCache(rt, pipeline), backward);
  }

  /** One dispatch; `y` must not alias `x` or `residual`. */
  step(a: LayerNormArgs): DispatchStep {
    return this.cache.step(params([a.rows, a.hidden], [a.eps]), [a.x, a.residual, a.gamma, a.beta, a.y], grid(a.rows, LayerNorm.WG));
  }

  /**
   * The backward: two dispatches (rows: dx; then columns: dgamma, dbeta), to run in this order. `dx`
   * must not alias the inputs. Needs `training: true` at create.
   */
  backwardSteps(a: LayerNormBackwardArgs): DispatchStep[] {
    if (!this.backward) throw new InputError('layernorm: backwardSteps needs a kernel created with training: true');
    const { rows, columns, stats } = this.backward;
    const u = params([a.rows, a.hidden], [a.eps]);
    const s = stats.get(a.rows * 8);
    return [
      rows.step(u, [a.x, a.residual, a.gamma, a.dy, a.dx, s], grid(a.rows, LayerNorm.WG)),
      columns.step(u, [a.x, a.residual, s, a.dy, a.dgamma, a.dbeta], [Math.ceil(a.hidden / LayerNorm.WG), 1]),
    ];
  }

  /** Frees the per-shape uniform buffers and the backward's scratch. */
  destroy(): void {
    this.cache.destroy();
    this.backward?.rows.destroy();
    this.backward?.columns.destroy();
    this.backward?.stats.destroy();
  }
}
