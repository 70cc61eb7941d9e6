import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError, ModelLoadError } from '../src/errors.js';
import { loadModel, type LoadedModel } from '../src/model/load.js';
import { bertParamSpecs, layoutParams, paramView } from '../src/model/params.js';
import { crossEncoderFromModel, readSourceConfig, seededNormal } from '../src/train/init.js';
import { MINILM } from './bert-support.js';

// The real model is made by `npm run setup`; its tests are skipped without it.
const minilm = existsSync(`${MINILM}/model.safetensors`);

const TINY = new URL('./fixtures/models/tiny-bert', import.meta.url).pathname;

let tiny: LoadedModel;
beforeAll(async () => {
  tiny = await loadModel(TINY);
});

/** The tiny model as a bi-encoder without pooler or classifier (what many ST checkpoints are). */
function withoutHead(model: LoadedModel, drop: (name: string) => boolean = () => false): LoadedModel {
  const specs = bertParamSpecs(model.config, 'bi-encoder', { pooler: false }).filter((s) => !drop(s.name));
  const params = layoutParams(specs);
  for (const s of specs) paramView(params, s.name).set(paramView(model.params, s.name));
  return { ...model, kind: 'bi-encoder', pooling: { mode: 'mean', normalize: true }, numLabels: 0, params };
}

function stats(x: Float32Array): { mean: number; std: number } {
  const mean = x.reduce((a, b) => a + b, 0) / x.length;
  return { mean, std: Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length) };
}

const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('crossEncoderFromModel', () => {
  it.skipIf(!minilm)('turns the real all-MiniLM-L6-v2 bi-encoder into a 1-label cross-encoder, encoder and pooler copied', async () => {
    const source = await loadModel(MINILM);
    expect(source.kind).toBe('bi-encoder');
    const model = crossEncoderFromModel(source, { seed: 42 });
    expect(model.kind).toBe('cross-encoder');
    expect(model.numLabels).toBe(1);
    expect(model.pooling).toBeUndefined();
    expect(model.config.architectures).toEqual(['BertForSequenceClassification']);
    expect(model.config.id2label).toEqual(['LABEL_0']);
    expect(model.dir).toBe(source.dir);
    expect([...model.params.entries.keys()]).toEqual(bertParamSpecs(model.config, 'cross-encoder', { pooler: true }).map((s) => s.name));
    for (const name of source.params.entries.keys()) expect(same(paramView(model.params, name), paramView(source.params, name)), name).toBe(true);
    const w = paramView(model.params, 'classifier.weight');
    expect(model.params.entries.get('classifier.weight')!.shape).toEqual([1, 384]);
    const { mean, std } = stats(w);
    // initializer_range 0.02 from config.json; 384 samples.
    expect(Math.abs(mean)).toBeLessThan(0.004);
    expect(std).toBeGreaterThan(0.017);
    expect(std).toBeLessThan(0.023);
    expect([...paramView(model.params, 'classifier.bias')]).toEqual([0]);
    expect(model.sourceDtypes.get('classifier.weight')).toBe('F32');
    expect(model.params.entries.get('encoder.layer.0.attention.self.query.weight')!.sourceName).toBe('bert.encoder.layer.0.attention.self.query.weight');
  });

  it('creates the pooler when the source has none, normal(0, initializer_range) and zero bias', () => {
    const source = withoutHead(tiny);
    const model = crossEncoderFromModel(source, { seed: 7, initializerRange: 0.5 });
    const w = paramView(model.params, 'pooler.dense.weight');
    expect(w.length).toBe(32 * 32);
    const { mean, std } = stats(w);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(std).toBeGreaterThan(0.45);
    expect(std).toBeLessThan(0.55);
    expect(paramView(model.params, 'pooler.dense.bias').every((x) => x === 0)).toBe(true);
    for (const name of source.params.entries.keys()) expect(same(paramView(model.params, name), paramView(source.params, name)), name).toBe(true);
  });

  it('re-heads a cross-encoder: pooler kept, classifier fresh; deterministic per seed', () => {
    const a = crossEncoderFromModel(tiny, { seed: 1 });
    const b = crossEncoderFromModel(tiny, { seed: 1 });
    const c = crossEncoderFromModel(tiny, { seed: 2 });
    expect(same(paramView(a.params, 'pooler.dense.weight'), paramView(tiny.params, 'pooler.dense.weight'))).toBe(true);
    expect(same(a.params.data, b.params.data)).toBe(true);
    expect(same(paramView(a.params, 'classifier.weight'), paramView(c.params, 'classifier.weight'))).toBe(false);
    expect(same(paramView(a.params, 'classifier.weight'), paramView(tiny.params, 'classifier.weight'))).toBe(false);
    // The source is untouched.
    expect(tiny.kind).toBe('cross-encoder');
    expect(tiny.sourceDtypes.get('classifier.weight')).toBe('F16');
  });

  it('seededNormal has the moments of a standard normal', () => {
    const { mean, std } = stats(seededNormal(20000, 1, 3, 9));
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(std - 1)).toBeLessThan(0.02);
  });

  it('reads a sentence-transformers config from its Transformer module folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpurank-init-'));
    try {
      writeFileSync(join(dir, 'modules.json'), JSON.stringify([{ idx: 0, name: '0', path: 'tf', type: 'sentence_transformers.models.Transformer' }]));
      expect(() => readSourceConfig({ dir })).toThrow(expect.objectContaining({ code: 'MODEL_CONFIG_MISSING' }));
      rmSync(join(dir, 'modules.json'));
      writeFileSync(join(dir, 'config.json'), '{"initializer_range": ');
      expect(() => readSourceConfig({ dir })).toThrow(expect.objectContaining({ code: 'MODEL_CONFIG_INVALID' }));
      writeFileSync(join(dir, 'config.json'), '[1]');
      expect(() => readSourceConfig({ dir })).toThrow(/expected a JSON object/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(readSourceConfig({ dir: TINY }).initializer_range).toBe(0.02);
  });

  it('rejects bad seeds, ranges and sources with typed errors', () => {
    for (const seed of [-1, 1.5, 2 ** 32, NaN]) expect(() => crossEncoderFromModel(tiny, { seed })).toThrow(InputError);
    expect(() => crossEncoderFromModel(tiny, { seed: 0, initializerRange: 0 })).toThrow(/initializer range/);
    const missing = withoutHead(tiny, (n) => n === 'encoder.layer.1.output.dense.bias');
    expect(() => crossEncoderFromModel(missing, { seed: 0 })).toThrow(expect.objectContaining({ code: 'MODEL_TENSOR_MISSING' }));
    const wrong = { ...tiny, config: { ...tiny.config, intermediateSize: 65 } };
    expect(() => crossEncoderFromModel(wrong, { seed: 0 })).toThrow(ModelLoadError);
    expect(() => crossEncoderFromModel(wrong, { seed: 0 })).toThrow(expect.objectContaining({ code: 'MODEL_TENSOR_SHAPE' }));
  });
});

