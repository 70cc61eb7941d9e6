/**
 * Compute pipeline cache. Compiling WGSL is the slow part of a dispatch's set-up, so
 * each (code, entry point, constants) compiles once per device; concurrent requests
 * for the same key share one compilation.
 */
import { GpuValidationError, ShaderCompilationError, fromGpuError, oneLine, type ShaderMessage } from './errors.js';

export interface KernelSpec {
  /** WGSL source. */
  code: string;
  entryPoint?: string;
  /** Values for WGSL `override` declarations. */
  constants?: Record<string, number>;
  /** Name used in error messages and GPU labels. */
  label?: string;
}

export class PipelineCache {
  private readonly device: GPUDevice;
  private readonly entries = new Map<string, Promise<GPUComputePipeline>>();

  constructor(device: GPUDevice) {
    this.device = device;
  }


  get(spec: KernelSpec): Promise<GPUComputePipeline> {
    const entryPoint = spec.entryPoint ?? 'main';
    const constants = Object.entries(spec.constants ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const key = JSON.stringify([spec.code, entryPoint, constants]);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = this.compile(spec, entryPoint, Object.fromEntries(constants));
      // A failed compilation is not cached: the caller may fix the source or re-acquire.
      entry.catch(() => this.entries.delete(key));
      this.entries.set(key, entry);
    }
    return entry;
  }

  private async compile(spec: KernelSpec, entryPoint: string, constants: Record<string, number>): Promise<GPUComputePipeline> {
    const device = this.device;
    const label = spec.label ?? entryPoint;
    // The scope keeps the compile error from also being reported as an uncaptured error.
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code: spec.code, label });
    const info = await module.getCompilationInfo();
    const scoped = await device.popErrorScope().catch(() => null);
    const messages: ShaderMessage[] = info.messages.map((m) => ({
      type: m.type,
      line: m.lineNum,
      column: m.linePos,
      message: m.message,
    }));
    if (messages.some((m) => m.type === 'error')) throw new ShaderCompilationError(label, messages, spec.code);
    if (scoped) throw fromGpuError(scoped, `compiling ${label}`);
    try {
      return await device.createComputePipelineAsync({
        label,
        layout: 'auto',
        compute: { module, entryPoint, constants },
      });
    } catch (err) {
      // GPUPipelineError: a missing entry point, bad constants, or limits exceeded by the shader.
      throw new GpuValidationError(`creating pipeline ${label}: ${oneLine(String((err as Error)?.message ?? err))}`, { cause: err });
    }
  }
}
