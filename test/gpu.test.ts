/**
 * GPU runtime against the machine's real adapter (Mesa lavapipe on the CI/dev box).
 * One runtime is shared by the file; tests that destroy a device make their own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeviceLostError,
  GpuLimitError,
  GpuOutOfMemoryError,
  GpuRuntime,
  GpuValidationError,
  NoAdapterError,
  ShaderCompilationError,
} from '../src/gpu/index.js';
import { lavapipeThreads } from '../src/gpu/adapter.js';
import { fromGpuError } from '../src/gpu/errors.js';
import { InputError } from '../src/errors.js';
import { forward, gpuWithDevice } from './gpu-forward.js';

const SAXPY = /* wgsl */ `
override WG: u32 = 64u;
struct Params { a: f32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < p.n) { y[id.x] = p.a * x[id.x] + y[id.x]; }
}
`;

function params(a: number, n: number): ArrayBuffer {
  const buf = new ArrayBuffer(8);
  new DataView(buf).setFloat32(0, a, true);
  new DataView(buf).setUint32(4, n, true);
  return buf;
}

/** Runs saxpy on `rt` and returns [gpu result, cpu reference]. */
async function saxpy(rt: GpuRuntime, n: number, a: number): Promise<[Float32Array, Float32Array]> {
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
  const y = Float32Array.from({ length: n }, (_, i) => (i % 17) - 8.5);
  const expected = x.map((xi, i) => Math.fround(Math.fround(a * xi) + y[i]));
  const pipeline = await rt.pipeline({ code: SAXPY, label: 'saxpy', constants: { WG: 64 } });
  const bx = await rt.storageBuffer(x, { label: 'x' });
  const by = await rt.storageBuffer(y, { label: 'y' });
  const bp = await rt.uniformBuffer(new Uint8Array(params(a, n)), 'params');
  rt.dispatch({ pipeline, bindGroups: rt.bindGroup(pipeline, [bp, bx, by]), workgroups: Math.ceil(n / 64) });
  const [out] = await rt.read([by]);
  return [new Float32Array(out), expected];
}

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await GpuRuntime.create({ optionalFeatures: ['shader-f16'], powerPreference: 'high-performance' });
});
afterAll(() => {
  // Lets the worker exit; the threads pool tolerates device teardown (environment notes).
  rt?.destroy();
});

describe('acquisition and report', () => {
  it('gives lavapipe 4 threads per core unless LP_NUM_THREADS is set', () => {
    const unset: Record<string, string | undefined> = {};
    lavapipeThreads(unset, 2);
    expect(unset.LP_NUM_THREADS).toBe('8');
    const chosen: Record<string, string | undefined> = { LP_NUM_THREADS: '1' };
    lavapipeThreads(chosen, 2);
    expect(chosen.LP_NUM_THREADS).toBe('1');
  });

  it('reports the software adapter with its features and limits', () => {
    const r = rt.report;
    expect(r.runtime).toBe('node');
    expect(r.backend).toBe('vulkan');
    expect(r.software).toBe(true);
    expect(`${r.vendor} ${r.description}`).toMatch(/mesa|llvmpipe/i);
    expect(r.features).toEqual(expect.arrayContaining(['shader-f16', 'subgroups', 'timestamp-query']));
    expect(r.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
    // The report is plain data.
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('creates the device with the adapter limits and the requested optional feature', () => {
    for (const name of ['maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupStorageSize', 'maxStorageBufferBindingSize', 'maxBufferSize'] as const) {
      expect(rt.limits[name]).toBe(rt.report.limits[name]);
    }
    // lavapipe raises these above the WebGPU defaults (256 invocations, 16 KiB, 256 MiB).
    expect(rt.limits.maxComputeInvocationsPerWorkgroup).toBe(1024);
    expect(rt.limits.maxComputeWorkgroupStorageSize).toBe(32768);
    expect(rt.limits.maxBufferSize).toBeGreaterThan(268435456);
    expect(rt.hasFeature('shader-f16')).toBe(true);
    expect(rt.hasFeature('timestamp-query')).toBe(false);
  });

  it('fails with NoAdapterError and the remedy when the injected GPU has no adapter', async () => {
    const gpu = { requestAdapter: async () => null } as unknown as GPU;
    const err = await GpuRuntime.create({ gpu }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoAdapterError);
    expect((err as Error).message).toMatch(/lavapipe >= 24/);
    expect((err as Error).message).toMatch(/npm run setup/);
    expect((err as NoAdapterError).code).toBe('NO_ADAPTER');
  });

  it('fails with NoAdapterError listing the adapters when the name filter matches nothing', async () => {
    const err = await GpuRuntime.create({ adapter: 'no-such-adapter-xyz' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoAdapterError);
    const message = (err as Error).message;
    expect(message).toMatch(/no-such-adapter-xyz/);
    expect(message).toMatch(/available adapters: backend: 'vulkan', name: 'llvmpipe/);
    expect(message).toMatch(/lavapipe >= 24/);
    expect(message).not.toContain('\n');
  });

  it('filters an injected GPU by the adapter info fields', async () => {
    const gpu = (await import('webgpu')).create([]);
    const own = await GpuRuntime.create({ gpu, adapter: 'LLVMpipe' });
    expect(own.report.backend).toBe('unknown');
    own.destroy();
    const err = await GpuRuntime.create({ gpu, adapter: 'nvidia' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoAdapterError);
    expect((err as Error).message).toMatch(/the adapter \(mesa \/ software \/ llvmpipe.*\) does not match 'nvidia'/);
  });

  it('rejects an unknown Dawn backend as bad input', async () => {
    const err = await GpuRuntime.create({ backend: 'bogus' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/^unrecognised backend 'bogus'; Possible backends.*'vulkan'/);
  });

  it('fails with NoAdapterError when a required feature is missing', async () => {
    const err = await GpuRuntime.create({ requiredFeatures: ['texture-compression-astc'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoAdapterError);
    expect((err as Error).message).toMatch(/lacks required feature\(s\) texture-compression-astc/);
  });

  it('fails with NoAdapterError when the device request is refused', async () => {
    const dawn = (await import('webgpu')).create([]);
    const adapter = forward((await dawn.requestAdapter())!, { requestDevice: () => Promise.reject(new Error('driver said no')) });
    const gpu = forward(dawn, { requestAdapter: async () => adapter });
    const err = await GpuRuntime.create({ gpu }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoAdapterError);
    expect((err as Error).message).toMatch(/refused to create a device: driver said no/);
  });
});

describe('compute', () => {
  it('runs saxpy and matches the CPU reference', async () => {
    const [got, expected] = await saxpy(rt, 1000, 2.5);
    expect(got.length).toBe(1000);
    expect(Array.from(got)).toEqual(Array.from(expected));
  });

  it('batches several dispatches and readbacks', async () => {
    const pipeline = await rt.pipeline({ code: SAXPY, label: 'saxpy', constants: { WG: 64 } });
    const x = await rt.storageBuffer(new Float32Array([1, 2, 3, 4]));
    const y = await rt.storageBuffer(new Float32Array([10, 20, 30, 40]));
    const p = await rt.uniformBuffer(new Uint8Array(params(2, 4)));
    const group = rt.bindGroup(pipeline, [p, x, y]);
    rt.dispatch([
      { pipeline, bindGroups: group, workgroups: 1 },
      { pipeline, bindGroups: [group], workgroups: [1, 1, 1] },
    ]);
    rt.write(x, new Float32Array([0, 0, 0, 1]));
    rt.dispatch({ pipeline, bindGroups: group, workgroups: 1 });
    const [ys, tail, xs] = await rt.read([y, { buffer: y, offset: 8, size: 8 }, x]);
    expect(Array.from(new Float32Array(ys))).toEqual([14, 28, 42, 58]);
    expect(Array.from(new Float32Array(tail))).toEqual([42, 58]);
    expect(Array.from(new Float32Array(xs))).toEqual([0, 0, 0, 1]);
    await rt.sync();
  });

  it('stores odd-sized data (f16 halves) by padding the buffer', async () => {
    const halves = new Uint16Array([0x3c00, 0x4000, 0x4200]); // 1, 2, 3 in f16
    const buf = await rt.storageBuffer(halves);
    expect(buf.size).toBe(8);
    const [bytes] = await rt.read([buf]);
    expect(Array.from(new Uint16Array(bytes))).toEqual([0x3c00, 0x4000, 0x4200, 0]);
  });

  it('returns the cached pipeline for the same source, entry point and constants', async () => {
    const a = await rt.pipeline({ code: SAXPY, constants: { WG: 64 } });
    const b = await rt.pipeline({ code: SAXPY, constants: { WG: 64 } });
    const c = await rt.pipeline({ code: SAXPY, constants: { WG: 128 } });
    const [d, e] = await Promise.all([rt.pipeline({ code: SAXPY }), rt.pipeline({ code: SAXPY })]);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(e).toBe(d);
    expect(d).not.toBe(a);
  });
});

describe('typed errors', () => {
  it('turns a WGSL syntax error into ShaderCompilationError with the line', async () => {
    const code = '@compute @workgroup_size(1)\nfn main() {\n  let x = ;\n}\n';
    const err = await rt.pipeline({ code, label: 'broken' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShaderCompilationError);
    const e = err as ShaderCompilationError;
    expect(e.messages[0]).toMatchObject({ type: 'error', line: 3, column: 11 });
    expect(e.message).toMatch(/^WGSL compilation failed: broken:3:11: .*initializer.*\(`let x = ;`\)/);
    expect(e.code).toBe('SHADER_COMPILATION');
    // Failures are not cached: the fixed source compiles.
    await expect(rt.pipeline({ code: code.replace('let x = ;', 'let x = 1;'), label: 'broken' })).resolves.toBeDefined();
  });

  it('reports a missing entry point as GpuValidationError', async () => {
    const err = await rt.pipeline({ code: SAXPY, entryPoint: 'nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuValidationError);
    expect((err as Error).message).toMatch(/nope/);
  });

  it('surfaces an invalid bind group at the next read instead of crashing', async () => {
    const pipeline = await rt.pipeline({ code: SAXPY, label: 'saxpy' });
    const x = await rt.storageBuffer(new Float32Array(4));
    // Binding 0 must be a uniform buffer; a storage buffer there is invalid.
    const group = rt.bindGroup(pipeline, [x, x, x]);
    rt.dispatch({ pipeline, bindGroups: group, workgroups: 1 });
    const err = await rt.read([x]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuValidationError);
    expect((err as Error).message).toMatch(/binding group 0 of .*doesn't match expected usage/);
    // The error was consumed; the runtime keeps working.
    const [got, expected] = await saxpy(rt, 10, 1);
    expect(Array.from(got)).toEqual(Array.from(expected));
  });

  it('rejects buffers and bindings over the device limits with GpuLimitError', async () => {
    const tooBig = rt.limits.maxBufferSize + 4;
    const err = await rt.createBuffer(tooBig, GPUBufferUsage.STORAGE, 'huge').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuLimitError);
    expect(err).toMatchObject({ limit: 'maxBufferSize', requested: tooBig, max: rt.limits.maxBufferSize });
    await expect(rt.storageBuffer(tooBig)).rejects.toBeInstanceOf(GpuLimitError);

    const pipeline = await rt.pipeline({ code: SAXPY });
    const max = rt.limits.maxStorageBufferBindingSize;
    const wide = await rt.createBuffer(max + 256, GPUBufferUsage.STORAGE, 'wide');
    const small = await rt.storageBuffer(new Float32Array(4));
    const p = await rt.uniformBuffer(new Float32Array(4));
    expect(() => rt.bindGroup(pipeline, [p, small, wide])).toThrow(GpuLimitError);
    // A range within the limit binds.
    rt.bindGroup(pipeline, [p, small, { buffer: wide, offset: 256, size: 1024 }]);
    await rt.sync();
    wide.destroy();

    expect(() => rt.dispatch({ pipeline, bindGroups: rt.bindGroup(pipeline, [p, small, small]), workgroups: rt.limits.maxComputeWorkgroupsPerDimension + 1 })).toThrow(GpuLimitError);
    expect(() => rt.dispatch({ pipeline, bindGroups: [], workgroups: 1.5 })).toThrow(InputError);
    await expect(rt.createBuffer(-1, GPUBufferUsage.STORAGE)).rejects.toBeInstanceOf(InputError);
    await rt.sync().catch(() => undefined);
  });

  it('reports invalid buffer usage as GpuValidationError', async () => {
    const bad = GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE;
    await expect(rt.createBuffer(16, bad, 'bad')).rejects.toThrow(/creating bad: .*MapRead/);
    await expect(rt.storageBuffer(new Float32Array(4), { usage: GPUBufferUsage.MAP_READ })).rejects.toBeInstanceOf(GpuValidationError);
  });

  it('rejects unaligned writes and reads', async () => {
    const buf = await rt.storageBuffer(new Float32Array(4));
    expect(() => rt.write(buf, new Uint8Array(3))).toThrow(GpuValidationError);
    await expect(rt.read([{ buffer: buf, offset: 2, size: 4 }])).rejects.toBeInstanceOf(GpuValidationError);
  });

  it('keeps uncaptured errors from direct device use for sync()', async () => {
    rt.device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
    await new Promise((r) => setTimeout(r, 20));
    await expect(rt.sync()).rejects.toThrow(/uncaptured GPU error/);
    await expect(rt.sync()).resolves.toBeUndefined();
  });

  it('reports a failed readback mapping as GpuValidationError', async () => {
    const gpu = await gpuWithDevice((device) =>
      forward(device, {
        createBuffer: (desc: GPUBufferDescriptor) => {
          const buffer = device.createBuffer(desc);
          if (desc.usage & GPUBufferUsage.MAP_READ) buffer.mapAsync = () => Promise.reject(new Error('map refused'));
          return buffer;
        },
      }),
    );
    const own = await GpuRuntime.create({ gpu });
    const buf = await own.storageBuffer(new Float32Array(4));
    await expect(own.read([buf])).rejects.toThrow(/^GPU validation error: mapping a readback buffer failed: map refused$/);
    own.destroy();
  });

  it('maps out-of-memory errors to GpuOutOfMemoryError', () => {
    const { GPUOutOfMemoryError } = globalThis as unknown as { GPUOutOfMemoryError: new (m: string) => GPUError };
    const err = fromGpuError(new GPUOutOfMemoryError('no room\n - While calling CreateBuffer'), 'creating x');
    expect(err).toBeInstanceOf(GpuOutOfMemoryError);
    expect(err.message).toBe('GPU out of memory: creating x: no room');
  });
});

describe('device loss', () => {
  it('throws DeviceLostError after device.destroy() and works again after reacquire()', async () => {
    const own = await GpuRuntime.create();
    const buf = await own.storageBuffer(new Float32Array([1, 2, 3, 4]));
    own.device.destroy();
    const err = await own.read([buf]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceLostError);
    expect(err).toMatchObject({ reason: 'destroyed', code: 'DEVICE_LOST' });
    expect(() => own.device).toThrow(DeviceLostError);
    await expect(own.pipeline({ code: SAXPY })).rejects.toBeInstanceOf(DeviceLostError);
    await expect(own.storageBuffer(new Float32Array(4))).rejects.toBeInstanceOf(DeviceLostError);

    await own.reacquire();
    const [got, expected] = await saxpy(own, 300, -1.25);
    expect(Array.from(got)).toEqual(Array.from(expected));
    // Re-acquiring a live runtime replaces its device too.
    const before = own.device;
    await own.reacquire();
    expect(own.device).not.toBe(before);
    const [again, reference] = await saxpy(own, 65, 3);
    expect(Array.from(again)).toEqual(Array.from(reference));
    own.destroy();
  });

  it('is unusable after destroy(), with a typed error', async () => {
    const own = await GpuRuntime.create();
    own.destroy();
    expect(() => own.dispatch([])).toThrow(DeviceLostError);
    await expect(own.reacquire()).rejects.toBeInstanceOf(DeviceLostError);
  });
});
