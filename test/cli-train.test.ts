/**
 * `gpurank train` end to end: spawns the built CLI (dist/, built by `pretest`) on the tiny cross-encoder and
 * the Cranfield list fixture; checks the --log-json contract, the checkpoint directory, the progress-bar
 * mode, and that every bad input is one `gpurank: …` line with exit code 1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { TINY_BERT } from './bert-support.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const LISTS = 'test/fixtures/train/cranfield-lists.jsonl';
const NO_TEACHER = 'test/fixtures/train/cranfield-lists-noteacher.jsonl';
const work = mkdtempSync(join(tmpdir(), 'gpurank-cli-train-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function gpurank(args: string[]) {
  const res = spawnSync(process.execPath, ['bin/gpurank.js', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  const stderr = res.stderr.split('\n').filter((l) => l && !l.startsWith('Warning:')); // Dawn's own stderr noise
  return { status: res.status, stdout: res.stdout, stderr };
}

const small = ['--model', TINY_BERT, '--batch-queries', '2', '--docs-per-query', '3', '--max-length', '48'];

describe('gpurank train', () => {
  it('--log-json: one {"step","loss","lr","grad_norm",…} line per step; writes an HF checkpoint, the log and the report', () => {
    const out = join(work, 'json');
    const r = gpurank(['train', ...small, '--train', LISTS, '--loss', 'ranknet', '--out', out, '--steps', '3', '--warmup', '1', '--lr', '1e-4', '--log-json']);
    expect(r.stderr).toEqual([]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    lines.forEach((l, i) => {
      expect(Object.keys(l).slice(0, 4)).toEqual(['step', 'loss', 'lr', 'grad_norm']);
      expect(l.step).toBe(i + 1);
      expect(Number.isFinite(l.loss) && Number.isFinite(l.grad_norm) && l.grad_norm > 0).toBe(true);
    });
    // Warmup of 1 step, then linear decay over the remaining 2: HF's schedule.
    expect(lines.map((l) => l.lr)).toEqual([0, 1e-4, 5e-5]);
    for (const f of ['config.json', 'model.safetensors', 'trainer_state.json', 'train_log.jsonl', 'report.html', 'tokenizer.json']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const log = readFileSync(join(out, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log).toEqual(lines);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.architectures).toEqual(['BertForSequenceClassification']);
  });

  it('trains a model scored by `gpurank score` afterwards (the checkpoint loads back)', () => {
    const out = join(work, 'json');
    const r = spawnSync(process.execPath, ['bin/gpurank.js', 'score', '--model', out], { cwd: root, encoding: 'utf8', input: '{"query":"q","document":"d"}\n' });
    expect(r.status).toBe(0);
    expect(Number.isFinite(JSON.parse(r.stdout).logit)).toBe(true);
  });

  it('without --log-json: stdout stays empty, stderr has the start line, the progress and the checkpoint path', () => {
    const out = join(work, 'bar');
    const r = gpurank(['train', ...small, '--train', LISTS, '--loss', 'listnet', '--out', out, '--steps', '2', '--eval', LISTS]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr[0]).toMatch(/^gpurank: training listnet on 8 queries \(8 held out\), steps 1\.\.2 on /);
    expect(r.stderr.some((l) => /^gpurank: step 2: nDCG@10 0\.\d{4}, MRR@10 [01]\.\d{4} over 8 held-out queries$/.test(l))).toBe(true);
    expect(r.stderr.at(-1)).toBe(`gpurank: trained to step 2; checkpoint in ${out}`);
  });

  it('a required flag left out is one line', () => {
    const r = gpurank(['train', ...small, '--train', LISTS, '--out', join(work, 'x')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toEqual(["gpurank: required option '--loss <name>' not specified"]);
  });

  it('an unknown loss is one line listing the known ones', () => {
    const r = gpurank(['train', ...small, '--train', LISTS, '--loss', 'hinge', '--out', join(work, 'x')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr[0]).toMatch(/^gpurank: option '--loss <name>' argument 'hinge' is invalid\. Allowed choices are bce, .*lambdaloss/);
  });

  it('bad flag values are one line each', () => {
    for (const [flag, value] of [['--lr', 'fast'], ['--dropout', '1.5'], ['--steps', '0'], ['--warmup', '-1']]) {
      const r = gpurank(['train', ...small, '--train', LISTS, '--loss', 'listnet', '--out', join(work, 'x'), flag, value]);
      expect(r.status, flag).toBe(1);
      expect(r.stderr, flag).toHaveLength(1);
      expect(r.stderr[0]).toMatch(new RegExp(`^gpurank: option '${flag} <\\w+>' argument '${value}' is invalid`));
    }
  });

  it('a malformed JSONL line is reported with its file and line number', () => {
    const file = join(work, 'bad.jsonl');
    const good = readFileSync(LISTS, 'utf8').split('\n')[0];
    writeFileSync(file, `${good}\n${good}\n{"query": "q", "documents": ["a", "b"], "labels": [1]}\n`);
    const r = gpurank(['train', ...small, '--train', file, '--loss', 'listnet', '--out', join(work, 'x')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr[0]).toMatch(new RegExp(`^gpurank: ${file.replace(/[.]/g, '\\.')}:3: .*labels`));
  });

  it('kl without teacher_scores fails before training, naming the list', () => {
    const r = gpurank(['train', ...small, '--train', NO_TEACHER, '--loss', 'kl', '--out', join(work, 'x')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toEqual([`gpurank: ${NO_TEACHER}: loss 'kl' needs "teacher_scores" on every list, but query 1 has none`]);
  });

  it('kl with teacher_scores trains', () => {
    const r = gpurank(['train', ...small, '--train', LISTS, '--loss', 'kl', '--out', join(work, 'kl'), '--steps', '2', '--log-json']);
    expect(r.stderr).toEqual([]);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('a missing training file and a missing resume directory are one line each', () => {
    let r = gpurank(['train', ...small, '--train', join(work, 'nope.jsonl'), '--loss', 'listnet', '--out', join(work, 'x')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr[0]).toMatch(/^gpurank: .*nope\.jsonl/);
    r = gpurank(['train', ...small, '--train', LISTS, '--loss', 'listnet', '--out', join(work, 'x'), '--resume', join(work, 'no-checkpoint')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr[0]).toMatch(/^gpurank: .*no-checkpoint/);
  });
});
