/**
 * Batch planning: rows sorted by token length (longest first) and cut into batches whose padded size
 * (rows × padded length) stays within a token budget, so little compute goes to padding.
 * Computed by the Rust core; call `await loadCore()` (or load a Tokenizer) first.
 */
import { InputError } from '../errors.js';
import { core } from './wasm.js';

export interface PlanOptions {
  /** Most padded tokens per batch (rows × padded length). A row longer than this gets a batch alone. */
  tokenBudget: number;
  /** Most rows per batch; unlimited when absent. */
  maxRows?: number;
  /** Round padded lengths up to a multiple of this (e.g. 8 for GPU-friendly shapes). Default 1. */
  padMultiple?: number;
  /** Sort rows by length (default). `false` keeps input order, e.g. to compare padding waste. */
  sort?: boolean;
}

export interface PlannedBatch {
  /** Input indices of this batch's rows, in batch order. */
  readonly indices: Uint32Array;
  /** The length every row of this batch is padded to. */
  readonly paddedLength: number;
}

export interface BatchPlan {
  /** Number of batches. */
  readonly size: number;
  /** Input indices in planned order: position k of the plan is input `order[k]`. */
  readonly order: Uint32Array;
  /** `size + 1` offsets into `order`: batch b is `order[starts[b]..starts[b + 1]]`. */
  readonly starts: Uint32Array;
  /** Padded length of each batch. */
  readonly paddedLengths: Uint32Array;
  batch(b: number): PlannedBatch;
  [Symbol.iterator](): Iterator<PlannedBatch>;
}

export function planBatches(lengths: ArrayLike<number>, options: PlanOptions): BatchPlan {
  const tokenBudget = positiveInt('tokenBudget', options.tokenBudget);
  const maxRows = options.maxRows === undefined ? 0 : positiveInt('maxRows', options.maxRows);
  const padMultiple = options.padMultiple === undefined ? 1 : positiveInt('padMultiple', options.padMultiple);
  const lens = lengths instanceof Uint32Array ? lengths : toLengths(lengths);
  const p = core().planBatches(lens, tokenBudget, maxRows, padMultiple, options.sort ?? true);
  // Layout from the Rust side: [batches, order (n), starts (batches + 1), padded (batches)].
  const size = p[0];
  const n = lens.length;
  const order = p.subarray(1, 1 + n);
  const starts = p.subarray(1 + n, 2 + n + size);
  const paddedLengths = p.subarray(2 + n + size, 2 + n + 2 * size);
  const batch = (b: number): PlannedBatch => {
    if (!Number.isInteger(b) || b < 0 || b >= size) throw new RangeError(`batch ${b} is out of range (${size} batches)`);
    return { indices: order.subarray(starts[b], starts[b + 1]), paddedLength: paddedLengths[b] };
  };
  return {
    size,
    order,
    starts,
    paddedLengths,
    batch,
    *[Symbol.iterator]() {
      for (let b = 0; b < size; b++) yield batch(b);
    },
  };
}

/** Padded tokens that carry no input token, over the whole plan. */
export function paddingWaste(plan: BatchPlan, lengths: ArrayLike<number>): number {
  let waste = 0;
  for (const { indices, paddedLength } of plan) {
    for (const i of indices) waste += paddedLength - lengths[i];
  }
  return waste;
}

/** Puts values computed in plan order (position k ↔ `plan.order[k]`) back into input order. */
export function toInputOrder(plan: BatchPlan, values: Float32Array): Float32Array {
  if (values.length !== plan.order.length) {
    throw new InputError(`expected ${plan.order.length} values in plan order, got ${values.length}`, {
      code: 'INVALID_INPUT',
    });
  }
  const out = new Float32Array(values.length);
  for (let k = 0; k < values.length; k++) out[plan.order[k]] = values[k];
  return out;
}

function toLengths(lengths: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(lengths.length);
  for (let i = 0; i < lengths.length; i++) {
    const v = lengths[i];
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new InputError(`length ${i} must be a non-negative integer (got ${v})`, { code: 'INVALID_INPUT' });
    }
    out[i] = v;
  }
  return out;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1 || v > 0xffffffff) {
    throw new InputError(`${name} must be a positive integer (got ${v})`, { code: 'INVALID_OPTION' });
  }
  return v;
}
