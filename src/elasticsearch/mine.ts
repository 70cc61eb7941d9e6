/**
 * Hard-negative mining: for judged queries, the engine's own (BM25) top-k as a TREC run and as listwise
 * training examples `{"query","documents","labels"}`, labels from the qrels (0 for unjudged documents, which
 * are the hard negatives). Works with any client `withReranking` accepts; pass the unwrapped client.
 */
import { rename, writeFile } from 'node:fs/promises';
import { InputError } from '../errors.js';
import type { Qrels } from '../eval/parse.js';
import { hitText, type FieldSpec } from './wrapper.js';

export interface MineOptions {
  index: string;
  queries: ReadonlyArray<{ id: string; text: string }>;
  /** Judgements: `parseQrels` output, or `{ qid: { docid: grade } }`. Queries without any are skipped. */
  qrels: Qrels | Record<string, Record<string, number>>;
  /** The field searched (`match`) and the text put in the training examples. */
  field: FieldSpec;
  /** Candidates per query (default 100). */
  k?: number;
  /** The run's tag column (default `bm25`). */
  tag?: string;
  /** Also write the run and the JSONL here (each atomically: a temp file, then rename). */
  out?: { run?: string; jsonl?: string };
}

export interface TrainingExample {
  query: string;
  documents: string[];
  labels: number[];
}

export interface MineResult {
  /** TREC run text: `qid Q0 docid rank score tag` lines. */
  run: string;
  examples: TrainingExample[];
  /** Queries without judgements, not searched. */
  skipped: string[];
}

export async function mineCandidates(client: { search: (...args: any[]) => any }, options: MineOptions): Promise<MineResult> {
  const k = options.k ?? 100;
  if (!Number.isInteger(k) || k <= 0) throw new InputError(`mineCandidates: k must be a positive integer, got ${k}`, { code: 'BAD_OPTION' });
  if (typeof options.index !== 'string' || options.index === '') throw new InputError('mineCandidates: index is required', { code: 'BAD_OPTION' });
  if (!Array.isArray(options.queries)) throw new InputError('mineCandidates: queries must be an array', { code: 'BAD_OPTION' });
  const searchField = typeof options.field === 'string' ? options.field : 'source' in options.field ? options.field.source : undefined;
  if (searchField === undefined) throw new InputError('mineCandidates: field must be a _source path (string or {source})', { code: 'BAD_OPTION' });
  const judged = (qid: string): Map<string, number> | undefined => {
    const q = options.qrels instanceof Map ? options.qrels.get(qid) : options.qrels[qid] && new Map(Object.entries(options.qrels[qid]));
    return q && q.size > 0 ? q : undefined;
  };
  const tag = options.tag ?? 'bm25';
  const lines: string[] = [];
  const examples: TrainingExample[] = [];
  const skipped: string[] = [];
  for (const [n, q] of options.queries.entries()) {
    if (typeof q?.id !== 'string' || typeof q.text !== 'string' || q.text.trim() === '') {
      throw new InputError(`mineCandidates: query ${n} needs a string id and a non-empty text`, { code: 'BAD_QUERY' });
    }
    const rels = judged(q.id);
    if (!rels) {
      skipped.push(q.id);
      continue;
    }
    // The body shape is understood by every client version (v9 still merges `body`).
    const result = await client.search({ index: options.index, body: { query: { match: { [searchField]: q.text } }, size: k } });
    const response = result && result.hits === undefined && result.body ? result.body : result;
    const hits: Record<string, unknown>[] = response?.hits?.hits ?? [];
    const documents: string[] = [];
    const labels: number[] = [];
    hits.forEach((hit, rank) => {
      const id = String(hit._id);
      lines.push(`${q.id} Q0 ${id} ${rank + 1} ${typeof hit._score === 'number' ? hit._score : 0} ${tag}`);
      const text = hitText(hit, options.field);
      // A candidate without text cannot be a training document; it stays in the run.
      if (text === undefined) return;
      documents.push(text);
      labels.push(rels.get(id) ?? 0);
    });
    if (documents.length > 0) examples.push({ query: q.text, documents, labels });
  }
  const run = lines.map((l) => l + '\n').join('');
  if (options.out?.run) await writeAtomic(options.out.run, run);
  if (options.out?.jsonl) await writeAtomic(options.out.jsonl, examples.map((e) => JSON.stringify(e) + '\n').join(''));
  return { run, examples, skipped };
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}
