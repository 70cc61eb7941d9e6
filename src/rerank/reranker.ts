/**
 * `Reranker`: scores (query, passage) pairs with a cross-encoder, or query/passage cosine similarity with a
 * sentence-transformers bi-encoder, on the GPU.
 *
 * Texts are tokenized in one WASM call, cut into length-sorted batches under a padded-token budget (so GPU
 * memory is bounded by `batchTokens`, whatever the number of documents), run through the model batch by
 * batch, and put back in input order. Calls are queued: one GPU job at a time, in arrival order.
 */
import { GpurankError, InputError } from '../errors.js';
import { Tokenizer, type EncodedBatch, type TruncationStrategy } from '../core/tokenizer.js';
import { planBatches, type BatchPlan } from '../core/plan.js';
import { topK } from '../core/ranking.js';
import { GpuRuntime } from '../gpu/runtime.js';
import type { GpuOptions } from '../gpu/adapter.js';
import { DeviceLostError } from '../gpu/errors.js';
import { loadModel, type LoadedModel } from '../model/load.js';
import { BertGpu } from '../model/bert.js';

export type Dtype = 'f32' | 'f16';

export interface RerankerOptions {
  /** Most tokens per (query, passage) pair; longer pairs are truncated the HF way. Default: the model's. */
  maxLength?: number;
  /** `f16` needs the adapter's `shader-f16`; `auto` picks it when present. Default `f32`. */
  dtype?: Dtype | 'auto';
  /** Padded tokens per GPU batch (rows × padded length). Bounds activation memory. Default 8192. */
  batchTokens?: number;
  /** How pairs that are too long are shortened (transformers' `truncation=`). Default `longest_first`. */
  truncation?: TruncationStrategy;
  /** A runtime to share, or options for acquiring one. */
  device?: GpuRuntime | GpuOptions;
}

export interface CallOptions {
  /** Cancels the call: queued or between batches. */
  signal?: AbortSignal;
  /** Milliseconds from the call (queueing included) before it fails with a RerankTimeoutError. */
  timeoutMs?: number;
}

export interface RerankOptions extends CallOptions {
  /** Return only the best `topK` (default: all). */
  topK?: number;
  /** For object documents: the field holding the text (dotted paths allowed). Default `text`. */
  textField?: string;
}

export interface RerankResult<T> {
  /** Position in the input list. */
  index: number;
  /** The model's score: the logit for cross-encoders, cosine similarity for bi-encoders. */
  score: number;
  document: T;
}

/** The call was cancelled through its AbortSignal. */
export class RerankAbortedError extends GpurankError {
  constructor(reason?: unknown) {
    super(`rerank aborted${reason instanceof Error ? `: ${reason.message}` : ''}`, { code: 'ABORTED', statusCode: 499, cause: reason });
  }
}

/** The call did not finish within its `timeoutMs`. */
export class RerankTimeoutError extends GpurankError {
  constructor(ms: number) {
    super(`rerank timed out after ${ms} ms`, { code: 'TIMEOUT', statusCode: 504 });
  }
}

const DEFAULT_BATCH_TOKENS = 8192;

export class Reranker {
  readonly model: LoadedModel;
  readonly tokenizer: Tokenizer;
  readonly dtype: Dtype;
  readonly maxLength: number;
  readonly batchTokens: number;
  readonly truncation: TruncationStrategy;
  private readonly rt: GpuRuntime;
  private readonly ownsRuntime: boolean;
  private bert: BertGpu;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(init: {
    model: LoadedModel;
    tokenizer: Tokenizer;
    rt: GpuRuntime;
    ownsRuntime: boolean;
    bert: BertGpu;
    dtype: Dtype;
    maxLength: number;
    batchTokens: number;
    truncation: TruncationStrategy;
  }) {
    this.model = init.model;
    this.tokenizer = init.tokenizer;
    this.rt = init.rt;
    this.ownsRuntime = init.ownsRuntime;
    this.bert = init.bert;
    this.dtype = init.dtype;
    this.maxLength = init.maxLength;
    this.batchTokens = init.batchTokens;
    this.truncation = init.truncation;
  }

  /** Loads a Hugging Face model directory (config.json, model.safetensors, tokenizer files). */
  static async load(dir: string, options: RerankerOptions = {}): Promise<Reranker> {
    const batchTokens = options.batchTokens ?? DEFAULT_BATCH_TOKENS;
    if (!Number.isInteger(batchTokens) || batchTokens <= 0) {
      throw new InputError(`batchTokens must be a positive integer, got ${batchTokens}`, { code: 'BAD_OPTION' });
    }
    const model = await loadModel(dir);
    const tokenizer = await Tokenizer.fromModelDir(dir, { maxLength: options.maxLength });
    const maxLength = Math.min(tokenizer.maxLength, model.config.maxPositionEmbeddings);
    if (maxLength > batchTokens) {
      tokenizer.dispose();
      throw new InputError(`batchTokens (${batchTokens}) must hold at least one row of maxLength (${maxLength}) tokens`, { code: 'BAD_OPTION' });
    }
    const wantF16 = options.dtype === 'f16' || options.dtype === 'auto';
    const ownsRuntime = !(options.device instanceof GpuRuntime);
    const rt = options.device instanceof GpuRuntime
      ? options.device
      : await GpuRuntime.create({
          ...options.device,
          // subgroups: the matmul shares activations across a subgroup, 2-4x faster on CPU adapters.
          optionalFeatures: [...(options.device?.optionalFeatures ?? []), 'subgroups', ...(wantF16 ? ['shader-f16' as const] : [])],
        });
    try {
      let dtype: Dtype = 'f32';
      if (wantF16 && rt.hasFeature('shader-f16')) dtype = 'f16';
      else if (options.dtype === 'f16') {
        throw new InputError(`dtype f16 needs the adapter feature shader-f16, which ${rt.report.description || 'this adapter'} lacks`, { code: 'BAD_OPTION' });
      }
      const bert = await BertGpu.create(rt, model, { dtype, maxTokens: batchTokens, maxRows: batchTokens });
      return new Reranker({ model, tokenizer, rt, ownsRuntime, bert, dtype, maxLength, batchTokens, truncation: options.truncation ?? 'longest_first' });
    } catch (err) {
      tokenizer.dispose();
      if (ownsRuntime) rt.destroy();
      throw err;
    }
  }

  /** Cross-encoder or bi-encoder, from the model directory. */
  get kind(): LoadedModel['kind'] {
    return this.model.kind;
  }

  /** The GPU runtime in use (adapter report, features). */
  get runtime(): GpuRuntime {
    return this.rt;
  }

  /**
   * Scores each document against the query, in input order: logits for a cross-encoder (the first label's
   * for multi-label heads), cosine similarities for a bi-encoder.
   */
  async score(query: string, documents: readonly string[], options: CallOptions = {}): Promise<Float32Array> {
    checkQuery(query);
    checkDocuments(documents);
    documents.forEach((d, i) => {
      if (typeof d !== 'string') throw new InputError(`document ${i} is not a string`, { code: 'BAD_DOCUMENT' });
    });
    return this.enqueue(options, (guard) => this.scoreNow(query, documents, guard));
  }

  /**
   * Scores independent (query, document) pairs, as `gpurank score` does. Cross-encoders only read the pair
   * together; for a bi-encoder each pair is the cosine of the two embeddings.
   */
  async scorePairs(queries: readonly string[], documents: readonly string[], options: CallOptions = {}): Promise<Float32Array> {
    if (queries.length !== documents.length) {
      throw new InputError(`${queries.length} queries but ${documents.length} documents`, { code: 'BAD_INPUT' });
    }
    checkDocuments(documents);
    queries.forEach((q, i) => {
      if (typeof q !== 'string') throw new InputError(`query ${i} is not a string`, { code: 'BAD_QUERY' });
    });
    documents.forEach((d, i) => {
      if (typeof d !== 'string') throw new InputError(`document ${i} is not a string`, { code: 'BAD_DOCUMENT' });
    });
    return this.enqueue(options, async (guard) => {
      if (this.kind === 'cross-encoder') return this.crossScores(queries, documents, guard);
      const unique = [...new Set(queries)];
      const qEmb = await this.embedNow(unique, guard);
      const dEmb = await this.embedNow(documents, guard);
      const hidden = this.model.config.hiddenSize;
      const row = new Map(unique.map((q, i) => [q, i]));
      return cosines(qEmb, dEmb, hidden, (i) => row.get(queries[i])!);
    });
  }

  /**
   * Bi-encoders only: pooled embeddings of single texts, [texts.length × hidden] row-major (normalised when
   * the model's modules say so), as sentence-transformers' `encode`. Lets callers embed a corpus once.
   */
  async embed(texts: readonly string[], options: CallOptions = {}): Promise<Float32Array> {
    if (this.kind !== 'bi-encoder') throw new InputError('embed() needs a bi-encoder (sentence-transformers) model', { code: 'NOT_A_BI_ENCODER' });
    checkDocuments(texts);
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw new InputError(`text ${i} is not a string`, { code: 'BAD_DOCUMENT' });
    });
    return this.enqueue(options, (guard) => this.embedNow(texts, guard));
  }

  /** Reorders documents by score, best first; ties keep input order. */
  async rerank<T>(query: string, documents: readonly T[], options: RerankOptions = {}): Promise<RerankResult<T>[]> {
    checkQuery(query);
    checkDocuments(documents);
    const field = options.textField ?? 'text';
    const texts = documents.map((d, i) => documentText(d, field, i));
    const k = options.topK ?? documents.length;
    if (!Number.isInteger(k) || k <= 0) throw new InputError(`topK must be a positive integer, got ${options.topK}`, { code: 'BAD_OPTION' });
    const scores = await this.enqueue(options, (guard) => this.scoreNow(query, texts, guard));
    const { indices } = topK(scores, Math.min(k, documents.length));
    return Array.from(indices, (index) => ({ index, score: scores[index], document: documents[index] }));
  }

  /** Frees GPU buffers and the tokenizer; waits for queued calls first. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue.catch(() => undefined);
    this.bert.dispose();
    this.tokenizer.dispose();
    if (this.ownsRuntime) this.rt.destroy();
  }

  private async scoreNow(query: string, documents: readonly string[], guard: Guard): Promise<Float32Array> {
    if (this.kind === 'cross-encoder') return this.crossScores(documents.map(() => query), documents, guard);
    const qEmb = await this.embedNow([query], guard);
    const dEmb = await this.embedNow(documents, guard);
    return cosines(qEmb, dEmb, this.model.config.hiddenSize, () => 0);
  }

  private async crossScores(queries: readonly string[], documents: readonly string[], guard: Guard): Promise<Float32Array> {
    const batch = this.tokenizer.encodePairs(queries, documents, { maxLength: this.maxLength, truncation: this.truncation });
    const labels = this.model.numLabels;
    const out = await this.runPlanned(batch, labels, guard);
    if (labels === 1) return out;
    const first = new Float32Array(batch.size);
    for (let i = 0; i < batch.size; i++) first[i] = out[i * labels];
    return first;
  }

  /** Pooled (and, per the model's modules, normalised) embeddings of single texts, [n × hidden]. */
  private embedNow(texts: readonly string[], guard: Guard): Promise<Float32Array> {
    const batch = this.tokenizer.encode(texts, { maxLength: this.maxLength });
    return this.runPlanned(batch, this.model.config.hiddenSize, guard);
  }

  /** Runs an encoded batch through the model in planned GPU batches; rows of `width` in input order. */
  private async runPlanned(batch: EncodedBatch, width: number, guard: Guard): Promise<Float32Array> {
    const plan: BatchPlan = planBatches(batch.lengths, { tokenBudget: this.batchTokens });
    const out = new Float32Array(batch.size * width);
    for (const { indices, paddedLength } of plan) {
      guard.check();
      const rows = gatherRows(batch, indices, paddedLength);
      const result = await this.forwardWithRecovery(rows);
      for (let r = 0; r < indices.length; r++) {
        out.set(result.subarray(r * width, (r + 1) * width), indices[r] * width);
      }
    }
    guard.check();
    for (let i = 0; i < out.length; i++) {
      if (!Number.isFinite(out[i])) throw new GpurankError(`the model produced a non-finite score for row ${Math.floor(i / width)}`, { code: 'NON_FINITE_SCORE' });
    }
    return out;
  }

  /** A lost device is re-acquired once and the batch retried; a second loss is final. */
  private async forwardWithRecovery(rows: Rows): Promise<Float32Array> {
    try {
      return await this.bert.forward(rows);
    } catch (err) {
      if (!(err instanceof DeviceLostError)) throw err;
      try {
        await this.rt.reacquire();
        this.bert = await BertGpu.create(this.rt, this.model, { dtype: this.dtype, maxTokens: this.batchTokens, maxRows: this.batchTokens });
        return await this.bert.forward(rows);
      } catch (again) {
        if (again instanceof DeviceLostError) {
          throw new DeviceLostError(again.reason, `lost again after re-acquiring the device once (${again.gpuMessage || err.gpuMessage})`);
        }
        throw again;
      }
    }
  }

  /** Runs `job` after every earlier call, honouring the signal and timeout while queued and between batches. */
  private enqueue<T>(options: CallOptions, job: (guard: Guard) => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new GpurankError('the reranker has been disposed', { code: 'DISPOSED' }));
    const guard = new Guard(options);
    const run = this.queue.then(() => {
      guard.check();
      return job(guard);
    });
    this.queue = run.catch(() => undefined);
    // The caller hears of an abort or timeout at once, even while queued; the job itself stops at its next batch.
    return guard.race(run).finally(() => guard.release());
  }
}

type Rows = { ids: Uint32Array; typeIds: Uint32Array; lengths: Uint32Array; paddedLength: number; size: number };

/** The rows of `indices`, back to back (unpadded), with their lengths. */
function gatherRows(batch: EncodedBatch, indices: Uint32Array, paddedLength: number): Rows {
  let total = 0;
  for (const i of indices) total += batch.lengths[i];
  const ids = new Uint32Array(total);
  const typeIds = new Uint32Array(total);
  const lengths = new Uint32Array(indices.length);
  let at = 0;
  indices.forEach((i, r) => {
    const a = batch.offsets[i];
    const b = batch.offsets[i + 1];
    ids.set(batch.ids.subarray(a, b), at);
    typeIds.set(batch.typeIds.subarray(a, b), at);
    lengths[r] = b - a;
    at += b - a;
  });
  return { ids, typeIds, lengths, paddedLength, size: indices.length };
}

/** Cosine of each document row with the query row `queryRow(i)`; rows need not be normalised. */
function cosines(q: Float32Array, d: Float32Array, hidden: number, queryRow: (i: number) => number): Float32Array {
  const n = d.length / hidden;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const qo = queryRow(i) * hidden;
    let dot = 0;
    let qq = 0;
    let dd = 0;
    for (let j = 0; j < hidden; j++) {
      const a = q[qo + j];
      const b = d[i * hidden + j];
      dot += a * b;
      qq += a * a;
      dd += b * b;
    }
    out[i] = qq > 0 && dd > 0 ? dot / Math.sqrt(qq * dd) : 0;
  }
  return out;
}

function checkQuery(query: unknown): void {
  if (typeof query !== 'string') throw new InputError('the query must be a string', { code: 'BAD_QUERY' });
  if (query.trim() === '') throw new InputError('the query is empty', { code: 'EMPTY_QUERY' });
}

function checkDocuments(documents: unknown): void {
  if (!Array.isArray(documents)) throw new InputError('documents must be an array', { code: 'BAD_DOCUMENTS' });
  if (documents.length === 0) throw new InputError('the document list is empty', { code: 'EMPTY_DOCUMENTS' });
}

/** A document's text: the string itself, or the (dotted) field of an object; arrays are joined. */
export function documentText(doc: unknown, field: string, index: number): string {
  if (typeof doc === 'string') return doc;
  if (doc === null || typeof doc !== 'object') {
    throw new InputError(`document ${index} is neither a string nor an object`, { code: 'BAD_DOCUMENT' });
  }
  let value: unknown = doc;
  for (const part of field.split('.')) {
    value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  }
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(' ');
  if (typeof value !== 'string') throw new InputError(`document ${index} has no string field '${field}'`, { code: 'MISSING_FIELD' });
  return value;
}

/** Cancellation and deadline of one call. */
class Guard {
  private readonly signal?: AbortSignal;
  private readonly timeoutMs?: number;
  private timer?: ReturnType<typeof setTimeout>;
  private failure?: GpurankError;
  private rejectWait?: (err: GpurankError) => void;
  private readonly onAbort = () => this.fail(new RerankAbortedError(this.signal?.reason));

  constructor(options: CallOptions) {
    this.signal = options.signal;
    this.timeoutMs = options.timeoutMs;
    if (options.timeoutMs !== undefined) {
      if (!(options.timeoutMs > 0)) throw new InputError(`timeoutMs must be positive, got ${options.timeoutMs}`, { code: 'BAD_OPTION' });
      this.timer = setTimeout(() => this.fail(new RerankTimeoutError(options.timeoutMs!)), options.timeoutMs);
    }
    if (this.signal?.aborted) this.failure = new RerankAbortedError(this.signal.reason);
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private fail(err: GpurankError): void {
    this.failure ??= err;
    this.rejectWait?.(this.failure);
  }

  /** Throws if the call was aborted or timed out. */
  check(): void {
    if (this.failure) throw this.failure;
  }

  /** Settles with `work`, or earlier with the abort/timeout error. */
  race<T>(work: Promise<T>): Promise<T> {
    return Promise.race([
      work,
      new Promise<never>((_, reject) => {
        if (this.failure) reject(this.failure);
        this.rejectWait = reject;
      }),
    ]);
  }

  release(): void {
    if (this.timer) clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}
