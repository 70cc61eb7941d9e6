/**
 * `npm run eval:e2e`: quality of the whole path on real collections. For Cranfield (all queries) and CISI
 * (judged queries) it takes BM25 top-100 from a running engine, reranks that window with gpurank, fuses
 * both orders by RRF, and prints nDCG@10, MRR@10 (reciprocal rank cut at 10) and MAP with trec_eval semantics.
 * Usage: tsx scripts/engines/eval-e2e.ts [--engine opensearch|elasticsearch7] [--model DIR] [--dtype f32|f16|auto]
 * The indices come from scripts/engines/index.ts.
 */
import { parseArgs } from 'node:util';
import { loadCore } from '../../src/core/wasm.js';
import { rrf } from '../../src/core/fusion.js';
import { evaluate, parseQrels, runFromLists } from '../../src/eval/index.js';
import { Reranker } from '../../src/rerank/reranker.js';
import { byScore, scoreCandidates } from '../../src/rerank/candidates.js';
import { COLLECTIONS, ENGINES, ROOT, bm25Query, calls, engineUrl, loadCollection, makeClient, type Engine } from './lib.js';

const MEASURES = ['ndcg_cut_10', 'recip_rank', 'map'];
const WINDOW = 100;

const { values } = parseArgs({
  options: {
    engine: { type: 'string' },
    model: { type: 'string', default: `${ROOT}models/all-MiniLM-L6-v2` },
    dtype: { type: 'string', default: 'auto' },
  },
});
const fail = (msg: string): never => {
  console.error(`eval:e2e: ${msg}`);
  process.exit(1);
};
if (values.engine && !(ENGINES as readonly string[]).includes(values.engine)) fail(`unknown engine '${values.engine}'`);
const engine = (values.engine ?? ENGINES.find((e) => engineUrl(e))) as Engine | undefined;
if (!engine) fail('no engine is running; run scripts/engines/start.sh opensearch && npx tsx scripts/engines/index.ts');
const url = engineUrl(engine!) ?? fail(`${engine} is not running (scripts/engines/start.sh ${engine})`);
if (!['f32', 'f16', 'auto'].includes(values.dtype!)) fail(`--dtype must be f32, f16 or auto, got '${values.dtype}'`);

await loadCore();
const client = makeClient(engine!, url, 60_000);
const info = await calls(client).info().catch((err: Error) => fail(`${engine} at ${url}: ${err.message}`));
const version = `${engine} ${(info.body as { version: { number: string } }).version.number}`;
const reranker = await Reranker.load(values.model!, { dtype: values.dtype as 'f32' | 'f16' | 'auto' });
const rt = reranker.runtime.report;
console.log(`eval:e2e: engine ${version} at ${url}; model ${values.model!.replace(ROOT, '')} (${reranker.kind}, ${reranker.dtype}); GPU ${rt.description || rt.vendor}${rt.software ? ' (software adapter)' : ''}`);

const table: string[] = [];
try {
  for (const name of COLLECTIONS) {
    const { queries, qrelsText } = await loadCollection(name);
    const qrels = parseQrels(qrelsText, `data/${name}/qrels.tsv`);
    const judged = queries.filter((q) => qrels.has(q._id));

    // First stage: the engine's own BM25; the hit text comes back from the engine too.
    const t0 = performance.now();
    const text = new Map<string, string>();
    const bm25 = new Map<string, string[]>();
    for (const q of judged) {
      const res = await calls(client).search({
        index: name,
        body: { query: bm25Query(q.text), size: WINDOW, _source: ['text'] } as never,
      });
      const hits = res.body.hits.hits as { _id: string; _source?: { text?: string } }[];
      for (const h of hits) text.set(h._id, h._source?.text ?? '');
      bm25.set(q._id, hits.map((h) => h._id));
    }
    const searchS = (performance.now() - t0) / 1000;

    // Second stage: a bi-encoder embeds each candidate once; a cross-encoder scores each pair.
    const t1 = performance.now();
    const scores = await scoreCandidates(reranker, judged.map((q) => ({ id: q._id, text: q.text })), bm25, (d) => text.get(d)!);
    const reranked = new Map(judged.map((q) => [q._id, byScore(scores.get(q._id)!)]));
    const rerankS = (performance.now() - t1) / 1000;
    const fused = new Map(judged.map((q) => [q._id, rrf([bm25.get(q._id)!, reranked.get(q._id)!]).ids]));
    console.log(`eval:e2e: ${name}: ${judged.length} judged queries, ${text.size} distinct candidates; BM25 ${searchS.toFixed(1)} s, rerank ${rerankS.toFixed(1)} s`);

    for (const [run, lists] of [['BM25 top-100', bm25], ['BM25 → rerank', reranked], ['BM25 + rerank (RRF)', fused]] as const) {
      const result = evaluate(qrels, runFromLists(lists, 'gpurank-e2e'), { measures: MEASURES, recipRankCutoff: 10 });
      table.push(`| ${name} (${judged.length} q) | ${run} | ${MEASURES.map((m) => Number(result.all.get(m)).toFixed(4)).join(' | ')} |`);
    }
  }
} finally {
  await reranker.dispose();
  await client.close();
}

console.log(`\n${version}, BM25 top-${WINDOW} (title+text, English analyzer) reranked by ${values.model!.replace(ROOT, '')} (${reranker.dtype})\n`);
console.log('| collection | run | nDCG@10 | MRR@10 | MAP |');
console.log('|---|---|---|---|---|');
for (const line of table) console.log(line);
