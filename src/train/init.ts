/**
 * A fresh cross-encoder from any BERT model: the starting point of fine-tuning a bi-encoder (e.g.
 * all-MiniLM-L6-v2) into a re-ranker, or of re-heading a cross-encoder with another label count.
 *
 * The encoder (embeddings, layers) is copied; the pooler is copied when the source has one, otherwise
 * created; the classifier is always new, with numLabels 1. New tensors are initialised as HF's
 * `PreTrainedModel._init_weights` does for `nn.Linear`: weight ~ normal(0, initializer_range), bias 0.
 * The normals come from the counter RNG of `src/model/kernels/rng.ts` (Box-Muller over two uniforms), so
 * a seed gives the same head on every machine; they cannot equal torch's random stream.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, ModelLoadError } from '../errors.js';
import { rngUniform } from '../model/kernels/rng.js';
import type { LoadedModel } from '../model/load.js';
import { bertParamSpecs, layoutParams, paramView } from '../model/params.js';

/** HF BertConfig's default `initializer_range`. */
export const DEFAULT_INITIALIZER_RANGE = 0.02;

/** RNG streams of the new tensors (any fixed values, distinct from the dropout streams' small ids). */
const STREAM = { 'pooler.dense.weight': 0x1ead0001, 'classifier.weight': 0x1ead0002 } as const;

export interface CrossEncoderInitOptions {
  /** Seed of the new head (an integer in [0, 2^32)). */
  seed: number;
  /** Standard deviation of new weights; default: the source config's `initializer_range`, else 0.02. */
  initializerRange?: number;
}

/** The folder holding a model's HF files: the directory, or a sentence-transformers model's Transformer
 * module folder (found the way `loadModel` finds it). */
export function sourceModelDir(model: Pick<LoadedModel, 'dir'>): string {
  const modules = readJson(join(model.dir, 'modules.json'), true);
  if (Array.isArray(modules)) {
    const t = modules.find((m) => typeof m?.type === 'string' && m.type.endsWith('Transformer'));
    if (typeof t?.path === 'string') return join(model.dir, t.path);
  }
  return model.dir;
}

/** The source model's `config.json` as written, with the keys this code does not model. */
export function readSourceConfig(model: Pick<LoadedModel, 'dir'>): Record<string, unknown> {
  const path = join(sourceModelDir(model), 'config.json');
  const json = readJson(path, false);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ModelLoadError(`${path}: expected a JSON object`, { code: 'MODEL_CONFIG_INVALID' });
  }
  return json as Record<string, unknown>;
}

function readJson(path: string, optional: boolean): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    if (missing && optional) return undefined;
    throw new ModelLoadError(missing ? `${path} not found` : `cannot read ${path}: ${String(cause)}`, {
      code: missing ? 'MODEL_CONFIG_MISSING' : 'MODEL_CONFIG_INVALID',
      cause,
    });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ModelLoadError(`${path} is not valid JSON: ${(cause as Error).message}`, { code: 'MODEL_CONFIG_INVALID', cause });
  }
}

/** `n` samples of normal(0, std) for (seed, stream): element i from uniforms 2i and 2i + 1. */
export function seededNormal(n: number, std: number, seed: number, stream: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // 1 - u is in (0, 1]: the log is finite.
    const u1 = 1 - rngUniform(seed, stream, 2 * i);
    const u2 = rngUniform(seed, stream, 2 * i + 1);
    out[i] = std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}

/**
 * A `cross-encoder` LoadedModel with numLabels 1 built from `source` (a bi-encoder or a cross-encoder).
 * `dir` stays the source's: its tokenizer and config are what a checkpoint copies. The source is not
 * modified.
 */
export function crossEncoderFromModel(source: LoadedModel, o: CrossEncoderInitOptions): LoadedModel {
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed >= 2 ** 32) {
    throw new InputError(`seed must be an integer in [0, 2^32), got ${o.seed}`, { code: 'INIT_INVALID' });
  }
  let std = o.initializerRange;
  if (std === undefined) {
    const raw = readSourceConfig(source).initializer_range;
    std = typeof raw === 'number' && raw > 0 ? raw : DEFAULT_INITIALIZER_RANGE;
  }
  if (!Number.isFinite(std) || std <= 0) throw new InputError(`initializer range must be a number > 0, got ${std}`, { code: 'INIT_INVALID' });

  const config = { ...source.config, architectures: ['BertForSequenceClassification'], numLabels: 1, id2label: ['LABEL_0'] };
  const specs = bertParamSpecs(config, 'cross-encoder', { pooler: true });
  const params = layoutParams(
    specs.map((s) => ({ ...s, sourceName: s.name.startsWith('classifier.') ? s.name : `bert.${s.name}` })),
  );
  const sourceDtypes = new Map(source.sourceDtypes);
  sourceDtypes.delete('classifier.weight');
  sourceDtypes.delete('classifier.bias');
  const hasPooler = source.params.entries.has('pooler.dense.weight');
  for (const spec of specs) {
    const fresh = spec.name.startsWith('classifier.') || (spec.name.startsWith('pooler.') && !hasPooler);
    if (fresh) {
      sourceDtypes.set(spec.name, 'F32');
      // Biases stay 0 (the buffer starts zeroed); weights get HF's normal init.
      if (spec.name in STREAM) {
        const view = paramView(params, spec.name);
        view.set(seededNormal(view.length, std, o.seed, STREAM[spec.name as keyof typeof STREAM]));
      }
      continue;
    }
    const from = source.params.entries.get(spec.name);
    if (!from) throw new ModelLoadError(`${source.dir}: tensor ${spec.name} is missing from the source model`, { code: 'MODEL_TENSOR_MISSING' });
    if (from.shape.length !== spec.shape.length || from.shape.some((d, i) => d !== spec.shape[i])) {
      throw new ModelLoadError(`${source.dir}: tensor ${spec.name} has shape [${from.shape.join(', ')}], expected [${spec.shape.join(', ')}]`, {
        code: 'MODEL_TENSOR_SHAPE',
      });
    }
    paramView(params, spec.name).set(paramView(source.params, spec.name));
  }
  return { dir: source.dir, config, kind: 'cross-encoder', params, numLabels: 1, sourceDtypes };
}
