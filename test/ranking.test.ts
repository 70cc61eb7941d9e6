/** argsort / top-k through the WASM core: descending, ties by input order, NaN last and counted. */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCore } from '../src/core/wasm.js';
import { argsortDesc, topK } from '../src/core/ranking.js';
import { InputError } from '../src/errors.js';

beforeAll(async () => {
  await loadCore();
});

/** The documented order, written out directly for comparison. */
function referenceOrder(scores: number[]): number[] {
  return scores
    .map((s, i) => [s, i] as const)
    .sort(([a, i], [b, j]) => {
      if (Number.isNaN(a) !== Number.isNaN(b)) return Number.isNaN(a) ? 1 : -1;
      if (!Number.isNaN(a) && a !== b) return b - a;
      return i - j;
    })
    .map(([, i]) => i);
}

describe('argsortDesc', () => {
  it('orders best first and keeps input order for ties', () => {
    const r = argsortDesc([0.5, 2, 0.5, -1, 2]);
    expect(Array.from(r.indices)).toEqual([1, 4, 0, 2, 3]);
    expect(r.indices).toBeInstanceOf(Uint32Array);
    expect(r.nanCount).toBe(0);
  });

  it('puts NaN last and counts it', () => {
    const r = argsortDesc(new Float32Array([NaN, 1, -Infinity, NaN, Infinity]));
    expect(Array.from(r.indices)).toEqual([4, 1, 2, 0, 3]);
    expect(r.nanCount).toBe(2);
  });

  it('handles an empty list', () => {
    expect(argsortDesc([]).indices.length).toBe(0);
  });
});

describe('topK', () => {
  it('is the prefix of the full order, ties and NaNs included', () => {
    let x = 7;
    const scores = Array.from({ length: 20_000 }, (_, i) => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return i % 1009 === 0 ? NaN : x % 100;
    });
    const ref = referenceOrder(scores);
    expect(Array.from(argsortDesc(scores).indices)).toEqual(ref);
    for (const k of [0, 1, 10, 1000, 20_000, 50_000]) {
      const r = topK(scores, k);
      expect(Array.from(r.indices)).toEqual(ref.slice(0, k));
      expect(r.nanCount).toBe(20);
    }
  });

  it('rejects a k that is not a whole number >= 0', () => {
    for (const k of [-1, 1.5, NaN]) expect(() => topK([1, 2], k)).toThrow(InputError);
  });

  it('is faster than a full sort for small k on a large list', () => {
    const n = 1_000_000;
    const scores = new Float64Array(n);
    for (let i = 0; i < n; i++) scores[i] = Math.sin(i) * 1000;
    const time = (f: () => void) => {
      const t = performance.now();
      f();
      return performance.now() - t;
    };
    time(() => topK(scores, 10)); // warm up
    const tTop = Math.min(time(() => topK(scores, 10)), time(() => topK(scores, 10)));
    const tAll = Math.min(time(() => argsortDesc(scores)), time(() => argsortDesc(scores)));
    expect(tTop).toBeLessThan(tAll);
  });
});
