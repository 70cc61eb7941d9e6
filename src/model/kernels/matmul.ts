/**
 * Matmul with fused bias and activation: `y[m, n] = act(x[m, k] · w[n, k]ᵀ + b[n])`, the Linear
 * layer of BERT with Hugging Face's [out, in] weight layout.
 *
 * Two kernels (entry points of `shaders/matmul.wgsl`):
 * - `blocked`: each invocation keeps a block of outputs in registers, no workgroup memory. CPU
 *   implementations (lavapipe, SwiftShader) run it fastest: barriers are expensive there.
 * - `tiled`: classic workgroup-memory tiling, the usual shape for hardware GPUs.
 * `auto` picks by adapter. Storage is f32 or f16; accumulation is always f32.
 *
 * Backward (f32 only, compiled with `backward: true`): `backwardInputStep` (dx = dy·w) and
 * `backwardWeightSteps` (dw += dyᵀ·x, db += Σ_rows dy), register-blocked the same way, deterministic.
 */
import { GpurankError, InputError } from '../../errors.js';
import { GpuError, type BufferBinding, type DispatchStep, type GpuRuntime } from '../../gpu/index.js';
import { grid, params, StepCache } from './common.js';

export type Activation = 'none' | 'gelu' | 'tanh';
export type Dtype = 'f32' | 'f16';
export type MatmulVariant = 'blocked' | 'tiled';

export interface MatmulArgs {
  /** [m, k] row-major activations. */
  x: BufferBinding;
  /** [n, k] row-major (HF Linear weight), usually a range of the flat params buffer. */
  w: BufferBinding;
  /** [n]. */
  bias?: BufferBinding;
  /** [m, n] output. f16 bindings must still be a multiple of 4 bytes long (pad odd sizes). */
  y: BufferBinding;
  m: number;
  n: number;
  k: number;
  activation?: Activation;
}

export interface MatmulOptions {
  dtype: Dtype;
  variant?: 'auto' | MatmulVariant;
  /** Also compile the backward kernels (training; dtype f32 only). */
  backward?: boolean;
}

/** dx[m, k] = dy[m, n] · w[n, k]: the gradient of the Linear's input. All f32. */
export interface MatmulBackwardInputArgs {
  /** [m, n] gradient of the Linear's output (of its pre-activation value, when it has one). */
  dy: BufferBinding;
  /** [n, k] the forward's weight. */
  w: BufferBinding;
  /** [m, k]: written, or added to when `accumulate` (an input that feeds several branches). */
  dx: BufferBinding;
  accumulate?: boolean;
  m: number;
  n: number;
  k: number;
}

/** dw[n, k] += dy[m, n]ᵀ · x[m, k] and db[n] += Σ_rows dy: parameter gradients, accumulated. All f32. */
export interface MatmulBackwardWeightArgs {
  dy: BufferBinding;
  /** [m, k] the forward's input. */
  x: BufferBinding;
  /** [n, k], usually a range of the flat grads buffer. */
  dw: BufferBinding;
  /** [n]; omit for a Linear without bias. */
  db?: BufferBinding;
  m: number;
  n: number;
  k: number;
}

/** The adapter lacks a feature a kernel needs (e.g. `shader-f16` for f16 storage). */
export class GpuFeatureError extends GpuError {
  readonly feature: string;

  constructor(feature: string, what: string) {
    super(`${what} needs the GPU feature '${feature}', which this device does not have; use dtype f32`, { code: 'GPU_FEATURE_MISSING', statusCode: 500 });
    this.feature = feature;
  }
}

/** Throws GpuFeatureError unless the device can run kernels of `dtype`. */
export function requireDtype(rt: Pick<GpuRuntime, 'hasFeature'>, dtype: Dtype, what: string): void {
  if (dtype !== 'f32' && dtype !== 'f16') throw new InputError(`${what}: unknown dtype '${String(dtype)}' (expected f32 or f16)`);
  if (dtype === 'f16' && !rt.hasFeature('shader-f16')) throw new GpuFeatureError('shader-f16', `${what} with dtype f16`);
}

const ACTIVATIONS: Record<Activation, number> = { none: 0, gelu: 1, tanh: 2 };

/**
 * Block shapes. `tm` × `tn`: rows × column groups per subgroup of the subgroup kernel (which owns
 * tm rows × sg·tn columns); `bm` × `bn`: outputs per invocation of the plain blocked kernel.
 */
export interface BlockConfig {
  tm: number;
  tn: number;
  bm: number;
  bn: number;
}

// Measured on lavapipe (see bench/matmul.ts): 16 × 2 balances the loads saved against the
// registers the accumulators take; 4 × 4 is the plain kernel's best without subgroups.
const DEFAULT_BLOCK: BlockConfig = { tm: 16, tn: 2, bm: 4, bn: 4 };

/**
 * Register blocks of the backward kernels: `dsm` rows × `dsv` vec4 columns of dx per lane of the
 * subgroup kernel; `dxm` rows × `dxv` vec4 columns of dx, and `dwj` × `dwv` vec4s (4·dwj rows ×
 * 4·dwv columns) of dw per invocation of the vec4 kernels. The scalar fallbacks use the forward's
 * `bm` × `bn`.
 */
export interface BackwardBlockConfig {
  dsm: number;
  dsv: number;
  dxm: number;
  dxv: number;
  dwj: number;
  dwv: number;
}

// Measured on lavapipe (m 2048, n/k 384/1536, CPU time): subgroup dx 8 × 1 runs as fast as the forward
// (16 × 1, 8 × 2, 4 × 2 are 1.6-2.4x slower); without subgroups dx 8 × 1 and dw 2 × 2 beat 4 × 2,
// 8 × 2, 16 × 1 and 1 × 4. Bigger blocks spill registers.
const DEFAULT_BACKWARD_BLOCK: BackwardBlockConfig = { dsm: 8, dsv: 1, dxm: 8, dxv: 1, dwj: 2, dwv: 2 };
const WG = 64;
/** Output tile of one workgroup of the tiled kernel (16 × 16 invocations, 4 × 4 outputs each). */
const TILE = 64;

const shaderFiles = new Map<string, Promise<string>>();

/** A WGSL file of shaders/, read once (from disk in Node, fetched in browsers). */
function loadShader(name: string): Promise<string> {
  const url = new URL(`../../../shaders/${name}.wgsl`, import.meta.url);
  let source = shaderFiles.get(name);
  if (!source) {
    source = (async () => {
      if (typeof process !== 'undefined' && process.versions?.node) {
        const [{ readFile }, { fileURLToPath }] = await Promise.all([import('node:fs/promises'), import('node:url')]);
        return readFile(fileURLToPath(url), 'utf8');
      }
      const res = await fetch(url);
      if (!res.ok) throw new GpurankError(`cannot fetch ${url.href}: HTTP ${res.status}`, { code: 'SHADER_LOAD' });
      return res.text();
    })();
    source.catch(() => shaderFiles.delete(name));
    shaderFiles.set(name, source);
  }
  return source;
}

/**
 * Expands `//#for v < N` … `//#end` blocks (nestable; N a number or a name in `consts`), writing
 * the body N times with `${v}` replaced by 0 … N-1.
 */
export function expandTemplate(source: string, consts: Record<string, number>): string {
  const lines = source.split('\n');
  const out: string[] = [];
  let i = 0;
  const block = (vars: Record<string, number>, emit: (line: string) => void): void => {
    while (i < lines.length) {
      const line = lines[i++];
      const head = /^\s*\/\/#for (\w+) < (\w+)\s*$/.exec(line);
      if (head) {
        const [, name, bound] = head;
        const count = /^\d+$/.test(bound) ? Number(bound) : consts[bound];
        if (count === undefined) throw new GpurankError(`matmul.wgsl: unknown bound '${bound}' in '${line.trim()}'`, { code: 'SHADER_TEMPLATE' });
        const bodyStart = i;
        let end = i;
        for (let v = 0; v < Math.max(count, 1); v++) {
          i = bodyStart;
          block({ ...vars, [name]: v }, count > 0 ? emit : () => {});
          end = i;
        }
        i = end;
        continue;
      }
      if (/^\s*\/\/#end\s*$/.test(line)) return;
      emit(line.replace(/\$\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m)));
    }
  };
  block({}, (line) => out.push(line));
  return out.join('\n');
}

/** The kernels of matmul.wgsl: `blocked` runs a subgroup kernel where it can. */
export type Kernel = 'subgroup' | 'subgroup-f16' | 'blocked' | 'tiled';

/** The backward kernels: `4` ones load vec4s (n % 4 == 0 and k % 4 == 0), the others take any shape. */
type BackwardKernel = 'inputSg' | 'input4' | 'input' | 'weight4' | 'weight' | 'bias';
const BACKWARD_ENTRY: Record<BackwardKernel, string> = {
  inputSg: 'matmul_backward_input_sg',
  input4: 'matmul_backward_input4',
  input: 'matmul_backward_input',
  weight4: 'matmul_backward_weight4',
  weight: 'matmul_backward_weight',
  bias: 'matmul_backward_bias',
};

export class Matmul {
  readonly dtype: Dtype;
  readonly variant: MatmulVariant;
  readonly block: BlockConfig;
  readonly backwardBlock: BackwardBlockConfig;
  /** Subgroup size the subgroup kernel was built for; undefined when it is not used. */
  readonly subgroupSize: number | undefined;
  private readonly rt: GpuRuntime;
  private readonly fallback: Kernel;
  /** Per-shape uniforms and bind groups of each compiled kernel (LRU-bounded). */
  private readonly steps: Partial<Record<Kernel, StepCache>>;
  /** Bound in place of an absent bias (the binding is part of the layout either way). */
  private readonly noBias: GPUBuffer;
  /** Present when created with `backward: true`. */
  private readonly backwardCaches: Partial<Record<BackwardKernel, StepCache>> | undefined;

  private constructor(
    rt: GpuRuntime,
    dtype: Dtype,
    variant: MatmulVariant,
    block: BlockConfig,
    subgroupSize: number | undefined,
    fallback: Kernel,
    pipelines: Partial<Record<Kernel, GPUComputePipeline>>,
    noBias: GPUBuffer,
    backwardBlock: BackwardBlockConfig,
    backwardPipelines: Partial<Record<BackwardKernel, GPUComputePipeline>> | undefined,
  ) {
    this.rt = rt;
    this.dtype = dtype;
    this.variant = variant;
    this.block = block;
    this.subgroupSize = subgroupSize;
    this.fallback = fallback;
    // Room for every Linear shape of a few batch sizes: a step must be dispatched before this many
    // other shapes evict its uniforms.
    this.steps = Object.fromEntries(Object.entries(pipelines).map(([k, p]) => [k, new StepCache(rt, p, 256)]));
    this.noBias = noBias;
    this.backwardBlock = backwardBlock;
    this.backwardCaches = backwardPipelines && Object.fromEntries(Object.entries(backwardPipelines).map(([k, p]) => [k, new StepCache(rt, p, 256)]));
  }

  /**
   * Compiles the kernels for `dtype`. `blocked` uses the subgroup kernels where the device has the
   * `subgroups` feature with a fixed subgroup size (request it as an optional feature of the
   * runtime), and the plain register-blocked kernel otherwise. `auto` is `blocked` with subgroups
   * or on a CPU adapter, `tiled` on a GPU without them.
   */
  static async create(
    rt: GpuRuntime,
    opts: MatmulOptions & { block?: Partial<BlockConfig>; backwardBlock?: Partial<BackwardBlockConfig>; subgroups?: boolean },
  ): Promise<Matmul> {
    const dtype = opts.dtype ?? 'f32';
    requireDtype(rt, dtype, 'matmul');
    const requested = opts.variant ?? 'auto';
    if (!['auto', 'blocked', 'tiled'].includes(requested)) throw new InputError(`matmul: unknown variant '${String(requested)}' (expected auto, blocked or tiled)`);
    const block = { ...DEFAULT_BLOCK, ...opts.block };
    for (const [name, v] of Object.entries(block)) {
      if (!Number.isInteger(v) || v < 1 || v > 64) throw new InputError(`matmul: block.${name} = ${v} must be an integer in 1..64`);
    }
    const backwardBlock = { ...DEFAULT_BACKWARD_BLOCK, ...opts.backwardBlock };
    for (const [name, v] of Object.entries(backwardBlock)) {
      if (!Number.isInteger(v) || v < 1 || v > 16) throw new InputError(`matmul: backwardBlock.${name} = ${v} must be an integer in 1..16`);
    }
    if (opts.backward && dtype !== 'f32') throw new InputError(`matmul: the backward kernels are f32 only (got dtype ${dtype})`);
    const { subgroupMinSize: sgMin, subgroupMaxSize: sgMax, software } = rt.report;
    const sgUsable =
      opts.subgroups !== false && rt.hasFeature('subgroups') && sgMin !== undefined && sgMin === sgMax && sgMin % 4 === 0 && WG % sgMin === 0;
    // The subgroup kernel wins wherever it runs (lavapipe: 2-4x the plain blocked kernel; an H100:
    // 13.5 vs 8-10 TFLOP/s for the tiled one); without it, CPUs want register blocks and GPUs tiles.
    const variant: MatmulVariant = requested === 'auto' ? (sgUsable || software ? 'blocked' : 'tiled') : requested;
    const sg = variant === 'blocked' && sgUsable ? sgMin : undefined;
    // Shapes the subgroup kernels cannot take (k % 4 != 0) go to the best kernel without subgroups.
    const fallback: Kernel = variant === 'tiled' || (sg && !software) ? 'tiled' : 'blocked';
    const enables = [...(dtype === 'f16' ? ['f16'] : []), ...(sg ? ['subgroups'] : [])];
    const consts = {
      TM: block.tm,
      TN: block.tn,
      SG: sg ?? 4,
      SG4: (sg ?? 4) / 4,
      BM: block.bm,
      BN: block.bn,
      DSM: backwardBlock.dsm,
      DSV: backwardBlock.dsv,
      DXM: backwardBlock.dxm,
      DXV: backwardBlock.dxv,
      DWJ: backwardBlock.dwj,
      DWV: backwardBlock.dwv,
    };
    const prelude =
      enables.map((e) => `enable ${e};\n`).join('') +
      `alias T = ${dtype};\n` +
      Object.entries(consts).map(([k, v]) => `const ${k} = ${v}u;\n`).join('');
    const [source, gelu] = await Promise.all([loadShader('matmul'), loadShader('gelu')]);
    // The subgroup kernels' builtins only compile with `enable subgroups`: leave them out otherwise.
    const body = sg
      ? source
      : source
          .replace(/\/\/ ---- matmul_forward: [\s\S]*?(?=\/\/ ---- matmul_forward_blocked)/, '')
          .replace(/\/\/ ---- matmul_backward_input_sg: [\s\S]*?(?=\/\/ ---- matmul_backward_input4)/, '');
    const subgroupKernels: Kernel[] = dtype === 'f16' ? ['subgroup', 'subgroup-f16'] : ['subgroup'];
    const code = prelude + gelu + expandTemplate(body, consts);
    const kernels: Kernel[] = sg ? [...subgroupKernels, fallback] : [fallback];
    const entry: Record<Kernel, string> = {
      subgroup: 'matmul_forward',
      'subgroup-f16': 'matmul_forward_f16',
      blocked: 'matmul_forward_blocked',
      tiled: 'matmul_forward_tiled',
    };
    const compiled = await Promise.all(
      kernels.map((k) => rt.pipeline({ code, entryPoint: entry[k], constants: k === 'tiled' ? {} : { WG }, label: `${entry[k]}_${dtype}` })),
    );
    const pipelines = Object.fromEntries(kernels.map((k, i) => [k, compiled[i]]));
    const noBias = await rt.storageBuffer(16, { label: 'matmul no-bias' });
    let backwardPipelines: Partial<Record<BackwardKernel, GPUComputePipeline>> | undefined;
    if (opts.backward) {
      const names = (Object.keys(BACKWARD_ENTRY) as BackwardKernel[]).filter((k) => k !== 'inputSg' || sg);
      const compiled = await Promise.all(names.map((k) => rt.pipeline({ code, entryPoint: BACKWARD_ENTRY[k], constants: { WG }, label: BACKWARD_ENTRY[k] })));
      backwardPipelines = Object.fromEntries(names.map((k, i) => [k, compiled[i]]));
    }
    return new Matmul(rt, dtype, variant, block, sg, fallback, pipelines, noBias, backwardBlock, backwardPipelines);
  }

  /** The kernel that runs a product with inner size k. */
  kernelFor(k: number): Kernel {
    if (this.steps['subgroup-f16'] && k % 8 === 0) return 'subgroup-f16';
    if (this.steps.subgroup && k % 4 === 0) return 'subgroup';
    return this.fallback;
  }

  /**
   * One dispatch of the kernel. Uniforms and bind groups are cached per shape and bindings, so
   * calling this for every forward pass is cheap; the step stays valid while its bindings do.
   */
  step(args: MatmulArgs): DispatchStep {
    const { m, n, k } = args;
    for (const [name, v] of [['m', m], ['n', n], ['k', k]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new InputError(`matmul: ${name} = ${v} must be a positive integer`);
    }
    const activation = args.activation ?? 'none';
    if (!(activation in ACTIVATIONS)) throw new InputError(`matmul: unknown activation '${String(activation)}' (expected none, gelu or tanh)`);
    const flags = (args.bias ? 1 : 0) | (ACTIVATIONS[activation] << 1);
    const kernel = this.kernelFor(k);
    return this.steps[kernel]!.step(params([m, n, k, flags]), [args.x, args.w, args.bias ?? this.noBias, args.y], this.workgroups(kernel, m, n));
  }

  /**
   * dx = dy · w (the gradient of the input of y = x·wᵀ + b), written or, with `accumulate`, added.
   * dx must not alias dy or w.
   */
  backwardInputStep(a: MatmulBackwardInputArgs): DispatchStep {
    const caches = this.backwardKernels();
    const { m, n, k } = checkShape('matmul backwardInputStep', a);
    const flags = a.accumulate ? 1 : 0;
    const u = params([m, n, k, flags]);
    const bindings = [a.dy, a.w, a.dx];
    const { dsm, dsv, dxm, dxv } = this.backwardBlock;
    const { bm, bn } = this.block;
    const sg = this.subgroupSize ?? 1;
    switch (this.backwardInputKernel(n, k)) {
      case 'subgroup':
        return caches.inputSg!.step(u, bindings, this.grid(Math.ceil(m / dsm) * Math.ceil(k / 4 / (sg * dsv)) * sg));
      case 'vec4':
        return caches.input4!.step(u, bindings, this.grid(Math.ceil(m / dxm) * Math.ceil(k / 4 / dxv)));
      case 'scalar':
        return caches.input!.step(u, bindings, this.grid(Math.ceil(m / bm) * Math.ceil(k / bn)));
    }
  }

  /**
   * dw += dyᵀ · x and, when `db` is given, db += Σ_rows dy (parameter gradients accumulate): one or
   * two dispatches. Each element is summed over the m rows in a fixed order.
   */
  backwardWeightSteps(a: MatmulBackwardWeightArgs): DispatchStep[] {
    const caches = this.backwardKernels();
    const { m, n, k } = checkShape('matmul backwardWeightSteps', a);
    const u = params([m, n, k, 0]);
    let weight: DispatchStep;
    if (n % 4 === 0 && k % 4 === 0) {
      const { dwj, dwv } = this.backwardBlock;
      weight = caches.weight4!.step(u, [a.dy, a.x, a.dw], this.grid(Math.ceil(n / 4 / dwj) * Math.ceil(k / 4 / dwv)));
    } else {
      const { bm, bn } = this.block;
      weight = caches.weight!.step(u, [a.dy, a.x, a.dw], this.grid(Math.ceil(n / bm) * Math.ceil(k / bn)));
    }
    return a.db ? [weight, caches.bias!.step(u, [a.dy, a.db], this.grid(n))] : [weight];
  }

  /** The dx kernel for inner size n and output width k (tests and benchmarks name it). */
  backwardInputKernel(n: number, k: number): 'subgroup' | 'vec4' | 'scalar' {
    if (this.backwardCaches?.inputSg && k % 4 === 0) return 'subgroup';
    return n % 4 === 0 && k % 4 === 0 ? 'vec4' : 'scalar';
  }

  private backwardKernels(): Partial<Record<BackwardKernel, StepCache>> {
    if (!this.backwardCaches) throw new InputError('matmul: backward kernels were not compiled (create the Matmul with backward: true)');
    return this.backwardCaches;
  }

  private grid(invocations: number): [number, number] {
    return grid(invocations, WG, this.rt.limits.maxComputeWorkgroupsPerDimension);
  }

  private workgroups(kernel: Kernel, m: number, n: number): [number, number] {
    if (kernel === 'tiled') return [Math.ceil(n / TILE), Math.ceil(m / TILE)];
    const { tm, tn, bm, bn } = this.block;
    const sg = this.subgroupSize ?? 1;
    const invocations = kernel === 'subgroup' || kernel === 'subgroup-f16' ? Math.ceil(m / tm) * Math.ceil(n / (sg * tn)) * sg : Math.ceil(m / bm) * Math.ceil(n / bn);
    // Spread over y when x would pass the limit; the shaders linearise (x, y).
    return grid(invocations, WG, this.rt.limits.maxComputeWorkgroupsPerDimension);
  }

  /** Frees the per-shape uniform buffers and the zero buffer bound as bias when a call has none. */
  destroy(): void {
    for (const cache of [...Object.values(this.steps), ...Object.values(this.backwardCaches ?? {})]) cache.destroy();
    this.noBias.destroy();
  }
}

function checkShape(what: string, a: { m: number; n: number; k: number }): { m: number; n: number; k: number } {
  for (const name of ['m', 'n', 'k'] as const) {
    const v = a[name];
    if (!Number.isInteger(v) || v < 1) throw new InputError(`${what}: ${name} = ${v} must be a positive integer`);
  }
  return a;
}

/** Exact GELU as in BERT: x · Φ(x) = x/2 · (1 + erf(x/√2)). */
export function geluCpu(x: number): number {
  return 0.5 * x * (1 + erf(x * Math.SQRT1_2));
}

/**
 * erf in double precision: its Maclaurin series below |x| = 3 (terms shrink fast enough that the
 * cancellation costs only a few digits), and a continued fraction for erfc above.
 */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (Number.isNaN(x)) return NaN;
  if (a < 3) {
    // erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
    let term = a;
    let sum = a;
    const a2 = a * a;
    for (let i = 1; i < 100; i++) {
      term *= -a2 / i;
      const add = term / (2 * i + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const v = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -v : v;
  }
  if (a > 27) return Math.sign(x); // erfc(27) < 1e-300
  // erfc(a) = exp(-a²)/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + …)))), evaluated bottom-up.
  let f = a;
  for (let i = 60; i >= 1; i--) f = a + i / 2 / f;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return x < 0 ? erfc - 1 : 1 - erfc;
}

/**
 * The CPU reference: y[m, n] = act(Σ_k x[m, k] w[n, k] + b[n]), accumulated in double precision,
 * stored into `out` (f32 by default; pass a Float64Array for gradient checks).
 */
export function matmulCpu<Out extends Float32Array | Float64Array = Float32Array>(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  m: number,
  n: number,
  k: number,
  activation: Activation = 'none',
  out?: Out,
): Out {
  if (x.length < m * k) throw new InputError(`matmulCpu: x has ${x.length} elements, needs ${m}×${k}`);
  if (w.length < n * k) throw new InputError(`matmulCpu: w has ${w.length} elements, needs ${n}×${k}`);
  if (bias && bias.length < n) throw new InputError(`matmulCpu: bias has ${bias.length} elements, needs ${n}`);
  const y = out ?? (new Float32Array(m * n) as Out);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0;
      const xo = i * k;
      const wo = j * k;
      for (let t = 0; t < k; t++) s += x[xo + t] * w[wo + t];
      y[i * n + j] = activation === 'gelu' ? geluCpu(s) : activation === 'tanh' ? Math.tanh(s) : s;
    }
  }
  return y;
}

/**
 * The CPU reference of the backward of y = x·wᵀ + b in double precision: dx = dy·w, dw = dyᵀ·x and
 * db = Σ_rows dy (fresh arrays: the caller adds them where the GPU accumulates).
 */
export function matmulBackwardCpu(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  m: number,
  n: number,
  k: number,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  if (dy.length < m * n) throw new InputError(`matmulBackwardCpu: dy has ${dy.length} elements, needs ${m}×${n}`);
  if (x.length < m * k) throw new InputError(`matmulBackwardCpu: x has ${x.length} elements, needs ${m}×${k}`);
  if (w.length < n * k) throw new InputError(`matmulBackwardCpu: w has ${w.length} elements, needs ${n}×${k}`);
  const dx = new Float64Array(m * k);
  const dw = new Float64Array(n * k);
  const db = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const g = dy[i * n + j];
      db[j] += g;
      for (let t = 0; t < k; t++) {
        dx[i * k + t] += g * w[j * k + t];
        dw[j * k + t] += g * x[i * k + t];
      }
    }
  }
  return { dx, dw, db };
}
