/**
 * ListSampler: seeded determinism, per-epoch shuffles, subsampling that keeps a positive, bit-exact resume
 * from a JSON state, and its option/state errors.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import type { ListExample } from '../src/train/data.js';
import { ListSampler, type ListSamplerOptions, type ListSamplerState } from '../src/train/sampler.js';

/** 23 queries with 1..40 documents, labels: a few positives, some lists none, teacher scores on even ones. */
function makeExamples(count = 23): ListExample[] {
  return Array.from({ length: count }, (_, q) => {
    const n = 1 + ((q * 7) % 40);
    const documents = Array.from({ length: n }, (_, d) => `q${q}d${d}`);
    const labels = documents.map((_, d) => (q % 4 === 3 ? 0 : d % 11 === 5 ? 2 : d === n - 1 ? 1 : 0));
    const e: ListExample = { qid: `q${q}`, query: `query ${q}`, documents, labels };
    if (q % 2 === 0) e.teacherScores = documents.map((_, d) => q + d / 100);
    return e;
  });
}

const ids = (batch: ListExample[]) => batch.map((e) => `${e.qid}:${e.documents.join(',')}`);

describe('ListSampler', () => {
  const examples = makeExamples();
  const base: ListSamplerOptions = { examples, batchQueries: 4, docsPerQuery: 8, seed: 42 };

  it('covers every query once per epoch in batches; the last batch is short', () => {
    const s = new ListSampler(base);
    expect(s.stepsPerEpoch).toBe(6);
    for (let epoch = 0; epoch < 3; epoch++) {
      const seen: string[] = [];
      for (let step = 0; step < 6; step++) {
        expect([s.epoch, s.stepInEpoch]).toEqual([epoch, step]);
        const batch = s.next();
        expect(batch.length).toBe(step < 5 ? 4 : 3);
        seen.push(...batch.map((e) => e.qid!));
      }
      expect(seen.slice().sort()).toEqual(examples.map((e) => e.qid).sort());
    }
    expect([s.epoch, s.stepInEpoch]).toEqual([3, 0]);
  });

  it('shuffles differently each epoch and per seed; shuffle: false keeps file order', () => {
    const order = (o: ListSamplerOptions, epochs: number) => {
      const s = new ListSampler(o);
      return Array.from({ length: epochs }, () => Array.from({ length: s.stepsPerEpoch }, () => s.next().map((e) => e.qid)).flat());
    };
    const [e0, e1] = order(base, 2);
    expect(e0).not.toEqual(e1);
    expect(e0).not.toEqual(examples.map((e) => e.qid));
    expect(order(base, 1)[0]).toEqual(e0);
    expect(order({ ...base, seed: 43 }, 1)[0]).not.toEqual(e0);
    const fileOrder = order({ ...base, shuffle: false }, 2);
    expect(fileOrder[0]).toEqual(examples.map((e) => e.qid));
    expect(fileOrder[1]).toEqual(examples.map((e) => e.qid));
  });

  it('subsamples without replacement, keeps a positive, keeps labels and teacher scores aligned', () => {
    const s = new ListSampler({ ...base, docsPerQuery: 5 });
    const counts = new Map<string, number>();
    for (let step = 0; step < s.stepsPerEpoch * 400; step++) {
      for (const e of s.next()) {
        const src = examples.find((x) => x.qid === e.qid)!;
        const idx = e.documents.map((d) => src.documents.indexOf(d));
        expect(e.documents.length).toBe(Math.min(5, src.documents.length));
        expect(new Set(idx).size).toBe(idx.length);
        // Original (first-stage) order is kept.
        expect(idx).toEqual(idx.slice().sort((a, b) => a - b));
        expect(e.labels).toEqual(idx.map((i) => src.labels[i]));
        expect(e.teacherScores).toEqual(src.teacherScores ? idx.map((i) => src.teacherScores![i]) : undefined);
        expect(e.query).toBe(src.query);
        if (src.labels.some((l) => l > 0)) expect(e.labels.some((l) => l > 0)).toBe(true);
        if (e.qid === 'q5') for (const d of e.documents) counts.set(d, (counts.get(d) ?? 0) + 1);
      }
    }
    // q5 has 36 documents, positives 5, 16, 27 and 35: every document gets drawn, negatives about equally often.
    const src = examples[5];
    expect(counts.size).toBe(src.documents.length);
    const negatives = src.documents.filter((_, i) => src.labels[i] === 0).map((d) => counts.get(d)!);
    expect(Math.min(...negatives)).toBeGreaterThan(30); // each negative: 400 × 4/35 ≈ 46 expected
    expect(Math.max(...negatives)).toBeLessThan(75);
    // The input examples are untouched.
    expect(examples).toEqual(makeExamples());
  });

  it('takes short lists whole, as copies', () => {
    const s = new ListSampler({ ...base, docsPerQuery: 1000, shuffle: false });
    const batch = s.next();
    expect(batch[0]).toEqual(examples[0]);
    expect(batch[0].documents).not.toBe(examples[0].documents);
  });

  it('restores a JSON state and draws the identical sequence', () => {
    const s = new ListSampler({ ...base, docsPerQuery: 3 });
    for (let i = 0; i < 7; i++) s.next();
    const snapshot = JSON.parse(JSON.stringify(s.state())) as ListSamplerState;
    expect(snapshot).toMatchObject({ epoch: 1, stepInEpoch: 1, seed: 42 });
    const after = JSON.stringify(Array.from({ length: 5 }, () => s.next()));
    const r = ListSampler.restore(examples, snapshot);
    expect([r.epoch, r.stepInEpoch]).toEqual([1, 1]);
    // Bit for bit: documents, labels and teacher scores; then on into the next epoch.
    expect(JSON.stringify(Array.from({ length: 5 }, () => r.next()))).toBe(after);
    expect(r.epoch).toBe(2);
    expect(JSON.stringify(r.next())).toBe(JSON.stringify(s.next()));
    expect(r.state()).toEqual(s.state());
    // A seed beyond 32 bits still matters (and restores).
    const big = new ListSampler({ ...base, seed: 2 ** 40 + 42 });
    expect(ids(big.next())).not.toEqual(ids(new ListSampler(base).next()));
    const neg = new ListSampler({ ...base, seed: -7 });
    neg.next();
    expect(ids(ListSampler.restore(examples, JSON.parse(JSON.stringify(neg.state()))).next())).toEqual(ids(neg.next()));
  });

  it('rejects bad options', () => {
    const bad: [Partial<ListSamplerOptions>, RegExp][] = [
      [{ examples: [] }, /at least one example/],
      [{ batchQueries: 0 }, /batchQueries must be a positive integer/],
      [{ batchQueries: 1.5 }, /batchQueries/],
      [{ docsPerQuery: -1 }, /docsPerQuery must be a positive integer/],
      [{ docsPerQuery: Infinity }, /docsPerQuery/],
      [{ seed: 0.5 }, /seed must be a safe integer/],
      [{ examples: [{ query: 'q', documents: [], labels: [] }] }, /example 0 needs a non-empty document list/],
      [{ examples: [{ query: 'q', documents: ['a'], labels: [] }] }, /example 0/],
      [{ examples: [examples[0], { query: 'q', documents: ['a'], labels: [0], teacherScores: [1, 2] }] }, /example 1/],
    ];
    for (const [o, message] of bad) {
      const make = () => new ListSampler({ ...base, ...o });
      expect(make).toThrow(InputError);
      expect(make).toThrow(message);
    }
  });

  it('rejects a state that does not fit', () => {
    const s = new ListSampler(base);
    s.next();
    const good = s.state();
    const bad: [unknown, readonly ListExample[], RegExp][] = [
      [null, examples, /unknown state format/],
      [{ ...good, version: 2 }, examples, /unknown state format/],
      [{ ...good, shuffle: 'yes' }, examples, /"shuffle" must be a boolean/],
      [{ ...good, batchQueries: 0 }, examples, /batchQueries must be a positive integer/],
      [good, examples.slice(1), /made for 23 examples, not 22/],
      [good, examples.map((e, i) => (i === 3 ? { ...e, labels: e.labels.map(() => 1) } : e)), /training data differ/],
      [{ ...good, epoch: -1 }, examples, /bad epoch -1/],
      [{ ...good, stepInEpoch: 6 }, examples, /step 6 is outside an epoch of 6 steps/],
      [{ ...good, stepInEpoch: 0.5 }, examples, /step 0.5/],
    ];
    for (const [state, ex, message] of bad) {
      let err: unknown;
      try {
        ListSampler.restore(ex, state as ListSamplerState);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).code).toBe('BAD_SAMPLER_STATE');
      expect((err as Error).message).toMatch(message);
    }
  });
});
