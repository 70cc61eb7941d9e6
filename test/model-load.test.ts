import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../src/errors.js';
import { loadModel, type LoadedModel } from '../src/model/load.js';
import { bertParamSpecs, PARAM_ALIGN, paramView } from '../src/model/params.js';
import { bf16ToF32, f16ToF32, writeSafetensors, type FloatDtype, type TensorToWrite } from '../src/model/safetensors.js';

const MODELS = 'test/fixtures/models';
const SMALL = join(MODELS, 'small-vocab');
const MINILM = 'models/all-MiniLM-L6-v2';
const tmp = mkdtempSync(join(tmpdir(), 'gpurank-load-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * An independent reading of a safetensors file (Buffer reads, no code under test): name → {dtype, shape,
 * values}. Checks the loader's table and values against the bytes themselves.
 */
function rawTensors(path: string): Map<string, { dtype: string; shape: number[]; values: number[] }> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = new Map<string, { dtype: string; shape: number[]; values: number[] }>();
  for (const [name, e] of Object.entries<any>(header)) {
    if (name === '__metadata__') continue;
    const at = 8 + n + e.data_offsets[0];
    const count = e.shape.reduce((a: number, d: number) => a * d, 1);
    const values: number[] = [];
    for (let i = 0; i < count; i++) {
      if (e.dtype === 'F32') values.push(buf.readFloatLE(at + 4 * i));
      else if (e.dtype === 'F16' || e.dtype === 'BF16') {
        const bits = new Uint16Array([buf.readUInt16LE(at + 2 * i)]);
        const f = new Float32Array(1);
        (e.dtype === 'F16' ? f16ToF32 : bf16ToF32)(bits, f);
        values.push(f[0]);
      }
    }
    out.set(name, { dtype: e.dtype, shape: e.shape, values });
  }
  return out;
}

function rawDir(dir: string): Map<string, { dtype: string; shape: number[]; values: number[] }> {
  const all = new Map();
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.safetensors'))) {
    for (const [k, v] of rawTensors(join(dir, f))) all.set(k, v);
  }
  return all;
}

/** Offsets aligned, in layout order, non-overlapping, and the values equal to the file's. */
function checkAgainstFile(model: LoadedModel, raw: ReturnType<typeof rawDir>): void {
  let end = 0;
  for (const e of model.params.entries.values()) {
    expect(e.offset % PARAM_ALIGN).toBe(0);
    expect(e.offset).toBeGreaterThanOrEqual(end);
    expect(e.size).toBe(e.shape.reduce((a, d) => a * d, 1));
    end = e.offset + e.size;
    const src = raw.get(e.sourceName);
    expect(src, e.sourceName).toBeDefined();
    expect(e.shape).toEqual(src!.shape);
    expect(model.sourceDtypes.get(e.name)).toBe(src!.dtype);
    expect(Array.from(paramView(model.params, e.name))).toEqual(src!.values);
  }
  expect(model.params.totalElements).toBe(Math.ceil(end / PARAM_ALIGN) * PARAM_ALIGN);
  expect(model.params.data.length).toBe(model.params.totalElements);
}

function copyDir(src: string): string {
  const dir = mkdtempSync(join(tmp, 'm-'));
  const walk = (from: string, to: string): void => {
    for (const f of readdirSync(from)) {
      if (statSync(join(from, f)).isDirectory()) {
        mkdirSync(join(to, f));
        walk(join(from, f), join(to, f));
      } else copyFileSync(join(from, f), join(to, f));
    }
  };
  walk(src, dir);
  return dir;
}

/** The F32 fixture's tensors, to write modified copies from. */
function f32Tensors(): TensorToWrite[] {
  return [...rawTensors(join(SMALL, 'f32', 'model.safetensors'))].map(([name, t]) => ({
    name,
    dtype: t.dtype as FloatDtype,
    shape: t.shape,
    data: Float32Array.from(t.values),
  }));
}

/** A copy of small-vocab/f32 whose weights (and optionally config) are rewritten. */
async function variant(
  edit: (tensors: TensorToWrite[]) => TensorToWrite[],
  editConfig?: (config: any) => void,
): Promise<string> {
  const dir = copyDir(join(SMALL, 'f32'));
  await writeSafetensors(join(dir, 'model.safetensors'), edit(f32Tensors()));
  if (editConfig) editJson(join(dir, 'config.json'), editConfig);
  return dir;
}

function editJson(path: string, edit: (json: any) => void): void {
  const json = JSON.parse(readFileSync(path, 'utf8'));
  edit(json);
  writeFileSync(path, JSON.stringify(json));
}

async function expectLoadError(dir: string, code: string, ...fragments: string[]): Promise<ModelLoadError> {
  const err = await loadModel(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ModelLoadError ${code}`).toBeInstanceOf(ModelLoadError);
  expect((err as ModelLoadError).code).toBe(code);
  for (const f of fragments) expect((err as Error).message).toContain(f);
  return err as ModelLoadError;
}

describe('loadModel: fixtures', () => {
  it('loads tiny-bert (F16, full bert-base-uncased vocabulary) as a 1-label cross-encoder', async () => {
    const dir = join(MODELS, 'tiny-bert');
    const m = await loadModel(dir);
    expect(m.kind).toBe('cross-encoder');
    expect(m.pooling).toBeUndefined();
    expect(m.numLabels).toBe(1);
    expect(m.config).toMatchObject({
      vocabSize: 30522, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4, headDim: 8, intermediateSize: 64,
      maxPositionEmbeddings: 512, typeVocabSize: 2, hiddenAct: 'gelu', layerNormEps: 1e-12, padTokenId: 0, id2label: ['LABEL_0'],
    });
    // 5 embedding tensors, 16 per layer, pooler and classifier.
    expect(m.params.entries.size).toBe(5 + 2 * 16 + 2 + 2);
    expect([...m.params.entries.keys()]).toEqual(bertParamSpecs(m.config, 'cross-encoder', { pooler: true }).map((s) => s.name));
    const q = m.params.entries.get('encoder.layer.1.attention.self.query.weight')!;
    expect(q).toMatchObject({ sourceName: 'bert.encoder.layer.1.attention.self.query.weight', shape: [32, 32], size: 1024 });
    expect(m.params.entries.get('classifier.weight')).toMatchObject({ sourceName: 'classifier.weight', shape: [1, 32] });
    checkAgainstFile(m, rawDir(dir));
    expect(new Set(m.sourceDtypes.values())).toEqual(new Set(['F16']));
  });

  it('loads the F32 small-vocab cross-encoder with its named labels, values bit-exact', async () => {
    const m = await loadModel(join(SMALL, 'f32'));
    expect(m.kind).toBe('cross-encoder');
    expect(m.numLabels).toBe(2);
    expect(m.config.id2label).toEqual(['irrelevant', 'relevant']);
    checkAgainstFile(m, rawDir(join(SMALL, 'f32')));
  });

  it('loads the F16 and BF16 copies as the F32 weights rounded to those dtypes', async () => {
    const f32 = await loadModel(join(SMALL, 'f32'));
    for (const dtype of ['f16', 'bf16'] as const) {
      const m = await loadModel(join(SMALL, dtype));
      checkAgainstFile(m, rawDir(join(SMALL, dtype)));
      expect([...m.params.entries.values()].map((e) => [e.name, e.offset])).toEqual([...f32.params.entries.values()].map((e) => [e.name, e.offset]));
      // Relative rounding error of the format (2^-11 for f16, 2^-8 for bf16), and not zero: a real conversion.
      const eps = dtype === 'f16' ? 2 ** -11 : 2 ** -8;
      let worst = 0;
      for (let i = 0; i < f32.params.data.length; i++) {
        const a = f32.params.data[i];
        const err = Math.abs(m.params.data[i] - a);
        expect(err).toBeLessThanOrEqual(Math.abs(a) * eps + 2 ** -24);
        worst = Math.max(worst, err);
      }
      expect(worst).toBeGreaterThan(0);
    }
  });

  it('loads the sharded copy identically to the single file', async () => {
    const single = await loadModel(join(SMALL, 'f32'));
    const sharded = await loadModel(join(SMALL, 'sharded'));
    expect(readdirSync(join(SMALL, 'sharded')).filter((f) => f.endsWith('.safetensors'))).toHaveLength(4);
    expect([...sharded.params.entries.values()]).toEqual([...single.params.entries.values()]);
    expect(sharded.params.data).toEqual(single.params.data);
  });

  it('loads a sentence-transformers bi-encoder (mean pooling + Normalize), pooler kept, no classifier', async () => {
    const dir = join(SMALL, 'bi-encoder');
    const m = await loadModel(dir);
    expect(m.kind).toBe('bi-encoder');
    expect(m.pooling).toEqual({ mode: 'mean', normalize: true });
    expect(m.numLabels).toBe(0);
    expect(m.params.entries.has('pooler.dense.weight')).toBe(true);
    expect(m.params.entries.has('classifier.weight')).toBe(false);
    expect(m.params.entries.get('embeddings.word_embeddings.weight')!.sourceName).toBe('embeddings.word_embeddings.weight');
    checkAgainstFile(m, rawDir(dir));
  });

  it('reads cls pooling, no Normalize, and a bi-encoder saved without a pooler', async () => {
    const dir = copyDir(join(SMALL, 'bi-encoder'));
    editJson(join(dir, '1_Pooling', 'config.json'), (c) => {
      c.pooling_mode_mean_tokens = false;
      c.pooling_mode_cls_token = true;
    });
    editJson(join(dir, 'modules.json'), (mods) => mods.pop());
    const tensors = [...rawTensors(join(dir, 'model.safetensors'))]
      .filter(([name]) => !name.startsWith('pooler.'))
      .map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: Float32Array.from(t.values) }));
    await writeSafetensors(join(dir, 'model.safetensors'), tensors);
    const m = await loadModel(dir);
    expect(m.pooling).toEqual({ mode: 'cls', normalize: false });
    expect(m.params.entries.has('pooler.dense.weight')).toBe(false);
  });

  it('reads the module types and pooling config that sentence-transformers 6 writes', async () => {
    const dir = copyDir(join(SMALL, 'bi-encoder'));
    editJson(join(dir, 'modules.json'), (mods) => {
      for (const m of mods) m.type = m.type.replace('sentence_transformers.models.', 'sentence_transformers.base.modules.');
    });
    writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ embedding_dimension: 32, pooling_mode: 'mean' }));
    expect((await loadModel(dir)).pooling).toEqual({ mode: 'mean', normalize: true });
    writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ pooling_mode: 'max' }));
    await expect(loadModel(dir)).rejects.toMatchObject({ code: 'MODEL_UNSUPPORTED' });
  });

  it('reads the Transformer module from a subfolder when modules.json says so', async () => {
    const dir = mkdtempSync(join(tmp, 'st-'));
    const inner = join(dir, '0_Transformer');
    mkdirSync(inner);
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(SMALL, 'bi-encoder', f), join(inner, f));
    mkdirSync(join(dir, '1_Pooling'));
    copyFileSync(join(SMALL, 'bi-encoder', '1_Pooling', 'config.json'), join(dir, '1_Pooling', 'config.json'));
    writeFileSync(join(dir, 'modules.json'), JSON.stringify([
      { idx: 0, name: '0', path: '0_Transformer', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    ]));
    const m = await loadModel(dir);
    expect(m.kind).toBe('bi-encoder');
    expect(m.pooling).toEqual({ mode: 'mean', normalize: false });
  });

  it('maps LayerNorm.gamma/beta to weight/bias and skips position_ids and pre-training heads', async () => {
    const dir = await variant((ts) => [
      ...ts.map((t) => ({ ...t, name: t.name.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta') })),
      { name: 'bert.embeddings.position_ids', dtype: 'F32', shape: [1, 32], data: new Float32Array(32) },
      { name: 'cls.predictions.bias', dtype: 'F32', shape: [128], data: new Float32Array(128) },
    ]);
    const m = await loadModel(dir);
    const ln = m.params.entries.get('encoder.layer.0.output.LayerNorm.weight')!;
    expect(ln.sourceName).toBe('bert.encoder.layer.0.output.LayerNorm.gamma');
    expect(m.params.entries.get('embeddings.LayerNorm.bias')!.sourceName).toBe('bert.embeddings.LayerNorm.beta');
    expect([...m.params.entries.keys()].some((k) => k.includes('position_ids') || k.startsWith('cls.'))).toBe(false);
    const ref = await loadModel(join(SMALL, 'f32'));
    expect(m.params.data).toEqual(ref.params.data);
  });

  it.skipIf(!existsSync(join(MINILM, 'model.safetensors')))('loads the real all-MiniLM-L6-v2 (F32, with a position_ids buffer)', async () => {
    const t0 = performance.now();
    const m = await loadModel(MINILM);
    const ms = performance.now() - t0;
    expect(m.kind).toBe('bi-encoder');
    expect(m.pooling).toEqual({ mode: 'mean', normalize: true });
    expect(m.config).toMatchObject({ hiddenSize: 384, numHiddenLayers: 6, numAttentionHeads: 12, headDim: 32, intermediateSize: 1536, vocabSize: 30522 });
    expect(m.params.entries.size).toBe(5 + 6 * 16 + 2);
    expect(m.params.entries.has('embeddings.position_ids')).toBe(false);
    // Spot-check values against the file (reading every element the slow way would take seconds).
    const buf = readFileSync(join(MINILM, 'model.safetensors'));
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
    for (const e of m.params.entries.values()) {
      const { data_offsets: [begin] } = header[e.sourceName];
      const view = paramView(m.params, e.name);
      for (const i of [0, e.size >> 1, e.size - 1]) expect(view[i]).toBe(buf.readFloatLE(8 + n + begin + 4 * i));
      expect(e.offset % PARAM_ALIGN).toBe(0);
    }
    expect(ms).toBeLessThan(10_000);
  });
});

describe('loadModel: failures', () => {
  it('a missing directory', async () => {
    await expectLoadError(join(tmp, 'no-such-model'), 'MODEL_DIR_MISSING', 'no-such-model does not exist');
  });

  it('a missing config.json', async () => {
    const dir = copyDir(join(SMALL, 'f32'));
    rmSync(join(dir, 'config.json'));
    await expectLoadError(dir, 'MODEL_CONFIG_MISSING', 'config.json not found');
  });

  it('a config.json that is not JSON', async () => {
    const dir = copyDir(join(SMALL, 'f32'));
    writeFileSync(join(dir, 'config.json'), '{"model_type": "bert",');
    await expectLoadError(dir, 'MODEL_CONFIG_INVALID', 'config.json is not valid JSON');
  });

  it('a missing weights file', async () => {
    const dir = copyDir(join(SMALL, 'f32'));
    rmSync(join(dir, 'model.safetensors'));
    await expectLoadError(dir, 'MODEL_WEIGHTS_MISSING', 'no model.safetensors');
  });

  it('a corrupted safetensors header', async () => {
    const dir = copyDir(join(SMALL, 'f32'));
    const path = join(dir, 'model.safetensors');
    const buf = readFileSync(path);
    buf.fill(0x7b, 8, 40); // '{{{{…' over the start of the JSON
    writeFileSync(path, buf);
    await expectLoadError(dir, 'SAFETENSORS_INVALID', 'model.safetensors', 'not valid UTF-8 JSON');
  });

  it('a truncated weights file', async () => {
    const dir = copyDir(join(SMALL, 'f32'));
    const path = join(dir, 'model.safetensors');
    const buf = readFileSync(path);
    writeFileSync(path, buf.subarray(0, buf.length - 1000));
    await expectLoadError(dir, 'SAFETENSORS_TRUNCATED', 'model.safetensors', 'truncated');
  });

  it('a header whose length points past the end of the file', async () => {
    const dir = copyDir(join(SMALL, 'f32'));
    const path = join(dir, 'model.safetensors');
    const buf = readFileSync(path);
    buf.writeBigUInt64LE(BigInt(buf.length), 0);
    writeFileSync(path, buf);
    await expectLoadError(dir, 'SAFETENSORS_TRUNCATED', 'runs past the end');
  });

  it('a config whose hidden_size disagrees with the weights', async () => {
    const dir = copyDir(join(SMALL, 'f32'));
    editJson(join(dir, 'config.json'), (c) => (c.hidden_size = 64));
    await expectLoadError(dir, 'MODEL_TENSOR_SHAPE', 'bert.embeddings.word_embeddings.weight has shape [128, 32] but config.json implies [128, 64]');
  });

  it('a config whose num_labels disagrees with the classifier', async () => {
    const dir = copyDir(join(SMALL, 'f32'));
    editJson(join(dir, 'config.json'), (c) => {
      delete c.id2label;
      delete c.label2id;
      c.num_labels = 3;
    });
    await expectLoadError(dir, 'MODEL_TENSOR_SHAPE', 'classifier.weight has shape [2, 32] but config.json implies [3, 32]');
  });

  it('a missing tensor', async () => {
    const dir = await variant((ts) => ts.filter((t) => t.name !== 'bert.encoder.layer.1.intermediate.dense.bias'));
    await expectLoadError(dir, 'MODEL_TENSOR_MISSING', 'encoder.layer.1.intermediate.dense.bias (shape [64]) is missing');
  });

  it('a cross-encoder without its classifier', async () => {
    const dir = await variant((ts) => ts.filter((t) => !t.name.startsWith('classifier.')));
    await expectLoadError(dir, 'MODEL_TENSOR_MISSING', 'classifier.weight');
  });

  it('an extra tensor', async () => {
    const dir = await variant((ts) => [...ts, { name: 'bert.encoder.layer.2.output.dense.bias', dtype: 'F32', shape: [32], data: new Float32Array(32) }]);
    await expectLoadError(dir, 'MODEL_TENSOR_UNEXPECTED', 'unexpected tensor bert.encoder.layer.2.output.dense.bias');
  });

  it('a tensor present under two names', async () => {
    const dir = await variant((ts) => [...ts, { ...ts.find((t) => t.name === 'classifier.bias')!, name: 'bert.classifier.bias' }]);
    await expectLoadError(dir, 'MODEL_TENSOR_UNEXPECTED', 'classifier.bias and bert.classifier.bias are both classifier.bias');
  });

  it('a weight stored as integers', async () => {
    const dir = copyDir(join(SMALL, 'f32'));
    const path = join(dir, 'model.safetensors');
    const buf = readFileSync(path);
    const n = Number(buf.readBigUInt64LE(0));
    // I32 has F32's size, so only the dtype changes; the header keeps its length.
    const header = buf.subarray(8, 8 + n).toString('utf8').replace('"classifier.bias":{"dtype":"F32"', '"classifier.bias":{"dtype":"I32"');
    expect(header).toContain('"dtype":"I32"');
    buf.write(header, 8, 'utf8');
    writeFileSync(path, buf);
    await expectLoadError(dir, 'MODEL_TENSOR_DTYPE', 'tensor classifier.bias has dtype I32');
  });

  it('NaN in a weight, named', async () => {
    const dir = await variant((ts) => {
      ts.find((t) => t.name === 'bert.encoder.layer.0.attention.self.key.weight')!.data[77] = NaN;
      return ts;
    });
    await expectLoadError(dir, 'MODEL_TENSOR_NONFINITE', 'tensor bert.encoder.layer.0.attention.self.key.weight holds NaN at element 77');
  });

  it('Infinity in an F16 weight, named', async () => {
    const dir = await variant((ts) =>
      ts.map((t) => {
        const data = t.name === 'bert.pooler.dense.bias' ? t.data.map((v, i) => (i === 3 ? 1e6 : v)) : t.data; // > f16 max: stored as inf
        return { ...t, dtype: 'F16' as const, data };
      }),
    );
    await expectLoadError(dir, 'MODEL_TENSOR_NONFINITE', 'tensor bert.pooler.dense.bias holds Infinity at element 3');
  });

  it('an unsupported model_type', async () => {
    const dir = copyDir(join(SMALL, 'f32'));
    editJson(join(dir, 'config.json'), (c) => (c.model_type = 'xlm-roberta'));
    const err = await expectLoadError(dir, 'MODEL_UNSUPPORTED', 'model_type "xlm-roberta" is not supported');
    expect(err.statusCode).toBe(500);
  });

  it('an unsupported architecture', async () => {
    const dir = copyDir(join(SMALL, 'f32'));
    editJson(join(dir, 'config.json'), (c) => (c.architectures = ['BertForMaskedLM']));
    await expectLoadError(dir, 'MODEL_UNSUPPORTED', 'architectures ["BertForMaskedLM"] is not supported');
  });

  it('a BertModel without sentence-transformers modules', async () => {
    const dir = copyDir(join(SMALL, 'bi-encoder'));
    rmSync(join(dir, 'modules.json'));
    await expectLoadError(dir, 'MODEL_UNSUPPORTED', 'architectures ["BertModel"]');
  });

  it('a bi-encoder with a classifier tensor', async () => {
    const dir = copyDir(join(SMALL, 'bi-encoder'));
    const tensors = [...rawTensors(join(dir, 'model.safetensors'))].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: Float32Array.from(t.values) }));
    tensors.push({ name: 'classifier.bias', dtype: 'F32', shape: [2], data: new Float32Array(2) });
    await writeSafetensors(join(dir, 'model.safetensors'), tensors);
    await expectLoadError(dir, 'MODEL_TENSOR_UNEXPECTED', 'unexpected tensor classifier.bias: not part of a bi-encoder');
  });

  it.each([
    ['max pooling', (d: string) => editJson(join(d, '1_Pooling', 'config.json'), (c) => {
      c.pooling_mode_mean_tokens = false;
      c.pooling_mode_max_tokens = true;
    }), 'MODEL_UNSUPPORTED', 'pooling pooling_mode_max_tokens is not supported'],
    ['two pooling modes', (d: string) => editJson(join(d, '1_Pooling', 'config.json'), (c) => (c.pooling_mode_cls_token = true)), 'MODEL_UNSUPPORTED', 'pooling_mode_cls_token + pooling_mode_mean_tokens'],
    ['a Dense module', (d: string) => editJson(join(d, 'modules.json'), (m) => m.splice(2, 0, { idx: 2, name: '2', path: '2_Dense', type: 'sentence_transformers.models.Dense' })), 'MODEL_UNSUPPORTED', 'module 2 (sentence_transformers.models.Dense) is not supported'],
    ['no Pooling module', (d: string) => editJson(join(d, 'modules.json'), (m) => m.splice(1)), 'MODEL_UNSUPPORTED', 'needs a Transformer and a Pooling module'],
    ['a missing pooling config', (d: string) => rmSync(join(d, '1_Pooling', 'config.json')), 'MODEL_CONFIG_MISSING', '1_Pooling/config.json not found'],
    ['a pooling dimension other than hidden_size', (d: string) => editJson(join(d, '1_Pooling', 'config.json'), (c) => (c.word_embedding_dimension = 384)), 'MODEL_CONFIG_INVALID', 'word_embedding_dimension 384 disagrees with hidden_size 32'],
    ['a non-integer pooling dimension', (d: string) => editJson(join(d, '1_Pooling', 'config.json'), (c) => (c.word_embedding_dimension = '32')), 'MODEL_CONFIG_INVALID', 'word_embedding_dimension is not an integer'],
    ['modules.json not a list', (d: string) => writeFileSync(join(d, 'modules.json'), '{}'), 'MODEL_CONFIG_INVALID', 'expected a list of modules'],
    ['a module path leaving the directory', (d: string) => editJson(join(d, 'modules.json'), (m) => (m[1].path = '../1_Pooling')), 'MODEL_CONFIG_INVALID', 'module 1 needs'],
  ])('a bi-encoder with %s', async (_, edit, code, message) => {
    const dir = copyDir(join(SMALL, 'bi-encoder'));
    edit(dir);
    await expectLoadError(dir, code, message);
  });
});
