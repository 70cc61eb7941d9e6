/**
 * `gpurank doctor`: what GPU gpurank would use and whether the pieces load. Human
 * readable by default, one JSON object with `--json`. Warnings go to stderr (and
 * the `warnings` array); no adapter, a failed compute check or a core that does
 * not load is an error (one line, exit 1).
 */
import { createRequire } from 'node:module';
import type { Command } from 'commander';
import { GpurankError } from '../../errors.js';
import { loadCore } from '../../core/wasm.js';
import { diagnose, type GpuDiagnosis } from '../../gpu/diagnose.js';

interface DoctorOptions {
  json?: boolean;
  adapter?: string;
  backend?: string;
}

interface DoctorReport extends GpuDiagnosis {
  versions: { node: string; webgpu: string };
  wasmCore: { loaded: boolean; error?: string };
}

/** Limits that decide which kernels fit; the rest are in `--json`. */
const KEY_LIMITS = [
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
];

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('report the GPU adapter, backend, features and limits, and check that compute and the WASM core work')
    .option('--json', 'print the report as one JSON object')
    .option('--adapter <name>', 'use the adapter whose name contains <name>')
    .option('--backend <name>', 'Dawn backend: vulkan, metal, d3d12, opengl, …')
    .action(async (opts: DoctorOptions) => {
      const gpu = await diagnose({ adapter: opts.adapter, backend: opts.backend });
      const report: DoctorReport = { ...gpu, versions: versions(), wasmCore: await wasmStatus() };
      if (!report.wasmCore.loaded) report.warnings.push(`the WASM core does not load: ${report.wasmCore.error}`);
      process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : render(report));
      for (const w of report.warnings) process.stderr.write(`warning: ${w}\n`);
      if (!report.compute.ok) throw new GpurankError('the GPU compute check failed: results differ from the CPU reference', { code: 'GPU_CHECK_FAILED' });
      if (!report.wasmCore.loaded) throw new GpurankError(`the WASM core does not load: ${report.wasmCore.error}`, { code: 'WASM_LOAD_ERROR' });
    });
}

async function wasmStatus(): Promise<DoctorReport['wasmCore']> {
  try {
    await loadCore();
    return { loaded: true };
  } catch (err) {
    return { loaded: false, error: (err as Error).message };
  }
}

function versions(): DoctorReport['versions'] {
  const require = createRequire(import.meta.url);
  const { version } = require('webgpu/package.json') as { version: string };
  return { node: process.version, webgpu: version };
}

function render(r: DoctorReport): string {
  const a = r.adapter;
  const fmt = (n: number) =>
    n >= 2 ** 30 ? `${n} (${(n / 2 ** 30).toFixed(1)} GiB)` : n >= 2 ** 20 ? `${n} (${(n / 2 ** 20).toFixed(1)} MiB)` : String(n);
  const rows: [string, string][] = [
    ['adapter', a.description || a.device || '(no description)'],
    ['vendor', `${a.vendor || '?'} (architecture ${a.architecture || '?'}, device ${a.device || '?'})`],
    ['backend', `${a.backend} (${a.runtime === 'node' ? `Dawn, webgpu ${r.versions.webgpu}` : 'browser'})`],
    ['type', a.software ? `software${a.isFallbackAdapter ? ' (fallback adapter)' : ''}` : 'hardware'],
    ['features', a.features.join(', ') || '(none)'],
    ...KEY_LIMITS.filter((k) => k in a.limits).map((k): [string, string] => [k, fmt(a.limits[k])]),
    ['compute check', r.compute.ok ? `ok (${r.compute.elements} elements in ${r.compute.ms} ms)` : `FAILED (max error ${r.compute.maxAbsError})`],
    ['wasm core', r.wasmCore.loaded ? 'loaded' : `not loaded (${r.wasmCore.error})`],
    ['node', r.versions.node],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}\n`).join('');
}
