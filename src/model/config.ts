/**
 * `config.json` of a Hugging Face BERT directory, parsed and checked. Only what the forward pass needs is
 * kept, under camelCase names; every field is validated here so the graph code can trust it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from '../errors.js';

/** Activation of the feed-forward block. HF's `gelu` is the exact erf form; `gelu_new` and
 * `gelu_pytorch_tanh` are the tanh approximation, reported here as `gelu_tanh`. */
export type HiddenAct = 'gelu' | 'gelu_tanh' | 'relu';

export interface BertConfig {
  modelType: 'bert';
  /** `architectures` as written (may be empty). */
  architectures: string[];
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** hiddenSize / numAttentionHeads. */
  headDim: number;
  intermediateSize: number;
  hiddenAct: HiddenAct;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  layerNormEps: number;
  padTokenId: number;
  /** Number of classifier outputs: `len(id2label)` when given, else `num_labels`, else HF's default 2. */
  numLabels: number;
  /** Label names by index (HF's `LABEL_i` when the file has none). */
  id2label: string[];
  /** Dropout rates used in training (HF defaults 0.1; `classifier_dropout` null means the hidden rate). */
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  classifierDropout: number;
}

const HIDDEN_ACTS: Record<string, HiddenAct> = {
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  relu: 'relu',
};

/** Reads and validates `<dir>/config.json`. */
export function readBertConfig(dir: string): BertConfig {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ModelLoadError(missing ? `${path} not found: not a Hugging Face model directory` : `cannot read ${path}: ${String(cause)}`, {
      code: missing ? 'MODEL_CONFIG_MISSING' : 'MODEL_CONFIG_INVALID',
      cause,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ModelLoadError(`${path} is not valid JSON: ${(cause as Error).message}`, { code: 'MODEL_CONFIG_INVALID', cause });
  }
  return parseBertConfig(json, path);
}

/** Validates a parsed config.json object; `source` names the file in error messages. */
export function parseBertConfig(json: unknown, source = 'config.json'): BertConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw invalid(source, '', 'expected a JSON object');
  }
  const c = json as Record<string, unknown>;
  if (c.model_type !== 'bert') {
    throw new ModelLoadError(
      `${source}: model_type ${JSON.stringify(c.model_type ?? null)} is not supported (supported: "bert")`,
      { code: 'MODEL_UNSUPPORTED' },
    );
  }
  const architectures = c.architectures === undefined || c.architectures === null ? [] : c.architectures;
  if (!Array.isArray(architectures) || !architectures.every((a) => typeof a === 'string')) {
    throw invalid(source, 'architectures', 'expected a list of strings');
  }

  const int = (field: string, fallback?: number, min = 1): number => {
    const v = c[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw invalid(source, field, `expected an integer >= ${min}, got ${JSON.stringify(v ?? null)}`);
    }
    return v;
  };
  const vocabSize = int('vocab_size');
  const hiddenSize = int('hidden_size');
  const numHiddenLayers = int('num_hidden_layers');
  const numAttentionHeads = int('num_attention_heads');
  if (hiddenSize % numAttentionHeads !== 0) {
    throw invalid(source, 'num_attention_heads', `hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numAttentionHeads}`);
  }
  const intermediateSize = int('intermediate_size');
  const maxPositionEmbeddings = int('max_position_embeddings');
  // HF's BertConfig defaults, used when a (hand-written) config leaves them out.
  const typeVocabSize = int('type_vocab_size', 2);
  const padTokenId = int('pad_token_id', 0, 0);

  const act = c.hidden_act ?? 'gelu';
  if (typeof act !== 'string' || !(act in HIDDEN_ACTS)) {
    throw new ModelLoadError(
      `${source}: hidden_act ${JSON.stringify(act)} is not supported (supported: ${Object.keys(HIDDEN_ACTS).join(', ')})`,
      { code: 'MODEL_UNSUPPORTED' },
    );
  }
  const eps = c.layer_norm_eps ?? 1e-12;
  if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps)) {
    throw invalid(source, 'layer_norm_eps', `expected a positive number, got ${JSON.stringify(eps)}`);
  }
  const positionType = c.position_embedding_type ?? 'absolute';
  if (positionType !== 'absolute') {
    throw new ModelLoadError(`${source}: position_embedding_type ${JSON.stringify(positionType)} is not supported (supported: "absolute")`, {
      code: 'MODEL_UNSUPPORTED',
    });
  }

  const id2label = parseLabels(c, source);
  const rate = (field: string, fallback: number): number => {
    const v = c[field] ?? fallback;
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw invalid(source, field, `expected a number in [0, 1), got ${JSON.stringify(v)}`);
    return v;
  };
  const hiddenDropoutProb = rate('hidden_dropout_prob', 0.1);
  const attentionProbsDropoutProb = rate('attention_probs_dropout_prob', 0.1);
  const classifierDropout = rate('classifier_dropout', hiddenDropoutProb);
  return {
    modelType: 'bert',
    architectures: architectures as string[],
    vocabSize,
    hiddenSize,
    numHiddenLayers,
    numAttentionHeads,
    headDim: hiddenSize / numAttentionHeads,
    intermediateSize,
    hiddenAct: HIDDEN_ACTS[act],
    maxPositionEmbeddings,
    typeVocabSize,
    layerNormEps: eps,
    padTokenId,
    numLabels: id2label.length,
    id2label,
    hiddenDropoutProb,
    attentionProbsDropoutProb,
    classifierDropout,
  };
}

/** HF's rule: `id2label` wins (its keys are "0".."n-1"), else `num_labels`, else 2 labels `LABEL_i`. */
function parseLabels(c: Record<string, unknown>, source: string): string[] {
  const raw = c.id2label;
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid(source, 'id2label', 'expected an object');
    const entries = Object.entries(raw as Record<string, unknown>);
    if (entries.length === 0) throw invalid(source, 'id2label', 'is empty');
    const labels: string[] = new Array(entries.length);
    for (const [key, value] of entries) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= entries.length || labels[i] !== undefined || typeof value !== 'string') {
        throw invalid(source, 'id2label', `expected keys 0..${entries.length - 1} with string labels, got ${JSON.stringify(key)}: ${JSON.stringify(value)}`);
      }
      labels[i] = value;
    }
    if (c.num_labels !== undefined && c.num_labels !== labels.length) {
      throw invalid(source, 'num_labels', `${JSON.stringify(c.num_labels)} disagrees with id2label's ${labels.length} labels`);
    }
    return labels;
  }
  const n = c.num_labels ?? 2;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw invalid(source, 'num_labels', `expected an integer >= 1, got ${JSON.stringify(n)}`);
  }
  return Array.from({ length: n }, (_, i) => `LABEL_${i}`);
}

function invalid(source: string, field: string, message: string): ModelLoadError {
  return new ModelLoadError(`${source}: ${field ? `${field}: ` : ''}${message}`, { code: 'MODEL_CONFIG_INVALID' });
}
