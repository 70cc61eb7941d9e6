/**
 * Loads the Rust core (crates/gpurank-core, built by wasm-bindgen with `--target web`).
 * In Node the module bytes are read from disk; in browsers the glue fetches them itself.
 */
import { InputError, WasmLoadError } from '../errors.js';

export type Core = typeof import('../../crates/gpurank-core/pkg/gpurank_core.js');

const PKG = '../../crates/gpurank-core/pkg/';
let loading: Promise<Core> | undefined;
let loaded: Core | undefined;

async function load(): Promise<Core> {
  let glue: Core & { default: (arg?: unknown) => Promise<unknown>; initSync: (arg: { module: BufferSource }) => unknown };
  try {
    glue = (await import(PKG + 'gpurank_core.js')) as typeof glue;
  } catch (cause) {
    throw new WasmLoadError('the WASM core is not built: run `npm run setup` (or `npm run build:wasm`)', { cause });
  }
  try {
    if (typeof process !== 'undefined' && process.versions?.node) {
      const { readFile } = await import('node:fs/promises');
      const bytes = await readFile(new URL(PKG + 'gpurank_core_bg.wasm', import.meta.url));
      glue.initSync({ module: bytes });
    } else {
      await glue.default();
    }
  } catch (cause) {
    throw new WasmLoadError('the WASM core failed to initialise; rebuild it with `npm run build:wasm`', { cause });
  }
  return glue;
}

/** Loads the core once; later calls return the same instance. */
export function loadCore(): Promise<Core> {
  loading ??= load().then(
    (c) => (loaded = c),
    (err) => {
      loading = undefined;
      throw err;
    },
  );
  return loading;
}

/** The core, for synchronous callers that already awaited `loadCore()`. */
export function core(): Core {
  if (!loaded) throw new WasmLoadError('the WASM core is not loaded yet: await loadCore() first');
  return loaded;
}

/**
 * Calls into the core, which reports bad arguments as plain Errors (Rust `Err` strings);
 * those become InputErrors with `code`.
 */
export function coreCall<T>(code: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof Error && !(err instanceof InputError)) throw new InputError(err.message, { code, cause: err });
    throw err;
  }
}
