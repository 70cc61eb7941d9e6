/**
 * BERT embeddings with the LayerNorm fused: y[b, l] = LN(word[ids] + position[l] + tokenType[typeIds]),
 * over a padded [batch, length] layout; padding tokens (l >= lengths[b]) come out as zeros.
 */
import { InputError } from '../../errors.js';
import type { BufferBinding, DispatchStep, GpuRuntime } from '../../gpu/index.js';
import { checkDtype, grid, params, shaderSource, StepCache, type KernelOptions } from './common.js';
import { layernormCpu } from './layernorm.js';
import { Scratch } from './scratch.js';

export interface EmbeddingShape {
  batch: number;
  /** Padded length L of every row. */
  length: number;
  hidden: number;
  eps: number;
}

export interface EmbeddingWeights {
  word: ArrayLike<number>;
  position: ArrayLike<number>;
  tokenType: ArrayLike<number>;
  gamma: ArrayLike<number>;
  beta: ArrayLike<number>;
}

type ArrayType<A> = new (n: number) => A;

/**
 * CPU reference. `ids` and `typeIds` are [batch, length]; `lengths` per row. `Out` picks the storage of
 * the sums and the result (Float64Array for gradient checks).
 */
export function embeddingCpu<A extends Float32Array | Float64Array = Float32Array>(
  ids: ArrayLike<number>,
  typeIds: ArrayLike<number>,
  lengths: ArrayLike<number>,
  w: EmbeddingWeights,
  shape: EmbeddingShape,
  Out: ArrayType<A> = Float32Array as unknown as ArrayType<A>,
): A {
  const { batch, length, hidden, eps } = shape;
  const sum = new Out(batch * length * hidden);
  const valid: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let l = 0; l < Math.min(lengths[b], length); l++) {
      const t = b * length + l;
      valid.push(t);
      for (let c = 0; c < hidden; c++) {
        sum[t * hidden + c] = w.word[ids[t] * hidden + c] + w.position[l * hidden + c] + w.tokenType[typeIds[t] * hidden + c];
      }
    }
  }
  const normed = layernormCpu(sum, null, w.gamma, w.beta, { rows: batch * length, hidden, eps }, new Out(batch * length * hidden));
  const y = new Out(batch * length * hidden);
  for (const t of valid) y.set(normed.subarray(t * hidden, (t + 1) * hidden), t * hidden);
  return y;
}

/** The five embedding tensors as bindings, by their HF names under `embeddings.` (`bind` resolves one). */
export function embeddingBindings(bind: (name: string) => BufferBinding): { word: BufferBinding; position: BufferBinding; tokenType: BufferBinding; gamma: BufferBinding; beta: BufferBinding } {
  const p = (n: string) => bind(`embeddings.${n}`);
  return {
    word: p('word_embeddings.weight'),
    position: p('position_embeddings.weight'),
    tokenType: p('token_type_embeddings.weight'),
    gamma: p('LayerNorm.weight'),
    beta: p('LayerNorm.bias'),
  };
}

export interface EmbeddingArgs extends EmbeddingShape {
  /** u32 [batch * length]. */
  ids: BufferBinding;
  /** u32 [batch * length]. */
  typeIds: BufferBinding;
  /** u32 [batch]. */
  lengths: BufferBinding;
  word: BufferBinding;
  position: BufferBinding;
  tokenType: BufferBinding;
  gamma: BufferBinding;
  beta: BufferBinding;
  y: BufferBinding;
}

/** Gradients of the embedding tables and their LayerNorm (shaped like the weights). */
export interface EmbeddingGrads {
  dWord: Float32Array;
  dPosition: Float32Array;
  dTokenType: Float32Array;
  dGamma: Float32Array;
  dBeta: Float32Array;
}

/**
 * CPU reference of the backward (f64 arithmetic) from dy [batch, length, hidden]: this batch's
 * gradients alone (the GPU kernel adds them to the grads buffer). Padding tokens contribute nothing.
 */
export function embeddingBackwardCpu(
  ids: ArrayLike<number>,
  typeIds: ArrayLike<number>,
  lengths: ArrayLike<number>,
  w: Omit<EmbeddingWeights, 'beta'>,
  dy: ArrayLike<number>,
  shape: EmbeddingShape,
): EmbeddingGrads {
  const { batch, length, hidden, eps } = shape;
  const [dWord, dPosition, dTokenType] = [w.word, w.position, w.tokenType].map((a) => new Float64Array(a.length));
  const dGamma = new Float64Array(hidden);
  const dBeta = new Float64Array(hidden);
  const e = new Float64Array(hidden);
  for (let b = 0; b < batch; b++) {
    for (let l = 0; l < Math.min(lengths[b], length); l++) {
      const t = b * length + l;
      const [wo, po, to] = [ids[t] * hidden, l * hidden, typeIds[t] * hidden];
      let sum = 0;
      for (let c = 0; c < hidden; c++) sum += e[c] = w.word[wo + c] + w.position[po + c] + w.tokenType[to + c];
      const mean = sum / hidden;
      let sq = 0;
      for (let c = 0; c < hidden; c++) sq += (e[c] - mean) ** 2;
      const inv = 1 / Math.sqrt(sq / hidden + eps);
      let sg = 0;
      let sgx = 0;
      for (let c = 0; c < hidden; c++) {
        e[c] = (e[c] - mean) * inv;
        const g = dy[t * hidden + c] * w.gamma[c];
        sg += g;
        sgx += g * e[c];
        dGamma[c] += dy[t * hidden + c] * e[c];
        dBeta[c] += dy[t * hidden + c];
      }
      for (let c = 0; c < hidden; c++) {
        const de = inv * (dy[t * hidden + c] * w.gamma[c] - sg / hidden - (e[c] * sgx) / hidden);
        dWord[wo + c] += de;
        dPosition[po + c] += de;
        dTokenType[to + c] += de;
      }
    }
  }
  const f32 = (a: Float64Array) => Float32Array.from(a);
  return { dWord: f32(dWord), dPosition: f32(dPosition), dTokenType: f32(dTokenType), dGamma: f32(dGamma), dBeta: f32(dBeta) };
}

/**
 * The host plan of the word-table scatter-add (u32): [U, ids[U], offsets[U + 1], tokens[N]] — the batch's
 * distinct word ids in ascending order, each with its valid token positions (t = b * length + l)
 * ascending, in tokens[offsets[u] .. offsets[u + 1]). InputError for ids outside the vocabulary or
 * arrays of the wrong size.
 */
export function embeddingBackwardPlan(ids: ArrayLike<number>, lengths: ArrayLike<number>, shape: { batch: number; length: number }, vocabSize: number): Uint32Array {
  const { batch, length } = shape;
  if (ids.length < batch * length) throw new InputError(`embedding backward: ${ids.length} ids for a batch of ${batch} x ${length} tokens`);
  if (lengths.length < batch) throw new InputError(`embedding backward: ${lengths.length} lengths for a batch of ${batch} rows`);
  const valid: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let l = 0; l < Math.min(lengths[b], length); l++) {
      const t = b * length + l;
      const id = ids[t];
      if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) throw new InputError(`embedding backward: token ${l} of row ${b} has id ${id}, outside the vocabulary of ${vocabSize}`);
      valid.push(t);
    }
  }
  // Ties keep ascending t (the array is built in t order and the sort is stable).
  valid.sort((a, b) => ids[a] - ids[b]);
  const unique: number[] = [];
  const offsets: number[] = [];
  valid.forEach((t, k) => {
    if (k === 0 || ids[t] !== ids[valid[k - 1]]) {
      unique.push(ids[t]);
      offsets.push(k);
    }
  });
  offsets.push(valid.length);
  return Uint32Array.from([unique.length, ...unique, ...offsets, ...valid]);
}

export interface EmbeddingBackwardArgs extends EmbeddingShape {
  /** The forward's GPU inputs: u32 [batch * length], [batch * length], [batch]. */
  ids: BufferBinding;
  typeIds: BufferBinding;
  lengths: BufferBinding;
  /** The same ids and lengths on the host, for the word-table plan. */
  hostIds: ArrayLike<number>;
  hostLengths: ArrayLike<number>;
  /** Rows of the word table (ids are checked against it) and of the token-type table. */
  vocabSize: number;
  typeVocabSize: number;
  /** The forward's weights (f32). */
  word: BufferBinding;
  position: BufferBinding;
  tokenType: BufferBinding;
  gamma: BufferBinding;
  /** f32 [batch, length, hidden]: gradient of the forward's y (rows of padding are not read). */
  dy: BufferBinding;
  /** f32, shaped like the weights, accumulated (+=); word rows the batch does not use are not touched. */
  dWord: BufferBinding;
  dPosition: BufferBinding;
  dTokenType: BufferBinding;
  dGamma: BufferBinding;
  dBeta: BufferBinding;
}

export interface EmbeddingOptions extends KernelOptions {
  /** Also compile the backward (f32 only). */
  training?: boolean;
}

interface Backward {
  rt: GpuRuntime;
  rows: StepCache;
  columns: StepCache;
  word: StepCache;
  /** [2, tokens, hidden]: each token's de, then dy * x̂. */
  work: Scratch;
  plan: Scratch;
}

export class Embedding {
  static readonly WG = 64;

  private constructor(
    private readonly cache: StepCache,
    private readonly backward: Backward | null,
  ) {}

  static async create(rt: GpuRuntime, { dtype, training = false }: EmbeddingOptions): Promise<Embedding> {
    if (training && dtype !== 'f32') throw new InputError(`embedding: training is f32 only, got ${dtype}`);
    checkDtype(rt, dtype, 'embedding');
    const code = await shaderSource('embedding', dtype);
    const compile = (entryPoint: string) => rt.pipeline({ code, entryPoint, constants: { WG: Embedding.WG }, label: `${entryPoint} ${dtype}` });
    const pipeline = await compile('embedding_forward');
    let backward: Backward | null = null;
    if (training) {
      const [rows, columns, word] = await Promise.all(['embedding_backward', 'embedding_backward_columns', 'embedding_backward_word'].map(compile));
      backward = {
        rt,
        rows: new StepCache(rt, rows),
        columns: new StepCache(rt, columns),
        word: new StepCache(rt, word),
        work: new Scratch(rt, 'embedding backward work'),
        plan: new Scratch(rt, 'embedding backward plan'),
      };
    }
    return new Embedding(new StepCache(rt, pipeline), backward);
  }

  step(a: EmbeddingArgs): DispatchStep {
    return this.cache.step(
      params([a.batch, a.length, a.hidden], [a.eps]),
      [a.ids, a.typeIds, a.lengths, a.word, a.position, a.tokenType, a.gamma, a.beta, a.y],
      grid(a.batch * a.length, Embedding.WG),
    );
  }

  /**
   * The backward: three dispatches (tokens; LayerNorm, position and token-type columns; word rows), to
   * run in this order. Writes the word plan of `hostIds` now (queued), so submit these steps before
   * building the next batch's. Needs `training: true` at create.
   */
  backwardSteps(a: EmbeddingBackwardArgs): DispatchStep[] {
    if (!this.backward) throw new InputError('embedding: backwardSteps needs a kernel created with training: true');
    const { rt, rows, columns, word, work, plan } = this.backward;
    const { batch, length, hidden } = a;
    const planData = embeddingBackwardPlan(a.hostIds, a.hostLengths, a, a.vocabSize);
    const planBuffer = plan.get(planData.byteLength);
    rt.write(planBuffer, planData);
    const tokens = batch * length;
    const w = work.get(2 * tokens * hidden * 4);
    const u = params([batch, length, hidden, a.typeVocabSize], [a.eps]);
    return [
      rows.step(u, [a.ids, a.typeIds, a.lengths, a.word, a.position, a.tokenType, a.gamma, a.dy, w], grid(tokens, Embedding.WG)),
      columns.step(u, [a.lengths, a.typeIds, a.dy, w, a.dGamma, a.dBeta, a.dPosition, a.dTokenType], grid((1 + length + a.typeVocabSize) * hidden, Embedding.WG)),
      word.step(u, [planBuffer, w, a.dWord], grid(planData[0] * hidden, Embedding.WG)),
    ];
  }

  /** Frees the per-shape uniform buffers (and the backward's scratch). */
  destroy(): void {
    this.cache.destroy();
    if (this.backward) {
      for (const c of [this.backward.rows, this.backward.columns, this.backward.word]) c.destroy();
      this.backward.work.destroy();
      this.backward.plan.destroy();
    }
  }
}
