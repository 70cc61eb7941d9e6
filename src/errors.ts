/**
 * Typed error hierarchy. Every error gpurank raises on purpose is a `GpurankError`
 * with a stable `code`, so callers (and the CLI) can tell failures apart without
 * parsing messages. `statusCode` is the HTTP status the service maps it to.
 */
export class GpurankError extends Error {
  readonly code: string;
  readonly statusCode: number;

  constructor(message: string, options: { code?: string; statusCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? 'GPURANK_ERROR';
    this.statusCode = options.statusCode ?? 500;
  }
}

/** Bad user input: a malformed file or line, a wrong flag value, an empty list. */
export class InputError extends GpurankError {
  readonly file?: string;
  readonly line?: number;

  constructor(message: string, options: { file?: string; line?: number; code?: string; cause?: unknown } = {}) {
    const where = options.file ? `${options.file}${options.line !== undefined ? `:${options.line}` : ''}: ` : '';
    super(where + message, { code: options.code ?? 'INPUT_ERROR', statusCode: 400, cause: options.cause });
    this.file = options.file;
    this.line = options.line;
  }
}

/** A model directory that cannot be used: missing or broken tokenizer, config or weights. */
export class ModelLoadError extends GpurankError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'MODEL_LOAD_ERROR', statusCode: 500, cause: options.cause });
  }
}

/** The WASM core could not be loaded (not built, or a corrupt build). */
export class WasmLoadError extends GpurankError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: 'WASM_LOAD_ERROR', statusCode: 500, cause: options.cause });
  }
}
