/**
 * The BERT forward pass composed from the kernels' CPU references: the oracle for the GPU graph
 * (`bert.ts`) and a check of the references themselves against PyTorch's goldens. Slow (plain loops):
 * meant for tiny models and short inputs.
 *
 * Graph: embeddings (+LayerNorm) → N × [Q, K, V; attention; output dense; residual + LayerNorm;
 * intermediate dense + GELU; output dense; residual + LayerNorm] → cross-encoder: [CLS] → pooler dense
 * (tanh) → classifier; bi-encoder: mean or [CLS] pooling (+ L2 normalisation).
 */
import { InputError, ModelLoadError } from '../errors.js';
import { attentionCpu } from './kernels/attention.js';
import { embeddingCpu } from './kernels/embedding.js';
import { layernormCpu } from './kernels/layernorm.js';
import { matmulCpu } from './kernels/matmul.js';
import { poolingCpu } from './kernels/pooling.js';
import type { LoadedModel } from './load.js';
import { paramView } from './params.js';

/**
 * A batch of token rows, back to back (as the tokenizer returns them): row r is `lengths[r]` tokens
 * of `ids`/`typeIds` after the rows before it. The forward pads them into [size, paddedLength].
 */
export interface BertBatch {
  ids: ArrayLike<number>;
  typeIds: ArrayLike<number>;
  lengths: ArrayLike<number>;
  /** Padded length L of the batch: at least the longest row, at most max_position_embeddings. */
  paddedLength: number;
  /** Number of rows. */
  size: number;
}

/** The batch padded into [size, paddedLength] u32 ids and type ids (pad id 0), after checking it. */
export interface PaddedBatch {
  ids: Uint32Array;
  typeIds: Uint32Array;
  lengths: Uint32Array;
  size: number;
  length: number;
}

/** Checks a batch against the model and pads it; every problem is an InputError naming the row. */
export function padBatch(model: LoadedModel, batch: BertBatch): PaddedBatch {
  const { config } = model;
  const { size, paddedLength: L } = batch;
  if (!Number.isInteger(size) || size < 0) throw new InputError(`batch size ${size} is not a non-negative integer`);
  if (batch.lengths.length !== size) throw new InputError(`batch of ${size} rows has ${batch.lengths.length} lengths`);
  if (!Number.isInteger(L) || L < 1 || L > config.maxPositionEmbeddings) {
    throw new InputError(`padded length ${L} must be an integer in 1..${config.maxPositionEmbeddings} (max_position_embeddings)`);
  }
  if (batch.typeIds.length !== batch.ids.length) throw new InputError(`batch has ${batch.ids.length} ids but ${batch.typeIds.length} type ids`);
  const ids = new Uint32Array(size * L);
  const typeIds = new Uint32Array(size * L);
  const lengths = new Uint32Array(size);
  let at = 0;
  for (let r = 0; r < size; r++) {
    const len = batch.lengths[r];
    if (!Number.isInteger(len) || len < 1 || len > L) throw new InputError(`row ${r}: length ${len} must be an integer in 1..${L} (the padded length)`);
    if (at + len > batch.ids.length) throw new InputError(`row ${r}: the lengths add up to more than the ${batch.ids.length} ids given`);
    lengths[r] = len;
    for (let l = 0; l < len; l++, at++) {
      const id = batch.ids[at];
      const type = batch.typeIds[at];
      if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) throw new InputError(`row ${r}, token ${l}: id ${id} is outside the vocabulary (0..${config.vocabSize - 1})`);
      if (!Number.isInteger(type) || type < 0 || type >= config.typeVocabSize) {
        throw new InputError(`row ${r}, token ${l}: token type ${type} is outside 0..${config.typeVocabSize - 1}`);
      }
      ids[r * L + l] = id;
      typeIds[r * L + l] = type;
    }
  }
  if (at !== batch.ids.length) throw new InputError(`the lengths add up to ${at} tokens but ${batch.ids.length} ids were given`);
  return { ids, typeIds, lengths, size, length: L };
}

/** What the GPU graph and this reference both support; anything else is refused up front. */
export function checkSupported(model: LoadedModel): void {
  const { config } = model;
  if (config.hiddenAct !== 'gelu') {
    throw new ModelLoadError(`${model.dir}: hidden_act '${config.hiddenAct}' is not supported yet (only the exact erf GELU, 'gelu')`, { code: 'MODEL_UNSUPPORTED' });
  }
}

export interface BertCpuResult {
  /** Logits [size × numLabels] (cross-encoder) or pooled embeddings [size × hidden] (bi-encoder). */
  output: Float32Array;
  /** With `keepHidden`: the embeddings output, then each layer's output, each [size, L, hidden]. */
  hidden: Float32Array[];
}

export function bertForwardCpu(model: LoadedModel, batch: BertBatch, options: { keepHidden?: boolean } = {}): BertCpuResult {
  checkSupported(model);
  const { config, params } = model;
  const p = (name: string) => paramView(params, name);
  const padded = padBatch(model, batch);
  const { size: B, length: L, lengths } = padded;
  const H = config.hiddenSize;
  const T = B * L;
  const eps = config.layerNormEps;
  const hidden: Float32Array[] = [];
  let h = embeddingCpu(
    padded.ids,
    padded.typeIds,
    lengths,
    {
      word: p('embeddings.word_embeddings.weight'),
      position: p('embeddings.position_embeddings.weight'),
      tokenType: p('embeddings.token_type_embeddings.weight'),
      gamma: p('embeddings.LayerNorm.weight'),
      beta: p('embeddings.LayerNorm.bias'),
    },
    { batch: B, length: L, hidden: H, eps },
  );
  if (options.keepHidden) hidden.push(h);
  const dense = (x: Float32Array, name: string, m: number, n: number, k: number, act: 'none' | 'gelu' | 'tanh' = 'none') =>
    matmulCpu(x, p(`${name}.weight`), p(`${name}.bias`), m, n, k, act);
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const pre = `encoder.layer.${l}`;
    const [q, k, v] = ['query', 'key', 'value'].map((n) => dense(h, `${pre}.attention.self.${n}`, T, H, H));
    const ctx = attentionCpu(q, k, v, lengths, { batch: B, length: L, heads: config.numAttentionHeads, headDim: config.headDim });
    const attnOut = dense(ctx, `${pre}.attention.output.dense`, T, H, H);
    const h1 = layernormCpu(attnOut, h, p(`${pre}.attention.output.LayerNorm.weight`), p(`${pre}.attention.output.LayerNorm.bias`), { rows: T, hidden: H, eps });
    const inter = dense(h1, `${pre}.intermediate.dense`, T, config.intermediateSize, H, 'gelu');
    const out = dense(inter, `${pre}.output.dense`, T, H, config.intermediateSize);
    h = layernormCpu(out, h1, p(`${pre}.output.LayerNorm.weight`), p(`${pre}.output.LayerNorm.bias`), { rows: T, hidden: H, eps });
    if (options.keepHidden) hidden.push(h);
  }
  const shape = { batch: B, length: L, hidden: H };
  if (model.kind === 'bi-encoder') {
    const pooling = model.pooling ?? { mode: 'mean', normalize: false };
    return { output: poolingCpu(h, lengths, shape, pooling.mode, pooling.normalize), hidden };
  }
  const cls = poolingCpu(h, lengths, shape, 'cls', false);
  const pooled = dense(cls, 'pooler.dense', B, H, H, 'tanh');
  return { output: dense(pooled, 'classifier', B, model.numLabels, H), hidden };
}
