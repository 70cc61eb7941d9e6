/**
 * Training checkpoints as Hugging Face model directories: `transformers`'
 * `AutoModelForSequenceClassification.from_pretrained(dir)` loads one unchanged, and so does `loadModel`.
 *
 * A checkpoint directory holds:
 * - `config.json`: the source model's config (every key it had, dropout rates included) with
 *   `architectures: ["BertForSequenceClassification"]`, the label maps, `dtype: "float32"`, and the
 *   structural sizes of the model actually saved (e.g. fewer layers);
 * - `model.safetensors`: F32 tensors with HF names (`bert.`-prefixed encoder and pooler, `classifier.*`);
 * - the tokenizer files found in the source (`tokenizer.json` required);
 * - `optimizer.safetensors` (optional): AdamW's moments per tensor, `exp_avg.<name>` / `exp_avg_sq.<name>`;
 * - `trainer_state.json`: the caller's resume state.
 *
 * Writes are atomic: everything goes into a temp directory beside the target, each file and the
 * directory are fsynced, then an existing target is renamed away, the temp renamed in, and the old one
 * deleted; at every moment one complete checkpoint exists (the old one under its temp name for the two
 * renames). A failure before the swap removes the temp directory and leaves the old checkpoint as it was.
 * Entries of an existing target that are not checkpoint files (a training log, `checkpoint-N` folders, a
 * report) are moved into the new directory just before the swap, so a run's output folder can hold its
 * final checkpoint; a crash in that instant leaves them in the `.<name>.tmp-*` folder beside it.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, type Stats } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { GpurankError } from '../errors.js';
import { parseBertConfig } from '../model/config.js';
import { loadModel, type LoadedModel } from '../model/load.js';
import type { FlatParams } from '../model/params.js';
import { readSafetensorsHeader, readTensorsInto, writeSafetensors, type TensorToWrite } from '../model/safetensors.js';
import { readSourceConfig, sourceModelDir } from './init.js';

export type CheckpointErrorCode =
  | 'CHECKPOINT_MISSING'
  | 'CHECKPOINT_INVALID'
  | 'CHECKPOINT_MISMATCH'
  | 'CHECKPOINT_NONFINITE'
  | 'CHECKPOINT_TARGET'
  | 'CHECKPOINT_TOKENIZER_MISSING'
  | 'CHECKPOINT_WRITE';

export class CheckpointError extends GpurankError {
  constructor(message: string, options: { code: CheckpointErrorCode; cause?: unknown }) {
    super(message, { code: options.code, statusCode: 500, cause: options.cause });
  }
}

export const MODEL_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const STATE_FILE = 'trainer_state.json';
export const CONFIG_FILE = 'config.json';
/** Copied from the source when present; `tokenizer.json` is required (gpurank tokenizes with it). */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'special_tokens_map.json'] as const;
const CHECKPOINT_FILES = new Set<string>([CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE, ...TOKENIZER_FILES]);

export interface OptimizerState {
  m: Float32Array;
  v: Float32Array;
}

export interface CheckpointContents {
  /** A cross-encoder; its layout (`model.params`) describes `params`. Its config and dir are the source
   * of config.json and (unless `tokenizerDir`) the tokenizer files. */
  model: LoadedModel;
  /** The trained weights, in `model.params`' flat layout. */
  params: Float32Array;
  optimizer?: OptimizerState;
  /** Written as trainer_state.json; must survive JSON.stringify. */
  state: object;
  /** Where the tokenizer files are; default: the model's directory (or its Transformer module folder). */
  tokenizerDir?: string;
}

export interface LoadedCheckpoint {
  model: LoadedModel;
  optimizer?: OptimizerState;
  state: Record<string, unknown>;
}

/** The HF `BertForSequenceClassification` name of a canonical parameter name. */
export function hfTensorName(canonical: string): string {
  return canonical.startsWith('classifier.') ? canonical : `bert.${canonical}`;
}

/** The config.json of a checkpoint of `model`: the source's keys, the saved model's sizes and head. */
export function checkpointConfig(model: LoadedModel): Record<string, unknown> {
  const c = model.config;
  const out: Record<string, unknown> = {
    ...readSourceConfig(model),
    architectures: ['BertForSequenceClassification'],
    model_type: 'bert',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    intermediate_size: c.intermediateSize,
    max_position_embeddings: c.maxPositionEmbeddings,
    type_vocab_size: c.typeVocabSize,
    layer_norm_eps: c.layerNormEps,
    pad_token_id: c.padTokenId,
    id2label: Object.fromEntries(c.id2label.map((label, i) => [String(i), label])),
    label2id: Object.fromEntries(c.id2label.map((label, i) => [label, i])),
    // The weights are F32 whatever the source stored; transformers 5 reads `dtype`, 4.x `torch_dtype`.
    dtype: 'float32',
  };
  // id2label carries the count (HF writes no num_labels).
  delete out.num_labels;
  if ('torch_dtype' in out) out.torch_dtype = 'float32';
  return out;
}

function checkContents(c: CheckpointContents): void {
  const { model } = c;
  if (model.kind !== 'cross-encoder') {
    throw new CheckpointError(`a checkpoint is a cross-encoder (BertForSequenceClassification); this model is a ${model.kind}`, { code: 'CHECKPOINT_MISMATCH' });
  }
  const n = model.params.totalElements;
  if (c.params.length !== n) throw new CheckpointError(`params has ${c.params.length} elements, the model's layout ${n}`, { code: 'CHECKPOINT_MISMATCH' });
  for (const [what, a] of c.optimizer ? ([['m', c.optimizer.m], ['v', c.optimizer.v]] as const) : []) {
    if (a.length !== n) throw new CheckpointError(`optimizer ${what} has ${a.length} elements, the model's layout ${n}`, { code: 'CHECKPOINT_MISMATCH' });
  }
  for (const e of model.params.entries.values()) {
    const values = c.params.subarray(e.offset, e.offset + e.size);
    for (let i = 0; i < values.length; i++) {
      // v - v is NaN for NaN and ±Infinity: loadModel would refuse such a file.
      if (values[i] - values[i] !== 0) {
        throw new CheckpointError(`parameter ${e.name} holds ${values[i]} at element ${i}: not saving a checkpoint that cannot be loaded`, {
          code: 'CHECKPOINT_NONFINITE',
        });
      }
    }
  }
}

/** Tensors of the flat layout under HF names (each a view, no copy), optionally name-prefixed. */
function tensorsOf(layout: FlatParams, data: Float32Array, prefix = ''): TensorToWrite[] {
  return [...layout.entries.values()].map((e) => ({
    name: prefix + hfTensorName(e.name),
    dtype: 'F32',
    shape: e.shape,
    data: data.subarray(e.offset, e.offset + e.size),
  }));
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

const exists = async (path: string): Promise<boolean> => (await statOrUndefined(path)) !== undefined;

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, fsConstants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function tokenizerSource(c: CheckpointContents): Promise<string> {
  const candidates = c.tokenizerDir !== undefined ? [c.tokenizerDir] : [c.model.dir, sourceModelDir(c.model)];
  for (const dir of candidates) if (await exists(join(dir, 'tokenizer.json'))) return dir;
  throw new CheckpointError(`no tokenizer.json in ${candidates.join(' or ')}: a checkpoint needs its tokenizer`, { code: 'CHECKPOINT_TOKENIZER_MISSING' });
}

/** Writes a checkpoint at `dir` atomically (see the module comment), replacing one already there. */
export async function saveCheckpoint(dir: string, c: CheckpointContents): Promise<void> {
  checkContents(c);
  const config = checkpointConfig(c.model);
  // The same checks loadModel will make, before anything is written.
  parseBertConfig(config, join(dir, CONFIG_FILE));
  if (c.state === null || typeof c.state !== 'object' || Array.isArray(c.state)) {
    throw new CheckpointError('trainer state must be a JSON object', { code: 'CHECKPOINT_MISMATCH' });
  }
  let stateJson: string;
  try {
    stateJson = JSON.stringify(c.state, null, 1);
  } catch (cause) {
    throw new CheckpointError(`trainer state is not JSON-serialisable: ${(cause as Error).message}`, { code: 'CHECKPOINT_MISMATCH', cause });
  }
  const tokenizerDir = await tokenizerSource(c);

  const target = resolve(dir);
  const parent = dirname(target);
  const name = basename(target);
  const existing = await statOrUndefined(target);
  if (existing && !existing.isDirectory()) fail(`${target} exists and is not a directory`, 'CHECKPOINT_TARGET');
  const targetExists = existing !== undefined;
  try {
    await mkdir(parent, { recursive: true });
  } catch (cause) {
    throw new CheckpointError(`cannot create ${parent}: ${(cause as Error).message}`, { code: 'CHECKPOINT_WRITE', cause });
  }

  let tmp: string | undefined;
  try {
    // mkdir (not mkdtemp, which makes it 0700) so the checkpoint gets the usual umask permissions.
    tmp = join(parent, `.${name}.tmp-${randomBytes(6).toString('hex')}`);
    await mkdir(tmp);
    const writeText = async (file: string, text: string) => {
      const handle = await open(join(tmp!, file), 'w');
      try {
        await handle.writeFile(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
    };
    await writeText(CONFIG_FILE, JSON.stringify(config, null, 2) + '\n');
    await writeSafetensors(join(tmp, MODEL_FILE), tensorsOf(c.model.params, c.params), { format: 'pt' });
    await fsyncPath(join(tmp, MODEL_FILE));
    if (c.optimizer) {
      await writeSafetensors(
        join(tmp, OPTIMIZER_FILE),
        [...tensorsOf(c.model.params, c.optimizer.m, 'exp_avg.'), ...tensorsOf(c.model.params, c.optimizer.v, 'exp_avg_sq.')],
        { format: 'pt', optimizer: 'AdamW' },
      );
      await fsyncPath(join(tmp, OPTIMIZER_FILE));
    }
    for (const file of TOKENIZER_FILES) {
      const from = join(tokenizerDir, file);
      if (!(await exists(from))) continue;
      await copyFile(from, join(tmp, file));
      await fsyncPath(join(tmp, file));
    }
    await writeText(STATE_FILE, stateJson + '\n');
    await fsyncPath(tmp);
  } catch (cause) {
    if (tmp) await rm(tmp, { recursive: true, force: true });
    if (cause instanceof GpurankError) throw cause;
    throw new CheckpointError(`writing checkpoint ${target} failed (the previous one, if any, is unchanged): ${(cause as Error).message}`, {
      code: 'CHECKPOINT_WRITE',
      cause,
    });
  }
  await swapIn(tmp, target, targetExists);
}

/** Moves `tmp` to `target`, carrying over the target's non-checkpoint entries; see the module comment. */
async function swapIn(tmp: string, target: string, targetExists: boolean): Promise<void> {
  const carried: string[] = [];
  let old: string | undefined;
  try {
    if (targetExists) {
      for (const entry of await readdir(target)) {
        if (CHECKPOINT_FILES.has(entry)) continue;
        await rename(join(target, entry), join(tmp, entry));
        carried.push(entry);
      }
      old = join(dirname(target), `.${basename(target)}.old-${randomBytes(6).toString('hex')}`);
      await rename(target, old);
    }
    await rename(tmp, target);
  } catch (cause) {
    // Put everything back as it was.
    if (old && !(await exists(target))) await rename(old, target).catch(() => undefined);
    for (const entry of carried) await rename(join(tmp, entry), join(target, entry)).catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
    throw new CheckpointError(`replacing checkpoint ${target} failed (the previous one is unchanged): ${(cause as Error).message}`, {
      code: 'CHECKPOINT_WRITE',
      cause,
    });
  }
  await fsyncPath(dirname(target));
  if (old) await rm(old, { recursive: true, force: true });
}

function fail(message: string, code: CheckpointErrorCode): never {
  throw new CheckpointError(message, { code });
}

/** Reads a checkpoint written by `saveCheckpoint`: the model through `loadModel`, the optimizer moments
 * (when saved) in the same flat layout, and the trainer state. */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  if (!(await statOrUndefined(dir))?.isDirectory()) fail(`checkpoint directory ${dir} does not exist`, 'CHECKPOINT_MISSING');
  const statePath = join(dir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(statePath, 'utf8');
  } catch (cause) {
    throw new CheckpointError(`${statePath} cannot be read: not a training checkpoint (${(cause as Error).message})`, { code: 'CHECKPOINT_MISSING', cause });
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (cause) {
    throw new CheckpointError(`${statePath} is not valid JSON: ${(cause as Error).message}`, { code: 'CHECKPOINT_INVALID', cause });
  }
  if (state === null || typeof state !== 'object' || Array.isArray(state)) fail(`${statePath}: expected a JSON object`, 'CHECKPOINT_INVALID');

  // A checkpoint's config says BertForSequenceClassification: loadModel reads it as a cross-encoder.
  const model = await loadModel(dir);
  const optimizerPath = join(dir, OPTIMIZER_FILE);
  const optimizer = (await exists(optimizerPath)) ? await readOptimizer(optimizerPath, model.params) : undefined;
  return { model, ...(optimizer ? { optimizer } : {}), state: state as Record<string, unknown> };
}

async function readOptimizer(path: string, layout: FlatParams): Promise<OptimizerState> {
  let tensors;
  try {
    tensors = (await readSafetensorsHeader(path)).tensors;
  } catch (cause) {
    throw new CheckpointError(`${path}: ${(cause as Error).message}`, { code: 'CHECKPOINT_INVALID', cause });
  }
  const m = new Float32Array(layout.totalElements);
  const v = new Float32Array(layout.totalElements);
  const jobs: Parameters<typeof readTensorsInto>[0] = [];
  for (const [prefix, dest] of [['exp_avg.', m], ['exp_avg_sq.', v]] as const) {
    for (const e of layout.entries.values()) {
      const name = prefix + hfTensorName(e.name);
      const t = tensors.get(name);
      if (!t) fail(`${path}: tensor ${name} is missing`, 'CHECKPOINT_INVALID');
      if (t.dtype !== 'F32' || t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
        fail(`${path}: tensor ${name} is ${t.dtype} [${t.shape.join(', ')}], expected F32 [${e.shape.join(', ')}]`, 'CHECKPOINT_INVALID');
      }
      jobs.push({ tensor: t, dest, offset: e.offset });
    }
  }
  if (tensors.size !== jobs.length) {
    const expected = new Set(jobs.map((j) => j.tensor.name));
    const extra = [...tensors.keys()].filter((k) => !expected.has(k));
    fail(`${path}: unexpected tensors ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''}: not this model's optimizer state`, 'CHECKPOINT_INVALID');
  }
  try {
    await readTensorsInto(jobs);
  } catch (cause) {
    throw new CheckpointError(`${path}: ${(cause as Error).message}`, { code: 'CHECKPOINT_INVALID', cause });
  }
  return { m, v };
}
