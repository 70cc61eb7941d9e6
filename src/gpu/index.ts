/** The GPU runtime: device acquisition, adapter report, buffers, pipelines, dispatch, typed errors. */
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
