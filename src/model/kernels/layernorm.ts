/** Residual add + LayerNorm: y = LN(x + residual) * gamma + beta over rows of `hidden`. */
import type { BufferBinding, DispatchStep, GpuRuntime } from '../../gpu/index.js';
import { checkDtype, grid, params, shaderSource, StepCache, type KernelOptions } from './common.js';

export interface LayerNormShape {
  rows: number;
  hidden: number;
  eps: number;
}

/** CPU reference (f64 arithmetic, f32 storage). `residual` may be omitted (treated as zeros). */
export function layernormCpu(x: Float32Array, residual: Float32Array | null, gamma: Float32Array, beta: Float32Array, shape: LayerNormShape): Float32Array {
  const { rows, hidden, eps } = shape;
  const y = new Float32Array(rows * hidden);
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

export class LayerNorm {
  static readonly WG = 64;

  private constructor(private readonly cache: StepCache) {}

  static async create(rt: GpuRuntime, { dtype }: KernelOptions): Promise<LayerNorm> {
    checkDtype(rt, dtype, 'layernorm');
    const code = await shaderSource('layernorm', dtype);
    const pipeline = await rt.pipeline({ code, entryPoint: 'layernorm_forward', constants: { WG: LayerNorm.WG }, label: `layernorm_forward ${dtype}` });
    return new LayerNorm(new StepCache(rt, pipeline));
  }

  /** One dispatch; `y` must not alias `x` or `residual`. */
  step(a: LayerNormArgs): DispatchStep {
    return this.cache.step(params([a.rows, a.hidden], [a.eps]), [a.x, a.residual, a.gamma, a.beta, a.y], grid(a.rows, LayerNorm.WG));
  }

  /** Frees the per-shape uniform buffers. */
  destroy(): void {
    this.cache.destroy();
  }
}
