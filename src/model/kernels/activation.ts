/**
 * Standalone activations for training (f32): the FFN's GELU forward (the training graph keeps its
 * input z for the backward), GELU backward from z, and tanh backward from the pooler's output y.
 * The GELU is the exact-erf one of `shaders/gelu.wgsl`, shared with the matmul's fused activation.
 */
import { InputError } from '../../errors.js';
import type { BufferBinding, DispatchStep, GpuRuntime } from '../../gpu/index.js';
import { grid, params, shaderSource, StepCache } from './common.js';
import { erf } from './matmul.js';

export interface GeluForwardArgs {
  /** [count] pre-activation. */
  x: BufferBinding;
  /** [count] output; must not alias x. */
  y: BufferBinding;
  count: number;
}

export interface GeluBackwardArgs {
  /** [count] the forward's pre-activation. */
  z: BufferBinding;
  /** [count] gradient of the GELU output. */
  dy: BufferBinding;
  /** [count] gradient of z, written; must not alias z or dy. */
  dx: BufferBinding;
  count: number;
}

export interface TanhBackwardArgs {
  /** [count] the forward's output y = tanh(z). */
  y: BufferBinding;
  dy: BufferBinding;
  /** [count] gradient of z, written; must not alias y or dy. */
  dx: BufferBinding;
  count: number;
}

export class Activation {
  static readonly WG = 64;

  private constructor(
    private readonly geluForward: StepCache,
    private readonly geluBackward: StepCache,
    private readonly tanhBackward: StepCache,
  ) {}

  static async create(rt: GpuRuntime): Promise<Activation> {
    const code = await shaderSource('activation', 'f32', {}, ['gelu']);
    const make = (entryPoint: string) => rt.pipeline({ code, entryPoint, constants: { WG: Activation.WG }, label: entryPoint });
    const [gf, gb, tb] = await Promise.all(['gelu_forward', 'gelu_backward', 'tanh_backward'].map(make));
    return new Activation(new StepCache(rt, gf), new StepCache(rt, gb), new StepCache(rt, tb));
  }

  /** y = GELU(x). */
  geluForwardStep(a: GeluForwardArgs): DispatchStep {
    return this.geluForward.step(params([checkCount('gelu forward', a.count)]), [a.x, a.y], grid(a.count, Activation.WG));
  }

  /** dx = dy · GELU'(z). */
  geluBackwardStep(a: GeluBackwardArgs): DispatchStep {
    return this.geluBackward.step(params([checkCount('gelu backward', a.count)]), [a.z, a.dy, a.dx], grid(a.count, Activation.WG));
  }

  /** dx = dy · (1 − y²). */
  tanhBackwardStep(a: TanhBackwardArgs): DispatchStep {
    return this.tanhBackward.step(params([checkCount('tanh backward', a.count)]), [a.y, a.dy, a.dx], grid(a.count, Activation.WG));
  }

  /** Frees the per-shape uniform buffers. */
  destroy(): void {
    this.geluForward.destroy();
    this.geluBackward.destroy();
    this.tanhBackward.destroy();
  }
}

function checkCount(what: string, count: number): number {
  if (!Number.isInteger(count) || count < 1 || count > 0xffffffff) throw new InputError(`${what}: count = ${count} must be a positive integer below 2^32`);
  return count;
}

/** GELU'(z) = Φ(z) + z·φ(z) in double precision. */
export function geluGradCpu(z: number): number {
  return 0.5 * (1 + erf(z * Math.SQRT1_2)) + (z * Math.exp(-0.5 * z * z)) / Math.sqrt(2 * Math.PI);
}

/** CPU reference: dx = dy · GELU'(z), f64. */
export function geluBackwardCpu(z: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  if (z.length !== dy.length) throw new InputError(`geluBackwardCpu: z has ${z.length} elements, dy ${dy.length}`);
  return Float64Array.from({ length: z.length }, (_, i) => dy[i] * geluGradCpu(z[i]));
}

/** CPU reference: dx = dy · (1 − y²) with y = tanh(z), f64. */
export function tanhBackwardCpu(y: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  if (y.length !== dy.length) throw new InputError(`tanhBackwardCpu: y has ${y.length} elements, dy ${dy.length}`);
  return Float64Array.from({ length: y.length }, (_, i) => dy[i] * (1 - y[i] * y[i]));
}
