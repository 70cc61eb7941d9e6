/**
 * `gpurank demo`: the main job on built-in data. Today it runs the foundation end to end on a real
 * collection: the default model's tokenizer over every (query, BM25 candidate) pair, the length-bucketed
 * batch plan the GPU will consume, and trec_eval-style quality of the first stage. Cross-encoder
 * reranking itself is not implemented yet and the demo says so.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { InputError } from '../../errors.js';
import { Tokenizer } from '../../core/tokenizer.js';
import { paddingWaste, planBatches } from '../../core/plan.js';
import { evaluate, parseQrels, parseRun } from '../../eval/index.js';
import { diagnose } from '../../gpu/diagnose.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const COLLECTIONS = ['cranfield', 'cisi'];

interface DemoOptions {
  collection: string;
  model: string;
  maxLength: string;
  batchTokens: string;
  show: string;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run gpurank on a bundled collection (Cranfield by default) with the default model')
    .option('--collection <name>', `bundled collection: ${COLLECTIONS.join(', ')}`, 'cranfield')
    .option('--model <dir>', 'Hugging Face model directory', `${ROOT}models/all-MiniLM-L6-v2`)
    .option('--max-length <n>', 'tokens per (query, passage) pair', '256')
    .option('--batch-tokens <n>', 'padded-token budget per batch', '16384')
    .option('--show <n>', 'queries whose top 3 to print', '3')
    .action((opts: DemoOptions) => runDemo(opts));
}

async function readJsonl<T>(path: string): Promise<T[]> {
  const text = await readFile(path, 'utf8');
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InputError(`${flag} must be a positive integer, got '${value}'`);
  return n;
}

async function runDemo(opts: DemoOptions): Promise<void> {
  if (!COLLECTIONS.includes(opts.collection)) {
    throw new InputError(`unknown collection '${opts.collection}' (choose ${COLLECTIONS.join(' or ')})`);
  }
  const maxLength = positiveInt(opts.maxLength, '--max-length');
  const batchTokens = positiveInt(opts.batchTokens, '--batch-tokens');
  const show = positiveInt(opts.show, '--show');
  const dir = `${ROOT}data/${opts.collection}/`;
  const log = (s = '') => process.stdout.write(s + '\n');

  log(`gpurank demo: ${opts.collection}, first stage = BM25 top-100 (data/${opts.collection}/bm25-top100.run)`);
  try {
    const gpu = await diagnose();
    log(`GPU: ${gpu.adapter.description || gpu.adapter.vendor} (${gpu.adapter.software ? 'software' : 'hardware'}), compute check ${gpu.compute.ok ? 'ok' : 'FAILED'}`);
    for (const w of gpu.warnings) log(`  warning: ${w}`);
  } catch (err) {
    log(`GPU: unavailable: ${(err as Error).message}`);
  }

  const [corpus, queries, qrelsText, runText] = await Promise.all([
    readJsonl<{ _id: string; title?: string; text: string }>(dir + 'corpus.jsonl'),
    readJsonl<{ _id: string; text: string }>(dir + 'queries.jsonl'),
    readFile(dir + 'qrels.tsv', 'utf8'),
    readFile(dir + 'bm25-top100.run', 'utf8'),
  ]);
  const docs = new Map(corpus.map((d) => [d._id, d]));
  const queryText = new Map(queries.map((q) => [q._id, q.text]));
  const qrels = parseQrels(qrelsText, 'qrels.tsv');
  const run = parseRun(runText, 'bm25-top100.run');

  // Tokenize every candidate pair the reranker will score.
  const tokenizer = await Tokenizer.fromModelDir(opts.model, { maxLength });
  const pairQueries: string[] = [];
  const pairDocs: string[] = [];
  for (const [qid, ranked] of run.results) {
    for (const docno of ranked.keys()) {
      pairQueries.push(queryText.get(qid) ?? '');
      pairDocs.push(docs.get(docno)?.text ?? '');
    }
  }
  const t0 = performance.now();
  const batch = tokenizer.encodePairs(pairQueries, pairDocs, { maxLength });
  const ms = performance.now() - t0;
  tokenizer.dispose();
  const tokens = batch.ids.length;
  const truncated = batch.lengths.reduce((n, len) => n + (len >= maxLength ? 1 : 0), 0);
  log(`\nTokenized ${batch.size} (query, candidate) pairs with ${opts.model.replace(ROOT, '')} in ${ms.toFixed(0)} ms ` +
    `(${Math.round(batch.size / (ms / 1000))} pairs/s): ${tokens} tokens, mean ${(tokens / batch.size).toFixed(1)}, ${truncated} truncated at ${maxLength}`);

  const sorted = planBatches(batch.lengths, { tokenBudget: batchTokens });
  const unsorted = planBatches(batch.lengths, { tokenBudget: batchTokens, sort: false });
  log(`Batch plan under ${batchTokens} padded tokens: ${sorted.size} batches, padding ${pct(wasteShare(paddingWaste(sorted, batch.lengths), tokens))} ` +
    `(input order would need ${unsorted.size} batches, padding ${pct(wasteShare(paddingWaste(unsorted, batch.lengths), tokens))})`);

  const measures = ['ndcg_cut_10', 'recip_rank', 'map', 'P_10', 'recall_100'];
  const result = evaluate(qrels, run, { measures, recipRankCutoff: 10 });
  log(`\nFirst-stage quality over ${result.perQuery.size} queries (trec_eval semantics; MRR cut at 10):`);
  log(`  ${'run'.padEnd(18)}${measures.map((m) => (m === 'recip_rank' ? 'MRR@10' : m).padStart(13)).join('')}`);
  log(`  ${'BM25 top-100'.padEnd(18)}${measures.map((m) => Number(result.all.get(m)).toFixed(4).padStart(13)).join('')}`);

  log(`\nTop 3 of the first ${show} queries (grade in brackets, - = not judged relevant):`);
  let shown = 0;
  for (const [qid, ranked] of run.results) {
    if (shown++ >= show) break;
    log(`  q${qid}: ${queryText.get(qid)}`);
    const top = [...ranked.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
    for (const [docno, score] of top) {
      const grade = qrels.get(qid)?.get(docno);
      const title = (docs.get(docno)?.title || docs.get(docno)?.text || '').slice(0, 70);
      log(`    [${grade ?? '-'}] ${score.toFixed(2).padStart(6)}  ${docno.padStart(5)}  ${title}`);
    }
  }
  log('\nNot yet: cross-encoder scoring on the GPU (gpurank score/rerank) is not implemented in this build,');
  log('so the demo stops at the first stage. The numbers above are the baseline reranking must beat.');
}

/** Share of padded tokens in a plan that are padding. */
function wasteShare(waste: number, tokens: number): number {
  return waste / (waste + tokens);
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}
