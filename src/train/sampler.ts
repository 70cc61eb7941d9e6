/**
 * Batches of listwise examples for training: per epoch a seeded shuffle of the queries (or file order), and per
 * query a seeded subsample of `docsPerQuery` documents that keeps one positive where the list has one.
 *
 * Every random draw comes from a PRNG seeded by (seed, epoch[, example]) rather than from one long stream, so
 * the whole position of the sampler is the pair (epoch, stepInEpoch): `state()` is a small JSON object, and
 * `ListSampler.restore` continues with exactly the batches an uninterrupted run would have drawn.
 */
import { InputError } from '../errors.js';
import type { ListExample } from './data.js';

export interface ListSamplerOptions {
  examples: readonly ListExample[];
  /** Queries per batch. */
  batchQueries: number;
  /** Documents kept per query; shorter lists are taken whole. */
  docsPerQuery: number;
  /** Any safe integer. */
  seed: number;
  /** Shuffle the queries each epoch (default true); false keeps file order. */
  shuffle?: boolean;
}

/** JSON-serialisable position of a sampler (stored in trainer_state.json). */
export interface ListSamplerState {
  version: 1;
  seed: number;
  batchQueries: number;
  docsPerQuery: number;
  shuffle: boolean;
  /** Number of examples and a hash of their queries and labels: a resume on other data is refused. */
  examples: number;
  fingerprint: number;
  epoch: number;
  stepInEpoch: number;
}

export class ListSampler {
  readonly #examples: readonly ListExample[];
  readonly #o: Omit<ListSamplerState, 'version' | 'epoch' | 'stepInEpoch'>;
  #epoch = 0;
  #step = 0;
  #order: Uint32Array;

  constructor(options: ListSamplerOptions) {
    const { examples, batchQueries, docsPerQuery, seed } = options;
    if (!Array.isArray(examples) || examples.length === 0) throw new InputError('the sampler needs at least one example', { code: 'BAD_OPTION' });
    positiveInteger('batchQueries', batchQueries);
    positiveInteger('docsPerQuery', docsPerQuery);
    if (!Number.isSafeInteger(seed)) throw new InputError(`seed must be a safe integer, got ${seed}`, { code: 'BAD_OPTION' });
    examples.forEach((e, i) => {
      const n = e.documents.length;
      if (n === 0 || e.labels.length !== n || (e.teacherScores !== undefined && e.teacherScores.length !== n)) {
        throw new InputError(`example ${i} needs a non-empty document list with one label (and teacher score) each`, { code: 'BAD_OPTION' });
      }
    });
    this.#examples = examples;
    this.#o = { seed, batchQueries, docsPerQuery, shuffle: options.shuffle ?? true, examples: examples.length, fingerprint: fingerprint(examples) };
    this.#order = this.#epochOrder(0);
  }

  /** A sampler at the position `state` records; `examples` must be the data it was made with. */
  static restore(examples: readonly ListExample[], state: ListSamplerState): ListSampler {
    const bad = (why: string, cause?: unknown) => new InputError(`cannot restore the sampler: ${why}`, { code: 'BAD_SAMPLER_STATE', cause });
    if (typeof state !== 'object' || state === null || state.version !== 1) throw bad('unknown state format');
    if (typeof state.shuffle !== 'boolean') throw bad('"shuffle" must be a boolean');
    let sampler: ListSampler;
    try {
      sampler = new ListSampler({ examples, batchQueries: state.batchQueries, docsPerQuery: state.docsPerQuery, seed: state.seed, shuffle: state.shuffle });
    } catch (cause) {
      throw bad((cause as Error).message, cause);
    }
    if (state.examples !== examples.length) throw bad(`it was made for ${state.examples} examples, not ${examples.length}`);
    if (state.fingerprint !== sampler.#o.fingerprint) throw bad('the training data differ from the data it was made with');
    if (!Number.isSafeInteger(state.epoch) || state.epoch < 0) throw bad(`bad epoch ${state.epoch}`);
    if (!Number.isSafeInteger(state.stepInEpoch) || state.stepInEpoch < 0 || state.stepInEpoch >= sampler.stepsPerEpoch) {
      throw bad(`step ${state.stepInEpoch} is outside an epoch of ${sampler.stepsPerEpoch} steps`);
    }
    sampler.#epoch = state.epoch;
    sampler.#step = state.stepInEpoch;
    sampler.#order = sampler.#epochOrder(state.epoch);
    return sampler;
  }

  /** Batches per epoch: ceil(examples / batchQueries); the last one is short when they do not divide. */
  get stepsPerEpoch(): number {
    return Math.ceil(this.#examples.length / this.#o.batchQueries);
  }

  /** 0-based epoch of the batch the next `next()` returns. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Batches of the current epoch already drawn (0 ≤ stepInEpoch < stepsPerEpoch). */
  get stepInEpoch(): number {
    return this.#step;
  }

  /**
   * The next batch: `batchQueries` examples in this epoch's order, each subsampled (new objects; the
   * examples given to the sampler are not changed). A batch never spans two epochs, so an epoch's last
   * batch holds only the remaining `examples % batchQueries` queries when they do not divide evenly.
   */
  next(): ListExample[] {
    const { batchQueries } = this.#o;
    const start = this.#step * batchQueries;
    const end = Math.min(start + batchQueries, this.#examples.length);
    const batch: ListExample[] = [];
    for (let i = start; i < end; i++) batch.push(this.#subsample(this.#order[i]));
    if (++this.#step === this.stepsPerEpoch) {
      this.#step = 0;
      this.#epoch++;
      this.#order = this.#epochOrder(this.#epoch);
    }
    return batch;
  }

  state(): ListSamplerState {
    return { version: 1, ...this.#o, epoch: this.#epoch, stepInEpoch: this.#step };
  }

  #epochOrder(epoch: number): Uint32Array {
    const order = Uint32Array.from(this.#examples.keys());
    if (!this.#o.shuffle) return order;
    const rng = new Mulberry32(seedOf(this.#o.seed, STREAM_SHUFFLE, epoch, 0));
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.below(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }

  /**
   * Keeps `docsPerQuery` documents: one positive (label > 0) drawn uniformly when the list has one, the rest
   * drawn uniformly without replacement from the remaining documents; kept in their original (first-stage
   * rank) order, with labels and teacher scores aligned.
   */
  #subsample(index: number): ListExample {
    const e = this.#examples[index];
    const n = e.documents.length;
    const k = this.#o.docsPerQuery;
    let keep: number[];
    if (n <= k) {
      keep = [...Array(n).keys()];
    } else {
      const rng = new Mulberry32(seedOf(this.#o.seed, STREAM_DOCS, this.#epoch, index));
      const positives: number[] = [];
      e.labels.forEach((l, i) => l > 0 && positives.push(i));
      const pool = [...Array(n).keys()];
      keep = [];
      if (positives.length > 0) {
        const p = positives[rng.below(positives.length)];
        keep.push(p);
        pool.splice(p, 1);
      }
      // Partial Fisher-Yates: the first draws of a shuffle are a uniform sample without replacement.
      for (let i = 0; keep.length < k; i++) {
        const j = i + rng.below(pool.length - i);
        [pool[i], pool[j]] = [pool[j], pool[i]];
        keep.push(pool[i]);
      }
      keep.sort((a, b) => a - b);
    }
    const out: ListExample = { query: e.query, documents: keep.map((i) => e.documents[i]), labels: keep.map((i) => e.labels[i]) };
    if (e.qid !== undefined) out.qid = e.qid;
    if (e.teacherScores) out.teacherScores = keep.map((i) => e.teacherScores![i]);
    return out;
  }
}

function positiveInteger(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) throw new InputError(`${name} must be a positive integer, got ${v}`, { code: 'BAD_OPTION' });
}

const STREAM_SHUFFLE = 1;
const STREAM_DOCS = 2;

/** mulberry32: a 32-bit-state PRNG, plenty for shuffling; each stream is short, so its period is no concern. */
class Mulberry32 {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }

  nextU32(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform integer in [0, n), n ≤ 2^32, without modulo bias (rejection). */
  below(n: number): number {
    const limit = 2 ** 32 - (2 ** 32 % n);
    let x: number;
    do x = this.nextU32();
    while (x >= limit);
    return x % n;
  }
}

/** murmur3's finaliser: a 32-bit avalanche mix. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The seed of one random stream, from the user seed (all 53 bits) and the stream's coordinates. */
function seedOf(seed: number, stream: number, epoch: number, index: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  let h = fmix32(lo ^ 0x9e3779b9);
  for (const w of [hi, stream, epoch >>> 0, Math.floor(epoch / 2 ** 32) >>> 0, index]) h = fmix32((h ^ w) + 0x9e3779b9);
  return h;
}

/** FNV-1a over each example's query and labels: cheap, and catches a resume on different data. */
function fingerprint(examples: readonly ListExample[]): number {
  let h = 0x811c9dc5;
  const add = (s: string) => {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  };
  for (const e of examples) add(`${e.query}\u0000${e.labels.join(',')}\u0001`);
  return h >>> 0;
}
