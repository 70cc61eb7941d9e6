/** The evaluation API: parsing, conventions (ties, grades, cutoffs), a real collection, and errors. */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCore } from '../src/core/wasm.js';
import { evaluate, measureNames, parseQrels, parseRun, type Qrels, type Run } from '../src/eval/index.js';
import { InputError } from '../src/errors.js';

const fixture = (path: string) => readFileSync(new URL(`./fixtures/${path}`, import.meta.url), 'utf8');

beforeAll(async () => {
  await loadCore();
});

function runOf(rows: [string, string, number][], runId = 'r'): Run {
  const text = rows.map(([q, d, s], i) => `${q} Q0 ${d} ${i + 1} ${s} ${runId}`).join('\n');
  return parseRun(text);
}

/** A run that ranks every judged document of every query by its grade: the ideal ranking. */
function perfectRun(qrels: Qrels): Run {
  const results = new Map<string, Map<string, number>>();
  for (const [qid, docs] of qrels) results.set(qid, new Map([...docs].map(([d, rel]) => [d, rel])));
  return { results, runId: 'perfect' };
}

describe('trec_eval conventions', () => {
  it('ranks by score, breaking ties by docno in descending byte order, ignoring the rank column', () => {
    const qrels = parseQrels('1 0 a 1\n');
    // Ranks claim "a" is first, but scores tie and trec_eval puts "b" (larger docno) first.
    const run = parseRun('1 Q0 a 1 5.0 t\n1 Q0 b 2 5.0 t\n');
    const r = evaluate(qrels, run, { measures: ['recip_rank', 'relstring'] });
    expect(r.perQuery.get('1')?.get('recip_rank')).toBe(0.5);
    expect(r.perQuery.get('1')?.get('relstring')).toBe('-1');
  });

  it('uses raw grades as gains with a log2(rank + 1) discount', () => {
    const qrels = parseQrels('1 0 a 3\n1 0 b 1\n1 0 c 0\n');
    const r = evaluate(qrels, runOf([['1', 'b', 3], ['1', 'a', 2], ['1', 'c', 1]]), { measures: ['ndcg', 'ndcg_cut_1'] });
    const dcg = 1 / Math.log2(2) + 3 / Math.log2(3);
    const idcg = 3 / Math.log2(2) + 1 / Math.log2(3);
    expect(r.all.get('ndcg')).toBeCloseTo(dcg / idcg, 12);
    expect(r.all.get('ndcg_cut_1')).toBeCloseTo(1 / 3, 12);
  });

  it('counts grades >= the relevance level as relevant and negative grades as not relevant', () => {
    const qrels = parseQrels('1 0 a 2\n1 0 b 1\n1 0 c -1\n');
    const run = runOf([['1', 'c', 3], ['1', 'b', 2], ['1', 'a', 1]]);
    const l1 = evaluate(qrels, run, { measures: ['num_rel', 'recip_rank', 'num_nonrel_judged_ret'] });
    expect(l1.all.get('num_rel')).toBe(2);
    expect(l1.all.get('recip_rank')).toBe(0.5);
    const l2 = evaluate(qrels, run, { measures: ['num_rel', 'recip_rank', 'num_nonrel_judged_ret'], relevanceLevel: 2 });
    expect(l2.all.get('num_rel')).toBe(1);
    expect(l2.all.get('recip_rank')).toBeCloseTo(1 / 3, 12);
    expect(l2.all.get('num_nonrel_judged_ret')).toBe(1);
  });

  it('cuts recip_rank alone with recipRankCutoff, and every measure with maxDocsPerQuery', () => {
    const qrels = parseQrels('1 0 c 1\n');
    const run = runOf([['1', 'a', 3], ['1', 'b', 2], ['1', 'c', 1]]);
    const rr = evaluate(qrels, run, { measures: ['recip_rank', 'map'], recipRankCutoff: 2 });
    expect(rr.all.get('recip_rank')).toBe(0);
    expect(rr.all.get('map')).toBeCloseTo(1 / 3, 12);
    const m = evaluate(qrels, run, { measures: ['recip_rank', 'map'], maxDocsPerQuery: 2 });
    expect(m.all.get('map')).toBe(0);
    expect(() => evaluate(qrels, run, { maxDocsPerQuery: 0 })).toThrow(InputError);
  });

  it('expands families, parameter lists and nicknames into trec_eval names', () => {
    expect(measureNames(['ndcg_cut'])).toEqual([5, 10, 15, 20, 30, 100, 200, 500, 1000].map((k) => `ndcg_cut_${k}`));
    expect(measureNames(['recall_100', 'P.5,10', 'map', 'ndcg_cut_10'])).toEqual(['map', 'P_5', 'P_10', 'recall_100', 'ndcg_cut_10']);
    expect(measureNames(['official'])).toContain('gm_map');
    expect(() => measureNames(['ndcg@10'])).toThrow(/unknown measure 'ndcg@10'/);
  });

  it('JSON output has per_query and all keyed by trec_eval names', () => {
    const qrels = parseQrels('1 0 a 1\n2 0 b 1\n');
    const r = evaluate(qrels, runOf([['1', 'a', 1], ['2', 'x', 1]]), { measures: ['map', 'num_ret'] });
    expect(JSON.parse(JSON.stringify(r))).toEqual({
      per_query: { '1': { num_ret: 1, map: 1 }, '2': { num_ret: 1, map: 0 } },
      all: { num_ret: 2, map: 0.5 },
    });
  });
});

describe('real collection: Cranfield judgements (BEIR qrels.tsv)', () => {
  const qrels = parseQrels(fixture('cranfield/qrels.tsv'), 'cranfield/qrels.tsv');

  it('accepts grades written as whole decimals, as some BEIR exports do', () => {
    const q = parseQrels('query-id\tcorpus-id\tscore\nq1\td1\t2.0\nq1\td2\t-0\n');
    expect([...q.get('q1')!]).toEqual([['d1', 2], ['d2', 0]]);
  });

  it('reads all 225 queries and 1612 judgements', () => {
    expect(qrels.size).toBe(225);
    expect([...qrels.values()].reduce((n, d) => n + d.size, 0)).toBe(1612);
  });

  it('a run that ranks the judgements themselves scores perfectly', () => {
    const r = evaluate(qrels, perfectRun(qrels), {
      measures: ['ndcg', 'ndcg_cut_10', 'map', 'recip_rank', 'Rprec', 'bpref', 'recall_1000', 'success_1', 'num_q', 'num_rel_ret', 'num_rel'],
    });
    for (const m of ['ndcg', 'ndcg_cut_10', 'map', 'recip_rank', 'Rprec', 'bpref', 'recall_1000', 'success_1']) {
      expect(r.all.get(m), m).toBeCloseTo(1, 12);
    }
    expect(r.all.get('num_q')).toBe(225);
    expect(r.all.get('num_rel_ret')).toBe(1612);
    expect(r.all.get('num_rel')).toBe(1612);
  });

  it('reversing the ideal order lowers nDCG but not the set measures', () => {
    const reversed: Run = {
      runId: 'reversed',
      results: new Map([...qrels].map(([q, docs]) => [q, new Map([...docs].map(([d, rel]) => [d, -rel]))])),
    };
    const r = evaluate(qrels, reversed, { measures: ['ndcg', 'set_recall'] });
    expect(r.all.get('ndcg') as number).toBeLessThan(1);
    expect(r.all.get('set_recall')).toBe(1);
  });
});

describe('graded and truncated trec_eval files', () => {
  const graded = parseQrels(fixture('trec_eval/qrels.rel_level'));

  it('with -l 2 only grades >= 2 count towards num_rel', () => {
    const r = evaluate(graded, parseRun(fixture('trec_eval/results.test')), { measures: ['num_rel'], relevanceLevel: 2 });
    for (const [qid, docs] of graded) {
      const want = [...docs.values()].filter((g) => g >= 2).length;
      expect(r.perQuery.get(qid)?.get('num_rel'), qid).toBe(want);
    }
  });

  it('graded measures of the ideal ranking are 1', () => {
    const r = evaluate(graded, perfectRun(graded), { measures: ['ndcg', 'ndcg_rel', 'Rndcg', 'G', 'ndcg_cut_20'] });
    for (const m of ['ndcg', 'ndcg_rel', 'Rndcg', 'G', 'ndcg_cut_20']) expect(r.all.get(m), m).toBeCloseTo(1, 12);
  });

  it('reads results.trunc, whose lines carry extra words after the run tag', () => {
    const run = parseRun(fixture('trec_eval/results.trunc'));
    expect(run.runId).toBe('STANDARD');
    expect(run.results.get('303')?.size).toBe(84);
  });
});

describe('parsing errors name the file and line', () => {
  const bad: [string, () => unknown, RegExp][] = [
    ['qrels with 3 columns', () => parseQrels('1 0 a 1\n1 0 b\n', 'q.txt'), /^q\.txt:2: expected 4 columns/],
    ['qrels with a non-integer grade', () => parseQrels('1 0 a 1.5\n', 'q.txt'), /^q\.txt:1: relevance '1\.5' is not an integer/],
    ['qrels judging a doc twice', () => parseQrels('1 0 a 1\n1 0 a 0\n', 'q.txt'), /^q\.txt:2: document 'a' is judged twice/],
    ['BEIR qrels with 2 columns', () => parseQrels('query-id\tcorpus-id\tscore\n1\t2\n', 'q.tsv'), /^q\.tsv:2: expected 3 tab-separated/],
    ['empty qrels', () => parseQrels('\n\n', 'q.txt'), /^q\.txt: no judgements found/],
    ['run with 5 columns', () => parseRun('1 Q0 a 1 2.0\n', 'r.txt'), /^r\.txt:1: expected 6 columns/],
    ['run with a non-numeric score', () => parseRun('1 Q0 a 1 high t\n', 'r.txt'), /^r\.txt:1: score 'high' is not a number/],
    ['run with a NaN score', () => parseRun('1 Q0 a 1 1 t\n1 Q0 b 2 NaN t\n', 'r.txt'), /^r\.txt:2: score 'NaN' is not a number/],
    ['run with an overflowing score', () => parseRun('1 Q0 a 1 1e999 t\n', 'r.txt'), /^r\.txt:1: score '1e999' is out of range/],
    ['run retrieving a doc twice', () => parseRun('1 Q0 a 1 1 t\n1 Q0 a 2 0.5 t\n', 'r.txt'), /^r\.txt:2: document 'a' appears twice/],
    ['empty run', () => parseRun('# only a comment\n', 'r.txt'), /^r\.txt: the run is empty/],
  ];
  for (const [what, f, message] of bad) {
    it(what, () => {
      expect(f).toThrow(InputError);
      expect(f).toThrow(message);
    });
  }

  it('evaluation errors: unknown measure, nothing to evaluate', () => {
    const qrels = parseQrels('1 0 a 1\n');
    expect(() => evaluate(qrels, runOf([['1', 'a', 1]]), { measures: ['mrr'] })).toThrow(/unknown measure 'mrr'/);
    expect(() => evaluate(qrels, runOf([['9', 'a', 1]]))).toThrow(/no query has both results and relevance judgements/);
  });
});
