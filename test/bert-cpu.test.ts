import { beforeAll, describe, expect, it } from 'vitest';
import { InputError, ModelLoadError } from '../src/errors.js';
import { bertForwardCpu, padBatch } from '../src/model/bert-cpu.js';
import { loadModel, type LoadedModel } from '../src/model/load.js';
import { batchOf, hiddenGoldens, kendallTau, logitGoldens, maxAbsDiff, TINY_BERT } from './bert-support.js';

let model: LoadedModel;
beforeAll(async () => {
  model = await loadModel(TINY_BERT);
});

describe('CPU reference forward (tiny-bert) vs PyTorch goldens', () => {
  it('gives every golden pair its logits, all 50 in one ragged batch (max |Δ| ≤ 1e-4)', () => {
    const cases = logitGoldens();
    const { output } = bertForwardCpu(model, batchOf(cases));
    expect(output.length).toBe(cases.length * model.numLabels);
    expect(maxAbsDiff(output, cases.flatMap((c) => c.logits))).toBeLessThanOrEqual(1e-4);
  });

  it('matches the embeddings and every layer’s hidden states', () => {
    for (const c of hiddenGoldens()) {
      const { output, hidden } = bertForwardCpu(model, batchOf([c]), { keepHidden: true });
      expect(hidden.length).toBe(model.config.numHiddenLayers + 1);
      expect(maxAbsDiff(hidden[0], c.embeddings.flat())).toBeLessThanOrEqual(1e-4);
      c.layers.forEach((layer, i) => expect(maxAbsDiff(hidden[i + 1], layer.flat())).toBeLessThanOrEqual(1e-4));
      expect(maxAbsDiff(output, c.logits)).toBeLessThanOrEqual(1e-4);
    }
  });
});

describe('batch checks', () => {
  const row = { input_ids: [101, 2054, 102], token_type_ids: [0, 0, 0] };
  it('pads rows back to back into [size, L]', () => {
    const p = padBatch(model, { ...batchOf([row, { input_ids: [101, 102] }]), paddedLength: 4 });
    expect(Array.from(p.ids)).toEqual([101, 2054, 102, 0, 101, 102, 0, 0]);
    expect(Array.from(p.lengths)).toEqual([3, 2]);
  });

  it.each([
    ['an id outside the vocabulary', { ...batchOf([{ input_ids: [101, 40000] }]) }, /row 0, token 1: id 40000/],
    ['a token type outside the type vocabulary', { ...batchOf([{ input_ids: [101], token_type_ids: [2] }]) }, /token type 2/],
    ['a row longer than the padded length', { ...batchOf([row]), paddedLength: 2 }, /row 0: length 3/],
    ['an empty row', { ...batchOf([row]), lengths: [0] }, /row 0: length 0/],
    ['lengths that do not add up to the ids', { ...batchOf([row]), lengths: [2] }, /add up to 2 tokens but 3/],
    ['a padded length past max_position_embeddings', { ...batchOf([row]), paddedLength: 513 }, /max_position_embeddings/],
    ['fewer lengths than rows', { ...batchOf([row]), size: 2 }, /2 rows has 1 lengths/],
  ])('refuses %s', (_, batch, message) => {
    expect(() => padBatch(model, batch)).toThrow(InputError);
    expect(() => padBatch(model, batch)).toThrow(message);
  });

  it('refuses a model whose activation it does not implement', () => {
    const relu = { ...model, config: { ...model.config, hiddenAct: 'relu' as const } };
    expect(() => bertForwardCpu(relu, batchOf([row]))).toThrow(ModelLoadError);
  });
});

describe('kendallTau', () => {
  it('is 1 for the same order, -1 for the reverse, and in between otherwise', () => {
    expect(kendallTau([1, 2, 3, 4], [10, 20, 30, 40])).toBe(1);
    expect(kendallTau([1, 2, 3, 4], [4, 3, 2, 1])).toBe(-1);
    expect(kendallTau([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(2 / 3, 10);
  });
});
