/** The published entry points resolve (through package.json `exports`) and work together. */
import { describe, expect, it } from 'vitest';

describe('package exports', () => {
  it('gpurank: tokenizer, plan, ranking, metrics and GPU runtime from one import', async () => {
    const g = await import('gpurank');
    const tok = await g.Tokenizer.fromModelDir('test/fixtures/tokenizer/bert-base-uncased');
    const batch = tok.encodePairs(['what is bm25'], ['a ranking function'], { maxLength: 16 });
    expect(Array.from(g.batchRow(batch, 0).ids).slice(0, 2)).toEqual([101, 2054]);
    tok.dispose();
    const plan = g.planBatches([5, 3, 9], { tokenBudget: 64 });
    expect([...plan.order].sort()).toEqual([0, 1, 2]);
    expect(Array.from(g.topK([0.1, 0.9, 0.5], 2).indices)).toEqual([1, 2]);
    expect(typeof g.GpuRuntime.create).toBe('function');
    expect(new g.InputError('x')).toBeInstanceOf(g.GpurankError);
  });

  it('gpurank/elasticsearch: fusion of first-stage and reranker orders', async () => {
    const es = await import('gpurank/elasticsearch');
    await es.loadCore();
    const fused = es.rrf([['a', 'b', 'c'], ['c', 'a']]);
    expect(fused.ids[0]).toBe('a');
  });
});
