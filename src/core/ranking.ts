/**
 * Ordering scores, best first, computed by the Rust core (call `await loadCore()` first).
 * Equal scores keep input order (lower index first); NaN ranks after every number and
 * is counted so callers can warn.
 */
import { InputError } from '../errors.js';
import { core } from './wasm.js';

export interface Ranking {
  /** Input indices, best first. */
  readonly indices: Uint32Array;
  /** How many scores were NaN (they rank last). */
  readonly nanCount: number;
}

/** Scores as the core takes them; Float32Array values widen to f64 exactly. */
export type Scores = Float64Array | Float32Array | readonly number[];

export function toFloat64(scores: Scores): Float64Array {
  return scores instanceof Float64Array ? scores : Float64Array.from(scores);
}

/** Every index, best first. */
export function argsortDesc(scores: Scores): Ranking {
  return take(core().argsortDesc(toFloat64(scores)));
}

/** The best `k` indices, best first, without sorting the whole list. */
export function topK(scores: Scores, k: number): Ranking {
  if (!Number.isInteger(k) || k < 0 || k > 0xffffffff) {
    throw new InputError(`top-k needs a whole number k >= 0, got ${k}`, { code: 'BAD_TOP_K' });
  }
  return take(core().topK(toFloat64(scores), k));
}

function take(r: { indices: Uint32Array; nanCount: number; free(): void }): Ranking {
  try {
    return { indices: r.indices, nanCount: r.nanCount };
  } finally {
    r.free();
  }
}
