/** Batch planning through the WASM core. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { paddingWaste, planBatches, toInputOrder, type BatchPlan, type PlanOptions } from '../src/core/plan.js';
import { Tokenizer } from '../src/core/tokenizer.js';
import { loadCore } from '../src/core/wasm.js';

beforeAll(async () => {
  await loadCore();
});

/** Every index once, every batch within budget (unless it is a single row), rows within maxRows. */
function checkPlan(plan: BatchPlan, lengths: ArrayLike<number>, o: PlanOptions) {
  const seen = new Array<number>(lengths.length).fill(0);
  let rows = 0;
  for (const { indices, paddedLength } of plan) {
    expect(indices.length).toBeGreaterThan(0);
    const longest = Math.max(...Array.from(indices, (i) => lengths[i]));
    const m = o.padMultiple ?? 1;
    expect(paddedLength).toBe(Math.ceil(longest / m) * m);
    if (indices.length > 1) expect(indices.length * paddedLength).toBeLessThanOrEqual(o.tokenBudget);
    if (o.maxRows) expect(indices.length).toBeLessThanOrEqual(o.maxRows);
    for (const i of indices) seen[i]++;
    rows += indices.length;
  }
  expect(rows).toBe(lengths.length);
  expect(seen.every((n) => n === 1)).toBe(true);
}

describe('planBatches', () => {
  it('covers every index once and keeps budgets, on real token lengths', async () => {
    const bench = JSON.parse(
      readFileSync(fileURLToPath(new URL('./fixtures/tokenizer/bench_texts.json', import.meta.url)), 'utf8'),
    ) as { queries: string[]; passages: string[] };
    const tok = await Tokenizer.fromModelDir(fileURLToPath(new URL('./fixtures/tokenizer/bert-base-uncased', import.meta.url)));
    const n = 200;
    const q = Array.from({ length: n }, (_, i) => bench.queries[i % bench.queries.length]);
    const d = Array.from({ length: n }, (_, i) => bench.passages[i % bench.passages.length]);
    const { lengths } = tok.encodePairs(q, d, { maxLength: 512 });
    for (const o of [{ tokenBudget: 8192 }, { tokenBudget: 4096, maxRows: 16, padMultiple: 8 }, { tokenBudget: 600 }]) {
      const plan = planBatches(lengths, o);
      checkPlan(plan, lengths, o);
      // Longest first.
      const sorted = Array.from(plan.order, (i) => lengths[i]);
      expect(sorted.every((v, k) => k === 0 || sorted[k - 1] >= v)).toBe(true);
    }
  });

  it('wastes far less padding than an unsorted plan', () => {
    // Mixed short and long rows, as reranking windows are.
    const lengths = Array.from({ length: 256 }, (_, i) => (i % 4 === 0 ? 480 : 40 + ((i * 37) % 120)));
    const o = { tokenBudget: 4096 };
    const sorted = planBatches(lengths, o);
    const unsorted = planBatches(lengths, { ...o, sort: false });
    checkPlan(unsorted, lengths, o);
    expect(Array.from(unsorted.order)).toEqual(lengths.map((_, i) => i));
    const real = lengths.reduce((a, b) => a + b, 0);
    const wSorted = paddingWaste(sorted, lengths);
    const wUnsorted = paddingWaste(unsorted, lengths);
    expect(wSorted / real).toBeLessThan(0.1);
    expect(wUnsorted / real).toBeGreaterThan(1);
  });

  it('gives an over-budget row its own batch', () => {
    const plan = planBatches([10, 900, 20, 30], { tokenBudget: 100 });
    expect(plan.size).toBe(2);
    expect(Array.from(plan.batch(0).indices)).toEqual([1]);
    expect(plan.batch(0).paddedLength).toBe(900);
    expect(Array.from(plan.batch(1).indices)).toEqual([3, 2, 0]);
  });

  it('returns an empty plan for empty input', () => {
    const plan = planBatches([], { tokenBudget: 100 });
    expect(plan.size).toBe(0);
    expect(plan.order.length).toBe(0);
    expect([...plan]).toEqual([]);
  });

  it('maps plan-order results back to input order', () => {
    const lengths = [5, 50, 20, 35];
    const plan = planBatches(lengths, { tokenBudget: 1000 });
    const scores = Float32Array.from(plan.order, (i) => lengths[i] / 10); // "score" = length / 10
    expect(Array.from(toInputOrder(plan, scores))).toEqual([0.5, 5, 2, 3.5]);
    expect(() => toInputOrder(plan, new Float32Array(3))).toThrow(InputError);
  });

  it('rejects bad options and lengths', () => {
    expect(() => planBatches([1], { tokenBudget: 0 })).toThrow(/tokenBudget/);
    expect(() => planBatches([1], { tokenBudget: 10, maxRows: 0 })).toThrow(/maxRows/);
    expect(() => planBatches([1], { tokenBudget: 10, padMultiple: 2.5 })).toThrow(/padMultiple/);
    expect(() => planBatches([1, -2], { tokenBudget: 10 })).toThrow(/length 1/);
    expect(() => planBatches([1], { tokenBudget: 10 }).batch(1)).toThrow(RangeError);
  });
});
