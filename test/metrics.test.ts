/**
 * Parity with NIST trec_eval: every line of trec_eval's expected outputs (fixtures from
 * trec_eval's own test suite, see test/fixtures/trec_eval/README.md) must be reproduced,
 * per query and averaged, to trec_eval's 4 printed decimals.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCore } from '../src/core/wasm.js';
import { evaluate, measureNames, parseQrels, parseRun, type EvaluateOptions } from '../src/eval/index.js';

const dir = new URL('./fixtures/trec_eval/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir), 'utf8');

/**
 * Measures in the fixtures that gpurank does not compute. Empty: all of them are
 * implemented. (Outside these files, trec_eval's `dcg`/`ideal_dcg` and its preference
 * and judgement-group measures, which need other input formats, are not implemented.)
 */
const NOT_IMPLEMENTED: string[] = [];

interface Line {
  measure: string;
  qid: string;
  text: string;
}

function parseTable(text: string): Line[] {
  return text
    .trim()
    .split('\n')
    .map((l) => {
      const [measure, qid, value] = l.split('\t');
      return { measure: measure.trim(), qid: qid.trim(), text: value.trim() };
    });
}

function family(measure: string): string {
  return measure.replace(/_(\d+|\d+\.\d+)$/, '');
}

beforeAll(async () => {
  await loadCore();
});

const cases: { expected: string; run: string; measures: string[]; perQuery: boolean; options?: EvaluateOptions }[] = [
  { expected: 'out.test', run: 'results.test', measures: ['official'], perQuery: false },
  { expected: 'out.test.a', run: 'results.test', measures: ['all_trec'], perQuery: false },
  { expected: 'out.test.aq', run: 'results.test', measures: ['all_trec'], perQuery: true },
  { expected: 'out.test.aqc', run: 'results.trunc', measures: ['all_trec'], perQuery: true, options: { complete: true } },
];

describe('trec_eval parity', () => {
  const qrels = parseQrels(read('qrels.test'), 'qrels.test');

  for (const c of cases) {
    it(`reproduces ${c.expected} line by line`, () => {
      const expected = parseTable(read(c.expected));
      const result = evaluate(qrels, parseRun(read(c.run), c.run), { measures: c.measures, ...c.options });
      const ours = new Map(parseTable(result.formatTable({ perQuery: c.perQuery })).map((l) => [`${l.measure}\t${l.qid}`, l]));
      let compared = 0;
      for (const want of expected) {
        if (NOT_IMPLEMENTED.includes(family(want.measure))) continue;
        const got = ours.get(`${want.measure}\t${want.qid}`);
        expect(got, `${want.measure} ${want.qid}`).toBeDefined();
        expect(got!.text, `${want.measure} ${want.qid}`).toBe(want.text);
        if (/^-?\d/.test(want.text)) {
          const value = want.qid === 'all' ? result.all.get(want.measure) : result.perQuery.get(want.qid)?.get(want.measure);
          expect(Math.abs(Number(value) - Number(want.text)), `${want.measure} ${want.qid}`).toBeLessThanOrEqual(0.00005);
        }
        compared++;
      }
      expect(compared).toBe(expected.length);
      // Nothing extra either: the same lines in the same order.
      expect(result.formatTable({ perQuery: c.perQuery })).toBe(read(c.expected));
    });
  }

  it('implements every measure family that appears in the fixtures', () => {
    const families = new Set(parseTable(read('out.test.aq')).map((l) => family(l.measure)));
    const ours = new Set(measureNames(['all_trec']).map(family));
    for (const f of families) expect(ours.has(f) || NOT_IMPLEMENTED.includes(f), f).toBe(true);
  });

  it('names per-query queries in trec_eval order and averages over the run queries only', () => {
    const result = evaluate(qrels, parseRun(read('results.trunc')), { measures: ['num_q', 'map'] });
    expect([...result.perQuery.keys()]).toEqual(['301', '303']);
    expect(result.all.get('num_q')).toBe(2);
    const complete = evaluate(qrels, parseRun(read('results.trunc')), { measures: ['num_q', 'map'], complete: true });
    expect(complete.all.get('num_q')).toBe(3);
    expect(complete.perQuery.get('302')?.get('map')).toBe(0);
  });
});
