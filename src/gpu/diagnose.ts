/**
 * GPU health check for `gpurank doctor`: acquire the device, report the adapter, and
 * run a small compute kernel against a CPU reference so a broken driver is caught
 * here rather than as wrong scores later.
 */
import type { AdapterReport, GpuOptions } from './adapter.js';
import { GpuRuntime } from './runtime.js';

export interface ComputeCheck {
  ok: boolean;
  /** Elements computed by the check kernel. */
  elements: number;
  /** Largest absolute difference from the CPU reference. */
  maxAbsError: number;
  /** Dispatch plus readback, milliseconds (compilation excluded). */
  ms: number;
}

export interface GpuDiagnosis {
  adapter: AdapterReport;
  compute: ComputeCheck;
  warnings: string[];
}

const CHECK_KERNEL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < arrayLength(&y)) { y[id.x] = 2.0 * x[id.x] + y[id.x]; }
}
`;

/** The warning shown for CPU-emulated adapters, or undefined for hardware ones. */
export function softwareWarning(report: AdapterReport): string | undefined {
  if (!report.software) return undefined;
  const name = report.description || report.device || report.vendor || 'the adapter';
  return `${name} is a software (CPU) adapter: gpurank works but will be slow; use a machine with a GPU for real workloads`;
}

export async function diagnose(options: GpuOptions = {}): Promise<GpuDiagnosis> {
  const rt = await GpuRuntime.create({ ...options, optionalFeatures: ['shader-f16', 'subgroups', ...(options.optionalFeatures ?? [])] });
  try {
    const compute = await computeCheck(rt, 4096);
    const warnings: string[] = [];
    const soft = softwareWarning(rt.report);
    if (soft) warnings.push(soft);
    if (!compute.ok) warnings.push(`the compute check returned wrong values (max error ${compute.maxAbsError})`);
    return { adapter: rt.report, compute, warnings };
  } finally {
    rt.destroy();
  }
}

async function computeCheck(rt: GpuRuntime, n: number): Promise<ComputeCheck> {
  const x = Float32Array.from({ length: n }, (_, i) => (i % 251) / 7 - 17);
  const y = Float32Array.from({ length: n }, (_, i) => (i % 13) * 0.5);
  const pipeline = await rt.pipeline({ code: CHECK_KERNEL, label: 'doctor-check' });
  const bx = await rt.storageBuffer(x, { label: 'doctor-x' });
  const by = await rt.storageBuffer(y, { label: 'doctor-y' });
  const group = rt.bindGroup(pipeline, [bx, by]);
  const start = performance.now();
  rt.dispatch({ pipeline, bindGroups: group, workgroups: Math.ceil(n / 64) });
  const [out] = await rt.read([by]);
  const ms = performance.now() - start;
  const got = new Float32Array(out);
  let maxAbsError = 0;
  for (let i = 0; i < n; i++) {
    const expected = Math.fround(Math.fround(2 * x[i]) + y[i]);
    // NaN (a garbage result) must fail the check, so compare with !(<=) rather than >.
    const diff = Math.abs(got[i] - expected);
    if (!(diff <= maxAbsError)) maxAbsError = Number.isNaN(diff) ? Infinity : diff;
  }
  return { ok: maxAbsError <= 1e-5, elements: n, maxAbsError, ms: Math.round(ms * 100) / 100 };
}
