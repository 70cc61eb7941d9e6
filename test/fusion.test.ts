/** Reciprocal rank fusion and the normalised linear blend, through the WASM core. */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCore } from '../src/core/wasm.js';
import { blend, rrf } from '../src/core/fusion.js';
import { argsortDesc } from '../src/core/ranking.js';
import { InputError } from '../src/errors.js';

beforeAll(async () => {
  await loadCore();
});

describe('rrf', () => {
  it('sums 1/(60 + rank) by default; a doc missing from a list gets nothing from it', () => {
    const f = rrf([
      ['d1', 'd2', 'd3'],
      ['d3', 'd1'],
      ['d4'],
    ]);
    expect(f.ids).toEqual(['d1', 'd3', 'd4', 'd2']);
    const expected = [1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 61, 1 / 62];
    expect(Array.from(f.scores)).toEqual(expected.map((v) => expect.closeTo(v, 15)));
  });

  it('takes k, keeps first-appearance order for ties, and counts a repeated doc once per list', () => {
    expect(rrf([['x', 'y'], ['y', 'x']]).ids).toEqual(['x', 'y']);
    const f = rrf([['x', 'x', 'y']], { k: 0 });
    expect(f.ids).toEqual(['x', 'y']);
    expect(Array.from(f.scores)).toEqual([1, 1 / 3]);
    expect(rrf([]).ids).toEqual([]);
  });

  it('rejects a negative or non-finite k', () => {
    expect(() => rrf([['a']], { k: -1 })).toThrow(InputError);
    expect(() => rrf([['a']], { k: Infinity })).toThrow(/k must be a finite number/);
  });
});

describe('blend', () => {
  it('min-max normalises both sides and weights them by alpha', () => {
    const b = blend([10, 20, 30], [3, 2, 1], { alpha: 0.75 });
    expect(Array.from(b.scores)).toEqual([0.75, 0.5, 0.25]);
    expect(b.nanCount).toBe(0);
  });

  it('z-score normalises with the population standard deviation', () => {
    const b = blend([0, 0], [1, 3], { alpha: 1, normalization: 'zscore' });
    expect(Array.from(b.scores)).toEqual([-1, 1]);
  });

  it('maps all-equal and single-item lists to 0', () => {
    for (const normalization of ['minmax', 'zscore'] as const) {
      expect(Array.from(blend([5, 5, 5], [2, 2, 2], { alpha: 0.5, normalization }).scores)).toEqual([0, 0, 0]);
      expect(Array.from(blend([9], [3], { alpha: 0.3, normalization }).scores)).toEqual([0]);
      expect(blend([], [], { alpha: 0.3, normalization }).scores.length).toBe(0);
    }
  });

  it('gives NaN for a NaN input, counts it, and argsort ranks it last', () => {
    const b = blend([1, NaN, 3], [0.2, 0.9, 0.4], { alpha: 0.5 });
    expect(Number.isNaN(b.scores[1])).toBe(true);
    expect(b.nanCount).toBe(1);
    expect(Array.from(argsortDesc(b.scores).indices)).toEqual([2, 0, 1]);
    // The side weighted 0 is ignored, NaN included.
    expect(blend([1, NaN, 3], [0.2, 0.9, 0.4], { alpha: 1 }).nanCount).toBe(0);
  });

  it('rejects bad alpha, mismatched lengths and unknown normalisations', () => {
    expect(() => blend([1], [1], { alpha: 1.5 })).toThrow(InputError);
    expect(() => blend([1], [1], { alpha: NaN })).toThrow(/alpha/);
    expect(() => blend([1], [1, 2], { alpha: 0.5 })).toThrow(/differ in length/);
    expect(() => blend([1], [1], { alpha: 0.5, normalization: 'softmax' as 'minmax' })).toThrow(/unknown normalization/);
  });
});

describe('rrf input checks', () => {
  it('rejects a non-string id', () => {
    expect(() => rrf([['a', 3 as unknown as string]])).toThrow(/list 0 holds a non-string id/);
  });
});
