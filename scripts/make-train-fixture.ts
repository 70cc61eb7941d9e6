/**
 * Writes the small listwise training fixtures of test/fixtures/train/ from the Cranfield collection in
 * data/cranfield (see test/fixtures/train/README.md): `tsx scripts/make-train-fixture.ts`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseQrels, parseRun } from '../src/eval/parse.js';

const QUERIES = 8;
const DOCS = 6;
const WORDS = 30;

const read = (f: string) => readFileSync(`data/cranfield/${f}`, 'utf8');
const jsonl = (f: string) => read(f).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { _id: string; text: string });
const queries = jsonl('queries.jsonl');
const corpus = new Map(jsonl('corpus.jsonl').map((d) => [d._id, d.text.split(/\s+/).slice(0, WORDS).join(' ')]));
const qrels = parseQrels(read('qrels.tsv'), 'qrels.tsv');
const run = parseRun(read('bm25-top100.run'), 'bm25-top100.run');

const lines: string[] = [];
for (const q of queries) {
  if (lines.length === QUERIES) break;
  if (Number(q._id) % 5 === 0) continue; // the experiment's held-out queries stay out of the fixture
  const judged = qrels.get(q._id) ?? new Map<string, number>();
  const ranked = [...(run.results.get(q._id) ?? new Map<string, number>())].sort((a, b) => b[1] - a[1]).slice(0, DOCS);
  if (!ranked.some(([d]) => (judged.get(d) ?? 0) > 0)) continue;
  lines.push(
    JSON.stringify({
      qid: q._id,
      query: q.text,
      documents: ranked.map(([d]) => corpus.get(d)!),
      labels: ranked.map(([d]) => Math.max(0, judged.get(d) ?? 0)),
      teacher_scores: ranked.map(([, s]) => s),
    }),
  );
}
writeFileSync('test/fixtures/train/cranfield-lists.jsonl', lines.join('\n') + '\n');
// The same lists without teacher scores: what most users have.
writeFileSync(
  'test/fixtures/train/cranfield-lists-noteacher.jsonl',
  lines.map((l) => { const { teacher_scores: _, ...rest } = JSON.parse(l); return JSON.stringify(rest); }).join('\n') + '\n',
);
process.stdout.write(`${lines.length} lists of ${DOCS} documents\n`);
