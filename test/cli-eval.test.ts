/**
 * `gpurank eval` end to end: spawns the built CLI (dist/, built by `pretest`) and
 * compares its output byte for byte with trec_eval's expected outputs.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const te = (name: string) => join('test/fixtures/trec_eval', name);
const expected = (name: string) => readFileSync(join(root, te(name)), 'utf8');

function gpurank(args: string[]) {
  const res = spawnSync(process.execPath, ['bin/gpurank.js', 'eval', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

const tmp = mkdtempSync(join(tmpdir(), 'gpurank-eval-'));
function file(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

describe('gpurank eval reproduces trec_eval', () => {
  const cases: [string, string[]][] = [
    ['out.test', ['--run', te('results.test')]],
    ['out.test.a', ['--run', te('results.test'), '-m', 'all_trec']],
    ['out.test.aq', ['--run', te('results.test'), '-m', 'all_trec', '-q']],
    ['out.test.aqc', ['--run', te('results.trunc'), '--metrics', 'all_trec', '-q', '-c']],
  ];
  for (const [out, args] of cases) {
    it(`${out}: gpurank eval ${args.join(' ')}`, () => {
      const r = gpurank(['--qrels', te('qrels.test'), ...args]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(expected(out));
    });
  }
});

describe('gpurank eval options', () => {
  it('--json prints {per_query, all} with trec_eval names; --metrics keeps P.5,10 together', () => {
    const r = gpurank(['--qrels', te('qrels.test'), '--run', te('results.test'), '--json', '--metrics', 'ndcg_cut_10,recip_rank,map,P.5,10,recall_100']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]);
    expect(Object.keys(out.per_query)).toEqual(['301', '302', '303']);
    expect(Object.keys(out.all)).toEqual(['map', 'recip_rank', 'P_5', 'P_10', 'recall_100', 'ndcg_cut_10']);
    expect(out.all.map).toBeCloseTo(0.1785, 4);
    expect(out.per_query['302'].recip_rank).toBe(1);
    expect(out.all.ndcg_cut_10).toBeCloseTo(0.3016, 4);
  });

  it('-M cuts every ranking; --recip-rank-cutoff only recip_rank', () => {
    const base = ['--qrels', te('qrels.test'), '--run', te('results.test'), '--json', '-m', 'recip_rank,num_ret'];
    const m = JSON.parse(gpurank([...base, '-M', '5']).stdout);
    expect(m.all.num_ret).toBe(15);
    // Query 301's first relevant doc is at rank 6 (recip_rank 0.1667), so it drops out at 5.
    expect(m.per_query['301'].recip_rank).toBe(0);
    const rr = JSON.parse(gpurank([...base, '--recip-rank-cutoff', '5']).stdout);
    expect(rr.all.num_ret).toBe(1500);
    expect(rr.per_query['301'].recip_rank).toBe(0);
  });

  it('reads BEIR qrels.tsv (header auto-detected)', () => {
    const qrels = file('qrels.tsv', 'query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\n');
    const run = file('run.txt', 'q1 Q0 d2 1 0.9 bm25\nq1 Q0 d1 2 0.5 bm25\n');
    const r = gpurank(['--qrels', qrels, '--run', run, '-m', 'ndcg,recip_rank,runid']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => l.split('\t').map((s) => s.trim()));
    expect(lines[0]).toEqual(['runid', 'all', 'bm25']);
    expect(lines[1]).toEqual(['recip_rank', 'all', '1.0000']);
    const ndcg = (1 / 1 + 2 / Math.log2(3)) / (2 / 1 + 1 / Math.log2(3));
    expect(lines[2]).toEqual(['ndcg', 'all', ndcg.toFixed(4)]);
  });
});

describe('gpurank eval errors: one line on stderr, exit 1', () => {
  const good = te('qrels.test');
  const run = te('results.test');
  const cases: [string, () => string[], RegExp][] = [
    ['missing qrels file', () => ['--qrels', join(tmp, 'nope.txt'), '--run', run], /^gpurank: cannot read qrels file '.*nope\.txt': no such file$/],
    ['missing run file', () => ['--qrels', good, '--run', join(tmp, 'nope.run')], /^gpurank: cannot read run file '.*nope\.run': no such file$/],
    ['wrong column count', () => ['--qrels', good, '--run', file('cols.run', '301 Q0 a 1 2.0 t\n301 Q0 b 2 1.0\n')], /^gpurank: .*cols\.run:2: expected 6 columns/],
    ['non-numeric score', () => ['--qrels', good, '--run', file('score.run', '301 Q0 a 1 x t\n')], /^gpurank: .*score\.run:1: score 'x' is not a number$/],
    ['NaN score', () => ['--qrels', good, '--run', file('nan.run', '301 Q0 a 1 nan t\n')], /^gpurank: .*nan\.run:1: score 'nan' is not a number$/],
    ['non-numeric relevance', () => ['--qrels', file('rel.qrels', '301 0 a yes\n'), '--run', run], /^gpurank: .*rel\.qrels:1: relevance 'yes' is not an integer$/],
    ['unknown metric', () => ['--qrels', good, '--run', run, '--metrics', 'map,ndcg@10'], /^gpurank: unknown measure 'ndcg@10'$/],
    ['empty run', () => ['--qrels', good, '--run', file('empty.run', '')], /^gpurank: .*empty\.run: the run is empty$/],
    ['duplicate document', () => ['--qrels', good, '--run', file('dup.run', '301 Q0 a 1 2 t\n301 Q0 a 2 1 t\n')], /^gpurank: .*dup\.run:2: document 'a' appears twice/],
    ['no overlapping queries', () => ['--qrels', good, '--run', file('other.run', '999 Q0 a 1 2 t\n')], /^gpurank: no query has both results/],
    ['bad -M', () => ['--qrels', good, '--run', run, '-M', '0'], /^gpurank: -M needs a whole number >= 1, got '0'$/],
  ];
  for (const [what, args, message] of cases) {
    it(what, () => {
      const r = gpurank(args());
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    });
  }
});
