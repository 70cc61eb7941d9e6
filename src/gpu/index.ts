/**
 * The GPU runtime: device acquisition, adapter report, buffers, pipelines, dispatch, typed errors.
 *
 * ```ts
 * const rt = await GpuRuntime.create({ optionalFeatures: ['shader-f16'] });
 * const pipeline = await rt.pipeline({ code: wgsl, constants: { WG: 64 } });  // compiled once
 * const x = await rt.storageBuffer(new Float32Array(n));                       // created ahead of time
 * const group = rt.bindGroup(pipeline, [x]);                                  // @binding(i) = bindings[i]
 * rt.dispatch({ pipeline, bindGroups: group, workgroups: n / 64 });           // hot path, synchronous
 * const [bytes] = await rt.read([x]);                                         // also throws deferred GPU errors
 * rt.destroy();                                                               // lets the process exit
 * ```
 * After a DeviceLostError, `await rt.reacquire()` gives a new device; resources made on the
 * old one must be recreated.
 */
export { GpuRuntime, type BufferBinding, type DispatchStep } from './runtime.js';
export { isSoftwareAdapter, RAISED_LIMITS, type AdapterReport, type GpuOptions } from './adapter.js';
export type { KernelSpec } from './pipelines.js';
export {
  DeviceLostError,
  GpuError,
  GpuLimitError,
  GpuOutOfMemoryError,
  GpuValidationError,
  NoAdapterError,
  NO_ADAPTER_REMEDY,
  ShaderCompilationError,
  type ShaderMessage,
} from './errors.js';
