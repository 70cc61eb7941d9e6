/**
 * Typed GPU errors. WebGPU reports most failures asynchronously (error scopes, the
 * `device.lost` promise, uncaptured-error events); the runtime turns each of them
 * into one of these so callers can tell them apart without parsing messages.
 */
import { GpurankError } from '../errors.js';

/** What to do when no adapter is found; part of every NoAdapterError message. */
export const NO_ADAPTER_REMEDY =
  'on Linux without a GPU install Mesa lavapipe >= 24 (Debian 12: `apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1`), or run `npm run setup`';

/** Base class of every GPU failure. */
export class GpuError extends GpurankError {
  constructor(message: string, options: { code: string; statusCode?: number; cause?: unknown }) {
    super(message, { code: options.code, statusCode: options.statusCode ?? 503, cause: options.cause });
  }
}

/** No WebGPU adapter (or none matching the filter / required features). */
export class NoAdapterError extends GpuError {
  constructor(detail: string, options: { remedy?: string; cause?: unknown } = {}) {
    super(`no usable GPU adapter: ${detail}; ${options.remedy ?? NO_ADAPTER_REMEDY}`, {
      code: 'NO_ADAPTER',
      cause: options.cause,
    });
  }
}

/** The device was lost (destroyed, driver reset, out of resources). Re-acquire to continue. */
export class DeviceLostError extends GpuError {
  readonly reason: string;
  readonly gpuMessage: string;

  constructor(reason: string, gpuMessage: string) {
    super(`GPU device lost (${reason})${gpuMessage ? `: ${gpuMessage}` : ''}`, { code: 'DEVICE_LOST' });
    this.reason = reason;
    this.gpuMessage = gpuMessage;
  }
}

export class GpuOutOfMemoryError extends GpuError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(`GPU out of memory: ${message}`, { code: 'GPU_OUT_OF_MEMORY', cause: options.cause });
  }
}

export class GpuValidationError extends GpuError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(`GPU validation error: ${message}`, { code: 'GPU_VALIDATION', statusCode: 500, cause: options.cause });
  }
}

/** A request that exceeds one of the device's limits (buffer size, workgroup count, …). */
export class GpuLimitError extends GpuError {
  readonly limit: string;
  readonly requested: number;
  readonly max: number;

  constructor(what: string, limit: string, requested: number, max: number) {
    super(`${what}: ${requested} exceeds the device limit ${limit} = ${max}`, { code: 'GPU_LIMIT', statusCode: 500 });
    this.limit = limit;
    this.requested = requested;
    this.max = max;
  }
}

/** One message from `GPUShaderModule.getCompilationInfo()`; line and column are 1-based. */
export interface ShaderMessage {
  type: 'error' | 'warning' | 'info';
  line: number;
  column: number;
  message: string;
}

/** WGSL that failed to compile; `messages` carry the compiler's line/column positions. */
export class ShaderCompilationError extends GpuError {
  readonly label: string;
  readonly messages: ShaderMessage[];

  constructor(label: string, messages: ShaderMessage[], source: string) {
    const errors = messages.filter((m) => m.type === 'error');
    const first = errors[0];
    const lines = source.split('\n');
    const snippet = first && lines[first.line - 1] !== undefined ? ` (\`${lines[first.line - 1].trim()}\`)` : '';
    const head = first ? `${label}:${first.line}:${first.column}: ${first.message}${snippet}` : `${label}: shader module is invalid`;
    const more = errors.length > 1 ? ` (+${errors.length - 1} more error${errors.length > 2 ? 's' : ''})` : '';
    super(`WGSL compilation failed: ${head}${more}`, { code: 'SHADER_COMPILATION', statusCode: 500 });
    this.label = label;
    this.messages = messages;
  }
}

/**
 * Maps a WebGPU `GPUError` (from an error scope or an uncaptured-error event) to a typed
 * error. Classes are matched by name too: browsers and Dawn each define their own.
 */
export function fromGpuError(error: GPUError, context: string): GpuError {
  const kind = error.constructor?.name;
  const message = `${context}: ${oneLine(error.message)}`;
  if (kind === 'GPUOutOfMemoryError') return new GpuOutOfMemoryError(message, { cause: error });
  // GPUInternalError (e.g. a shader too large for the driver) is reported like a validation error.
  return new GpuValidationError(kind === 'GPUInternalError' ? `internal error in ${message}` : message, { cause: error });
}

/** Dawn's messages run over several lines ("- While calling …"); a CLI error must be one. */
export function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('- While'))
    .join(' ');
}
