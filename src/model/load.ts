/**
 * Loads a Hugging Face BERT directory into one flat f32 parameter buffer, checked against its config.
 *
 * Two layouts are understood:
 * - cross-encoders: `architectures: ["BertForSequenceClassification"]` (ms-marco MiniLM/TinyBERT, BERT-base
 *   rerankers), tensors `bert.*` plus `classifier.*`;
 * - sentence-transformers bi-encoders: `modules.json` listing Transformer → Pooling (mean or cls) →
 *   optional Normalize, `BertModel` tensors.
 *
 * Tensors the forward pass never reads and that real checkpoints carry are skipped: the `position_ids`
 * buffer and the pre-training heads `cls.*`. Any other unknown tensor is an error, since it means the
 * directory holds a model this code would silently run wrong.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelLoadError } from '../errors.js';
import { readBertConfig, type BertConfig } from './config.js';
import { bertParamSpecs, canonicalName, layoutParams, type FlatParams, type ModelKind } from './params.js';
import { FLOAT_DTYPES, readSafetensorsDir, readTensorsInto, type FloatDtype, type SafetensorsTensor } from './safetensors.js';

export interface Pooling {
  mode: 'mean' | 'cls';
  /** L2-normalize the pooled vector (a sentence-transformers `Normalize` module). */
  normalize: boolean;
}

export interface LoadedModel {
  dir: string;
  config: BertConfig;
  kind: ModelKind;
  /** Bi-encoders only. */
  pooling?: Pooling;
  params: FlatParams;
  /** Classifier outputs of a cross-encoder (config.numLabels); 0 for a bi-encoder. */
  numLabels: number;
  /** Storage dtype of each tensor in the weights file, by canonical name (for writing checkpoints back). */
  sourceDtypes: Map<string, FloatDtype>;
}

export type ModelLoadErrorCode =
  | 'MODEL_DIR_MISSING'
  | 'MODEL_CONFIG_MISSING'
  | 'MODEL_CONFIG_INVALID'
  | 'MODEL_UNSUPPORTED'
  | 'MODEL_WEIGHTS_MISSING'
  | 'MODEL_INDEX_INVALID'
  | 'SAFETENSORS_INVALID'
  | 'SAFETENSORS_TRUNCATED'
  | 'MODEL_TENSOR_MISSING'
  | 'MODEL_TENSOR_UNEXPECTED'
  | 'MODEL_TENSOR_SHAPE'
  | 'MODEL_TENSOR_DTYPE'
  | 'MODEL_TENSOR_NONFINITE';

function fail(code: ModelLoadErrorCode, message: string, cause?: unknown): ModelLoadError {
  return new ModelLoadError(message, { code, cause });
}

/** Tensors real checkpoints carry that no forward pass reads. */
function isSkippedTensor(canonical: string): boolean {
  return canonical.endsWith('position_ids') || canonical.startsWith('cls.');
}

export async function loadModel(dir: string): Promise<LoadedModel> {
  if (!(await isDirectory(dir))) throw fail('MODEL_DIR_MISSING', `model directory ${dir} does not exist`);
  const st = await readSentenceTransformers(dir);
  const modelDir = st ? join(dir, st.transformerPath) : dir;
  const config = readBertConfig(modelDir);
  const kind = modelKind(config, st !== undefined, join(modelDir, 'config.json'));
  if (st?.dimension !== undefined && st.dimension !== config.hiddenSize) {
    throw fail('MODEL_CONFIG_INVALID', `${st.poolingConfig}: word_embedding_dimension ${st.dimension} disagrees with hidden_size ${config.hiddenSize}`);
  }

  const fileTensors = await readSafetensorsDir(modelDir);
  const byCanonical = new Map<string, SafetensorsTensor>();
  for (const [sourceName, tensor] of fileTensors) {
    const name = canonicalName(sourceName);
    if (isSkippedTensor(name)) continue;
    const other = byCanonical.get(name);
    if (other) throw fail('MODEL_TENSOR_UNEXPECTED', `${tensor.file}: tensors ${other.name} and ${sourceName} are both ${name}`);
    byCanonical.set(name, tensor);
  }

  const specs = bertParamSpecs(config, kind, { pooler: byCanonical.has('pooler.dense.weight') });
  const sourceDtypes = new Map<string, FloatDtype>();
  for (const spec of specs) {
    const tensor = byCanonical.get(spec.name);
    if (!tensor) {
      throw fail('MODEL_TENSOR_MISSING', `${modelDir}: tensor ${spec.name} (shape [${spec.shape.join(', ')}]) is missing from the weights of this ${kind}`);
    }
    if (tensor.shape.length !== spec.shape.length || tensor.shape.some((d, i) => d !== spec.shape[i])) {
      throw fail(
        'MODEL_TENSOR_SHAPE',
        `${tensor.file}: tensor ${tensor.name} has shape [${tensor.shape.join(', ')}] but config.json implies [${spec.shape.join(', ')}]`,
      );
    }
    if (!FLOAT_DTYPES.includes(tensor.dtype as FloatDtype)) {
      throw fail('MODEL_TENSOR_DTYPE', `${tensor.file}: tensor ${tensor.name} has dtype ${tensor.dtype}; supported: ${FLOAT_DTYPES.join(', ')}`);
    }
    sourceDtypes.set(spec.name, tensor.dtype as FloatDtype);
  }
  const expected = new Set(specs.map((s) => s.name));
  for (const [name, tensor] of byCanonical) {
    if (!expected.has(name)) {
      throw fail('MODEL_TENSOR_UNEXPECTED', `${tensor.file}: unexpected tensor ${tensor.name}: not part of a ${kind} with this config.json`);
    }
  }

  const params = layoutParams(specs.map((s) => ({ ...s, sourceName: byCanonical.get(s.name)!.name })));
  await readTensorsInto(specs.map((s) => ({ tensor: byCanonical.get(s.name)!, dest: params.data, offset: params.entries.get(s.name)!.offset })));
  for (const entry of params.entries.values()) {
    const values = params.data.subarray(entry.offset, entry.offset + entry.size);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      // v - v is NaN for NaN and ±Infinity, 0 otherwise: one test for both.
      if (v - v !== 0) {
        const tensor = byCanonical.get(entry.name)!;
        throw fail('MODEL_TENSOR_NONFINITE', `${tensor.file}: tensor ${tensor.name} holds ${v} at element ${i}`);
      }
    }
  }

  return {
    dir,
    config,
    kind,
    ...(st ? { pooling: st.pooling } : {}),
    params,
    numLabels: kind === 'cross-encoder' ? config.numLabels : 0,
    sourceDtypes,
  };
}

function modelKind(config: BertConfig, sentenceTransformers: boolean, source: string): ModelKind {
  if (config.architectures.includes('BertForSequenceClassification')) return 'cross-encoder';
  // sentence-transformers loads any BERT checkpoint as a bare BertModel (some ship "BertForMaskedLM").
  if (sentenceTransformers) return 'bi-encoder';
  throw fail(
    'MODEL_UNSUPPORTED',
    `${source}: architectures ${JSON.stringify(config.architectures)} is not supported: expected BertForSequenceClassification, ` +
      'or a sentence-transformers BertModel (modules.json)',
  );
}

interface SentenceTransformers {
  transformerPath: string;
  pooling: Pooling;
  /** The Pooling config's `word_embedding_dimension`, when it has one. */
  dimension?: number;
  poolingConfig: string;
}

/** Reads `modules.json` (absent: not a sentence-transformers model) and the Pooling module's config. */
async function readSentenceTransformers(dir: string): Promise<SentenceTransformers | undefined> {
  const path = join(dir, 'modules.json');
  const modules = await readJson(path, true);
  if (modules === undefined) return undefined;
  if (!Array.isArray(modules)) throw fail('MODEL_CONFIG_INVALID', `${path}: expected a list of modules`);
  let transformerPath: string | undefined;
  let pooling: { mode: Pooling['mode']; dimension?: number; path: string } | undefined;
  let normalize = false;
  for (const [i, m] of modules.entries()) {
    const type = (m as { type?: unknown } | null)?.type;
    const modPath = (m as { path?: unknown } | null)?.path ?? '';
    if (typeof type !== 'string' || typeof modPath !== 'string' || modPath.split(/[\\/]/).includes('..')) {
      throw fail('MODEL_CONFIG_INVALID', `${path}: module ${i} needs a string "type" and a "path" inside the model directory`);
    }
    // sentence-transformers < 6 writes `sentence_transformers.models.Pooling`, 6 writes longer module paths.
    const short = type.startsWith('sentence_transformers.') ? type.slice(type.lastIndexOf('.') + 1) : type;
    if (short === 'Transformer' && transformerPath === undefined && pooling === undefined) transformerPath = modPath;
    else if (short === 'Pooling' && transformerPath !== undefined && pooling === undefined) pooling = await readPooling(join(dir, modPath));
    else if (short === 'Normalize' && pooling !== undefined && !normalize) normalize = true;
    else {
      throw fail(
        'MODEL_UNSUPPORTED',
        `${path}: module ${i} (${type}) is not supported here: expected Transformer, Pooling, then an optional Normalize`,
      );
    }
  }
  if (transformerPath === undefined || pooling === undefined) {
    throw fail('MODEL_UNSUPPORTED', `${path}: a bi-encoder needs a Transformer and a Pooling module`);
  }
  return { transformerPath, pooling: { mode: pooling.mode, normalize }, dimension: pooling.dimension, poolingConfig: pooling.path };
}

async function readPooling(dir: string): Promise<{ mode: Pooling['mode']; dimension?: number; path: string }> {
  const path = join(dir, 'config.json');
  const cfg = await readJson(path, false);
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) throw fail('MODEL_CONFIG_INVALID', `${path}: expected a JSON object`);
  // sentence-transformers < 6: one `pooling_mode_<mode>: true` flag; 6: `"pooling_mode": "mean"`.
  const named = (cfg as Record<string, unknown>).pooling_mode;
  const on = typeof named === 'string'
    ? [`pooling_mode_${named}`]
    : Object.entries(cfg as Record<string, unknown>)
        .filter(([k, v]) => k.startsWith('pooling_mode_') && v === true)
        .map(([k]) => k);
  const modes: Record<string, Pooling['mode']> = {
    pooling_mode_mean_tokens: 'mean',
    pooling_mode_cls_token: 'cls',
    pooling_mode_mean: 'mean',
    pooling_mode_cls: 'cls',
  };
  if (on.length !== 1 || !(on[0] in modes)) {
    throw fail(
      'MODEL_UNSUPPORTED',
      `${path}: pooling ${on.length ? on.join(' + ') : '(none set)'} is not supported: exactly one of pooling_mode_mean_tokens, pooling_mode_cls_token`,
    );
  }
  const dimension = (cfg as Record<string, unknown>).word_embedding_dimension;
  if (dimension !== undefined && (typeof dimension !== 'number' || !Number.isInteger(dimension))) {
    throw fail('MODEL_CONFIG_INVALID', `${path}: word_embedding_dimension is not an integer`);
  }
  return { mode: modes[on[0]], dimension, path };
}

/** Parsed JSON of a file; undefined when it is absent and `optional`. */
async function readJson(path: string, optional: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      if (optional) return undefined;
      throw fail('MODEL_CONFIG_MISSING', `${path} not found`, cause);
    }
    throw fail('MODEL_CONFIG_INVALID', `cannot read ${path}: ${String(cause)}`, cause);
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw fail('MODEL_CONFIG_INVALID', `${path} is not valid JSON: ${(cause as Error).message}`, cause);
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
