/**
 * The GPU runtime: one device plus what is needed to run compute work on it.
 *
 * Modelled on gpu.cpp: resources (buffers, pipelines, bind groups) are created ahead
 * of time; `dispatch` is the hot path and stays synchronous. Every GPU call is wrapped
 * in an error scope; resource creation awaits its scope and throws at once, while the
 * scopes of the hot-path calls are collected and surface at the next `read()` or
 * `sync()`, so errors reach the caller instead of the console.
 */
import { InputError } from '../errors.js';
import {
  adapterReport,
  loadGpu,
  requestAdapter,
  requestDevice,
  type AdapterReport,
  type GpuOptions,
  type GpuSource,
} from './adapter.js';
import { DeviceLostError, GpuError, GpuLimitError, GpuValidationError, fromGpuError, oneLine } from './errors.js';
import { PipelineCache, type KernelSpec } from './pipelines.js';

/** A whole buffer, or a byte range of one. Offsets and sizes must be multiples of 4. */
export type BufferBinding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

export interface DispatchStep {
  pipeline: GPUComputePipeline;
  /** Bind group 0, or the groups in order. */
  bindGroups: GPUBindGroup | GPUBindGroup[];
  /** Workgroup counts (x, or [x, y, z]). */
  workgroups: number | [number, number?, number?];
}

type Scoped = Promise<GpuError | null>;

const align = (n: number, to: number) => Math.ceil(n / to) * to;

export class GpuRuntime {
  /** Adapter of the current device. */
  report: AdapterReport;
  private readonly options: GpuOptions;
  /** Held as long as the runtime: Dawn crashes when its instance is collected under a live device. */
  private readonly source: GpuSource;
  private destroyed = false;
  private current: GPUDevice;
  private pipelines: PipelineCache;
  private pending: Scoped[] = [];
  private uncaptured: GpuError[] = [];
  private lostInfo: { reason: string; message: string } | undefined;

  private constructor(options: GpuOptions, source: GpuSource, adapter: GPUAdapter, device: GPUDevice) {
    this.options = options;
    this.source = source;
    this.report = adapterReport(adapter, source);
    this.current = device;
    this.pipelines = new PipelineCache(device);
    this.watch(device);
  }

  /** Acquires an adapter and a device (with the adapter's compute limits). */
  static async create(options: GpuOptions = {}): Promise<GpuRuntime> {
    const source = await loadGpu(options);
    const adapter = await requestAdapter(source, options);
    const device = await requestDevice(adapter, options);
    return new GpuRuntime(options, source, adapter, device);
  }

  /** The live device; throws DeviceLostError once it has been lost. */
  get device(): GPUDevice {
    if (this.lostInfo) throw new DeviceLostError(this.lostInfo.reason, this.lostInfo.message);
    return this.current;
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** Whether the device was created with `feature` (e.g. `shader-f16`). */
  hasFeature(feature: GPUFeatureName): boolean {
    return this.device.features.has(feature);
  }

  /**
   * Replaces a lost (or live) device with a new one from a fresh adapter. Buffers,
   * pipelines and bind groups of the old device are invalid afterwards.
   */
  async reacquire(): Promise<void> {
    if (this.destroyed) throw new DeviceLostError('destroyed', 'the runtime was destroyed');
    if (!this.lostInfo) this.current.destroy();
    const adapter = await requestAdapter(this.source, this.options);
    const device = await requestDevice(adapter, this.options);
    this.report = adapterReport(adapter, this.source);
    this.current = device;
    this.pipelines = new PipelineCache(device);
    this.pending = [];
    this.uncaptured = [];
    this.lostInfo = undefined;
    this.watch(device);
  }

  /** Destroys the device so the process can exit; the runtime is unusable afterwards. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.lostInfo ??= { reason: 'destroyed', message: 'the runtime was destroyed' };
    this.current.destroy();
  }

  /** Creates a buffer; throws GpuLimitError / GpuOutOfMemoryError / GpuValidationError. */
  async createBuffer(size: number, usage: GPUBufferUsageFlags, label = 'buffer'): Promise<GPUBuffer> {
    const device = this.device;
    this.checkBufferSize(size, label);
    const scope = this.open(device, true);
    const buffer = device.createBuffer({ size: align(size, 4), usage, label });
    await this.close(device, scope, `creating ${label}`, () => buffer.destroy());
    return buffer;
  }

  /**
   * A storage buffer holding `data` (or `size` zeroed bytes). It is also a copy source
   * and destination, so it can be read back and rewritten.
   */
  async storageBuffer(data: ArrayBufferView | number, options: { label?: string; usage?: GPUBufferUsageFlags } = {}): Promise<GPUBuffer> {
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | (options.usage ?? 0);
    return this.filledBuffer(data, usage, 4, options.label ?? 'storage buffer');
  }

  /** A uniform buffer holding `data`, padded to 16 bytes as WGSL uniform layout requires. */
  async uniformBuffer(data: ArrayBufferView, label = 'uniform buffer'): Promise<GPUBuffer> {
    return this.filledBuffer(data, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 16, label);
  }

  /** Queues a write of `data` into `buffer` at `offset` (bytes). Errors surface at `read()`/`sync()`. */
  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    const device = this.device;
    if (data.byteLength % 4 !== 0 || offset % 4 !== 0) {
      throw new GpuValidationError(`write to ${buffer.label || 'buffer'}: offset ${offset} and size ${data.byteLength} must be multiples of 4 bytes`);
    }
    const scope = this.open(device, false);
    device.queue.writeBuffer(buffer, offset, data.buffer, data.byteOffset, data.byteLength);
    this.defer(device, scope, `writing ${buffer.label || 'buffer'}`);
  }

  /** A compute pipeline for `spec`, compiled once per (code, entry point, constants). */
  async pipeline(spec: KernelSpec): Promise<GPUComputePipeline> {
    const device = this.device;
    try {
      return await this.pipelines.get(spec);
    } catch (err) {
      await this.checkLost(device, true);
      throw err;
    }
  }

  /** Binds `bindings[i]` at `@binding(i)` of `@group(group)` of `pipeline`. */
  bindGroup(pipeline: GPUComputePipeline, bindings: BufferBinding[], group = 0): GPUBindGroup {
    const device = this.device;
    const entries = bindings.map((b, i): GPUBindGroupEntry => {
      const { buffer, offset = 0, size } = 'buffer' in b ? b : { buffer: b };
      const bytes = size ?? buffer.size - offset;
      const uniform = (buffer.usage & GPUBufferUsage.UNIFORM) !== 0 && (buffer.usage & GPUBufferUsage.STORAGE) === 0;
      const limit = uniform ? 'maxUniformBufferBindingSize' : 'maxStorageBufferBindingSize';
      const max = device.limits[limit];
      if (bytes > max) throw new GpuLimitError(`binding ${i} (${buffer.label || 'buffer'})`, limit, bytes, max);
      return { binding: i, resource: { buffer, offset, size } };
    });
    const scope = this.open(device, false);
    const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(group), entries, label: `${pipeline.label} group ${group}` });
    this.defer(device, scope, `binding group ${group} of ${pipeline.label}`);
    return bindGroup;
  }

  /** Zeroes buffers (whole, or a range) in one submission, queued in order with dispatches. */
  clear(bindings: BufferBinding[]): void {
    const device = this.device;
    const scope = this.open(device, true);
    const encoder = device.createCommandEncoder();
    for (const b of bindings) {
      const { buffer, offset = 0, size } = 'buffer' in b ? b : { buffer: b };
      encoder.clearBuffer(buffer, offset, size);
    }
    device.queue.submit([encoder.finish()]);
    this.defer(device, scope, 'clearing buffers');
  }

  /** Encodes the steps into one compute pass and submits it. Errors surface at `read()`/`sync()`. */
  dispatch(steps: DispatchStep | DispatchStep[]): void {
    const device = this.device;
    const list = Array.isArray(steps) ? steps : [steps];
    const max = device.limits.maxComputeWorkgroupsPerDimension;
    const counts = list.map((step) => {
      const [x, y = 1, z = 1] = typeof step.workgroups === 'number' ? [step.workgroups] : step.workgroups;
      for (const n of [x, y, z]) {
        if (!Number.isInteger(n) || n < 0) throw new InputError(`dispatch of ${step.pipeline.label}: workgroup count ${n} is not a non-negative integer`);
        if (n > max) throw new GpuLimitError(`dispatch of ${step.pipeline.label}`, 'maxComputeWorkgroupsPerDimension', n, max);
      }
      return [x, y, z] as const;
    });
    const scope = this.open(device, true);
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    list.forEach((step, i) => {
      pass.setPipeline(step.pipeline);
      const groups = Array.isArray(step.bindGroups) ? step.bindGroups : [step.bindGroups];
      groups.forEach((g, j) => pass.setBindGroup(j, g));
      pass.dispatchWorkgroups(...counts[i]);
    });
    pass.end();
    device.queue.submit([encoder.finish()]);
    this.defer(device, scope, `dispatching ${list.map((s) => s.pipeline.label).join(', ')}`);
  }

  /**
   * Copies the buffers (ranges) back in one submission and returns their bytes. Any
   * error from earlier writes, bind groups or dispatches is thrown here.
   */
  async read(bindings: BufferBinding[]): Promise<ArrayBuffer[]> {
    const device = this.device;
    const ranges = bindings.map((b) => {
      const { buffer, offset = 0, size } = 'buffer' in b ? b : { buffer: b };
      const bytes = size ?? buffer.size - offset;
      if (offset % 4 !== 0 || bytes % 4 !== 0) {
        throw new GpuValidationError(`read of ${buffer.label || 'buffer'}: offset ${offset} and size ${bytes} must be multiples of 4 bytes`);
      }
      return { buffer, offset, bytes };
    });
    const scope = this.open(device, true);
    const staging = ranges.map((r) => device.createBuffer({ size: r.bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'readback' }));
    const encoder = device.createCommandEncoder();
    ranges.forEach((r, i) => encoder.copyBufferToBuffer(r.buffer, r.offset, staging[i], 0, r.bytes));
    device.queue.submit([encoder.finish()]);
    this.defer(device, scope, 'copying buffers for readback');
    try {
      // mapAsync resolves by polling the event loop, so map all buffers at once.
      const mapped = await Promise.allSettled(staging.map((s) => s.mapAsync(GPUMapMode.READ)));
      const failed = mapped.find((m) => m.status === 'rejected');
      await this.settle(device, failed !== undefined);
      if (failed) throw new GpuValidationError(`mapping a readback buffer failed: ${oneLine(String(failed.reason?.message ?? failed.reason))}`);
      // getMappedRange memory is detached by unmap(): copy it first.
      return staging.map((s) => s.getMappedRange().slice(0));
    } finally {
      for (const s of staging) s.destroy();
    }
  }

  /** Waits for submitted work and throws the first error raised since the last check. */
  async sync(): Promise<void> {
    const device = this.device;
    await device.queue.onSubmittedWorkDone();
    await this.settle(device, false);
  }

  private async settle(device: GPUDevice, afterFailure: boolean): Promise<void> {
    const errors = await Promise.all(this.pending);
    this.pending = [];
    await this.checkLost(device, afterFailure);
    const first = this.uncaptured.shift() ?? errors.find((e) => e !== null);
    this.uncaptured = [];
    if (first) throw first;
  }

  private async filledBuffer(data: ArrayBufferView | number, usage: GPUBufferUsageFlags, alignment: number, label: string): Promise<GPUBuffer> {
    const device = this.device;
    const size = typeof data === 'number' ? data : data.byteLength;
    this.checkBufferSize(size, label);
    const scope = this.open(device, true);
    // Mapped at creation so any byte length works (writeBuffer needs multiples of 4).
    const buffer = device.createBuffer({ size: Math.max(align(size, alignment), alignment), usage, label, mappedAtCreation: typeof data !== 'number' });
    let mapError: unknown;
    if (typeof data !== 'number') {
      try {
        new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        buffer.unmap();
      } catch (err) {
        mapError = err;
      }
    }
    await this.close(device, scope, `creating ${label}`, () => buffer.destroy());
    if (mapError) {
      buffer.destroy();
      throw new GpuValidationError(`creating ${label}: ${oneLine(String((mapError as Error).message ?? mapError))}`, { cause: mapError });
    }
    return buffer;
  }

  private checkBufferSize(size: number, label: string): void {
    if (!Number.isInteger(size) || size < 0) throw new InputError(`${label}: size ${size} is not a non-negative integer`);
    const max = this.current.limits.maxBufferSize;
    if (size > max) throw new GpuLimitError(`${label} size`, 'maxBufferSize', size, max);
  }

  /** Pushes a validation scope (and an out-of-memory one under it when `oom`). */
  private open(device: GPUDevice, oom: boolean): boolean {
    if (oom) device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    return oom;
  }

  /** Pops the scopes of `open` as one promise of the first error, typed. */
  private pop(device: GPUDevice, oom: boolean, context: string): Scoped {
    const pops = [device.popErrorScope(), ...(oom ? [device.popErrorScope()] : [])];
    // popErrorScope resolves null on a lost device; a rejection only means the device is gone.
    return Promise.all(pops.map((p) => p.catch(() => null))).then((errs) => {
      const err = errs.find((e) => e !== null);
      return err ? fromGpuError(err, context) : null;
    });
  }

  private async close(device: GPUDevice, oom: boolean, context: string, cleanup: () => void): Promise<void> {
    const err = await this.pop(device, oom, context);
    try {
      await this.checkLost(device, err !== null);
    } catch (lost) {
      cleanup();
      throw lost;
    }
    if (err) {
      cleanup();
      throw err;
    }
  }

  /** Throws DeviceLostError if `device` (still the current one) has been lost. */
  private async checkLost(device: GPUDevice, afterFailure: boolean): Promise<void> {
    // After a failure, device.lost may resolve on a later turn than the failure it
    // explains: give it one (only then, as it costs about a millisecond).
    if (afterFailure) await new Promise((resolve) => setTimeout(resolve, 0));
    if (this.lostInfo && this.current === device) throw new DeviceLostError(this.lostInfo.reason, this.lostInfo.message);
  }

  private defer(device: GPUDevice, oom: boolean, context: string): void {
    this.pending.push(this.pop(device, oom, context));
  }

  private watch(device: GPUDevice): void {
    device.lost.then((info) => {
      if (this.current === device) this.lostInfo ??= { reason: info.reason ?? 'unknown', message: info.message };
    });
    // Errors outside our scopes (e.g. from callers using `device` directly): keep them for
    // the next sync() and stop the implementation from printing them.
    device.addEventListener('uncapturederror', (event) => {
      const ev = event as GPUUncapturedErrorEvent;
      ev.preventDefault();
      if (this.current === device) this.uncaptured.push(fromGpuError(ev.error, 'uncaptured GPU error'));
    });
  }
}
