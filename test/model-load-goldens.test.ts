/**
 * The goldens are only useful end to end if gpurank's own tokenizer gives the ids they were computed from,
 * and if their shapes agree with the model the loader reads. Both are checked here; the graph tests
 * compare the numbers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCore } from '../src/core/wasm.js';
import { batchRow, Tokenizer } from '../src/core/tokenizer.js';
import { loadModel } from '../src/model/load.js';

const GOLDENS = 'test/fixtures/goldens';
const MINILM = 'models/all-MiniLM-L6-v2';
const read = (name: string) => JSON.parse(readFileSync(join(GOLDENS, name), 'utf8'));

interface PairCase { query: string; document: string; input_ids: number[]; token_type_ids: number[]; logits: number[] }

describe('model goldens', () => {
  let tokenizer: Tokenizer;
  beforeAll(async () => {
    await loadCore();
    tokenizer = await Tokenizer.fromModelDir('test/fixtures/models/tiny-bert');
  });
  afterAll(() => tokenizer?.dispose());

  it("tiny-bert's logits goldens: gpurank's tokenizer gives the same ids, logits have numLabels entries", async () => {
    const g = read('tiny-bert-logits.json');
    const model = await loadModel('test/fixtures/models/tiny-bert');
    const cases: PairCase[] = g.cases;
    expect(cases.length).toBeGreaterThanOrEqual(50);
    const batch = tokenizer.encodePairs(cases.map((c) => c.query), cases.map((c) => c.document), { maxLength: g.max_length });
    cases.forEach((c, i) => {
      const row = batchRow(batch, i);
      expect(Array.from(row.ids), `case ${i}`).toEqual(c.input_ids);
      expect(Array.from(row.typeIds), `case ${i}`).toEqual(c.token_type_ids);
      expect(c.logits).toHaveLength(model.numLabels);
      expect(c.logits.every(Number.isFinite)).toBe(true);
    });
    // The set covers truncation at max_length and an empty document.
    expect(cases.some((c) => c.input_ids.length === g.max_length)).toBe(true);
    expect(cases.some((c) => c.document === '')).toBe(true);
    // Random weights still give distinct scores: pairs with different ids get different logits
    // (blank and empty texts tokenize alike, so count distinct id lists).
    const distinctInputs = new Set(cases.map((c) => `${c.input_ids}|${c.token_type_ids}`)).size;
    expect(distinctInputs).toBeGreaterThan(45);
    expect(new Set(cases.map((c) => c.logits[0])).size).toBe(distinctInputs);
  });

  it("tiny-bert's hidden-state goldens have one [tokens × hidden] matrix per layer", async () => {
    const g = read('tiny-bert-hidden.json');
    const { config } = await loadModel('test/fixtures/models/tiny-bert');
    expect(g.cases).toHaveLength(3);
    for (const c of g.cases) {
      const n = c.input_ids.length;
      expect(c.layers).toHaveLength(config.numHiddenLayers);
      for (const m of [c.embeddings, ...c.layers]) {
        expect(m).toHaveLength(n);
        expect(m.every((row: number[]) => row.length === config.hiddenSize)).toBe(true);
      }
      expect(c.pooled).toHaveLength(config.hiddenSize);
      const batch = tokenizer.encodePairs([c.query], [c.document], { maxLength: g.max_length });
      expect(Array.from(batchRow(batch, 0).ids)).toEqual(c.input_ids);
    }
  });

  it.skipIf(!existsSync(join(MINILM, 'tokenizer.json')))("MiniLM goldens: the model's tokenizer gives the same ids; embeddings are unit vectors", async () => {
    const g = read('minilm-embeddings.json');
    expect(g.modules).toEqual(['Transformer', 'Pooling', 'Normalize']);
    const tok = await Tokenizer.fromModelDir(MINILM);
    try {
      const batch = tok.encode(g.cases.map((c: { text: string }) => c.text), { maxLength: g.max_seq_length });
      g.cases.forEach((c: { input_ids: number[]; embedding: number[] }, i: number) => {
        expect(Array.from(batchRow(batch, i).ids), `case ${i}`).toEqual(c.input_ids);
        expect(c.embedding).toHaveLength(384);
        expect(Math.hypot(...c.embedding)).toBeCloseTo(1, 5);
      });
    } finally {
      tok.dispose();
    }
  });
});
