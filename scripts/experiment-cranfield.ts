/**
 * `npm run experiment:cranfield [-- flags]`: fine-tunes cross-encoders on Cranfield and compares them with
 * BM25 and the zero-shot bi-encoder.
 *
 * - Start: all-MiniLM-L6-v2 (a bi-encoder: BertModel weights) with a fresh classification head (seeded).
 * - Train: the queries with `_id` mod 5 != 0; each list = BM25's top `--train-depth` candidates (hard
 *   negatives, labels from the qrels) plus the judged-relevant documents BM25 missed.
 * - Held out: the queries with `_id` mod 5 == 0, reranking BM25's top `--top-k`; nDCG@10 and MRR@10
 *   (reciprocal rank cut at 10) with trec_eval semantics against the full qrels.
 * - Rows: BM25 alone; the zero-shot bi-encoder (cosine of the full MiniLM's embeddings, same max length);
 *   cross-encoders trained with lambdaloss, listnet and ranknet; then kl, distilled from the teacher scores
 *   of the best of those three (by held-out nDCG@10) on the training lists.
 *
 * Flags: --layers N (keep the first N encoder layers), --max-length N, --steps N, --top-k K,
 * --train-depth D, --batch-queries N, --docs-per-query N, --lr X, --seed N, --losses a,b,c[,kl], --out DIR.
 * The defaults are a reduced configuration sized for lavapipe (a CPU WebGPU adapter): about 30 minutes on
 * 2 cores. `--full` selects the full one (6 layers, 256 tokens, top 100, more steps) for a real GPU.
 * Writes `<out>/results.json` and `<out>/results.md`, and one checkpoint per loss under `<out>/checkpoints/<loss>/`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCore } from '../src/core/wasm.js';
import { evaluate, parseQrels, parseRun, runFromLists, type Qrels } from '../src/eval/index.js';
import { GpuRuntime } from '../src/gpu/index.js';
import { Reranker } from '../src/rerank/reranker.js';
import { byScore, scoreCandidates } from '../src/rerank/candidates.js';
import { loadTrainingData, type ListExample } from '../src/train/data.js';
import type { LossName } from '../src/train/losses.js';
import { train } from '../src/train/trainer.js';

const ROOT = new URL('..', import.meta.url).pathname;
const DATA = join(ROOT, 'data/cranfield');
const MODEL = join(ROOT, 'models/all-MiniLM-L6-v2');
const MEASURES = ['ndcg_cut_10', 'recip_rank'];

const REDUCED = { layers: 2, maxLength: 96, steps: 150, topK: 20, trainDepth: 10, batchQueries: 4, docsPerQuery: 4, lr: 5e-4 };
const FULL = { layers: 6, maxLength: 256, steps: 450, topK: 100, trainDepth: 100, batchQueries: 4, docsPerQuery: 16, lr: 5e-5 };

const { values } = parseArgs({
  options: {
    full: { type: 'boolean', default: false },
    layers: { type: 'string' },
    'max-length': { type: 'string' },
    steps: { type: 'string' },
    'top-k': { type: 'string' },
    'train-depth': { type: 'string' },
    'batch-queries': { type: 'string' },
    'docs-per-query': { type: 'string' },
    lr: { type: 'string' },
    seed: { type: 'string', default: '42' },
    losses: { type: 'string', default: 'lambdaloss,listnet,ranknet,kl' },
    out: { type: 'string', default: join(ROOT, 'experiments/cranfield') },
  },
});

const fail = (msg: string): never => {
  console.error(`experiment:cranfield: ${msg}`);
  process.exit(1);
};
const base = values.full ? FULL : REDUCED;
const num = (flag: string, v: string | undefined, fallback: number, integer = true): number => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) fail(`--${flag} must be a positive ${integer ? 'integer' : 'number'}, got '${v}'`);
  return n;
};
const cfg = {
  model: 'models/all-MiniLM-L6-v2 + fresh head',
  layers: num('layers', values.layers, base.layers),
  maxLength: num('max-length', values['max-length'], base.maxLength),
  steps: num('steps', values.steps, base.steps),
  topK: num('top-k', values['top-k'], base.topK),
  trainDepth: num('train-depth', values['train-depth'], base.trainDepth),
  batchQueries: num('batch-queries', values['batch-queries'], base.batchQueries),
  docsPerQuery: num('docs-per-query', values['docs-per-query'], base.docsPerQuery),
  lr: num('lr', values.lr, base.lr, false),
  seed: num('seed', values.seed, 42),
  warmup: 0.1,
  weightDecay: 0.01,
  dropout: 'model config (0.1)',
  losses: values.losses!.split(',').map((s) => s.trim()).filter((s) => s !== 'kl') as LossName[],
  distill: values.losses!.split(',').map((s) => s.trim()).includes('kl'),
  kl: 'teacher = the best of the losses above (held-out nDCG@10), scored on the training lists',
  preset: values.full ? 'full' : 'reduced',
};
if (cfg.distill && cfg.losses.length === 0) fail('kl needs at least one other loss in --losses to train its teacher');
const out = values.out!;
mkdirSync(out, { recursive: true });
// results.md/json are small and worth keeping; the checkpoints and the generated lists are not.
writeFileSync(join(out, '.gitignore'), 'checkpoints/\n*.jsonl\n');

const log = (m: string) => console.log(`experiment:cranfield: ${m}`);
const jsonl = (f: string) =>
  readFileSync(join(DATA, f), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { _id: string; text: string; title?: string });

await loadCore();
const qrels = parseQrels(readFileSync(join(DATA, 'qrels.tsv'), 'utf8'), 'qrels.tsv');
const bm25 = parseRun(readFileSync(join(DATA, 'bm25-top100.run'), 'utf8'), 'bm25-top100.run');
// A document's text as the training loader (src/train/data.ts) builds it.
const corpus = new Map(jsonl('corpus.jsonl').map((d) => [d._id, d.title && !d.text.startsWith(d.title) ? `${d.title} ${d.text}` : d.text]));
const heldOut = (id: string) => Number(id) % 5 === 0;
const evalQueries = jsonl('queries.jsonl')
  .filter((q) => heldOut(q._id) && qrels.has(q._id) && bm25.results.has(q._id))
  .map((q) => ({ id: q._id, text: q.text }));
const candidates = new Map(evalQueries.map((q) => [q.id, byScore(bm25.results.get(q.id)!).slice(0, cfg.topK)]));
const evalQrels: Qrels = new Map(evalQueries.map((q) => [q.id, qrels.get(q.id)!]));

/** Training lists: BM25's top `trainDepth` plus the positives it missed (the loader appends them last). */
const trainLists: ListExample[] = (await loadTrainingData(DATA, { run: join(DATA, 'bm25-top100.run'), queryFilter: (id) => !heldOut(id) })).map((e) => {
  const keep = e.documents.map((_, i) => i).filter((i) => i < cfg.trainDepth || e.labels[i] > 0);
  return { ...e, documents: keep.map((i) => e.documents[i]), labels: keep.map((i) => e.labels[i]) };
});
const writeLists = (path: string, lists: ListExample[]) =>
  writeFileSync(
    path,
    lists.map((e) => JSON.stringify({ qid: e.qid, query: e.query, documents: e.documents, labels: e.labels, ...(e.teacherScores ? { teacher_scores: e.teacherScores } : {}) })).join('\n') + '\n',
  );
writeLists(join(out, 'train.jsonl'), trainLists);
const trainPairs = trainLists.reduce((s, e) => s + e.documents.length, 0);

interface Row {
  name: string;
  ndcg10: number;
  mrr10: number;
  seconds?: number;
  steps?: number;
  finalLoss?: number | null;
}
const rows: Row[] = [];
const metrics = (lists: Map<string, string[]>) => {
  const e = evaluate(evalQrels, runFromLists(lists, 'experiment'), { measures: MEASURES, recipRankCutoff: 10 });
  return { ndcg10: Number(e.all.get('ndcg_cut_10')), mrr10: Number(e.all.get('recip_rank')) };
};

const t0 = performance.now();
log(`configuration: ${JSON.stringify(cfg)}`);
log(`${trainLists.length} training queries (${trainPairs} pairs), ${evalQueries.length} held-out queries × BM25 top ${cfg.topK}`);
if (!values.full) log('this is the reduced configuration for lavapipe (about 30 min on 2 CPU cores); pass --full on a real GPU');

rows.push({ name: `BM25 (top ${cfg.topK})`, ...metrics(candidates) });

const rt = await GpuRuntime.create({ optionalFeatures: ['subgroups'] });
try {
  const rerankWith = async (dir: string) => {
    const reranker = await Reranker.load(dir, { device: rt, maxLength: cfg.maxLength });
    try {
      const scores = await scoreCandidates(reranker, evalQueries, candidates, (d) => corpus.get(d)!);
      return new Map(evalQueries.map((q) => [q.id, byScore(scores.get(q.id)!)]));
    } finally {
      await reranker.dispose();
    }
  };

  let t = performance.now();
  rows.push({ name: 'bi-encoder, zero-shot (all 6 layers)', ...metrics(await rerankWith(MODEL)), seconds: (performance.now() - t) / 1000 });
  log(`bi-encoder: nDCG@10 ${rows.at(-1)!.ndcg10.toFixed(4)}`);

  const trainOne = async (loss: LossName, data: string): Promise<Row> => {
    const dir = join(out, 'checkpoints', loss);
    const start = performance.now();
    let last: number | null = null;
    const result = await train(
      {
        model: MODEL,
        train: data,
        loss,
        out: dir,
        steps: cfg.steps,
        lr: cfg.lr,
        batchQueries: cfg.batchQueries,
        docsPerQuery: cfg.docsPerQuery,
        maxLength: cfg.maxLength,
        warmup: cfg.warmup,
        weightDecay: cfg.weightDecay,
        seed: cfg.seed,
        layers: cfg.layers,
        device: rt,
      },
      {
        onStep: (s) => {
          last = s.loss;
          if (s.step % 10 === 0 || s.step === cfg.steps) log(`${loss}: step ${s.step}/${cfg.steps} loss ${s.loss?.toFixed(4)} (${s.elapsed_s.toFixed(0)} s)`);
        },
        onWarning: (m) => log(`${loss}: warning: ${m}`),
      },
    );
    const trainS = (performance.now() - start) / 1000;
    const m = metrics(await rerankWith(result.out));
    log(`${loss}: nDCG@10 ${m.ndcg10.toFixed(4)}, MRR@10 ${m.mrr10.toFixed(4)} (train ${trainS.toFixed(0)} s)`);
    return { name: `cross-encoder, ${loss}`, ...m, seconds: (performance.now() - start) / 1000, steps: cfg.steps, finalLoss: last };
  };

  const trained: { loss: LossName; row: Row }[] = [];
  for (const loss of cfg.losses) {
    const row = await trainOne(loss, join(out, 'train.jsonl'));
    rows.push(row);
    trained.push({ loss, row });
  }

  if (cfg.distill) {
    const best = trained.reduce((a, b) => (b.row.ndcg10 > a.row.ndcg10 ? b : a));
    log(`kl: teacher = ${best.loss}; scoring ${trainPairs} training pairs`);
    t = performance.now();
    const teacher = await Reranker.load(join(out, 'checkpoints', best.loss), { device: rt, maxLength: cfg.maxLength });
    const withTeacher: ListExample[] = [];
    try {
      for (const e of trainLists) withTeacher.push({ ...e, teacherScores: Array.from(await teacher.score(e.query, e.documents)) });
    } finally {
      await teacher.dispose();
    }
    log(`kl: teacher scores in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    writeLists(join(out, 'train-kl.jsonl'), withTeacher);
    const row = await trainOne('kl', join(out, 'train-kl.jsonl'));
    row.name = `cross-encoder, kl (teacher: ${best.loss})`;
    rows.push(row);
  }
} finally {
  rt.destroy();
}

const minutes = (performance.now() - t0) / 60_000;
const device = rt.report;
const table = [
  `| run | nDCG@10 | MRR@10 |`,
  `|---|---|---|`,
  ...rows.map((r) => `| ${r.name} | ${r.ndcg10.toFixed(4)} | ${r.mrr10.toFixed(4)} |`),
].join('\n');
const md = [
  `## Cranfield fine-tuning: ${cfg.preset} configuration`,
  '',
  `${evalQueries.length} held-out queries (\`_id\` mod 5 = 0), reranking BM25's top ${cfg.topK}; ${trainLists.length} training queries ` +
    `(BM25 top ${cfg.trainDepth} hard negatives + missed positives, ${trainPairs} pairs). nDCG@10 and MRR@10 with trec_eval semantics against the full qrels.`,
  '',
  table,
  '',
  `Configuration: ${cfg.model}, first ${cfg.layers} of 6 encoder layers, max length ${cfg.maxLength}, ${cfg.steps} steps of ` +
    `${cfg.batchQueries} queries × ${cfg.docsPerQuery} documents, lr ${cfg.lr} (warmup ${cfg.warmup}, linear decay), weight decay ` +
    `${cfg.weightDecay}, dropout from the model config, seed ${cfg.seed}. kl: ${cfg.kl}.`,
  `Device: ${device.description || device.vendor}${device.software ? ' (software adapter)' : ''}; ${minutes.toFixed(1)} min in all.`,
  '',
].join('\n');
writeFileSync(join(out, 'results.md'), md);
writeFileSync(join(out, 'results.json'), JSON.stringify({ config: cfg, device, minutes, trainQueries: trainLists.length, evalQueries: evalQueries.length, rows }, null, 2) + '\n');
console.log(`\n${md}`);
log(`wrote ${join(out, 'results.md')} and results.json`);
process.exit(0);
