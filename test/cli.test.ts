/** The CLI's shared contract: one-line errors with a non-zero exit, never a stack trace. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

function gpurank(args: string[]) {
  const res = spawnSync(process.execPath, ['bin/gpurank.js', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000, input: '' });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('gpurank CLI errors', () => {
  const cases: [string[], RegExp][] = [
    [['--bogus'], /^gpurank: unknown option '--bogus'$/],
    [['frobnicate'], /^gpurank: unknown command 'frobnicate'/],
    [['eval', '--qrels', 'x', '--run', 'y', '--bogus'], /^gpurank: unknown option '--bogus'$/],
    [['tokenize', '--model', 'x', '--max-len', '8'], /^gpurank: unknown option '--max-len' \(Did you mean --max-length\?\)$/],
    [['doctor', '--jsn'], /^gpurank: unknown option '--jsn'/],
    [['demo', '--colection', 'cisi'], /^gpurank: unknown option '--colection'/],
    [['tokenize'], /^gpurank: required option '--model <dir>' not specified$/],
    [['eval', '--run', 'data/cranfield/bm25-top100.run'], /^gpurank: required option '--qrels <file>' not specified$/],
  ];
  for (const [args, message] of cases) {
    it(`gpurank ${args.join(' ')}`, () => {
      const r = gpurank(args);
      expect(r.status).not.toBe(0);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    });
  }

  it('--help and --version exit 0', () => {
    expect(gpurank(['--help']).status).toBe(0);
    const v = gpurank(['--version']);
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
