/**
 * The flat parameter layout shared by inference and training: every weight of the model lives in one
 * Float32Array (uploaded as one GPU buffer), at an element offset that is a multiple of PARAM_ALIGN so each
 * tensor can be bound on its own (byte offsets 256-aligned for f32 and f16 alike:
 * minStorageBufferOffsetAlignment).
 *
 * Canonical names are HF `BertModel` names without the `bert.` prefix, plus `classifier.weight/bias`.
 */
import type { BertConfig } from './config.js';

export const PARAM_ALIGN = 128;

export interface TensorEntry {
  /** Canonical name, e.g. `encoder.layer.0.attention.self.query.weight`. */
  name: string;
  /** The name in the weights file (`bert.`-prefixed, or `LayerNorm.gamma` in old checkpoints). */
  sourceName: string;
  shape: number[];
  /** Offset in elements; a multiple of PARAM_ALIGN. */
  offset: number;
  /** product(shape). */
  size: number;
}

export interface FlatParams {
  data: Float32Array;
  entries: Map<string, TensorEntry>;
  /** data.length: the end of the last tensor, rounded up to PARAM_ALIGN. */
  totalElements: number;
}

export type ModelKind = 'cross-encoder' | 'bi-encoder';

export interface ParamSpec {
  name: string;
  shape: number[];
}

/** The tensors a BERT model of this config and kind has, in layout order. The pooler is part of a
 * cross-encoder (its classifier reads the pooled [CLS]); a bi-encoder keeps it only when the file has it. */
export function bertParamSpecs(config: BertConfig, kind: ModelKind, options: { pooler: boolean }): ParamSpec[] {
  const h = config.hiddenSize;
  const specs: ParamSpec[] = [
    { name: 'embeddings.word_embeddings.weight', shape: [config.vocabSize, h] },
    { name: 'embeddings.position_embeddings.weight', shape: [config.maxPositionEmbeddings, h] },
    { name: 'embeddings.token_type_embeddings.weight', shape: [config.typeVocabSize, h] },
    { name: 'embeddings.LayerNorm.weight', shape: [h] },
    { name: 'embeddings.LayerNorm.bias', shape: [h] },
  ];
  const linear = (name: string, out: number, inp: number): void => {
    specs.push({ name: `${name}.weight`, shape: [out, inp] }, { name: `${name}.bias`, shape: [out] });
  };
  const layerNorm = (name: string): void => {
    specs.push({ name: `${name}.weight`, shape: [h] }, { name: `${name}.bias`, shape: [h] });
  };
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `encoder.layer.${l}`;
    linear(`${p}.attention.self.query`, h, h);
    linear(`${p}.attention.self.key`, h, h);
    linear(`${p}.attention.self.value`, h, h);
    linear(`${p}.attention.output.dense`, h, h);
    layerNorm(`${p}.attention.output.LayerNorm`);
    linear(`${p}.intermediate.dense`, config.intermediateSize, h);
    linear(`${p}.output.dense`, h, config.intermediateSize);
    layerNorm(`${p}.output.LayerNorm`);
  }
  if (kind === 'cross-encoder' || options.pooler) linear('pooler.dense', h, h);
  if (kind === 'cross-encoder') linear('classifier', config.numLabels, h);
  return specs;
}

/** Canonical name of a weights-file tensor name: drops the `bert.` prefix and maps the TF-era
 * `LayerNorm.gamma/beta` to `weight/bias`. */
export function canonicalName(sourceName: string): string {
  let name = sourceName.startsWith('bert.') ? sourceName.slice('bert.'.length) : sourceName;
  name = name.replace(/\.LayerNorm\.gamma$/, '.LayerNorm.weight').replace(/\.LayerNorm\.beta$/, '.LayerNorm.bias');
  return name;
}

/** Assigns aligned offsets in spec order and allocates the (zeroed) flat buffer. */
export function layoutParams(specs: (ParamSpec & { sourceName?: string })[]): FlatParams {
  const entries = new Map<string, TensorEntry>();
  let offset = 0;
  for (const spec of specs) {
    if (entries.has(spec.name)) throw new Error(`duplicate parameter ${spec.name}`);
    const size = spec.shape.reduce((a, d) => a * d, 1);
    entries.set(spec.name, { name: spec.name, sourceName: spec.sourceName ?? spec.name, shape: [...spec.shape], offset, size });
    offset = alignUp(offset + size);
  }
  return { data: new Float32Array(offset), entries, totalElements: offset };
}

export function alignUp(n: number, to = PARAM_ALIGN): number {
  return Math.ceil(n / to) * to;
}

/** A tensor's values as a view into the flat buffer (no copy). */
export function paramView(params: FlatParams, name: string): Float32Array {
  const e = params.entries.get(name);
  if (!e) throw new Error(`no parameter named ${name}`);
  return params.data.subarray(e.offset, e.offset + e.size);
}
