/** `gpurank tokenize` end to end: spawns bin/gpurank.js (dist is built by `pretest`). */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODEL = join(ROOT, 'test/fixtures/tokenizer/bert-base-uncased');
const VOCAB_MODEL = join(ROOT, 'test/fixtures/tokenizer/bert-base-uncased-vocab');

function gpurank(args: string[], input: string) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gpurank.js'), ...args], { input, encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const lines = (s: string) => s.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));

describe('gpurank tokenize', () => {
  it('tokenizes pairs and texts in input order', () => {
    const input = [
      { query: 'hello', document: 'world' },
      { text: 'How are you doing?' },
      { query: 'what is lift', document: 'Lift is a force.' },
    ]
      .map((o) => JSON.stringify(o))
      .join('\n');
    const r = gpurank(['tokenize', '--model', MODEL], input + '\n\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      { input_ids: [101, 7592, 102, 2088, 102], token_type_ids: [0, 0, 0, 1, 1] },
      { input_ids: [101, 2129, 2024, 2017, 2725, 1029, 102], token_type_ids: [0, 0, 0, 0, 0, 0, 0] },
      {
        input_ids: [101, 2054, 2003, 6336, 102, 6336, 2003, 1037, 2486, 1012, 102],
        token_type_ids: [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
      },
    ]);
  });

  it('applies --max-length and --truncation, from the vocab.txt fallback too', () => {
    const input = JSON.stringify({ query: 'a b c d e f', document: 'g h i j k l m n' }) + '\n';
    const lf = lines(gpurank(['tokenize', '--model', VOCAB_MODEL, '--max-length', '9'], input).stdout)[0];
    expect(lf.input_ids).toHaveLength(9);
    const os = lines(gpurank(['tokenize', '--model', MODEL, '--max-length', '10', '--truncation', 'only_second'], input).stdout)[0];
    expect(os.input_ids.slice(0, 8)).toEqual([101, 1037, 1038, 1039, 1040, 1041, 1042, 102]);
    expect(os.input_ids).toHaveLength(10);
  });

  it('streams many lines, in order', () => {
    const n = 3000;
    // Row i has i % 50 document tokens, so the output order is visible in the lengths.
    const input = Array.from({ length: n }, (_, i) => JSON.stringify({ query: 'lift', document: 'lift '.repeat(i % 50) })).join('\n');
    const r = gpurank(['tokenize', '--model', MODEL, '--max-length', '32'], input);
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out).toHaveLength(n);
    out.forEach((o, i) => expect(o.input_ids.length).toBe(Math.min(32, 4 + (i % 50))));
  });

  it('answers each line as it arrives, without waiting for the end of input', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/gpurank.js'), 'tokenize', '--model', MODEL], { cwd: ROOT });
    let out = '';
    const nextLine = () =>
      new Promise<string>((resolve) => {
        const check = () => {
          const nl = out.indexOf('\n');
          if (nl < 0) return;
          child.stdout.off('data', onData);
          const line = out.slice(0, nl);
          out = out.slice(nl + 1);
          resolve(line);
        };
        const onData = (chunk: Buffer) => {
          out += chunk.toString('utf8');
          check();
        };
        child.stdout.on('data', onData);
        check();
      });
    child.stdin.write('{"text":"hello"}\n');
    expect(JSON.parse(await nextLine()).input_ids).toEqual([101, 7592, 102]);
    child.stdin.write('{"query":"hello","document":"world"}\n'); // stdin still open
    expect(JSON.parse(await nextLine()).input_ids).toEqual([101, 7592, 102, 2088, 102]);
    child.stdin.end();
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
  });

  it('reports bad JSON with its line number', () => {
    const r = gpurank(['tokenize', '--model', MODEL], '{"query":"a","document":"b"}\n{"query": oops}\n');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^gpurank: <stdin>:2: line is not valid JSON/);
    expect(lines(r.stdout)).toHaveLength(1); // the good line before it was answered
  });

  it('reports a missing field with its line number', () => {
    for (const bad of ['{"query":"a"}', '{"document":"b"}', '{"query":1,"document":"b"}', '{"txt":"x"}', '[1]', '"s"']) {
      const r = gpurank(['tokenize', '--model', MODEL], `{"text":"ok"}\n\n${bad}\n`);
      expect(r.code, bad).not.toBe(0);
      expect(r.stderr, bad).toMatch(/^gpurank: <stdin>:3: .*(query|document|text)/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('reports an impossible truncation with its line number', () => {
    const input = '{"query":"a","document":"b"}\n{"query":"a","document":"long document text here"}\n';
    const r = gpurank(['tokenize', '--model', MODEL, '--max-length', '5', '--truncation', 'only_first'], input);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^gpurank: <stdin>:2: Truncation error/);
    expect(lines(r.stdout)).toEqual([{ input_ids: [101, 1037, 102, 1038, 102], token_type_ids: [0, 0, 0, 1, 1] }]);
  });

  it('fails in one line on a model dir without tokenizer files, and on bad flags', () => {
    const empty = mkdtempSync(join(tmpdir(), 'gpurank-cli-'));
    const r = gpurank(['tokenize', '--model', empty], '');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(empty);
    expect(r.stderr).toContain('tokenizer.json');
    for (const flags of [['--max-length', 'ten'], ['--max-length', '0'], ['--truncation', 'longest'], ['--max-length', '2']]) {
      const b = gpurank(['tokenize', '--model', MODEL, ...flags], '{"query":"a","document":"b"}\n');
      expect(b.code, flags.join(' ')).not.toBe(0);
      expect(b.stderr.trim().split('\n'), flags.join(' ')).toHaveLength(1);
    }
  });
});
