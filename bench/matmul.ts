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
import { Matmul, type Dtype, type MatmulVariant } from '../src/model/kernels/matmul.js';

function flag(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i < 0 ? fallback : (args[i + 1] ?? '');
}

function positive(args: string[], name: string, fallback: number): number {
  const v = Number(flag(args, name, String(fallback)));
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} needs a positive integer`);
  return v;
}

/** Half-precision bit patterns of small deterministic values (exact in f16). */
function data(count: number, dtype: Dtype, seed: number): ArrayBufferView {
  const f = new Float32Array(count + (count % 2));
  let s = seed;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    f[i] = ((s >>> 20) - 2048) / 4096; // multiples of 2^-12 in [-0.5, 0.5): exact in f16
  }
  if (dtype === 'f32') return f;
  // For values k·2^-12 with |k| < 2048, f16 bits = sign | exponent | mantissa from the f32 bits.
  const u = new Uint32Array(f.buffer);
  return Uint16Array.from(u, (b) => (b === 0 ? 0 : ((b >>> 16) & 0x8000) | ((((b >>> 23) & 0xff) - 112) << 10) | ((b >>> 13) & 0x3ff)));
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
          const x = await rt.storageBuffer(data(rows * k, dtype, 1));
          const w = await rt.storageBuffer(data(n * k, dtype, 2));
          const bias = await rt.storageBuffer(data(n, dtype, 3));
          const y = await rt.storageBuffer(Math.ceil((rows * n * bytes) / 4) * 4);
          const step = mm.step({ x, w, bias, y, m: rows, n, k, activation: n > k ? 'gelu' : 'none' });
          rt.dispatch(step);
          await rt.sync(); // warm-up: first-use costs stay out of the timings
          const times: number[] = [];
          for (let r = 0; r < runs; r++) {
            const t0 = performance.now();
            rt.dispatch(step);
            await rt.sync();
            times.push(performance.now() - t0);
          }
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
