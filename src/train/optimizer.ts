/**
 * AdamW on the GPU over the flat f32 parameter buffer, as `torch.optim.AdamW` (decoupled weight decay,
 * bias-corrected moments) after `torch.nn.utils.clip_grad_norm_` (global L2 norm over all gradients),
 * which is what the HF Trainer runs each step.
 *
 * A step is: `normSteps()` (dispatch), read the norm (`readNorm()`, or your own batched read of `norm`
 * handed over with `observeNorm`), then `updateSteps(lr, t)` only when loss and norm are finite: the
 * update refuses to run on a norm it has not seen or that is NaN/Inf, so a bad step can never reach the
 * weights or the moments.
 *
 * No weight decay on biases and LayerNorm weights (HF/sentence-transformers convention): a bit per
 * PARAM_ALIGN block of the layout (every tensor starts on a block, no two share one).
 */
import { GpurankError, InputError } from '../errors.js';
import type { BufferBinding, DispatchStep, GpuRuntime } from '../gpu/index.js';
import { grid, params as uniformWords, shaderSource, StepCache } from '../model/kernels/common.js';
import { PARAM_ALIGN, type FlatParams } from '../model/params.js';

export interface AdamWOptions {
  /** Base learning rate (the schedule's peak); each update takes its own lr. */
  lr: number;
  /** Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  weightDecay: number;
  /** Clip the global gradient L2 norm to this; default 1.0 (the HF Trainer's); 0 turns clipping off. */
  maxGradNorm?: number;
}

type ResolvedOptions = Required<AdamWOptions>;

function resolveOptions(o: AdamWOptions): ResolvedOptions {
  const r: ResolvedOptions = { lr: o.lr, betas: o.betas ?? [0.9, 0.999], eps: o.eps ?? 1e-8, weightDecay: o.weightDecay, maxGradNorm: o.maxGradNorm ?? 1.0 };
  const bad = (what: string, v: unknown): never => {
    throw new InputError(`AdamW: ${what}, got ${JSON.stringify(v)}`, { code: 'OPTIMIZER_OPTIONS' });
  };
  if (!Number.isFinite(r.lr) || r.lr < 0) bad('lr must be a finite number >= 0', r.lr);
  if (!Array.isArray(r.betas) || r.betas.length !== 2 || !r.betas.every((b) => Number.isFinite(b) && b >= 0 && b < 1)) {
    bad('betas must be two numbers in [0, 1)', r.betas);
  }
  if (!Number.isFinite(r.eps) || r.eps < 0) bad('eps must be a finite number >= 0', r.eps);
  if (!Number.isFinite(r.weightDecay) || r.weightDecay < 0) bad('weightDecay must be a finite number >= 0', r.weightDecay);
  if (!Number.isFinite(r.maxGradNorm) || r.maxGradNorm < 0) bad('maxGradNorm must be a finite number >= 0 (0 = no clipping)', r.maxGradNorm);
  return r;
}

function checkStep(lr: number, t: number): void {
  if (!Number.isFinite(lr) || lr < 0) throw new InputError(`AdamW update: lr must be a finite number >= 0, got ${lr}`, { code: 'OPTIMIZER_OPTIONS' });
  if (!Number.isInteger(t) || t < 1) throw new InputError(`AdamW update: step t is 1-based, got ${t}`, { code: 'OPTIMIZER_OPTIONS' });
}

/** Whether a parameter (canonical or HF name) gets weight decay: not biases, not LayerNorm weights. */
export function decaysWeight(name: string): boolean {
  return !(name.endsWith('.bias') || name.includes('LayerNorm.'));
}

/** Per element of the flat layout: 1 where weight decay applies (padding: 0). For the CPU reference. */
export function decayMask(layout: FlatParams): Uint8Array {
  const mask = new Uint8Array(layout.totalElements);
  for (const e of layout.entries.values()) if (decaysWeight(e.name)) mask.fill(1, e.offset, e.offset + e.size);
  return mask;
}

/** The GPU form: bit b of word w covers elements [(32w + b) * PARAM_ALIGN, +PARAM_ALIGN). */
export function decayBlockBits(layout: FlatParams): Uint32Array {
  const blocks = Math.ceil(layout.totalElements / PARAM_ALIGN);
  const bits = new Uint32Array(Math.max(1, Math.ceil(blocks / 32)));
  for (const e of layout.entries.values()) {
    if (e.offset % PARAM_ALIGN !== 0) throw new RangeError(`tensor ${e.name} at offset ${e.offset} is not PARAM_ALIGN-aligned`);
    if (!decaysWeight(e.name)) continue;
    const end = Math.ceil((e.offset + e.size) / PARAM_ALIGN);
    for (let b = e.offset / PARAM_ALIGN; b < end; b++) bits[b >>> 5] |= 1 << (b & 31);
  }
  return bits;
}

/** The f32 scalars of one update, computed in f64 as torch does in Python and rounded once. */
function stepScalars(o: ResolvedOptions, lr: number, t: number) {
  const [beta1, beta2] = o.betas;
  return {
    decay: 1 - lr * o.weightDecay,
    oneMinusBeta1: 1 - beta1,
    beta2,
    oneMinusBeta2: 1 - beta2,
    negStepSize: -(lr / (1 - beta1 ** t)),
    bc2Sqrt: (1 - beta2 ** t) ** 0.5,
    eps: o.eps,
  };
}

export class AdamW {
  /** Invocations per workgroup (a power of two: the norm's tree reduction halves it). */
  static readonly WG = 256;
  /** Gradient elements each norm invocation sums before the tree. */
  static readonly PER = 16;

  /** f32 [1]: the global L2 norm of the gradients, written by `normSteps()`. */
  readonly norm: GPUBuffer;
  readonly options: Readonly<ResolvedOptions>;
  private observed: { fresh: boolean; value: number } = { fresh: false, value: NaN };

  private constructor(
    private readonly rt: GpuRuntime,
    private readonly n: number,
    o: ResolvedOptions,
    private readonly params: GPUBuffer,
    private readonly grads: GPUBuffer,
    private readonly m: GPUBuffer,
    private readonly v: GPUBuffer,
    private readonly mask: GPUBuffer,
    private readonly partials: GPUBuffer,
    norm: GPUBuffer,
    private readonly uniforms: GPUBuffer[],
    private readonly norms: DispatchStep[],
    private readonly update: StepCache,
  ) {
    this.options = o;
    this.norm = norm;
  }

  static async create(rt: GpuRuntime, layout: FlatParams, params: GPUBuffer, grads: GPUBuffer, o: AdamWOptions): Promise<AdamW> {
    const opts = resolveOptions(o);
    const n = layout.totalElements;
    if (!Number.isInteger(n) || n < 1) throw new InputError(`AdamW: the parameter layout is empty`, { code: 'OPTIMIZER_OPTIONS' });
    for (const [what, b] of [['params', params], ['grads', grads]] as const) {
      if (b.size < n * 4) throw new InputError(`AdamW: the ${what} buffer has ${b.size} bytes, the layout needs ${n * 4}`, { code: 'OPTIMIZER_OPTIONS' });
    }
    const { WG, PER } = AdamW;
    const code = await shaderSource('adamw', 'f32', { WG, PER, BLOCK: PARAM_ALIGN });
    const [partialPipe, finalPipe, updatePipe] = await Promise.all(
      ['adamw_norm_partial', 'adamw_norm_final', 'adamw_update'].map((entryPoint) => rt.pipeline({ code, entryPoint, label: entryPoint })),
    );
    const groups = grid(Math.ceil(n / (WG * PER)) * WG, WG);
    // Sized to every workgroup of the (possibly 2-D) grid: surplus ones write a zero partial.
    const partialCount = groups[0] * groups[1];
    const [m, v, mask, partials, norm, u1, u2] = await Promise.all([
      rt.storageBuffer(n * 4, { label: 'adamw exp_avg' }),
      rt.storageBuffer(n * 4, { label: 'adamw exp_avg_sq' }),
      rt.storageBuffer(decayBlockBits(layout), { label: 'adamw decay mask' }),
      rt.storageBuffer(partialCount * 4, { label: 'adamw norm partials' }),
      rt.storageBuffer(4, { label: 'adamw grad norm' }),
      rt.uniformBuffer(new Uint32Array([n]), 'adamw norm params'),
      rt.uniformBuffer(new Uint32Array([partialCount]), 'adamw norm final params'),
    ]);
    const gradsBinding: BufferBinding = { buffer: grads, offset: 0, size: n * 4 };
    const norms: DispatchStep[] = [
      { pipeline: partialPipe, bindGroups: rt.bindGroup(partialPipe, [u1, gradsBinding, partials]), workgroups: groups },
      { pipeline: finalPipe, bindGroups: rt.bindGroup(finalPipe, [u2, partials, norm]), workgroups: 1 },
    ];
    // Two entries: this step's uniform and the previous one (whose dispatch may still be in flight).
    const update = new StepCache(rt, updatePipe, 2);
    return new AdamW(rt, n, opts, params, grads, m, v, mask, partials, norm, [u1, u2], norms, update);
  }

  /** Global L2 norm of the gradients into `norm` (two fixed-order stages; deterministic). */
  normSteps(): DispatchStep[] {
    this.observed = { fresh: false, value: NaN };
    return this.norms;
  }

  /** Reads `norm` (after `normSteps()` was dispatched) and records it for the next update. */
  async readNorm(): Promise<number> {
    const [bytes] = await this.rt.read([this.norm]);
    const value = new Float32Array(bytes)[0];
    this.observeNorm(value);
    return value;
  }

  /** Records a norm the caller read from `norm` itself (e.g. batched with the loss readback). */
  observeNorm(value: number): void {
    this.observed = { fresh: true, value };
  }

  /**
   * One AdamW update with this step's `lr` and 1-based step count `t`, clipping by the norm in `norm`.
   * Throws (and returns no steps) unless the norm of these gradients was read and is finite.
   */
  updateSteps(lr: number, t: number): DispatchStep[] {
    checkStep(lr, t);
    if (!this.observed.fresh) {
      throw new GpurankError('AdamW update without a gradient norm read since normSteps(): read it (readNorm) and check it is finite first', {
        code: 'OPTIMIZER_NORM_UNREAD',
      });
    }
    if (!Number.isFinite(this.observed.value)) {
      throw new GpurankError(`AdamW update refused: the gradient norm is ${this.observed.value}; skip this step`, { code: 'OPTIMIZER_NONFINITE' });
    }
    // One update per norm: the next one needs the next step's gradients and their norm.
    this.observed = { fresh: false, value: NaN };
    const s = stepScalars(this.options, lr, t);
    const clip = this.options.maxGradNorm > 0;
    const words = uniformWords(
      [this.n, clip ? 1 : 0],
      [this.options.maxGradNorm, s.decay, s.oneMinusBeta1, s.beta2, s.oneMinusBeta2, s.negStepSize, s.bc2Sqrt, s.eps],
    );
    const n4 = this.n * 4;
    const bindings: BufferBinding[] = [
      { buffer: this.params, offset: 0, size: n4 },
      { buffer: this.grads, offset: 0, size: n4 },
      this.m,
      this.v,
      this.mask,
      this.norm,
    ];
    return [this.update.step(words, bindings, grid(this.n, AdamW.WG))];
  }

  async readState(): Promise<{ m: Float32Array; v: Float32Array }> {
    const [m, v] = await this.rt.read([this.m, this.v]);
    return { m: new Float32Array(m), v: new Float32Array(v) };
  }

  writeState(s: { m: Float32Array; v: Float32Array }): void {
    for (const [what, a] of [['m', s.m], ['v', s.v]] as const) {
      if (a.length !== this.n) {
        throw new InputError(`AdamW state ${what} has ${a.length} elements, the parameter layout has ${this.n}`, { code: 'OPTIMIZER_STATE_SIZE' });
      }
    }
    this.rt.write(this.m, s.m);
    this.rt.write(this.v, s.v);
  }

  /** Frees the optimizer's buffers (not params/grads, which belong to the caller). */
  destroy(): void {
    this.update.destroy();
    for (const b of [this.m, this.v, this.mask, this.partials, this.norm, ...this.uniforms]) b.destroy();
  }
}

// --- CPU reference (f64) ---

export interface AdamWCpuState {
  params: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

/** Global L2 norm of `grads` in f64. */
export function gradNormCpu(grads: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < grads.length; i++) s += grads[i] * grads[i];
  return Math.sqrt(s);
}

/**
 * One AdamW step in f64, in place: clip by the global norm (coef = maxGradNorm / (norm + 1e-6), at most
 * 1; none when maxGradNorm is 0), decay where `mask` is 1, then torch's moment updates and step.
 * Returns the norm before clipping.
 */
export function adamwCpu(state: AdamWCpuState, grads: ArrayLike<number>, mask: Uint8Array, o: AdamWOptions & { t: number }): number {
  const opts = resolveOptions(o);
  checkStep(opts.lr, o.t);
  const n = state.params.length;
  if (grads.length !== n || state.m.length !== n || state.v.length !== n || mask.length !== n) throw new RangeError('adamwCpu: lengths differ');
  const norm = gradNormCpu(grads);
  const coef = opts.maxGradNorm > 0 ? Math.min(opts.maxGradNorm / (norm + 1e-6), 1) : 1;
  const [beta1, beta2] = opts.betas;
  const decay = 1 - opts.lr * opts.weightDecay;
  const stepSize = opts.lr / (1 - beta1 ** o.t);
  const bc2Sqrt = Math.sqrt(1 - beta2 ** o.t);
  for (let i = 0; i < n; i++) {
    const g = grads[i] * coef;
    if (mask[i]) state.params[i] *= decay;
    state.m[i] = beta1 * state.m[i] + (1 - beta1) * g;
    state.v[i] = beta2 * state.v[i] + (1 - beta2) * g * g;
    state.params[i] -= (stepSize * state.m[i]) / (Math.sqrt(state.v[i]) / bc2Sqrt + opts.eps);
  }
  return norm;
}
