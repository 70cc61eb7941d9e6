/** The Tokenizer API through the real WASM build: loading, options, robustness and every error path. */
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError, ModelLoadError } from '../src/errors.js';
import { DEFAULT_MAX_LENGTH, TokenizeError, Tokenizer, batchRow } from '../src/core/tokenizer.js';

const FIX = fileURLToPath(new URL('./fixtures/tokenizer/', import.meta.url));
const JSON_DIR = join(FIX, 'bert-base-uncased');
const VOCAB_DIR = join(FIX, 'bert-base-uncased-vocab');
const tokenizerJson = readFileSync(join(JSON_DIR, 'tokenizer.json'), 'utf8');

function tempModel(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpurank-tok-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const rowIds = (t: Tokenizer, q: string, d?: string, maxLength?: number) =>
  Array.from(batchRow(d === undefined ? t.encode([q], { maxLength }) : t.encodePairs([q], [d], { maxLength }), 0).ids);

let tok: Tokenizer;
beforeAll(async () => {
  tok = await Tokenizer.fromModelDir(JSON_DIR);
});

describe('encoding', () => {
  it('returns flat arrays with offsets and lengths for a batch', () => {
    const b = tok.encodePairs(['hello', 'what is lift'], ['world', 'lift is a force']);
    expect(b.size).toBe(2);
    expect(Array.from(b.offsets)).toEqual([0, 5, 15]);
    expect(Array.from(b.lengths)).toEqual([5, 10]);
    expect(b.ids).toBeInstanceOf(Uint32Array);
    expect(Array.from(batchRow(b, 0).ids)).toEqual([101, 7592, 102, 2088, 102]);
    expect(Array.from(batchRow(b, 0).typeIds)).toEqual([0, 0, 0, 1, 1]);
    expect(Array.from(batchRow(b, 1).typeIds)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  });

  it('handles an empty batch', () => {
    const b = tok.encode([]);
    expect(b.size).toBe(0);
    expect(b.ids.length).toBe(0);
    expect(Array.from(b.offsets)).toEqual([0]);
    expect(tok.encodePairs([], []).size).toBe(0);
  });

  it('truncates to maxLength with each strategy', () => {
    const q = 'a b c d e';
    const d = 'f g h i j k l m n o';
    const lf = tok.encodePairs([q], [d], { maxLength: 10 });
    expect(lf.lengths[0]).toBe(10);
    const os = batchRow(tok.encodePairs([q], [d], { maxLength: 10, truncation: 'only_second' }), 0);
    expect(Array.from(os.typeIds).filter((t) => t === 0)).toHaveLength(7); // [CLS] + 5 + [SEP] untouched
    const of = batchRow(tok.encodePairs([d], [q], { maxLength: 10, truncation: 'only_first' }), 0);
    expect(Array.from(of.typeIds).filter((t) => t === 1)).toHaveLength(6); // 5 + [SEP] untouched
  });

  it('uses the tokenizer maxLength by default and a per-call one when given', async () => {
    const long = 'word '.repeat(1000);
    expect(tok.maxLength).toBe(512);
    expect(tok.encode([long]).lengths[0]).toBe(512);
    expect(tok.encode([long], { maxLength: 32 }).lengths[0]).toBe(32);
    const short = await Tokenizer.fromModelDir(JSON_DIR, { maxLength: 16 });
    expect(short.encode([long]).lengths[0]).toBe(16);
  });

  it('ignores truncation and padding stored in tokenizer.json', async () => {
    const json = JSON.parse(tokenizerJson);
    json.truncation = { direction: 'Right', max_length: 4, strategy: 'LongestFirst', stride: 0 };
    json.padding = {
      strategy: { Fixed: 64 }, direction: 'Right', pad_to_multiple_of: null, pad_id: 0, pad_type_id: 0, pad_token: '[PAD]',
    };
    const t = await Tokenizer.fromJson(JSON.stringify(json));
    expect(rowIds(t, 'hello there world')).toEqual(rowIds(tok, 'hello there world'));
    expect(rowIds(t, 'hello there world')).toHaveLength(5);
  });
});

describe('odd input does not crash', () => {
  it('treats lone surrogates as U+FFFD, also across the query/document boundary', () => {
    expect(rowIds(tok, 'a\uD800b')).toEqual(rowIds(tok, 'a\uFFFDb'));
    expect(rowIds(tok, 'x\uDC00')).toEqual(rowIds(tok, 'x\uFFFD'));
    // A high surrogate ending the query must not pair with a low one starting the document.
    expect(rowIds(tok, 'hi\uD83D', '\uDE00there')).toEqual(rowIds(tok, 'hi\uFFFD', '\uFFFDthere'));
    expect(rowIds(tok, 'hi\uD83D\uDE00')).toEqual(rowIds(tok, 'hi😀'));
  });

  it('survives NUL, control characters and 100 kB passages', () => {
    const control = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('') + '\u007f\u0085\u200b\u2028';
    const b = tok.encodePairs(['\u0000', control, 'q'], ['a\u0000b', 'x', 'lift '.repeat(20_000)]);
    expect(b.size).toBe(3);
    // NUL is dropped, not turned into a space (BertNormalizer's clean_text).
    expect(Array.from(batchRow(b, 0).ids)).toEqual(rowIds(tok, '', 'ab'));
    expect(b.lengths[2]).toBe(512);
    const huge = tok.encode(['aerodynamic '.repeat(9_000), 'x'.repeat(100_000)], { maxLength: 512 });
    expect(Array.from(huge.lengths)).toEqual([512, 3]); // a 100k-char "word" is one [UNK]
    expect(batchRow(huge, 1).ids[1]).toBe(100);
  });
});

describe('the vocab.txt fallback', () => {
  it('reads tokenizer_config.json: lowercasing, accents, maxLength', async () => {
    const vocab = readFileSync(join(VOCAB_DIR, 'vocab.txt'), 'utf8');
    const cased = await Tokenizer.fromVocab(vocab, JSON.stringify({ do_lower_case: false }));
    expect(rowIds(cased, 'Hello')).not.toEqual(rowIds(tok, 'Hello'));
    const fallback = await Tokenizer.fromModelDir(VOCAB_DIR);
    expect(fallback.maxLength).toBe(512);
    expect(rowIds(fallback, 'Héllo wörld', 'ça va')).toEqual(rowIds(tok, 'Héllo wörld', 'ça va'));
  });

  it('takes maxLength from model_max_length, capping absurd values at 512', async () => {
    const vocab = readFileSync(join(VOCAB_DIR, 'vocab.txt'), 'utf8');
    const with128 = tempModel({ 'vocab.txt': vocab, 'tokenizer_config.json': '{"model_max_length": 128}' });
    expect((await Tokenizer.fromModelDir(with128)).maxLength).toBe(128);
    const absurd = tempModel({ 'vocab.txt': vocab, 'tokenizer_config.json': '{"model_max_length": 1000000000000000019884624838656}' });
    expect((await Tokenizer.fromModelDir(absurd)).maxLength).toBe(DEFAULT_MAX_LENGTH);
    const none = tempModel({ 'vocab.txt': vocab });
    expect((await Tokenizer.fromModelDir(none)).maxLength).toBe(512);
    const json128 = tempModel({ 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': '{"model_max_length": 128}' });
    expect((await Tokenizer.fromModelDir(json128)).maxLength).toBe(128);
  });
});

describe('errors', () => {
  it('a directory without tokenizer files names the directory and the files', async () => {
    const dir = tempModel({ 'config.json': '{}' });
    const err = await Tokenizer.fromModelDir(dir).catch((e) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toContain(dir);
    expect(err.message).toContain('tokenizer.json');
    expect(err.message).toContain('vocab.txt');
  });

  it('a missing directory says so', async () => {
    const err = await Tokenizer.fromModelDir('/nonexistent/model').catch((e) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toMatch(/\/nonexistent\/model does not exist/);
  });

  it('an invalid tokenizer.json is a ModelLoadError with the cause', async () => {
    const dir = tempModel({ 'tokenizer.json': '{"model": ' });
    const err = await Tokenizer.fromModelDir(dir).catch((e) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toContain(join(dir, 'tokenizer.json'));
    expect(err.message).toMatch(/invalid tokenizer.json/);
    expect(err.cause).toBeDefined();
    await expect(Tokenizer.fromJson('{"not": "a tokenizer"}')).rejects.toThrow(ModelLoadError);
  });

  it('an unreadable tokenizer.json is a ModelLoadError with the cause', async () => {
    const dir = tempModel({});
    mkdirSync(join(dir, 'tokenizer.json'));
    const err = await Tokenizer.fromModelDir(dir).catch((e) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toMatch(/cannot read .*tokenizer.json/);
    expect((err.cause as NodeJS.ErrnoException).code).toBe('EISDIR');
  });

  it('a broken tokenizer_config.json or vocab.txt is a ModelLoadError', async () => {
    const badConfig = tempModel({ 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': '{oops' });
    await expect(Tokenizer.fromModelDir(badConfig)).rejects.toThrow(/tokenizer_config.json/);
    const arrayConfig = tempModel({ 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': '[]' });
    await expect(Tokenizer.fromModelDir(arrayConfig)).rejects.toThrow(/expected a JSON object/);
    const emptyVocab = tempModel({ 'vocab.txt': '' });
    await expect(Tokenizer.fromModelDir(emptyVocab)).rejects.toThrow(/vocab.txt is empty/);
    const noCls = tempModel({ 'vocab.txt': 'a\nb\n' });
    await expect(Tokenizer.fromModelDir(noCls)).rejects.toThrow(ModelLoadError);
  });

  it('bad options and inputs are InputErrors', async () => {
    expect(() => tok.encode(['a'], { maxLength: 0 })).toThrow(InputError);
    expect(() => tok.encode(['a'], { maxLength: 1.5 })).toThrow(/positive integer/);
    expect(() => tok.encode(['a'], { truncation: 'longest' as never })).toThrow(/unknown truncation strategy/);
    expect(() => tok.encodePairs(['a', 'b'], ['c'])).toThrow(/2 queries but 1 documents/);
    expect(() => tok.encode([42 as unknown as string])).toThrow(/text 0 is not a string/);
    expect(() => tok.encodePairs(['a'], [null as unknown as string])).toThrow(/document 0 is not a string \(got null\)/);
    expect(() => tok.encodePairs(['a'], ['b'], { maxLength: 2 })).toThrow(/special tokens/);
    await expect(Tokenizer.fromModelDir(JSON_DIR, { maxLength: -1 })).rejects.toThrow(InputError);
    expect(() => batchRow(tok.encode(['a']), 1)).toThrow(RangeError);
  });

  it('an impossible truncation names the row', () => {
    const err = (() => {
      try {
        tok.encodePairs(['a', 'short'], ['b', 'a long document '.repeat(10)], { maxLength: 8, truncation: 'only_first' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(TokenizeError);
    expect((err as TokenizeError).row).toBe(1);
    expect((err as TokenizeError).message).toMatch(/^input 1: Truncation error/);
  });

  it('a disposed tokenizer refuses work', async () => {
    const t = await Tokenizer.fromJson(tokenizerJson);
    t.dispose();
    expect(() => t.encode(['a'])).toThrow(/disposed/);
    t.dispose(); // twice is harmless
  });
});
