/**
 * What the non-matmul kernels share: loading a WGSL file with its dtype prelude, f16 packing, and a
 * cache of per-shape uniform buffers and bind groups so that `step()` stays synchronous.
 */
import { GpurankError } from '../../errors.js';
import type { BufferBinding, DispatchStep, GpuRuntime } from '../../gpu/index.js';
import { requireDtype, type Dtype } from './matmul.js';
import { f32ToF16Bits as toHalf, f16BitsToF32 as fromHalf } from '../safetensors.js';

export type { Dtype };

export interface KernelOptions {
  /** Storage type of activations and weights; arithmetic and accumulation are f32 either way. */
  dtype: Dtype;
}

export const bytesPer = (dtype: Dtype): number => (dtype === 'f16' ? 2 : 4);

/** InputError for an unknown dtype, GpuFeatureError for f16 on a device without `shader-f16`. */
export function checkDtype(rt: GpuRuntime, dtype: Dtype, what: string): void {
  requireDtype(rt, dtype, what);
}

// Shaders ship in the package's shaders/ folder; src/model/kernels and dist/model/kernels are both
// three levels below the package root.
const SHADERS = new URL('../../../shaders/', import.meta.url);

/**
 * `shaders/<op>.wgsl` with the prelude that fixes the storage type `T` and declares `consts` (u32):
 * unlike pipeline overrides, these can size function-scope arrays. `includes` are other shader files
 * (e.g. `rng`) whose functions `op` calls, prepended in order.
 */
export async function shaderSource(op: string, dtype: Dtype, consts: Record<string, number> = {}, includes: string[] = []): Promise<string> {
  const [code, ...libs] = await Promise.all([op, ...includes].map((name) => readShader(new URL(`${name}.wgsl`, SHADERS))));
  const prelude = dtype === 'f16' ? 'enable f16;\nalias T = f16;\n' : 'alias T = f32;\n';
  return prelude + Object.entries(consts).map(([name, v]) => `const ${name}: u32 = ${v}u;\n`).join('') + libs.join('\n') + code;
}

/** From disk in Node (imported lazily, so browser bundles never see node:fs), fetched elsewhere. */
async function readShader(url: URL): Promise<string> {
  if (typeof process !== 'undefined' && process.versions?.node) {
    const { readFile } = await import('node:fs/promises');
    return readFile(url, 'utf8');
  }
  const res = await fetch(url);
  if (!res.ok) throw new GpurankError(`cannot fetch ${url.href}: HTTP ${res.status}`, { code: 'SHADER_LOAD' });
  return res.text();
}

// f32 ↔ binary16 conversions are the ones the safetensors reader and writer use (round to nearest even).
export { toHalf, fromHalf };

/** Values as the bytes of a `dtype` storage buffer. */
export function pack(values: ArrayLike<number>, dtype: Dtype): Float32Array | Uint16Array {
  if (dtype === 'f32') return values instanceof Float32Array ? values : Float32Array.from(values);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toHalf(values[i]);
  return out;
}

/** The bytes of a `dtype` storage buffer as f32 values. */
export function unpack(bytes: ArrayBuffer, dtype: Dtype, count?: number): Float32Array {
  if (dtype === 'f32') return new Float32Array(bytes, 0, count ?? bytes.byteLength / 4);
  const h = new Uint16Array(bytes, 0, count ?? bytes.byteLength / 2);
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = fromHalf(h[i]);
  return out;
}

/** A binding of `count` elements of `dtype` at element `offset`, its size rounded up to 4 bytes. */
export function elements(buffer: GPUBuffer, dtype: Dtype, offset: number, count: number): BufferBinding {
  const bpe = bytesPer(dtype);
  return { buffer, offset: offset * bpe, size: Math.ceil((count * bpe) / 4) * 4 };
}

const ids = new WeakMap<GPUBuffer, number>();
let nextId = 0;

function bindingKey(b: BufferBinding): string {
  const { buffer, offset = 0, size } = 'buffer' in b ? b : { buffer: b };
  let id = ids.get(buffer);
  if (id === undefined) ids.set(buffer, (id = nextId++));
  return `${id}:${offset}:${size ?? -1}`;
}

interface ShapeEntry {
  uniform: GPUBuffer;
  groups: Map<string, GPUBindGroup>;
}

/**
 * Per-shape uniform buffers (binding 0) and bind groups of one pipeline. Uniforms are created
 * synchronously (mapped at creation) so `step` needs no await; their errors surface through the
 * runtime at the next read or sync. Least recently used shapes are evicted beyond `capacity`, so
 * serving many batch shapes keeps memory bounded.
 */
export class StepCache {
  private readonly entries = new Map<string, ShapeEntry>();

  constructor(
    private readonly rt: GpuRuntime,
    readonly pipeline: GPUComputePipeline,
    private readonly capacity = 64,
  ) {}

  /** A step with `params` (16-byte aligned words) at binding 0 and `bindings` from binding 1 on. */
  step(params: ArrayBuffer, bindings: BufferBinding[], workgroups: DispatchStep['workgroups']): DispatchStep {
    const key = Array.from(new Uint32Array(params)).join(',');
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
    } else {
      entry = { uniform: this.uniform(params), groups: new Map() };
      if (this.entries.size >= this.capacity) {
        const [oldKey, old] = this.entries.entries().next().value!;
        this.entries.delete(oldKey);
        // Work already submitted keeps the buffer alive until it finishes.
        old.uniform.destroy();
      }
    }
    this.entries.set(key, entry);
    const groupKey = bindings.map(bindingKey).join('|');
    let group = entry.groups.get(groupKey);
    if (!group) {
      group = this.rt.bindGroup(this.pipeline, [entry.uniform, ...bindings]);
      entry.groups.set(groupKey, group);
    }
    return { pipeline: this.pipeline, bindGroups: group, workgroups };
  }

  /** Frees the uniform buffers; later steps create them again. */
  destroy(): void {
    for (const entry of this.entries.values()) entry.uniform.destroy();
    this.entries.clear();
  }

  private uniform(params: ArrayBuffer): GPUBuffer {
    const size = Math.max(16, Math.ceil(params.byteLength / 16) * 16);
    const buffer = this.rt.device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true, label: `${this.pipeline.label} params` });
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(params));
    buffer.unmap();
    return buffer;
  }
}

/** Uniform words: u32 fields, then f32 fields, padded to 16 bytes. */
export function params(u: number[], f: number[] = []): ArrayBuffer {
  const buf = new ArrayBuffer(Math.max(16, Math.ceil((u.length + f.length) / 4) * 16));
  const view = new DataView(buf);
  u.forEach((v, i) => view.setUint32(i * 4, v, true));
  f.forEach((v, i) => view.setFloat32((u.length + i) * 4, v, true));
  return buf;
}

/** Workgroup counts for `n` invocations of `wg`, spread over y when x would pass `max` per dimension. */
export function grid(n: number, wg: number, max = 65535): [number, number] {
  const groups = Math.ceil(n / wg);
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}
