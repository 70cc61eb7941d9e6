/**
 * Inverted dropout for training (f32): y = x · dropoutScale(seed, stream, i, p) for element i. The
 * mask is a pure function of (seed, stream, i) (shaders/rng.wgsl and its CPU twin rng.ts), so the
 * backward regenerates it instead of storing it. p = 0 is an exact identity (a caller may skip the
 * dispatch). Not in place: the output must be another buffer (or a disjoint range) than the input.
 */
import { InputError } from '../../errors.js';
import type { BufferBinding, DispatchStep, GpuRuntime } from '../../gpu/index.js';
import { grid, params, shaderSource, StepCache } from './common.js';
import { dropoutScale } from './rng.js';

/** Which mask: `seed` (u32) changes every training step, `stream` (u32) separates the sites of a step. */
export interface DropoutMask {
  /** Drop probability in [0, 1); used as f32. */
  p: number;
  seed: number;
  stream: number;
  /** Elements; element i uses counter i. */
  count: number;
}

export interface DropoutForwardArgs extends DropoutMask {
  x: BufferBinding;
  y: BufferBinding;
}

export interface DropoutBackwardArgs extends DropoutMask {
  dy: BufferBinding;
  dx: BufferBinding;
}

export class Dropout {
  static readonly WG = 64;

  private constructor(
    private readonly forward: StepCache,
    private readonly backward: StepCache,
  ) {}

  static async create(rt: GpuRuntime): Promise<Dropout> {
    const code = await shaderSource('dropout', 'f32', {}, ['rng']);
    const make = (entryPoint: string) => rt.pipeline({ code, entryPoint, constants: { WG: Dropout.WG }, label: entryPoint });
    const [f, b] = await Promise.all(['dropout_forward', 'dropout_backward'].map(make));
    // Seeds change every step, so each step brings new uniforms; room for a few steps of every site.
    return new Dropout(new StepCache(rt, f, 256), new StepCache(rt, b, 256));
  }

  /** y = x · mask / (1 − p). */
  forwardStep(a: DropoutForwardArgs): DispatchStep {
    return this.forward.step(uniforms('dropout forward', a), [a.x, a.y], grid(a.count, Dropout.WG));
  }

  /** dx = dy · the forward's mask / (1 − p), for the same (p, seed, stream, count). */
  backwardStep(a: DropoutBackwardArgs): DispatchStep {
    return this.backward.step(uniforms('dropout backward', a), [a.dy, a.dx], grid(a.count, Dropout.WG));
  }

  /** Frees the per-shape uniform buffers. */
  destroy(): void {
    this.forward.destroy();
    this.backward.destroy();
  }
}

const isU32 = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

function uniforms(what: string, m: DropoutMask): ArrayBuffer {
  checkMask(what, m);
  return params([m.count, m.seed, m.stream], [m.p]);
}

function checkMask(what: string, m: DropoutMask): void {
  if (!(typeof m.p === 'number' && m.p >= 0 && m.p < 1)) throw new InputError(`${what}: p = ${m.p} must be in [0, 1)`);
  if (!isU32(m.seed)) throw new InputError(`${what}: seed = ${m.seed} must be a u32`);
  if (!isU32(m.stream)) throw new InputError(`${what}: stream = ${m.stream} must be a u32`);
  if (!isU32(m.count) || m.count < 1) throw new InputError(`${what}: count = ${m.count} must be a positive integer below 2^32`);
}

/**
 * CPU reference of both directions: out[i] = v[i] · dropoutScale(seed, stream, i, p as f32), in f64
 * (for f32 inputs the f64 product rounds to exactly the GPU's f32 product).
 */
export function dropoutCpu(v: ArrayLike<number>, m: Omit<DropoutMask, 'count'>): Float64Array {
  checkMask('dropoutCpu', { ...m, count: Math.max(v.length, 1) });
  const p = Math.fround(m.p);
  return Float64Array.from({ length: v.length }, (_, i) => v[i] * dropoutScale(m.seed, m.stream, i, p));
}

/** The backward's reference: the same mask applied to dy. */
export const dropoutBackwardCpu = dropoutCpu;
