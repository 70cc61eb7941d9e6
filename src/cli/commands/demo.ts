/**
 * `gpurank demo`: the main job on built-in data. Reranks the bundled BM25 candidates of a real collection
 * (Cranfield by default) with the default model on the GPU and reports quality before and after, with
 * trec_eval semantics, plus a few queries' new top 3.
 *
 * A bi-encoder (the default all-MiniLM-L6-v2) embeds each candidate document once and scores it by cosine
 * similarity; a cross-encoder reads every (query, candidate) pair.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { InputError } from '../../errors.js';
import { rrf } from '../../core/fusion.js';
import { evaluate, parseQrels, parseRun, runFromLists } from '../../eval/index.js';
import { Reranker } from '../../rerank/reranker.js';
import { byScore, scoreCandidates } from '../../rerank/candidates.js';
import { positiveInt } from './model-options.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const COLLECTIONS = ['cranfield', 'cisi'];
const MEASURES = ['ndcg_cut_10', 'recip_rank', 'map'];

interface DemoOptions {
  collection: string;
  model: string;
  maxLength: number;
  window: number;
  queries: number;
  dtype: 'f32' | 'f16' | 'auto';
  show: number;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('rerank a bundled collection\'s BM25 candidates (Cranfield by default) with the default model')
    .option('--collection <name>', `bundled collection: ${COLLECTIONS.join(', ')}`, 'cranfield')
    .option('--model <dir>', 'Hugging Face model directory (default: models/all-MiniLM-L6-v2, made by npm run setup)', `${ROOT}models/all-MiniLM-L6-v2`)
    .option('--max-length <n>', 'tokens per text (bi-encoder) or pair (cross-encoder)', positiveInt, 256)
    .option('--window <n>', 'rerank each query\'s top n BM25 candidates', positiveInt, 20)
    // Defaults sized to finish in a few minutes on a CPU (lavapipe) adapter; `--queries 225 --window 100` is the whole run.
    .option('--queries <n>', 'only the first n judged queries', positiveInt, 50)
    .option('--dtype <dtype>', 'f32, f16 or auto (f16 where the adapter has shader-f16)', 'auto')
    .option('--show <n>', 'queries whose new top 3 to print', positiveInt, 3)
    .action((opts: DemoOptions) => runDemo(opts));
}

async function readJsonl<T>(path: string): Promise<T[]> {
  const text = await readFile(path, 'utf8');
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
}

async function runDemo(opts: DemoOptions): Promise<void> {
  if (!COLLECTIONS.includes(opts.collection)) {
    throw new InputError(`unknown collection '${opts.collection}' (choose ${COLLECTIONS.join(' or ')})`);
  }
  if (!['f32', 'f16', 'auto'].includes(opts.dtype)) throw new InputError(`--dtype must be f32, f16 or auto, got '${opts.dtype}'`);
  const dir = `${ROOT}data/${opts.collection}/`;
  const log = (s = '') => process.stdout.write(s + '\n');

  const [corpus, queries, qrelsText, runText] = await Promise.all([
    readJsonl<{ _id: string; title?: string; text: string }>(dir + 'corpus.jsonl'),
    readJsonl<{ _id: string; text: string }>(dir + 'queries.jsonl'),
    readFile(dir + 'qrels.tsv', 'utf8'),
    readFile(dir + 'bm25-top100.run', 'utf8'),
  ]);
  const docs = new Map(corpus.map((d) => [d._id, d]));
  const queryText = new Map(queries.map((q) => [q._id, q.text]));
  const qrels = parseQrels(qrelsText, 'qrels.tsv');
  const fullRun = parseRun(runText, 'bm25-top100.run');
  // Only judged queries count (trec_eval skips the others anyway).
  const qids = [...fullRun.results.keys()].filter((q) => qrels.has(q)).slice(0, opts.queries);
  const bm25 = new Map(qids.map((q) => [q, [...fullRun.results.get(q)!.entries()].sort((a, b) => b[1] - a[1]).map(([d]) => d)]));

  const t0 = performance.now();
  const reranker = await Reranker.load(opts.model, { maxLength: opts.maxLength, dtype: opts.dtype });
  try {
    const rt = reranker.runtime.report;
    log(`gpurank demo: ${opts.collection}, ${qids.length} queries, BM25 top-${opts.window} reranked by ${opts.model.replace(ROOT, '')}`);
    log(`model: ${reranker.kind}, ${reranker.dtype}, max length ${reranker.maxLength}; GPU: ${rt.description || rt.vendor} (${rt.software ? 'software adapter: slow' : 'hardware'}); loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const t1 = performance.now();
    const windows = new Map(qids.map((q) => [q, bm25.get(q)!.slice(0, opts.window)]));
    const scores = await scoreCandidates(reranker, qids.map((q) => ({ id: q, text: queryText.get(q) ?? '' })), windows, (d) => docs.get(d)?.text ?? '');
    const seconds = (performance.now() - t1) / 1000;
    if (reranker.kind === 'bi-encoder') {
      const distinct = new Set([...windows.values()].flat()).size;
      log(`embedded ${distinct} candidate documents and ${qids.length} queries in ${seconds.toFixed(1)} s (${((distinct + qids.length) / seconds).toFixed(1)} texts/s)`);
    } else {
      const pairs = [...windows.values()].reduce((n, w) => n + w.length, 0);
      log(`scored ${pairs} (query, document) pairs in ${seconds.toFixed(1)} s (${(pairs / seconds).toFixed(1)} pairs/s)`);
    }

    // Runs for trec_eval: the reranked window first, then the rest of BM25's list in its order.
    const reranked = new Map(qids.map((q) => [q, [...byScore(scores.get(q)!), ...bm25.get(q)!.slice(opts.window)]]));
    const fused = new Map(qids.map((q) => [q, rrf([bm25.get(q)!, reranked.get(q)!]).ids]));
    const rows: [string, Map<string, string[]>][] = [
      [`BM25 top-100`, bm25],
      [`BM25 → rerank`, reranked],
      [`BM25 + rerank (RRF)`, fused],
    ];
    log(`\nquality over ${qids.length} judged queries (trec_eval semantics; MRR cut at 10):`);
    log(`  ${'run'.padEnd(22)}${['nDCG@10', 'MRR@10', 'MAP'].map((m) => m.padStart(10)).join('')}`);
    for (const [name, lists] of rows) {
      const result = evaluate(qrels, runFromLists(lists, 'gpurank-demo'), { measures: MEASURES, recipRankCutoff: 10 });
      log(`  ${name.padEnd(22)}${MEASURES.map((m) => Number(result.all.get(m)).toFixed(4).padStart(10)).join('')}`);
    }

    log(`\nnew top 3 of the first ${Math.min(opts.show, qids.length)} queries ([grade], - = not judged relevant; BM25 rank in brackets):`);
    for (const q of qids.slice(0, opts.show)) {
      log(`  q${q}: ${queryText.get(q)}`);
      for (const d of reranked.get(q)!.slice(0, 3)) {
        const title = (docs.get(d)?.title || docs.get(d)?.text || '').slice(0, 64);
        log(`    [${qrels.get(q)?.get(d) ?? '-'}] ${scores.get(q)!.get(d)!.toFixed(3).padStart(7)} (bm25 #${bm25.get(q)!.indexOf(d) + 1})  ${title}`);
      }
    }
  } finally {
    await reranker.dispose();
  }
}

