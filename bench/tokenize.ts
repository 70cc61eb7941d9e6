/**
 * Tokenizer throughput: 1,000 (query, ~300-word passage) pairs of real Cranfield/CISI text,
 * truncated to 512 tokens, through gpurank's WASM tokenizer and, in the same process, the
 * tokenizer of `@huggingface/transformers` (transformers.js) loaded from the same tokenizer.json.
 *
 * Args: [--pairs N] [--runs N]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Tokenizer, batchRow } from '../src/core/tokenizer.js';

const FIX = fileURLToPath(new URL('../test/fixtures/tokenizer/', import.meta.url));
const MODEL_DIR = FIX + 'bert-base-uncased';
const MAX_LENGTH = 512;
const PASSAGE_WORDS = 300;

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} needs a positive integer`);
  return v;
}

/** Queries cycled, passages built by concatenating abstracts to ~300 words. */
function makePairs(n: number): { queries: string[]; documents: string[] } {
  const bench = JSON.parse(readFileSync(FIX + 'bench_texts.json', 'utf8')) as { queries: string[]; passages: string[] };
  const queries: string[] = [];
  const documents: string[] = [];
  for (let i = 0; i < n; i++) {
    queries.push(bench.queries[i % bench.queries.length]);
    const words: string[] = [];
    for (let k = (i * 7) % bench.passages.length; words.length < PASSAGE_WORDS; k = (k + 1) % bench.passages.length) {
      words.push(...bench.passages[k].split(/\s+/).filter(Boolean));
    }
    documents.push(words.slice(0, PASSAGE_WORDS).join(' '));
  }
  return { queries, documents };
}

interface Timing {
  runs_ms: number[];
  best_ms: number;
  median_ms: number;
  pairs_per_s: { best: number; median: number };
  mb_per_s: { best: number; median: number };
}

function time(fn: () => void, runs: number, pairs: number, mb: number): Timing {
  fn(); // warm-up: JIT, lazily built tables
  const runsMs: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    runsMs.push(performance.now() - t0);
  }
  const sorted = [...runsMs].sort((a, b) => a - b);
  const best = sorted[0];
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    runs_ms: runsMs.map(round),
    best_ms: round(best),
    median_ms: round(median),
    pairs_per_s: { best: round((pairs * 1000) / best), median: round((pairs * 1000) / median) },
    mb_per_s: { best: round((mb * 1000) / best), median: round((mb * 1000) / median) },
  };
}

export async function run(args: string[]): Promise<unknown> {
  const n = flag(args, '--pairs', 1000);
  const runs = flag(args, '--runs', 7);
  const { queries, documents } = makePairs(n);
  const bytes = queries.concat(documents).reduce((a, s) => a + Buffer.byteLength(s, 'utf8'), 0);
  const mb = bytes / 1e6;

  const gpurank = await Tokenizer.fromModelDir(MODEL_DIR);
  let ours = gpurank.encodePairs(queries, documents, { maxLength: MAX_LENGTH });
  const oursTiming = time(
    () => {
      ours = gpurank.encodePairs(queries, documents, { maxLength: MAX_LENGTH });
    },
    runs,
    n,
    mb,
  );

  const { AutoTokenizer, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = FIX;
  const hf = await AutoTokenizer.from_pretrained('bert-base-uncased');
  const call = () =>
    hf(queries, { text_pair: documents, truncation: true, max_length: MAX_LENGTH, return_tensor: false }) as unknown as {
      input_ids: number[][];
    };
  let theirs = call();
  const theirsTiming = time(
    () => {
      theirs = call();
    },
    runs,
    n,
    mb,
  );

  // Sanity: rows short enough to need no truncation must agree token for token (transformers.js
  // truncates pairs differently from HF Python, so longer rows are not compared).
  let comparable = 0;
  let agree = 0;
  for (let i = 0; i < n; i++) {
    const mine = Array.from(batchRow(ours, i).ids);
    if (mine.length >= MAX_LENGTH) continue;
    comparable++;
    if (mine.length === theirs.input_ids[i].length && mine.every((v, k) => v === theirs.input_ids[i][k])) agree++;
  }
  gpurank.dispose();

  const pkg = JSON.parse(
    readFileSync(fileURLToPath(new URL('../node_modules/@huggingface/transformers/package.json', import.meta.url)), 'utf8'),
  ) as { version: string };
  return {
    suite: 'tokenize',
    workload: {
      pairs: n,
      passage_words: PASSAGE_WORDS,
      max_length: MAX_LENGTH,
      input_mb: Math.round(mb * 1000) / 1000,
      tokens_out: ours.ids.length,
      runs,
      source: 'Cranfield + CISI queries and abstracts (test/fixtures/tokenizer/bench_texts.json)',
    },
    gpurank_wasm: oursTiming,
    transformers_js: { version: pkg.version, ...theirsTiming },
    speedup_vs_transformers_js: {
      best: Math.round((theirsTiming.best_ms / oursTiming.best_ms) * 100) / 100,
      median: Math.round((theirsTiming.median_ms / oursTiming.median_ms) * 100) / 100,
    },
    parity_untruncated_rows: { compared: comparable, identical: agree },
    node: process.version,
  };
}
