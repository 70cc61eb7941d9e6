/**
 * Matmul micro-benchmark at BERT's Linear shapes (MiniLM: hidden 384, FFN 1536; m = tokens in a
 * batch): GFLOP/s per kernel × dtype × shape, the median (and best) of several timed runs after
 * one warm-up, each run timed from dispatch to `rt.sync()`.
 *
 * Args: [--runs N] [--m M] [--dtype f32|f16|both]
 * The slower kernels (plain blocked, tiled) run at a quarter of m to keep the suite short;
 * GFLOP/s is a rate, and each result names its shape.
 */
import { GpuRuntime } from '../src/gpu/index.js';
import { Matmul, matmulCpu, type Activation, type Dtype, type MatmulVariant } from '../src/model/kernels/matmul.js';
import { fromHalf } from '../src/model/kernels/common.js';

function flag(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i < 0 ? fallback : (args[i + 1] ?? '');
}

function positive(args: string[], name: string, fallback: number): number {
  const v = Number(flag(args, name, String(fallback)));
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} needs a positive integer`);
  return v;
}

/**
 * Small deterministic values, exact in f16: the storage bytes for `dtype` and the values as f32
 * (for the reference check).
 */
function data(count: number, dtype: Dtype, seed: number): { bytes: ArrayBufferView; values: Float32Array } {
  const f = new Float32Array(count + (count % 2));
  let s = seed;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    f[i] = ((s >>> 20) - 2048) / 4096; // multiples of 2^-12 in [-0.5, 0.5): exact in f16
  }
  if (dtype === 'f32') return { bytes: f, values: f };
  // For values k·2^-12 with 0 < |k| < 2048, f16 bits = sign | rebased exponent | top mantissa bits.
  const u = new Uint32Array(f.buffer);
  const bytes = Uint16Array.from(u, (b) => (b === 0 ? 0 : ((b >>> 16) & 0x8000) | ((((b >>> 23) & 0xff) - 112) << 10) | ((b >>> 13) & 0x3ff)));
  return { bytes, values: f };
}


interface Result {
  variant: string;
  kernel: string;
  dtype: Dtype;
  m: number;
  n: number;
  k: number;
  runs_ms: number[];
  gflops: { median: number; best: number };
  /** Largest |gpu − cpu| / (1 + |cpu|) over the first and last rows of y, against matmulCpu. */
  max_rel_err: number;
}

export async function run(args: string[]): Promise<unknown> {
  const runs = positive(args, '--runs', 5);
  const m = positive(args, '--m', 16384);
  const dtypeArg = flag(args, '--dtype', 'both');
  if (!['f32', 'f16', 'both'].includes(dtypeArg)) throw new Error('--dtype must be f32, f16 or both');
  const rt = await GpuRuntime.create({ optionalFeatures: ['shader-f16', 'subgroups'] });
  try {
    const dtypes = (dtypeArg === 'both' ? ['f32', 'f16'] : [dtypeArg]) as Dtype[];
    const usable = dtypes.filter((d) => d === 'f32' || rt.hasFeature('shader-f16'));
    // [n, k]: FFN up, FFN down, Q/K/V/out projections.
    const shapes: [number, number][] = [
      [1536, 384],
      [384, 1536],
      [384, 384],
    ];
    const configs: { name: string; variant: MatmulVariant; subgroups: boolean; rows: number }[] = [
      { name: 'blocked', variant: 'blocked', subgroups: true, rows: m },
      { name: 'blocked (no subgroups)', variant: 'blocked', subgroups: false, rows: Math.max(1, m >> 2) },
      { name: 'tiled', variant: 'tiled', subgroups: false, rows: Math.max(1, m >> 2) },
    ];
    const results: Result[] = [];
    for (const dtype of usable) {
      const bytes = dtype === 'f32' ? 4 : 2;
      for (const c of configs) {
        const mm = await Matmul.create(rt, { dtype, variant: c.variant, subgroups: c.subgroups });
        for (const [n, k] of shapes) {
          const rows = c.rows;
          const [xd, wd, bd] = [data(rows * k, dtype, 1), data(n * k, dtype, 2), data(n, dtype, 3)];
          const x = await rt.storageBuffer(xd.bytes);
          const w = await rt.storageBuffer(wd.bytes);
          const bias = await rt.storageBuffer(bd.bytes);
          const y = await rt.storageBuffer(Math.ceil((rows * n * bytes) / 4) * 4);
          const activation: Activation = n > k ? 'gelu' : 'none';
          const step = mm.step({ x, w, bias, y, m: rows, n, k, activation });
          rt.dispatch(step);
          await rt.sync(); // warm-up: first-use costs stay out of the timings
          const times: number[] = [];
          for (let r = 0; r < runs; r++) {
            const t0 = performance.now();
            rt.dispatch(step);
            await rt.sync();
            times.push(performance.now() - t0);
          }
          // Check the first and last rows against the CPU reference (rows * n * bytes is 4-aligned).
          const checked = [...new Set([0, rows - 1])];
          const got = await rt.read(checked.map((r) => ({ buffer: y, offset: r * n * bytes, size: n * bytes })));
          let maxRelErr = 0;
          checked.forEach((r, i) => {
            const ref = matmulCpu(xd.values.subarray(r * k, (r + 1) * k), wd.values, bd.values, 1, n, k, activation);
            const out = dtype === 'f32' ? new Float32Array(got[i]) : Float32Array.from(new Uint16Array(got[i]), fromHalf);
            ref.forEach((v, j) => (maxRelErr = Math.max(maxRelErr, Math.abs(out[j] - v) / (1 + Math.abs(v)))));
          });
          for (const b of [x, w, bias, y]) b.destroy();
          const sorted = [...times].sort((a, b) => a - b);
          const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
          const rate = (ms: number) => Math.round(((2 * rows * n * k) / (ms / 1000) / 1e9) * 100) / 100;
          results.push({
            variant: c.name,
            kernel: mm.kernelFor(k),
            dtype,
            m: rows,
            n,
            k,
            runs_ms: times.map((t) => Math.round(t * 10) / 10),
            gflops: { median: rate(median), best: rate(sorted[0]) },
            max_rel_err: Number(maxRelErr.toExponential(2)),
          });
        }
      }
    }
    const { vendor, architecture, description, software, backend, subgroupMinSize, subgroupMaxSize } = rt.report;
    return {
      suite: 'matmul',
      adapter: { vendor, architecture, description, software, backend, subgroupMinSize, subgroupMaxSize, features: rt.report.features.filter((f) => f === 'shader-f16' || f === 'subgroups') },
      runs,
      note: 'y = act(x·wᵀ + b); GFLOP/s = 2·m·n·k / time, from dispatch to queue completion; gelu on the FFN-up shape',
      results,
    };
  } finally {
    rt.destroy();
  }
}
