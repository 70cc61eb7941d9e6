/**
 * The BERT cross-encoder graph for training: a forward that keeps every activation the backward needs,
 * and the backward, both as lists of dispatch steps over buffers allocated once for a token budget.
 * Parameters, gradients (and the optimizer's state, elsewhere) are flat f32 buffers with the layout of
 * `model.params`, so a tensor's gradient sits at the same offset as the tensor.
 *
 * Forward, per layer l (T = rows × padded length L; hs[0] = embeddings, hs[l+1] = layer l's output):
 *   q, k, v = hs[l] · Wq/Wk/Wvᵀ + b             three matmuls ([T, H] each)
 *   ctx, lse = attention(q, k, v)                 probabilities dropped out; lse kept for the backward
 *   a   = drop(ctx · Woᵀ + bo)
 *   mid = LN(a + hs[l])
 *   z   = mid · W1ᵀ + b1;  g = GELU(z)            z kept for GELU's backward
 *   f   = drop(g · W2ᵀ + b2)
 *   hs[l+1] = LN(f + mid)
 * Head: pooled = hs[N][CLS]; p = tanh(pooled · Wpᵀ + bp); scores = drop(p) · Wcᵀ + bc.
 * Dropout masks are never stored: the backward regenerates them from (seed, stream, index).
 *
 * Backward runs the same list in reverse. Parameter gradients accumulate (+=) into `grads` (zeroed by
 * `zeroGrads`); a tensor feeding two branches (the LayerNorm input and its residual, the three
 * projections of hs[l]) gets its gradient by writing one branch and accumulating the others.
 */
import { InputError } from '../errors.js';
import type { BufferBinding, DispatchStep, GpuRuntime } from '../gpu/index.js';
import { checkSupported, type BertBatch, type PaddedBatch } from './bert-cpu.js';
import { Activation } from './kernels/activation.js';
import { Attention } from './kernels/attention.js';
import { elements } from './kernels/common.js';
import { Dropout } from './kernels/dropout.js';
import { Embedding, embeddingBindings } from './kernels/embedding.js';
import { LayerNorm } from './kernels/layernorm.js';
import { Matmul } from './kernels/matmul.js';
import { Pooling } from './kernels/pooling.js';
import { uploadBatch } from './bert.js';
import type { LoadedModel } from './load.js';

export interface DropoutRates {
  /** After the embeddings and after each attention-output and FFN-output dense layer. */
  hidden: number;
  /** On the attention probabilities. */
  attention: number;
  /** On the pooled output, before the classifier. */
  classifier: number;
}

export interface BertTrainOptions {
  /** Most padded tokens (rows × padded length) of one batch. */
  maxTokens: number;
  /** Most rows (query-document pairs) of one batch. */
  maxRows: number;
  dropout: DropoutRates;
}

/** The model's own rates (HF config), as training uses them by default. */
export function configDropout(model: LoadedModel): DropoutRates {
  const c = model.config;
  return { hidden: c.hiddenDropoutProb, attention: c.attentionProbsDropoutProb, classifier: c.classifierDropout };
}

interface Kernels {
  matmul: Matmul;
  attention: Attention;
  layernorm: LayerNorm;
  embedding: Embedding;
  pooling: Pooling;
  activation: Activation;
  dropout: Dropout;
}

/** The activations one layer keeps for its backward. `aDrop`/`fDrop` exist only with hidden dropout. */
interface LayerBuffers {
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  ctx: GPUBuffer;
  lse: GPUBuffer;
  a: GPUBuffer;
  aDrop?: GPUBuffer;
  mid: GPUBuffer;
  z: GPUBuffer;
  g: GPUBuffer;
  f: GPUBuffer;
  fDrop?: GPUBuffer;
  /** hs[l + 1]. */
  out: GPUBuffer;
}

interface Buffers {
  params: GPUBuffer;
  grads: GPUBuffer;
  ids: GPUBuffer;
  typeIds: GPUBuffer;
  lengths: GPUBuffer;
  /** Embedding LayerNorm output; hs[0] is `embDrop` when hidden dropout is on. */
  emb: GPUBuffer;
  embDrop?: GPUBuffer;
  layers: LayerBuffers[];
  pooled: GPUBuffer;
  poolerOut: GPUBuffer;
  poolerDrop?: GPUBuffer;
  scores: GPUBuffer;
  // Backward scratch, shared by all layers: [T, H] unless noted.
  dA: GPUBuffer;
  dB: GPUBuffer;
  dMid: GPUBuffer;
  dTmp: GPUBuffer;
  dCtx: GPUBuffer;
  dQ: GPUBuffer;
  dK: GPUBuffer;
  dV: GPUBuffer;
  /** [T, I]. */
  dG: GPUBuffer;
  dZ: GPUBuffer;
  /** [rows, H]. */
  dHead1: GPUBuffer;
  dHead2: GPUBuffer;
}

/** The shape and dropout of the last forward, which the backward replays. */
interface Pass {
  padded: PaddedBatch;
  rates: DropoutRates;
  seed: number;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new InputError(`${name} must be a positive integer, got ${v}`);
  return v;
}

function checkRates(r: DropoutRates): DropoutRates {
  for (const [name, p] of Object.entries(r)) {
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw new InputError(`dropout.${name} must be a number in [0, 1), got ${p}`);
  }
  return { ...r };
}

const NO_DROPOUT: DropoutRates = { hidden: 0, attention: 0, classifier: 0 };

export class BertTrainGraph {
  readonly model: LoadedModel;
  readonly maxTokens: number;
  readonly maxRows: number;
  readonly dropout: DropoutRates;
  readonly totalElements: number;
  private readonly rt: GpuRuntime;
  private readonly k: Kernels;
  private readonly b: Buffers;
  private last: Pass | undefined;
  private disposed = false;

  private constructor(rt: GpuRuntime, model: LoadedModel, options: BertTrainOptions, kernels: Kernels, buffers: Buffers) {
    this.rt = rt;
    this.model = model;
    this.maxTokens = options.maxTokens;
    this.maxRows = options.maxRows;
    this.dropout = options.dropout;
    this.totalElements = model.params.totalElements;
    this.k = kernels;
    this.b = buffers;
  }

  /** f32 [totalElements], the layout of `model.params`. */
  get params(): GPUBuffer {
    return this.b.params;
  }

  /** f32 [totalElements]: the gradients accumulated since the last `zeroGrads`. */
  get grads(): GPUBuffer {
    return this.b.grads;
  }

  /** f32 [maxRows]: the logits of the last forward, in the batch's row order. */
  get scores(): GPUBuffer {
    return this.b.scores;
  }

  static async create(rt: GpuRuntime, model: LoadedModel, options: BertTrainOptions): Promise<BertTrainGraph> {
    checkSupported(model);
    if (model.kind !== 'cross-encoder' || model.numLabels !== 1) {
      throw new InputError(`training needs a cross-encoder with one label; ${model.dir} is a ${model.kind} with ${model.numLabels} labels (make a fresh head first)`, {
        code: 'TRAIN_MODEL_KIND',
      });
    }
    if (model.config.hiddenAct !== 'gelu') {
      throw new InputError(`training supports hidden_act "gelu" (exact erf), not ${model.config.hiddenAct}`, { code: 'TRAIN_MODEL_KIND' });
    }
    const maxTokens = positiveInt('maxTokens', options.maxTokens);
    const maxRows = Math.min(positiveInt('maxRows', options.maxRows), maxTokens);
    const dropout = checkRates(options.dropout);
    const { config } = model;
    const H = config.hiddenSize;
    const I = config.intermediateSize;
    const dtype = 'f32';
    const kernels: Kernels = {
      matmul: await Matmul.create(rt, { dtype, backward: true }),
      attention: await Attention.create(rt, { dtype, headDim: config.headDim, training: true }),
      layernorm: await LayerNorm.create(rt, { dtype, training: true }),
      embedding: await Embedding.create(rt, { dtype, training: true }),
      pooling: await Pooling.create(rt, { dtype, backward: true }),
      activation: await Activation.create(rt),
      dropout: await Dropout.create(rt),
    };
    const created: GPUBuffer[] = [];
    const buf = async (floats: number, label: string): Promise<GPUBuffer> => {
      const b = await rt.storageBuffer(Math.max(floats * 4, 16), { label });
      created.push(b);
      return b;
    };
    const T = maxTokens;
    const hidden = dropout.hidden > 0;
    try {
      const params = await rt.storageBuffer(model.params.data, { label: 'train params' });
      created.push(params);
      const layers: LayerBuffers[] = [];
      for (let l = 0; l < config.numHiddenLayers; l++) {
        const n = (what: string) => `layer ${l} ${what}`;
        layers.push({
          q: await buf(T * H, n('q')),
          k: await buf(T * H, n('k')),
          v: await buf(T * H, n('v')),
          ctx: await buf(T * H, n('context')),
          lse: await buf(T * config.numAttentionHeads, n('attention lse')),
          a: await buf(T * H, n('attention output')),
          aDrop: hidden ? await buf(T * H, n('attention output (dropped)')) : undefined,
          mid: await buf(T * H, n('mid')),
          z: await buf(T * I, n('ffn pre-activation')),
          g: await buf(T * I, n('ffn activation')),
          f: await buf(T * H, n('ffn output')),
          fDrop: hidden ? await buf(T * H, n('ffn output (dropped)')) : undefined,
          out: await buf(T * H, n('output')),
        });
      }
      const buffers: Buffers = {
        params,
        grads: await buf(model.params.totalElements, 'train grads'),
        ids: await buf(T, 'train ids'),
        typeIds: await buf(T, 'train type ids'),
        lengths: await buf(maxRows, 'train lengths'),
        emb: await buf(T * H, 'embeddings'),
        embDrop: hidden ? await buf(T * H, 'embeddings (dropped)') : undefined,
        layers,
        pooled: await buf(maxRows * H, 'pooled'),
        poolerOut: await buf(maxRows * H, 'pooler output'),
        poolerDrop: dropout.classifier > 0 ? await buf(maxRows * H, 'pooler output (dropped)') : undefined,
        scores: await buf(maxRows, 'scores'),
        dA: await buf(T * H, 'grad hidden A'),
        dB: await buf(T * H, 'grad hidden B'),
        dMid: await buf(T * H, 'grad mid'),
        dTmp: await buf(T * H, 'grad dropout'),
        dCtx: await buf(T * H, 'grad context'),
        dQ: await buf(T * H, 'grad q'),
        dK: await buf(T * H, 'grad k'),
        dV: await buf(T * H, 'grad v'),
        dG: await buf(T * I, 'grad ffn activation'),
        dZ: await buf(T * I, 'grad ffn pre-activation'),
        dHead1: await buf(maxRows * H, 'grad head 1'),
        dHead2: await buf(maxRows * H, 'grad head 2'),
      };
      return new BertTrainGraph(rt, model, { maxTokens, maxRows, dropout }, kernels, buffers);
    } catch (err) {
      for (const b of created) b.destroy();
      throw err;
    }
  }

  /** Bytes of the GPU buffers this graph allocated (parameters, gradients, activations, scratch). */
  get allocatedBytes(): number {
    const { layers, ...rest } = this.b;
    const all = [...Object.values(rest), ...layers.flatMap((l) => Object.values(l))] as (GPUBuffer | undefined)[];
    return all.reduce((s, b) => s + (b ? b.size : 0), 0);
  }

  /** Zeroes the gradients (a queued clear: it runs before any dispatch submitted after it). */
  zeroGrads(): void {
    this.check();
    this.rt.clear([this.b.grads]);
  }

  /**
   * Uploads the batch and returns the forward's steps (not yet dispatched): logits into `scores`.
   * With `train`, dropout runs at the graph's rates with masks drawn from `seed` (a u32).
   */
  forwardSteps(batch: BertBatch, o: { train: boolean; seed: number }): DispatchStep[] {
    this.check();
    if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) throw new InputError(`seed must be a u32, got ${o.seed}`);
    const padded = uploadBatch(this.rt, this.model, this, this.b, batch);
    const rates = o.train ? this.dropout : NO_DROPOUT;
    this.last = { padded, rates, seed: o.seed };
    if (padded.size === 0) return [];
    return [...this.embeddingForward(), ...this.model.config.numHiddenLayers ? this.layersForward() : [], ...this.headForward()];
  }

  /**
   * The backward of the last forward from dScores ([rows] f32, the loss's output): accumulates every
   * parameter's gradient into `grads`.
   */
  backwardSteps(dScores: BufferBinding): DispatchStep[] {
    this.check();
    if (!this.last) throw new InputError('backwardSteps needs a forward first');
    if (this.last.padded.size === 0) return [];
    const steps = this.headBackward(dScores);
    for (let l = this.model.config.numHiddenLayers - 1; l >= 0; l--) steps.push(...this.layerBackward(l));
    steps.push(...this.embeddingBackward());
    return steps;
  }

  /** Eval-mode logits of a batch (no dropout): one submit and one readback. */
  async score(batch: BertBatch): Promise<Float32Array> {
    const steps = this.forwardSteps(batch, { train: false, seed: 0 });
    const rows = this.last!.padded.size;
    if (rows === 0) return new Float32Array(0);
    this.rt.dispatch(steps);
    const [bytes] = await this.rt.read([{ buffer: this.b.scores, offset: 0, size: rows * 4 }]);
    return new Float32Array(bytes);
  }

  async readParams(): Promise<Float32Array> {
    this.check();
    return new Float32Array((await this.rt.read([this.b.params]))[0]);
  }

  async readGrads(): Promise<Float32Array> {
    this.check();
    return new Float32Array((await this.rt.read([this.b.grads]))[0]);
  }

  writeParams(data: Float32Array): void {
    this.check();
    if (data.length !== this.totalElements) throw new InputError(`writeParams: expected ${this.totalElements} values, got ${data.length}`);
    this.rt.write(this.b.params, data);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const { layers, ...rest } = this.b;
    for (const b of [...Object.values(rest), ...layers.flatMap((l) => Object.values(l))] as (GPUBuffer | undefined)[]) b?.destroy();
    for (const kernel of Object.values(this.k)) kernel.destroy();
  }

  private check(): void {
    if (this.disposed) throw new InputError('this BertTrainGraph was disposed');
  }

  private param(name: string): BufferBinding {
    const e = this.model.params.entries.get(name);
    if (!e) throw new InputError(`model has no parameter ${name}`);
    return elements(this.b.params, 'f32', e.offset, e.size);
  }

  private grad(name: string): BufferBinding {
    const e = this.model.params.entries.get(name)!;
    return elements(this.b.grads, 'f32', e.offset, e.size);
  }

  private get shape() {
    const { padded } = this.last!;
    const c = this.model.config;
    return { B: padded.size, L: padded.length, T: padded.size * padded.length, H: c.hiddenSize, I: c.intermediateSize, heads: c.numAttentionHeads, headDim: c.headDim, eps: c.layerNormEps };
  }

  /** Dropout streams: 0 the embeddings; 1 + 3l, 2 + 3l, 3 + 3l layer l's probabilities, attention
   * output and FFN output; 1 + 3N the classifier's. */
  private stream(layer: number, site: 0 | 1 | 2): number {
    return 1 + 3 * layer + site;
  }

  /** Forward dropout x → y over `count` values, or nothing when the rate is 0 (y is then x). */
  private drop(x: GPUBuffer, y: GPUBuffer | undefined, count: number, p: number, stream: number): DispatchStep[] {
    if (p === 0 || !y) return [];
    return [this.k.dropout.forwardStep({ x, y, count, p, seed: this.last!.seed, stream })];
  }

  /** Backward dropout dy → dx, or nothing (the caller then uses dy) when the rate is 0. */
  private dropBack(dy: GPUBuffer, dx: GPUBuffer, count: number, p: number, stream: number): DispatchStep[] {
    if (p === 0) return [];
    return [this.k.dropout.backwardStep({ dy, dx, count, p, seed: this.last!.seed, stream })];
  }

  /** hs[l]: the input of layer l. */
  private hidden(l: number): GPUBuffer {
    if (l === 0) return this.last!.rates.hidden > 0 ? this.b.embDrop! : this.b.emb;
    return this.b.layers[l - 1].out;
  }

  private embeddingForward(): DispatchStep[] {
    const { B, L, T, H, eps } = this.shape;
    return [
      this.k.embedding.step({
        batch: B,
        length: L,
        hidden: H,
        eps,
        ids: this.b.ids,
        typeIds: this.b.typeIds,
        lengths: this.b.lengths,
        ...embeddingBindings((n) => this.param(n)),
        y: this.b.emb,
      }),
      ...this.drop(this.b.emb, this.b.embDrop, T * H, this.last!.rates.hidden, 0),
    ];
  }

  private layersForward(): DispatchStep[] {
    return Array.from({ length: this.model.config.numHiddenLayers }, (_, l) => this.layerForward(l)).flat();
  }

  private layerForward(l: number): DispatchStep[] {
    const { B, L, T, H, I, heads, headDim, eps } = this.shape;
    const { rates, seed } = this.last!;
    const x = this.b.layers[l];
    const h = this.hidden(l);
    const pre = `encoder.layer.${l}`;
    const w = (n: string) => this.param(`${pre}.${n}.weight`);
    const bias = (n: string) => this.param(`${pre}.${n}.bias`);
    const mm = this.k.matmul;
    const a = rates.hidden > 0 ? x.aDrop! : x.a;
    const f = rates.hidden > 0 ? x.fDrop! : x.f;
    return [
      mm.step({ x: h, w: w('attention.self.query'), bias: bias('attention.self.query'), y: x.q, m: T, n: H, k: H }),
      mm.step({ x: h, w: w('attention.self.key'), bias: bias('attention.self.key'), y: x.k, m: T, n: H, k: H }),
      mm.step({ x: h, w: w('attention.self.value'), bias: bias('attention.self.value'), y: x.v, m: T, n: H, k: H }),
      this.k.attention.forwardTrainStep({
        batch: B,
        length: L,
        heads,
        headDim,
        lengths: this.b.lengths,
        q: x.q,
        k: x.k,
        v: x.v,
        out: x.ctx,
        lse: x.lse,
        dropout: { p: rates.attention, seed, stream: this.stream(l, 0) },
      }),
      mm.step({ x: x.ctx, w: w('attention.output.dense'), bias: bias('attention.output.dense'), y: x.a, m: T, n: H, k: H }),
      ...this.drop(x.a, x.aDrop, T * H, rates.hidden, this.stream(l, 1)),
      this.k.layernorm.step({ rows: T, hidden: H, eps, x: a, residual: h, gamma: w('attention.output.LayerNorm'), beta: bias('attention.output.LayerNorm'), y: x.mid }),
      mm.step({ x: x.mid, w: w('intermediate.dense'), bias: bias('intermediate.dense'), y: x.z, m: T, n: I, k: H }),
      this.k.activation.geluForwardStep({ x: x.z, y: x.g, count: T * I }),
      mm.step({ x: x.g, w: w('output.dense'), bias: bias('output.dense'), y: x.f, m: T, n: H, k: I }),
      ...this.drop(x.f, x.fDrop, T * H, rates.hidden, this.stream(l, 2)),
      this.k.layernorm.step({ rows: T, hidden: H, eps, x: f, residual: x.mid, gamma: w('output.LayerNorm'), beta: bias('output.LayerNorm'), y: x.out }),
    ];
  }

  private headForward(): DispatchStep[] {
    const { B, L, H } = this.shape;
    const { rates } = this.last!;
    const { b, k } = this;
    const last = this.hidden(this.model.config.numHiddenLayers);
    const dropped = rates.classifier > 0 ? b.poolerDrop! : b.poolerOut;
    return [
      ...k.pooling.step({ batch: B, length: L, hidden: H, lengths: b.lengths, x: last, y: b.pooled, mode: 'cls', normalize: false }),
      k.matmul.step({ x: b.pooled, w: this.param('pooler.dense.weight'), bias: this.param('pooler.dense.bias'), y: b.poolerOut, m: B, n: H, k: H, activation: 'tanh' }),
      ...this.drop(b.poolerOut, b.poolerDrop, B * H, rates.classifier, this.stream(this.model.config.numHiddenLayers, 0)),
      k.matmul.step({ x: dropped, w: this.param('classifier.weight'), bias: this.param('classifier.bias'), y: b.scores, m: B, n: 1, k: H }),
    ];
  }

  /** Weight and bias gradients of y = x·wᵀ + b, accumulated into the named Linear's grads. */
  private linearGrads(name: string, dy: BufferBinding, x: BufferBinding, m: number, n: number, kk: number): DispatchStep[] {
    return this.k.matmul.backwardWeightSteps({ dy, x, dw: this.grad(`${name}.weight`), db: this.grad(`${name}.bias`), m, n, k: kk });
  }

  /** From dScores down to the gradient of hs[N] in `dA` (written whole). */
  private headBackward(dScores: BufferBinding): DispatchStep[] {
    const { B, L, H } = this.shape;
    const { rates } = this.last!;
    const { b, k } = this;
    const N = this.model.config.numHiddenLayers;
    const drop = rates.classifier > 0;
    const dropped = drop ? b.poolerDrop! : b.poolerOut;
    // The two [rows, H] scratch buffers take turns: d(dropped) → d(pooler output) → d(pre-tanh) → d(pooled).
    const dDropped = b.dHead1;
    const dPoolerOut = drop ? b.dHead2 : b.dHead1;
    const dPreTanh = dPoolerOut === b.dHead1 ? b.dHead2 : b.dHead1;
    const dPooled = dPoolerOut;
    return [
      ...this.linearGrads('classifier', dScores, dropped, B, 1, H),
      k.matmul.backwardInputStep({ dy: dScores, w: this.param('classifier.weight'), dx: dDropped, m: B, n: 1, k: H }),
      ...this.dropBack(dDropped, b.dHead2, B * H, rates.classifier, this.stream(N, 0)),
      k.activation.tanhBackwardStep({ y: b.poolerOut, dy: dPoolerOut, dx: dPreTanh, count: B * H }),
      ...this.linearGrads('pooler.dense', dPreTanh, b.pooled, B, H, H),
      k.matmul.backwardInputStep({ dy: dPreTanh, w: this.param('pooler.dense.weight'), dx: dPooled, m: B, n: H, k: H }),
      k.pooling.clsBackwardStep({ batch: B, length: L, hidden: H, lengths: b.lengths, dy: dPooled, dx: b.dA }),
    ];
  }

  /** Layer l's backward: the gradient of hs[l+1] is in dA or dB (by parity); writes hs[l]'s into the other. */
  private layerBackward(l: number): DispatchStep[] {
    const { B, L, T, H, I, heads, headDim, eps } = this.shape;
    const { rates, seed } = this.last!;
    const { b, k } = this;
    const x = this.b.layers[l];
    const N = this.model.config.numHiddenLayers;
    // hs[N]'s gradient is in dA; each layer swaps.
    const dOut = (N - 1 - l) % 2 === 0 ? b.dA : b.dB;
    const dIn = dOut === b.dA ? b.dB : b.dA;
    const h = this.hidden(l);
    const pre = `encoder.layer.${l}`;
    const w = (n: string) => this.param(`${pre}.${n}.weight`);
    const g = (n: string) => this.grad(`${pre}.${n}`);
    const hiddenDrop = rates.hidden > 0;
    const a = hiddenDrop ? x.aDrop! : x.a;
    const f = hiddenDrop ? x.fDrop! : x.f;
    // Gradients of the dense outputs before dropout (the dropout-backward output, or the LN's own).
    const dF = hiddenDrop ? b.dTmp : b.dMid;
    const dA = hiddenDrop ? b.dTmp : dIn;
    const mm = k.matmul;
    return [
      // hs[l+1] = LN2(f + mid): d(f + mid) into dMid; mid's own gradient accumulates there below.
      ...k.layernorm.backwardSteps({ rows: T, hidden: H, eps, x: f, residual: x.mid, gamma: w('output.LayerNorm'), dy: dOut, dx: b.dMid, dgamma: g('output.LayerNorm.weight'), dbeta: g('output.LayerNorm.bias') }),
      ...this.dropBack(b.dMid, b.dTmp, T * H, rates.hidden, this.stream(l, 2)),
      ...this.linearGrads(`${pre}.output.dense`, dF, x.g, T, H, I),
      mm.backwardInputStep({ dy: dF, w: w('output.dense'), dx: b.dG, m: T, n: H, k: I }),
      k.activation.geluBackwardStep({ z: x.z, dy: b.dG, dx: b.dZ, count: T * I }),
      ...this.linearGrads(`${pre}.intermediate.dense`, b.dZ, x.mid, T, I, H),
      mm.backwardInputStep({ dy: b.dZ, w: w('intermediate.dense'), dx: b.dMid, m: T, n: I, k: H, accumulate: true }),
      // mid = LN1(a + h): d(a + h) into dIn; h's projections accumulate there below.
      ...k.layernorm.backwardSteps({ rows: T, hidden: H, eps, x: a, residual: h, gamma: w('attention.output.LayerNorm'), dy: b.dMid, dx: dIn, dgamma: g('attention.output.LayerNorm.weight'), dbeta: g('attention.output.LayerNorm.bias') }),
      ...this.dropBack(dIn, b.dTmp, T * H, rates.hidden, this.stream(l, 1)),
      ...this.linearGrads(`${pre}.attention.output.dense`, dA, x.ctx, T, H, H),
      mm.backwardInputStep({ dy: dA, w: w('attention.output.dense'), dx: b.dCtx, m: T, n: H, k: H }),
      ...k.attention.backwardSteps({
        batch: B,
        length: L,
        heads,
        headDim,
        lengths: b.lengths,
        q: x.q,
        k: x.k,
        v: x.v,
        out: x.ctx,
        lse: x.lse,
        dout: b.dCtx,
        dq: b.dQ,
        dk: b.dK,
        dv: b.dV,
        dropout: { p: rates.attention, seed, stream: this.stream(l, 0) },
      }),
      ...(['query', 'key', 'value'] as const).flatMap((name, j) => {
        const dy = [b.dQ, b.dK, b.dV][j];
        return [
          ...this.linearGrads(`${pre}.attention.self.${name}`, dy, h, T, H, H),
          mm.backwardInputStep({ dy, w: w(`attention.self.${name}`), dx: dIn, m: T, n: H, k: H, accumulate: true }),
        ];
      }),
    ];
  }

  /** From hs[0]'s gradient to the embedding tables and their LayerNorm. */
  private embeddingBackward(): DispatchStep[] {
    const { B, L, T, H, eps } = this.shape;
    const { rates, padded } = this.last!;
    const N = this.model.config.numHiddenLayers;
    const dH0 = N % 2 === 0 ? this.b.dA : this.b.dB;
    const dEmb = rates.hidden > 0 ? this.b.dTmp : dH0;
    const d = embeddingBindings((n) => this.grad(n));
    return [
      ...this.dropBack(dH0, this.b.dTmp, T * H, rates.hidden, 0),
      ...this.k.embedding.backwardSteps({
        batch: B,
        length: L,
        hidden: H,
        eps,
        ids: this.b.ids,
        typeIds: this.b.typeIds,
        lengths: this.b.lengths,
        hostIds: padded.ids,
        hostLengths: padded.lengths,
        vocabSize: this.model.config.vocabSize,
        typeVocabSize: this.model.config.typeVocabSize,
        ...embeddingBindings((n) => this.param(n)),
        dy: dEmb,
        dWord: d.word,
        dPosition: d.position,
        dTokenType: d.tokenType,
        dGamma: d.gamma,
        dBeta: d.beta,
      }),
    ];
  }
}
