/**
 * Score fusion, computed by the Rust core (call `await loadCore()` first).
 *
 * - `rrf`: reciprocal rank fusion, `Σ 1 / (k + rank)` over any number of ranked lists of
 *   doc ids; a doc missing from a list gets nothing from it, a doc repeated within one
 *   list counts once (its best rank); equal fused scores keep first-appearance order.
 * - `blend`: `alpha * norm(rerank) + (1 - alpha) * norm(first)` per item, with min-max
 *   or z-score normalisation over the finite scores. A list with no spread (all equal,
 *   or one item) normalises to 0; a non-finite score gives a NaN blend (counted in
 *   `nanCount`; `argsortDesc` ranks it last); a side weighted 0 is ignored entirely.
 */
import { InputError } from '../errors.js';
import { toFloat64, type Scores } from './ranking.js';
import { core, coreCall } from './wasm.js';

export interface FusedList {
  /** Doc ids, best first. */
  readonly ids: string[];
  /** Their fused scores, aligned with `ids`. */
  readonly scores: Float64Array;
}

/** Reciprocal rank fusion of ranked lists of doc ids (each best first). k defaults to 60. */
export function rrf(lists: ReadonlyArray<ReadonlyArray<string>>, options: { k?: number } = {}): FusedList {
  // Intern ids as numbers in first-appearance order (the core's tie rule keeps that order).
  const interned = new Map<string, number>();
  const names: string[] = [];
  const lengths = new Uint32Array(lists.length);
  const flat = new Uint32Array(lists.reduce((n, l) => n + l.length, 0));
  let at = 0;
  lists.forEach((list, i) => {
    lengths[i] = list.length;
    for (const id of list) {
      if (typeof id !== 'string') throw new InputError(`rrf: list ${i} holds a non-string id`, { code: 'BAD_FUSION_INPUT' });
      let n = interned.get(id);
      if (n === undefined) {
        n = names.length;
        interned.set(id, n);
        names.push(id);
      }
      flat[at++] = n;
    }
  });
  const fused = coreCall('BAD_FUSION_INPUT', () => core().rrf(flat, lengths, options.k ?? 60));
  try {
    return { ids: Array.from(fused.ids, (n) => names[n]), scores: fused.scores };
  } finally {
    fused.free();
  }
}

export type Normalization = 'minmax' | 'zscore';

export interface BlendOptions {
  /** Weight of the re-ranker's scores, in [0, 1]. */
  alpha: number;
  /** Default 'minmax'. */
  normalization?: Normalization;
}

export interface BlendResult {
  /** Blended scores, aligned with the inputs. */
  readonly scores: Float64Array;
  /** How many blended scores are NaN. */
  readonly nanCount: number;
}

/** Linear blend of first-stage and re-ranker scores for the same items. */
export function blend(first: Scores, rerank: Scores, options: BlendOptions): BlendResult {
  const b = coreCall('BAD_FUSION_INPUT', () => core().blend(toFloat64(first), toFloat64(rerank), options.alpha, options.normalization ?? 'minmax'));
  try {
    return { scores: b.scores, nanCount: b.nanCount };
  } finally {
    b.free();
  }
}

