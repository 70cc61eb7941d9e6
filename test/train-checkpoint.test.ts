import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ModelLoadError } from '../src/errors.js';
import { loadModel, type LoadedModel } from '../src/model/load.js';
import { bertParamSpecs, layoutParams, paramView } from '../src/model/params.js';
import { readSafetensorsHeader } from '../src/model/safetensors.js';
import { CheckpointError, hfTensorName, loadCheckpoint, saveCheckpoint, type OptimizerState } from '../src/train/checkpoint.js';
import { crossEncoderFromModel } from '../src/train/init.js';
import { randn, rng } from './kernels-support.js';

// Lets one test make the swap's rename fail; every other call goes to the real function.
const renameHook = vi.hoisted(() => ({ failOn: undefined as ((from: string, to: string) => boolean) | undefined }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    rename: async (from: string, to: string) => {
      if (renameHook.failOn?.(from, to)) throw Object.assign(new Error(`EIO: injected rename failure ${from}`), { code: 'EIO' });
      return real.rename(from, to);
    },
  };
});

const TINY = new URL('./fixtures/models/tiny-bert', import.meta.url).pathname;

let tiny: LoadedModel;
let work: string;
beforeAll(async () => {
  tiny = await loadModel(TINY);
  work = mkdtempSync(join(tmpdir(), 'gpurank-ckpt-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Trained-looking params: the model's weights plus noise in tensor ranges, zero padding. */
function perturbed(model: LoadedModel, seed: number): Float32Array {
  const rand = rng(seed);
  const out = new Float32Array(model.params.totalElements);
  for (const e of model.params.entries.values()) {
    const noise = randn(e.size, rand, 0.01);
    const src = paramView(model.params, e.name);
    for (let i = 0; i < e.size; i++) out[e.offset + i] = src[i] + noise[i];
  }
  return out;
}

function optimizerState(model: LoadedModel, seed: number): OptimizerState {
  const rand = rng(seed);
  const m = new Float32Array(model.params.totalElements);
  const v = new Float32Array(model.params.totalElements);
  for (const e of model.params.entries.values()) {
    m.set(randn(e.size, rand, 1e-3), e.offset);
    v.set(randn(e.size, rand, 1e-6).map(Math.abs), e.offset);
  }
  return { m, v };
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const leftovers = (dir: string) => readdirSync(dir).filter((f) => f.includes('.tmp-') || f.includes('.old-'));

describe('saveCheckpoint / loadCheckpoint', () => {
  it('round-trips params, optimizer moments and state bit-exactly, with HF names and config', async () => {
    const dir = join(work, 'round-trip', 'checkpoint-10');
    const params = perturbed(tiny, 1);
    const optimizer = optimizerState(tiny, 2);
    const state = { step: 10, sampler: { epoch: 1, order: [3, 1, 2] }, args: { lr: 2e-5 }, log: [{ step: 1, loss: 0.7 }] };
    await saveCheckpoint(dir, { model: tiny, params, optimizer, state });

    const files = readdirSync(dir).sort();
    expect(files).toEqual(['config.json', 'model.safetensors', 'optimizer.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'trainer_state.json']);
    expect(leftovers(join(work, 'round-trip'))).toEqual([]);

    // What transformers expects of a BertForSequenceClassification: names, shapes, F32, format pt.
    const header = await readSafetensorsHeader(join(dir, 'model.safetensors'));
    expect(header.metadata).toEqual({ format: 'pt' });
    const expected = bertParamSpecs(tiny.config, 'cross-encoder', { pooler: true });
    expect([...header.tensors.keys()].sort()).toEqual(expected.map((s) => hfTensorName(s.name)).sort());
    for (const s of expected) {
      const t = header.tensors.get(hfTensorName(s.name))!;
      expect(t.dtype).toBe('F32');
      expect(t.shape).toEqual(s.shape);
    }
    expect(header.tensors.has('bert.encoder.layer.1.output.LayerNorm.weight')).toBe(true);
    expect(header.tensors.get('classifier.weight')!.shape).toEqual([1, 32]);

    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    const source = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8'));
    expect(config.architectures).toEqual(['BertForSequenceClassification']);
    expect(config.id2label).toEqual({ 0: 'LABEL_0' });
    expect(config.label2id).toEqual({ LABEL_0: 0 });
    expect(config.dtype).toBe('float32');
    expect(config.num_labels).toBeUndefined();
    for (const key of ['initializer_range', 'hidden_dropout_prob', 'tie_word_embeddings', 'classifier_dropout', 'transformers_version']) {
      expect(config[key], key).toEqual(source[key]);
    }
    expect(readFileSync(join(dir, 'tokenizer.json'))).toEqual(readFileSync(join(TINY, 'tokenizer.json')));

    const loaded = await loadCheckpoint(dir);
    expect(loaded.model.kind).toBe('cross-encoder');
    expect(loaded.model.numLabels).toBe(1);
    expect([...loaded.model.params.entries.keys()]).toEqual([...tiny.params.entries.keys()]);
    expect(bits(loaded.model.params.data).equals(bits(params))).toBe(true);
    expect(bits(loaded.optimizer!.m).equals(bits(optimizer.m))).toBe(true);
    expect(bits(loaded.optimizer!.v).equals(bits(optimizer.v))).toBe(true);
    expect(loaded.state).toEqual(state);
  });

  it('saves a fresh-head model with a changed layer count: config follows the saved model; no optimizer is optional', async () => {
    const source = crossEncoderFromModel({ ...tiny, kind: 'bi-encoder', numLabels: 0 }, { seed: 3 });
    const config = { ...source.config, numHiddenLayers: 1 };
    const specs = bertParamSpecs(config, 'cross-encoder', { pooler: true });
    const params = layoutParams(specs);
    for (const s of specs) paramView(params, s.name).set(paramView(source.params, s.name));
    const model: LoadedModel = { ...source, config, params };
    const dir = join(work, 'one-layer');
    await saveCheckpoint(dir, { model, params: params.data, state: { step: 0 } });
    const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(saved.num_hidden_layers).toBe(1);
    const loaded = await loadCheckpoint(dir);
    expect(loaded.optimizer).toBeUndefined();
    expect(loaded.model.config.numHiddenLayers).toBe(1);
    expect(bits(loaded.model.params.data).equals(bits(params.data))).toBe(true);
  });

  it('replaces an older checkpoint and keeps the other entries of the folder', async () => {
    const dir = join(work, 'replace');
    await saveCheckpoint(dir, { model: tiny, params: perturbed(tiny, 4), optimizer: optimizerState(tiny, 5), state: { step: 1 } });
    writeFileSync(join(dir, 'train_log.jsonl'), '{"step":1}\n');
    mkdirSync(join(dir, 'checkpoint-1'));
    writeFileSync(join(dir, 'checkpoint-1', 'marker'), 'x');
    const params = perturbed(tiny, 6);
    await saveCheckpoint(dir, { model: tiny, params, state: { step: 2 } });
    const loaded = await loadCheckpoint(dir);
    expect(loaded.state).toEqual({ step: 2 });
    expect(bits(loaded.model.params.data).equals(bits(params))).toBe(true);
    // The new checkpoint has no optimizer state: the old file is gone, not mixed in.
    expect(loaded.optimizer).toBeUndefined();
    expect(readFileSync(join(dir, 'train_log.jsonl'), 'utf8')).toBe('{"step":1}\n');
    expect(readFileSync(join(dir, 'checkpoint-1', 'marker'), 'utf8')).toBe('x');
    expect(leftovers(work)).toEqual([]);
  });

  it('a failure mid-write leaves the previous checkpoint intact and no temp directory', async () => {
    const dir = join(work, 'atomic');
    const first = perturbed(tiny, 7);
    await saveCheckpoint(dir, { model: tiny, params: first, optimizer: optimizerState(tiny, 8), state: { step: 5 } });
    // A tokenizer folder whose tokenizer_config.json is a directory: copying it fails after
    // config.json, model.safetensors and optimizer.safetensors were written.
    const badTok = join(work, 'bad-tokenizer');
    mkdirSync(join(badTok, 'tokenizer_config.json'), { recursive: true });
    writeFileSync(join(badTok, 'tokenizer.json'), readFileSync(join(TINY, 'tokenizer.json')));
    const err = await saveCheckpoint(dir, { model: tiny, params: perturbed(tiny, 9), optimizer: optimizerState(tiny, 10), state: { step: 6 }, tokenizerDir: badTok }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as CheckpointError).code).toBe('CHECKPOINT_WRITE');
    expect(leftovers(work)).toEqual([]);
    const loaded = await loadCheckpoint(dir);
    expect(loaded.state).toEqual({ step: 5 });
    expect(bits(loaded.model.params.data).equals(bits(first))).toBe(true);
  });

  it('a failed swap puts the previous checkpoint and its folder entries back', async () => {
    const dir = join(work, 'swap');
    const first = perturbed(tiny, 11);
    await saveCheckpoint(dir, { model: tiny, params: first, state: { step: 1 } });
    writeFileSync(join(dir, 'train_log.jsonl'), 'log\n');
    renameHook.failOn = (from) => from.includes('.swap.tmp-') && !from.includes('train_log');
    try {
      const err = await saveCheckpoint(dir, { model: tiny, params: perturbed(tiny, 12), state: { step: 2 } }).catch((e: unknown) => e);
      expect((err as CheckpointError).code).toBe('CHECKPOINT_WRITE');
    } finally {
      renameHook.failOn = undefined;
    }
    expect(leftovers(work)).toEqual([]);
    expect(readFileSync(join(dir, 'train_log.jsonl'), 'utf8')).toBe('log\n');
    const loaded = await loadCheckpoint(dir);
    expect(loaded.state).toEqual({ step: 1 });
    expect(bits(loaded.model.params.data).equals(bits(first))).toBe(true);
  });

  it('refuses contents it cannot save, before writing anything', async () => {
    const dir = join(work, 'refused');
    const params = perturbed(tiny, 13);
    const cases: [Parameters<typeof saveCheckpoint>[1], string][] = [
      [{ model: { ...tiny, kind: 'bi-encoder' }, params, state: {} }, 'CHECKPOINT_MISMATCH'],
      [{ model: tiny, params: params.subarray(1), state: {} }, 'CHECKPOINT_MISMATCH'],
      [{ model: tiny, params, optimizer: { m: params, v: new Float32Array(3) }, state: {} }, 'CHECKPOINT_MISMATCH'],
      [{ model: tiny, params: Float32Array.from(params, (x, i) => (i === 5 ? NaN : x)), state: {} }, 'CHECKPOINT_NONFINITE'],
      [{ model: tiny, params, state: [] as unknown as object }, 'CHECKPOINT_MISMATCH'],
      [{ model: tiny, params, state: { big: 1n } }, 'CHECKPOINT_MISMATCH'],
      [{ model: tiny, params, state: {}, tokenizerDir: work }, 'CHECKPOINT_TOKENIZER_MISSING'],
    ];
    for (const [contents, code] of cases) {
      await expect(saveCheckpoint(dir, contents)).rejects.toThrow(expect.objectContaining({ code }));
    }
    expect(existsSync(dir)).toBe(false);
    writeFileSync(dir, 'a file');
    await expect(saveCheckpoint(dir, { model: tiny, params, state: {} })).rejects.toThrow(expect.objectContaining({ code: 'CHECKPOINT_TARGET' }));
    expect(readFileSync(dir, 'utf8')).toBe('a file');
    expect(leftovers(work)).toEqual([]);
  });

  it('reports broken or missing checkpoint files with typed errors', async () => {
    const good = join(work, 'good');
    await saveCheckpoint(good, { model: tiny, params: perturbed(tiny, 14), optimizer: optimizerState(tiny, 15), state: { step: 3 } });
    const copy = async (name: string) => {
      const dir = join(work, name);
      await fsp.cp(good, dir, { recursive: true });
      return dir;
    };
    await expect(loadCheckpoint(join(work, 'nowhere'))).rejects.toThrow(expect.objectContaining({ code: 'CHECKPOINT_MISSING' }));

    const noState = await copy('no-state');
    rmSync(join(noState, 'trainer_state.json'));
    await expect(loadCheckpoint(noState)).rejects.toThrow(expect.objectContaining({ code: 'CHECKPOINT_MISSING' }));

    const badState = await copy('bad-state');
    writeFileSync(join(badState, 'trainer_state.json'), '{"step": ');
    await expect(loadCheckpoint(badState)).rejects.toThrow(expect.objectContaining({ code: 'CHECKPOINT_INVALID' }));
    writeFileSync(join(badState, 'trainer_state.json'), '[1, 2]');
    await expect(loadCheckpoint(badState)).rejects.toThrow(/expected a JSON object/);

    const truncated = await copy('truncated');
    const weights = readFileSync(join(truncated, 'model.safetensors'));
    writeFileSync(join(truncated, 'model.safetensors'), weights.subarray(0, weights.length - 100));
    await expect(loadCheckpoint(truncated)).rejects.toThrow(ModelLoadError);

    const biEncoder = await copy('bi-encoder');
    const cfg = JSON.parse(readFileSync(join(biEncoder, 'config.json'), 'utf8'));
    writeFileSync(join(biEncoder, 'config.json'), JSON.stringify({ ...cfg, architectures: ['BertModel'] }));
    await expect(loadCheckpoint(biEncoder)).rejects.toThrow(ModelLoadError);

    const optimizerCases: [string, (header: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void, RegExp][] = [
      ['opt-missing', (h) => { h['exp_avg_sq.classifier.weightX'] = h['exp_avg_sq.classifier.weight']; delete h['exp_avg_sq.classifier.weight']; }, /exp_avg_sq.classifier.weight is missing/],
      ['opt-shape', (h) => { h['exp_avg.classifier.weight'].shape = [32, 1]; }, /expected F32 \[1, 32\]/],
      ['opt-extra', (h) => {
        // A zero-size tensor after the last one keeps the file valid.
        const end = Math.max(...Object.values(h).map((t) => t.data_offsets?.[1] ?? 0));
        h['exp_avg.extra'] = { dtype: 'F32', shape: [0], data_offsets: [end, end] };
      }, /unexpected tensors exp_avg.extra/],
    ];
    for (const [name, edit, message] of optimizerCases) {
      const dir = await copy(name);
      rewriteHeader(join(dir, 'optimizer.safetensors'), edit);
      await expect(loadCheckpoint(dir), name).rejects.toThrow(message);
      await expect(loadCheckpoint(dir), name).rejects.toThrow(expect.objectContaining({ code: 'CHECKPOINT_INVALID' }));
    }
    const corrupt = await copy('opt-corrupt');
    writeFileSync(join(corrupt, 'optimizer.safetensors'), Buffer.from([1, 2, 3]));
    await expect(loadCheckpoint(corrupt)).rejects.toThrow(expect.objectContaining({ code: 'CHECKPOINT_INVALID' }));
  });
});

/** Rewrites a safetensors header in place (data unchanged), re-padding it to 8 bytes. */
function rewriteHeader(path: string, edit: (header: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void): void {
  const file = readFileSync(path);
  const n = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + n).toString('utf8'));
  edit(header);
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(path, Buffer.concat([len, Buffer.from(json), file.subarray(8 + n)]));
}
