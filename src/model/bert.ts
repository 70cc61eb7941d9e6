/**
 * The BERT forward pass on the GPU. `create` uploads the flat parameters once (f32, or converted to
 * f16) and allocates every activation buffer for a token budget, so a forward allocates nothing but
 * its readback: it pads the batch, writes ids, encodes the whole graph into one compute pass (one
 * submit), and reads back only the outputs.
 *
 * Graph per layer (activations [B·L, ·], ping-ponged between two hidden buffers):
 *   qkv = h · [Wq; Wk; Wv]ᵀ + b      one matmul over weights fused at upload
 *   ctx = attention(qkv, lengths)    only the batch's own padded length L
 *   h'  = LN(ctx · Woᵀ + bo + h)
 *   h   = LN(GELU(h' · W1ᵀ + b1) · W2ᵀ + b2 + h')
 * then [CLS] → pooler (tanh) → classifier (cross-encoders), or mean/[CLS] pooling (+ L2) (bi-encoders).
 */
import { InputError, ModelLoadError } from '../errors.js';
import type { BufferBinding, DispatchStep, GpuRuntime } from '../gpu/index.js';
import { checkSupported, padBatch, type BertBatch, type PaddedBatch } from './bert-cpu.js';
import { Attention } from './kernels/attention.js';
import { bytesPer, checkDtype, elements, pack, unpack, type Dtype } from './kernels/common.js';
import { Embedding, embeddingBindings } from './kernels/embedding.js';
import { LayerNorm } from './kernels/layernorm.js';
import { Matmul } from './kernels/matmul.js';
import { Pooling } from './kernels/pooling.js';
import type { LoadedModel } from './load.js';
import { alignUp, paramView } from './params.js';

export interface BertGpuOptions {
  dtype: Dtype;
  /** Most padded tokens (rows × padded length) of one forward: sizes the activation buffers. */
  maxTokens: number;
  /** Most rows of one forward. */
  maxRows: number;
}

/** A batch larger than the token or row budget the model's buffers were allocated for. */
export class BatchBudgetError extends InputError {
  constructor(message: string) {
    super(message, { code: 'BATCH_OVER_BUDGET' });
  }
}

interface Kernels {
  embedding: Embedding;
  attention: Attention;
  layernorm: LayerNorm;
  matmul: Matmul;
  pooling: Pooling;
}

interface Buffers {
  params: GPUBuffer;
  qkvParams: GPUBuffer;
  ids: GPUBuffer;
  typeIds: GPUBuffer;
  lengths: GPUBuffer;
  /** The hidden state between layers, and the one between a layer's two halves. */
  h: GPUBuffer;
  mid: GPUBuffer;
  qkv: GPUBuffer;
  ctx: GPUBuffer;
  proj: GPUBuffer;
  inter: GPUBuffer;
  pooled: GPUBuffer;
  poolerOut: GPUBuffer;
  logits: GPUBuffer;
}

/** Largest finite f16. */
const F16_MAX = 65504;

/** Refuses weights that f16 cannot hold (they would turn into infinities), naming the first one. */
function checkF16Range(model: LoadedModel): void {
  for (const e of model.params.entries.values()) {
    const values = paramView(model.params, e.name);
    for (let i = 0; i < values.length; i++) {
      if (Math.abs(values[i]) > F16_MAX) {
        throw new ModelLoadError(`${model.dir}: tensor ${e.sourceName} holds ${values[i]}, beyond f16's range (±${F16_MAX}); use dtype f32`, {
          code: 'MODEL_F16_RANGE',
        });
      }
    }
  }
}

/** Where each layer's fused Q/K/V weight [3H, H] and bias [3H] sit in the fused buffer (elements). */
interface QkvSlot {
  weight: number;
  bias: number;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new InputError(`${name} must be a positive integer, got ${v}`);
  return v;
}

/**
 * Pads and checks a batch against the model and a graph's budget, then queues its ids, type ids and
 * lengths for upload (shared by the inference and training graphs).
 */
export function uploadBatch(
  rt: GpuRuntime,
  model: LoadedModel,
  budget: { maxRows: number; maxTokens: number },
  to: { ids: GPUBuffer; typeIds: GPUBuffer; lengths: GPUBuffer },
  batch: BertBatch,
): PaddedBatch {
  const padded = padBatch(model, batch);
  const tokens = padded.size * padded.length;
  if (padded.size > budget.maxRows) throw new BatchBudgetError(`batch of ${padded.size} rows is over the budget of ${budget.maxRows} rows`);
  if (tokens > budget.maxTokens) {
    throw new BatchBudgetError(`batch of ${padded.size} rows × ${padded.length} tokens = ${tokens} padded tokens is over the budget of ${budget.maxTokens}`);
  }
  if (padded.size > 0) {
    rt.write(to.ids, padded.ids);
    rt.write(to.typeIds, padded.typeIds);
    rt.write(to.lengths, padded.lengths);
  }
  return padded;
}

export class BertGpu {
  readonly model: LoadedModel;
  readonly dtype: Dtype;
  readonly maxTokens: number;
  readonly maxRows: number;
  /** Values per row of the output: numLabels (cross-encoder) or hidden size (bi-encoder). */
  readonly outputSize: number;
  private readonly rt: GpuRuntime;
  private readonly k: Kernels;
  private readonly b: Buffers;
  private readonly qkvSlots: QkvSlot[];
  private disposed = false;

  private constructor(rt: GpuRuntime, model: LoadedModel, options: BertGpuOptions, kernels: Kernels, buffers: Buffers, qkvSlots: QkvSlot[]) {
    this.rt = rt;
    this.model = model;
    this.dtype = options.dtype;
    this.maxTokens = options.maxTokens;
    this.maxRows = options.maxRows;
    this.outputSize = model.kind === 'cross-encoder' ? model.numLabels : model.config.hiddenSize;
    this.k = kernels;
    this.b = buffers;
    this.qkvSlots = qkvSlots;
  }

  static async create(rt: GpuRuntime, model: LoadedModel, options: BertGpuOptions): Promise<BertGpu> {
    checkSupported(model);
    checkDtype(rt, options.dtype, 'BERT forward');
    const maxTokens = positiveInt('maxTokens', options.maxTokens);
    const maxRows = Math.min(positiveInt('maxRows', options.maxRows), maxTokens);
    const { dtype } = options;
    if (dtype === 'f16') checkF16Range(model);
    const { config } = model;
    const H = config.hiddenSize;
    const kernels: Kernels = {
      embedding: await Embedding.create(rt, { dtype }),
      attention: await Attention.create(rt, { dtype, headDim: config.headDim }),
      layernorm: await LayerNorm.create(rt, { dtype }),
      matmul: await Matmul.create(rt, { dtype }),
      pooling: await Pooling.create(rt, { dtype }),
    };

    // One [3H, H] weight and [3H] bias per layer, so Q, K and V are one matmul with three times the
    // columns (better use of the register blocks than three thin ones).
    const slots: QkvSlot[] = [];
    let at = 0;
    for (let l = 0; l < config.numHiddenLayers; l++) {
      const weight = at;
      const bias = alignUp(weight + 3 * H * H);
      at = alignUp(bias + 3 * H);
      slots.push({ weight, bias });
    }
    const fused = new Float32Array(Math.max(at, 1));
    slots.forEach(({ weight, bias }, l) => {
      ['query', 'key', 'value'].forEach((name, j) => {
        const pre = `encoder.layer.${l}.attention.self.${name}`;
        fused.set(paramView(model.params, `${pre}.weight`), weight + j * H * H);
        fused.set(paramView(model.params, `${pre}.bias`), bias + j * H);
      });
    });

    const bpe = bytesPer(dtype);
    const act = (n: number, label: string) => rt.storageBuffer(Math.max(n * bpe, 4), { label });
    const created: GPUBuffer[] = [];
    const track = async (p: Promise<GPUBuffer>) => {
      const buf = await p;
      created.push(buf);
      return buf;
    };
    try {
      const buffers: Buffers = {
        params: await track(rt.storageBuffer(pack(model.params.data, dtype), { label: 'bert params' })),
        qkvParams: await track(rt.storageBuffer(pack(fused, dtype), { label: 'bert fused qkv params' })),
        ids: await track(rt.storageBuffer(maxTokens * 4, { label: 'bert ids' })),
        typeIds: await track(rt.storageBuffer(maxTokens * 4, { label: 'bert type ids' })),
        lengths: await track(rt.storageBuffer(maxRows * 4, { label: 'bert lengths' })),
        h: await track(act(maxTokens * H, 'bert hidden')),
        mid: await track(act(maxTokens * H, 'bert hidden (mid-layer)')),
        qkv: await track(act(maxTokens * 3 * H, 'bert qkv')),
        ctx: await track(act(maxTokens * H, 'bert attention context')),
        proj: await track(act(maxTokens * H, 'bert projection')),
        inter: await track(act(maxTokens * config.intermediateSize, 'bert intermediate')),
        pooled: await track(act(maxRows * H, 'bert pooled')),
        poolerOut: await track(act(maxRows * H, 'bert pooler output')),
        logits: await track(act(maxRows * Math.max(model.numLabels, 1), 'bert logits')),
      };
      return new BertGpu(rt, model, { dtype, maxTokens, maxRows }, kernels, buffers, slots);
    } catch (err) {
      for (const buf of created) buf.destroy();
      throw err;
    }
  }

  /**
   * Logits [size × numLabels] (cross-encoder) or pooled embeddings [size × hidden] (bi-encoder).
   * Everything up to the readback's submit happens synchronously, so overlapping calls stay in
   * queue order and never see each other's inputs.
   */
  async forward(batch: BertBatch): Promise<Float32Array> {
    const padded = this.upload(batch);
    if (padded.size === 0) return new Float32Array(0);
    const { size: B, length: L } = padded;
    this.rt.dispatch([...this.embeddingSteps(B, L), ...this.layers(B, L), ...this.headSteps(B, L)]);
    return this.readBack(this.model.kind === 'cross-encoder' ? this.b.logits : this.b.pooled, B * this.outputSize);
  }

  /**
   * The embeddings output and each layer's output, each [size, paddedLength, hidden] as f32 (padding
   * rows included): for layer-by-layer comparisons. One submit and one readback per layer.
   */
  async hiddenStates(batch: BertBatch): Promise<Float32Array[]> {
    const padded = this.upload(batch);
    if (padded.size === 0) return [];
    const { size: B, length: L } = padded;
    const n = B * L * this.model.config.hiddenSize;
    this.rt.dispatch(this.embeddingSteps(B, L));
    const states = [await this.readBack(this.b.h, n)];
    for (let l = 0; l < this.model.config.numHiddenLayers; l++) {
      this.rt.dispatch(this.layerSteps(l, B, L));
      states.push(await this.readBack(this.b.h, n));
    }
    return states;
  }

  /** Frees the GPU buffers; the model is unusable afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const buf of Object.values(this.b)) buf.destroy();
    for (const kernel of Object.values(this.k)) kernel.destroy();
  }

  private upload(batch: BertBatch): PaddedBatch {
    if (this.disposed) throw new InputError('this BertGpu was disposed');
    return uploadBatch(this.rt, this.model, this, this.b, batch);
  }

  private async readBack(buffer: GPUBuffer, count: number): Promise<Float32Array> {
    const [bytes] = await this.rt.read([{ buffer, offset: 0, size: Math.ceil((count * bytesPer(this.dtype)) / 4) * 4 }]);
    return this.dtype === 'f32' ? new Float32Array(bytes, 0, count) : unpack(bytes, this.dtype, count);
  }

  private param(name: string): BufferBinding {
    const e = this.model.params.entries.get(name);
    if (!e) throw new InputError(`model has no parameter ${name}`);
    return elements(this.b.params, this.dtype, e.offset, e.size);
  }

  private embeddingSteps(B: number, L: number): DispatchStep[] {
    const { config } = this.model;
    return [
      this.k.embedding.step({
        batch: B,
        length: L,
        hidden: config.hiddenSize,
        eps: config.layerNormEps,
        ids: this.b.ids,
        typeIds: this.b.typeIds,
        lengths: this.b.lengths,
        ...embeddingBindings((n) => this.param(n)),
        y: this.b.h,
      }),
    ];
  }

  private layers(B: number, L: number): DispatchStep[] {
    return Array.from({ length: this.model.config.numHiddenLayers }, (_, l) => this.layerSteps(l, B, L)).flat();
  }

  private layerSteps(l: number, B: number, L: number): DispatchStep[] {
    const { config } = this.model;
    const H = config.hiddenSize;
    const I = config.intermediateSize;
    const T = B * L;
    const eps = config.layerNormEps;
    const pre = `encoder.layer.${l}`;
    const slot = this.qkvSlots[l];
    const { b, k } = this;
    const w = (n: string) => this.param(`${pre}.${n}.weight`);
    const bias = (n: string) => this.param(`${pre}.${n}.bias`);
    return [
      k.matmul.step({
        x: b.h,
        w: elements(b.qkvParams, this.dtype, slot.weight, 3 * H * H),
        bias: elements(b.qkvParams, this.dtype, slot.bias, 3 * H),
        y: b.qkv,
        m: T,
        n: 3 * H,
        k: H,
      }),
      k.attention.step({
        batch: B,
        length: L,
        heads: config.numAttentionHeads,
        headDim: config.headDim,
        layout: { stride: 3 * H, qOffset: 0, kOffset: H, vOffset: 2 * H },
        lengths: b.lengths,
        q: b.qkv,
        k: b.qkv,
        v: b.qkv,
        out: b.ctx,
      }),
      k.matmul.step({ x: b.ctx, w: w('attention.output.dense'), bias: bias('attention.output.dense'), y: b.proj, m: T, n: H, k: H }),
      k.layernorm.step({
        rows: T,
        hidden: H,
        eps,
        x: b.proj,
        residual: b.h,
        gamma: w('attention.output.LayerNorm'),
        beta: bias('attention.output.LayerNorm'),
        y: b.mid,
      }),
      k.matmul.step({ x: b.mid, w: w('intermediate.dense'), bias: bias('intermediate.dense'), y: b.inter, m: T, n: I, k: H, activation: 'gelu' }),
      k.matmul.step({ x: b.inter, w: w('output.dense'), bias: bias('output.dense'), y: b.proj, m: T, n: H, k: I }),
      k.layernorm.step({ rows: T, hidden: H, eps, x: b.proj, residual: b.mid, gamma: w('output.LayerNorm'), beta: bias('output.LayerNorm'), y: b.h }),
    ];
  }

  private headSteps(B: number, L: number): DispatchStep[] {
    const { model, b, k } = this;
    const H = model.config.hiddenSize;
    const shape = { batch: B, length: L, hidden: H, lengths: b.lengths, x: b.h, y: b.pooled };
    if (model.kind === 'bi-encoder') {
      const pooling = model.pooling ?? { mode: 'mean', normalize: false };
      return k.pooling.step({ ...shape, mode: pooling.mode, normalize: pooling.normalize });
    }
    return [
      ...k.pooling.step({ ...shape, mode: 'cls', normalize: false }),
      k.matmul.step({ x: b.pooled, w: this.param('pooler.dense.weight'), bias: this.param('pooler.dense.bias'), y: b.poolerOut, m: B, n: H, k: H, activation: 'tanh' }),
      k.matmul.step({ x: b.poolerOut, w: this.param('classifier.weight'), bias: this.param('classifier.bias'), y: b.logits, m: B, n: model.numLabels, k: H }),
    ];
  }
}
