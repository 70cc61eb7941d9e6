/**
 * Adapter and device acquisition: Dawn (npm `webgpu`) in Node, `navigator.gpu` in
 * browsers. The Dawn module is loaded with a dynamic import so browser bundles never
 * see a Node dependency.
 */
import { InputError } from '../errors.js';
import { NoAdapterError, oneLine } from './errors.js';

export interface GpuOptions {
  /** A `navigator.gpu`-like object to use instead of Dawn / `navigator.gpu`. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /**
   * Adapter name filter (substring). With Dawn it is the `adapter=` flag, matched against
   * the driver's adapter name; otherwise (browsers, an injected `gpu`) it is matched,
   * ignoring case, against the adapter info fields.
   */
  adapter?: string;
  /** Dawn backend (`vulkan`, `metal`, `d3d12`, `opengl`, …); Node only. */
  backend?: string;
  /** Extra Dawn `create()` flags, e.g. `enable-dawn-features=…`; Node only. */
  dawnFlags?: string[];
  /** Features the device must have; an adapter without them is a NoAdapterError. */
  requiredFeatures?: GPUFeatureName[];
  /** Features enabled when the adapter has them (e.g. `shader-f16`). */
  optionalFeatures?: GPUFeatureName[];
}

/** A serialisable description of the adapter in use. */
export interface AdapterReport {
  /** `node` (Dawn via the `webgpu` package) or `browser` (`navigator.gpu`). */
  runtime: 'node' | 'browser';
  /** Dawn backend in Node; browsers do not expose theirs (`unknown`). */
  backend: string;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (lavapipe/llvmpipe, SwiftShader, WARP, or a fallback adapter). */
  software: boolean;
  isFallbackAdapter: boolean;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  /** Adapter features, sorted. */
  features: string[];
  /** Adapter limits (the device is created with the compute ones raised to these). */
  limits: Record<string, number>;
}

/**
 * Limits requested at the adapter's maximum instead of the WebGPU defaults: the
 * defaults (256 invocations, 16 KiB workgroup memory, 128 MiB bindings, 256 MiB
 * buffers) are too small for transformer-sized kernels and weights.
 */
export const RAISED_LIMITS = [
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
] as const;

// Dawn's null backend ("null-backend") runs nothing at all, so it is never hardware either.
const SOFTWARE_NAMES = /lavapipe|llvmpipe|softpipe|swiftshader|basic render driver|\bwarp\b|software|null-backend/i;

export function isSoftwareAdapter(info: {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}): boolean {
  if (info.isFallbackAdapter) return true;
  return SOFTWARE_NAMES.test([info.vendor, info.architecture, info.device, info.description].join(' '));
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Dawn's default backend per platform when no `backend` flag or DAWNNODE_BACKEND is set. */
function dawnBackend(options: GpuOptions): string {
  const forced = options.backend ?? process.env.DAWNNODE_BACKEND;
  if (forced) return forced.toLowerCase();
  if (process.platform === 'win32') return 'd3d12';
  if (process.platform === 'darwin') return 'metal';
  return 'vulkan';
}

/** The `GPU` entry point and where it came from. */
export interface GpuSource {
  gpu: GPU;
  runtime: 'node' | 'browser';
  backend: string;
  /** Whether Dawn already applied the adapter name filter. */
  dawnFiltered: boolean;
}

/**
 * Sets Mesa's `LP_NUM_THREADS` (read only by llvmpipe/lavapipe, when Dawn enumerates adapters;
 * other drivers ignore it) to 4 per core unless the user chose a value. Mesa's default of one per
 * core leaves cores idle: on 2 cores (Mesa 25.0.7) 4 per core took the matmul from 20 to 27
 * GFLOP/s and the MiniLM forward from 25.7 to 19.4 s (f32). Native code sees only the main
 * thread's environment: in a worker thread this has no effect.
 */
export function lavapipeThreads(env: Record<string, string | undefined>, cores: number): void {
  env.LP_NUM_THREADS ??= String(4 * Math.max(1, cores));
}

/**
 * Finds the `GPU` object. In Node this creates a Dawn instance; the caller must keep
 * the returned object alive for as long as any device from it lives (Dawn crashes
 * if it is garbage-collected under a live device).
 */
export async function loadGpu(options: GpuOptions = {}): Promise<GpuSource> {
  if (options.gpu) return { gpu: options.gpu, runtime: isNode ? 'node' : 'browser', backend: 'unknown', dawnFiltered: false };
  if (!isNode) {
    const gpu = (globalThis as { navigator?: Navigator }).navigator?.gpu;
    if (!gpu) throw new NoAdapterError('this browser does not expose navigator.gpu', { remedy: 'use a browser with WebGPU enabled' });
    return { gpu, runtime: 'browser', backend: 'unknown', dawnFiltered: false };
  }
  // A variable specifier keeps bundlers from pulling the Node-only package into browser builds.
  const specifier = 'webgpu';
  let dawn: typeof import('webgpu');
  try {
    dawn = (await import(/* @vite-ignore */ specifier)) as typeof import('webgpu');
  } catch (cause) {
    throw new NoAdapterError(`the \`webgpu\` package (Dawn) failed to load: ${oneLine(String((cause as Error)?.message ?? cause))}`, { cause });
  }
  // WebGPU code expects GPUBufferUsage, GPUMapMode, … as globals, as in browsers.
  for (const [name, value] of Object.entries(dawn.globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  const { availableParallelism } = await import('node:os');
  lavapipeThreads(process.env, availableParallelism());
  const flags = [...(options.dawnFlags ?? [])];
  if (options.backend) flags.push(`backend=${options.backend}`);
  if (options.adapter) flags.push(`adapter=${options.adapter}`);
  return { gpu: dawn.create(flags), runtime: 'node', backend: dawnBackend(options), dawnFiltered: true };
}

/** Requests an adapter, applying the name filter and the required-feature check. */
export async function requestAdapter(source: GpuSource, options: GpuOptions = {}): Promise<GPUAdapter> {
  let adapter: GPUAdapter | null;
  try {
    adapter = await source.gpu.requestAdapter({ powerPreference: options.powerPreference });
  } catch (cause) {
    // Dawn rejects, listing the adapters it has, when the name or backend filter matches nothing.
    const [head, list = ''] = String((cause as Error)?.message ?? cause).split(/Available adapters:/);
    if (/unrecognised backend/.test(head)) throw new InputError(oneLine(head.replace(/\s*\n\s*/g, '; ')), { cause });
    const available = list
      .split('\n')
      .map((l) => l.replace(/^\s*\*\s*/, '').trim())
      .filter(Boolean);
    const what = options.adapter ? `no adapter name contains '${options.adapter}' (${oneLine(head)})` : oneLine(head);
    throw new NoAdapterError(`${what}; available adapters: ${available.join('; ') || 'none'}`, { cause });
  }
  if (!adapter) {
    const where = source.runtime === 'node' ? ` on the ${source.backend} backend` : '';
    throw new NoAdapterError(`WebGPU returned no adapter${where}`);
  }
  const info = adapter.info;
  if (options.adapter && !source.dawnFiltered) {
    const needle = options.adapter.toLowerCase();
    const fields = [info.vendor, info.architecture, info.device, info.description].join(' ').toLowerCase();
    if (!fields.includes(needle)) {
      throw new NoAdapterError(`the adapter (${describe(info)}) does not match '${options.adapter}'`);
    }
  }
  const missing = (options.requiredFeatures ?? []).filter((f) => !adapter.features.has(f));
  if (missing.length > 0) {
    throw new NoAdapterError(`the adapter (${describe(info)}) lacks required feature(s) ${missing.join(', ')}`, {
      remedy: 'use an adapter that supports them, or do not require them',
    });
  }
  return adapter;
}

/** Requests the device with the raised limits and every wanted feature the adapter has. */
export async function requestDevice(adapter: GPUAdapter, options: GpuOptions = {}): Promise<GPUDevice> {
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  const wanted = [...(options.requiredFeatures ?? []), ...(options.optionalFeatures ?? [])];
  const requiredFeatures = [...new Set(wanted)].filter((f) => adapter.features.has(f));
  try {
    return await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'gpurank' });
  } catch (cause) {
    throw new NoAdapterError(`the adapter (${describe(adapter.info)}) refused to create a device: ${oneLine(String((cause as Error)?.message ?? cause))}`, {
      cause,
      remedy: 'check the GPU driver installation, or run `npm run setup`',
    });
  }
}

export function adapterReport(adapter: GPUAdapter, source: GpuSource): AdapterReport {
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; isFallbackAdapter?: boolean };
  const limits: Record<string, number> = {};
  // GPUSupportedLimits exposes its values as prototype getters, so Object.keys sees nothing.
  for (const name in adapter.limits) {
    const value = (adapter.limits as unknown as Record<string, unknown>)[name];
    if (typeof value === 'number') limits[name] = value;
  }
  const isFallbackAdapter = info.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
  return {
    runtime: source.runtime,
    backend: source.backend,
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software: isSoftwareAdapter({ ...pickInfo(info), isFallbackAdapter }),
    isFallbackAdapter,
    subgroupMinSize: info.subgroupMinSize,
    subgroupMaxSize: info.subgroupMaxSize,
    features: [...adapter.features].map(String).sort(),
    limits,
  };
}

function pickInfo(info: GPUAdapterInfo) {
  return { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description };
}

function describe(info: GPUAdapterInfo): string {
  return [info.vendor, info.architecture, info.description].filter(Boolean).join(' / ') || 'unnamed adapter';
}
