/**
 * Training data for `gpurank train`: listwise examples (one query, its candidate documents, a label each,
 * optionally teacher scores), read from either
 * - a listwise JSONL file, one example a line:
 *   `{"query": str, "documents": [str…], "labels": [num…], "teacher_scores"?: [num…], "qid"?: str|num}`;
 * - or a BEIR folder (`corpus.jsonl`, `queries.jsonl`, `qrels.tsv` or `qrels/<split>.tsv`) plus a TREC run
 *   of first-stage candidates, whose unjudged documents become the hard negatives.
 * Every malformed line is an `InputError` naming the file and its 1-based line. JSONL is read line by line,
 * so a large file never has to fit in one string; the qrels and the run are parsed by `src/eval/parse.ts`.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { InputError } from '../errors.js';
import { parseQrels, parseRun, type Qrels } from '../eval/parse.js';

export interface ListExample {
  qid?: string;
  query: string;
  documents: string[];
  labels: number[];
  teacherScores?: number[];
}

export interface LoadTrainingDataOptions {
  /** BEIR folder only: the TREC run of first-stage candidates. Default: the folder's single `*.run` or
   *  `*.trec` file. */
  run?: string;
  /** BEIR folder only: the qrels split (`qrels/<split>.tsv`). Default: `qrels.tsv`, else `qrels/train.tsv`,
   *  else the folder's only `qrels/*.tsv`. */
  split?: string;
  /** BEIR folder only: append judged-relevant documents that the run missed to their query's list, after the
   *  run's candidates (in qrels order). Default true: a list then always holds its positives. */
  addMissingPositives?: boolean;
  /** Keep only the queries whose id passes (e.g. a train/held-out split by id). A JSONL file then needs a
   *  `qid` on every line. */
  queryFilter?: (qid: string) => boolean;
}

/**
 * Loads listwise training examples from a JSONL file or a BEIR folder (see the module comment).
 *
 * For a BEIR folder, each judged query (in `queries.jsonl` order) that the run retrieved becomes one example:
 * the run's candidates in rank order (by score, descending; ties keep file order, as the demo ranks them),
 * labelled with their qrels grade, 0 for unjudged documents (hard negatives) and for grades ≤ 0 (trec_eval's
 * "judged non-relevant"); then, with `addMissingPositives` (default true), the judged-relevant documents the
 * run missed. Judged queries absent from the run are skipped: they have no first-stage candidates.
 * A document's text is `title + " " + text`, or just `text` when it already starts with its title (as
 * Cranfield's does) — the rule `scripts/make_bm25_runs.py` used to index the collections.
 * Only the documents the selected lists use are kept from `corpus.jsonl` while it streams by.
 */
export async function loadTrainingData(path: string, options: LoadTrainingDataOptions = {}): Promise<ListExample[]> {
  let info;
  try {
    info = await stat(path);
  } catch (cause) {
    throw unreadable(path, 'training data', cause);
  }
  const examples = info.isDirectory() ? await loadBeir(path, options) : await loadJsonl(path, options);
  if (examples.length === 0) {
    const why = options.queryFilter ? 'no training examples pass the query filter' : 'no training examples';
    throw new InputError(why, { file: path, code: 'NO_TRAINING_DATA' });
  }
  return examples;
}

// ---------------------------------------------------------------------------------------------------------
// JSONL

async function loadJsonl(path: string, options: LoadTrainingDataOptions): Promise<ListExample[]> {
  for (const key of ['run', 'split'] as const) {
    if (options[key] !== undefined) throw new InputError(`option '${key}' only applies to a BEIR folder`, { file: path, code: 'BAD_OPTION' });
  }
  const examples: ListExample[] = [];
  for await (const { value, line } of jsonLines(path)) {
    const example = parseExample(value, path, line);
    if (options.queryFilter) {
      if (example.qid === undefined) {
        throw new InputError('a query filter needs a "qid" on every line', { file: path, line, code: 'BAD_EXAMPLE' });
      }
      if (!options.queryFilter(example.qid)) continue;
    }
    examples.push(example);
  }
  return examples;
}

function parseExample(value: unknown, file: string, line: number): ListExample {
  const fail = (msg: string) => new InputError(msg, { file, line, code: 'BAD_EXAMPLE' });
  if (!isObject(value)) throw fail('expected a JSON object {"query", "documents", "labels"}');
  const { query, documents, labels } = value;
  if (typeof query !== 'string') throw fail(`"query" must be a string, got ${typeName(query)}`);
  if (query.trim() === '') throw fail('"query" is empty');
  if (!Array.isArray(documents)) throw fail(`"documents" must be an array of strings, got ${typeName(documents)}`);
  if (documents.length === 0) throw fail('"documents" is empty');
  const bad = documents.findIndex((d) => typeof d !== 'string');
  if (bad >= 0) throw fail(`"documents"[${bad}] must be a string, got ${typeName(documents[bad])}`);
  const example: ListExample = { query, documents: documents as string[], labels: numbers(labels, '"labels"', documents.length, fail) };
  if (value.teacher_scores !== undefined) {
    example.teacherScores = numbers(value.teacher_scores, '"teacher_scores"', documents.length, fail);
  }
  if (value.qid !== undefined) {
    if (typeof value.qid === 'string') example.qid = value.qid;
    else if (typeof value.qid === 'number' && Number.isFinite(value.qid)) example.qid = String(value.qid);
    else throw fail(`"qid" must be a string or a number, got ${typeName(value.qid)}`);
  }
  return example;
}

function numbers(value: unknown, name: string, length: number, fail: (msg: string) => InputError): number[] {
  if (!Array.isArray(value)) throw fail(`${name} must be an array of numbers, got ${typeName(value)}`);
  if (value.length !== length) throw fail(`${name} has ${value.length} entries but "documents" has ${length}`);
  value.forEach((v, i) => {
    if (typeof v !== 'number') throw fail(`${name}[${i}] must be a number, got ${typeName(v)}`);
    // JSON.parse cannot produce NaN/Infinity, but 1e999 parses to Infinity.
    if (!Number.isFinite(v)) throw fail(`${name}[${i}] is not finite`);
  });
  return value as number[];
}

// ---------------------------------------------------------------------------------------------------------
// BEIR folder + TREC run

async function loadBeir(dir: string, options: LoadTrainingDataOptions): Promise<ListExample[]> {
  const addMissing = options.addMissingPositives ?? true;
  const qrelsPath = await findQrels(dir, options.split);
  const runPath = options.run ?? (await findRun(dir));
  const [qrels, ranked] = await Promise.all([
    readText(qrelsPath, 'qrels').then((t) => parseQrels(t, qrelsPath)),
    readText(runPath, 'run').then((t) => rankedLists(t, runPath)),
  ]);

  const queriesPath = join(dir, 'queries.jsonl');
  const queries: { qid: string; text: string }[] = [];
  const seenQueries = new Set<string>();
  for await (const { value, line } of jsonLines(queriesPath)) {
    const { id, text } = beirRecord(value, queriesPath, line, false);
    if (seenQueries.has(id)) throw new InputError(`query '${id}' appears twice`, { file: queriesPath, line, code: 'BAD_EXAMPLE' });
    seenQueries.add(id);
    if (qrels.has(id) && ranked.has(id) && (!options.queryFilter || options.queryFilter(id))) queries.push({ qid: id, text });
  }
  for (const qid of qrels.keys()) {
    if (!seenQueries.has(qid)) throw new InputError(`query '${qid}' is judged but not in ${queriesPath}`, { file: qrelsPath, code: 'BAD_EXAMPLE' });
  }

  // Each selected list's document ids; the corpus pass then keeps only those texts.
  const lists = queries.map(({ qid, text }) => {
    const judged = qrels.get(qid)!;
    const ids = [...ranked.get(qid)!];
    if (addMissing) {
      const inRun = new Set(ids);
      for (const [doc, grade] of judged) if (grade > 0 && !inRun.has(doc)) ids.push(doc);
    }
    return { qid, query: text, ids, labels: ids.map((d) => Math.max(0, judged.get(d) ?? 0)) };
  });
  const needed = new Set(lists.flatMap((l) => l.ids));
  const texts = await corpusTexts(join(dir, 'corpus.jsonl'), needed);
  for (const l of lists) {
    for (const id of l.ids) {
      if (!texts.has(id)) {
        const source = ranked.get(l.qid)!.includes(id) ? runPath : qrelsPath;
        throw new InputError(`document '${id}' (query '${l.qid}') is not in ${join(dir, 'corpus.jsonl')}`, { file: source, code: 'BAD_EXAMPLE' });
      }
    }
  }
  return lists.map((l) => ({ qid: l.qid, query: l.query, documents: l.ids.map((id) => texts.get(id)!), labels: l.labels }));
}

/** qid → doc ids best first: by score descending, ties in file order (a stable sort). */
function rankedLists(text: string, name: string): Map<string, string[]> {
  const run = parseRun(text, name);
  const lists = new Map<string, string[]>();
  for (const [qid, docs] of run.results) lists.set(qid, [...docs.entries()].sort((a, b) => b[1] - a[1]).map(([d]) => d));
  return lists;
}

async function corpusTexts(path: string, needed: ReadonlySet<string>): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  const seen = new Set<string>();
  for await (const { value, line } of jsonLines(path)) {
    const { id, text, title } = beirRecord(value, path, line, true);
    if (seen.has(id)) throw new InputError(`document '${id}' appears twice`, { file: path, line, code: 'BAD_EXAMPLE' });
    seen.add(id);
    if (needed.has(id)) texts.set(id, title && !text.startsWith(title) ? `${title} ${text}` : text);
  }
  return texts;
}

function beirRecord(value: unknown, file: string, line: number, corpus: boolean): { id: string; text: string; title?: string } {
  const fail = (msg: string) => new InputError(msg, { file, line, code: 'BAD_EXAMPLE' });
  if (!isObject(value)) throw fail('expected a JSON object {"_id", "text"}');
  const { _id: id, text, title } = value;
  if (typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) throw fail(`"_id" must be a string, got ${typeName(id)}`);
  if (typeof text !== 'string') throw fail(`"text" must be a string, got ${typeName(text)}`);
  if (!corpus) return { id: String(id), text };
  if (title !== undefined && title !== null && typeof title !== 'string') throw fail(`"title" must be a string, got ${typeName(title)}`);
  return { id: String(id), text, title: title ?? undefined };
}

async function findQrels(dir: string, split: string | undefined): Promise<string> {
  const sub = join(dir, 'qrels');
  const splits = (await listDir(sub)).filter((f) => f.endsWith('.tsv')).map((f) => f.slice(0, -'.tsv'.length));
  const available = () => (splits.length ? `available splits: ${splits.join(', ')}` : 'there is no qrels/ folder');
  if (split !== undefined) {
    if (!splits.includes(split)) throw new InputError(`no qrels for split '${split}' (${available()})`, { file: dir, code: 'NO_QRELS' });
    return join(sub, `${split}.tsv`);
  }
  if ((await listDir(dir)).includes('qrels.tsv')) return join(dir, 'qrels.tsv');
  if (splits.includes('train')) return join(sub, 'train.tsv');
  if (splits.length === 1) return join(sub, `${splits[0]}.tsv`);
  const why = splits.length ? `several qrels splits (${splits.join(', ')}) and none is 'train': choose one` : 'no qrels.tsv or qrels/<split>.tsv';
  throw new InputError(why, { file: dir, code: 'NO_QRELS' });
}

async function findRun(dir: string): Promise<string> {
  const runs = (await listDir(dir)).filter((f) => f.endsWith('.run') || f.endsWith('.trec')).sort();
  if (runs.length === 1) return join(dir, runs[0]);
  const why = runs.length === 0
    ? 'no first-stage run (*.run or *.trec) in the folder: pass one with --run'
    : `several runs (${runs.join(', ')}) in the folder: choose one with --run`;
  throw new InputError(why, { file: dir, code: 'NO_RUN' });
}

// ---------------------------------------------------------------------------------------------------------
// Files

/** Parsed JSON values of a JSONL file's non-blank lines, with 1-based line numbers, streamed. */
async function* jsonLines(path: string): AsyncGenerator<{ value: unknown; line: number }> {
  const input = createReadStream(path, { encoding: 'utf8' });
  // An open error (missing file, a directory) surfaces on the first read of the interface.
  const lines = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const raw of lines) {
      line++;
      const text = line === 1 ? raw.replace(/^\uFEFF/, '') : raw;
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (cause) {
        throw new InputError(`malformed JSON: ${(cause as Error).message}`, { file: path, line, code: 'BAD_EXAMPLE', cause });
      }
      yield { value, line };
    }
  } catch (cause) {
    if (cause instanceof InputError) throw cause;
    throw unreadable(path, basename(path), cause);
  } finally {
    lines.close();
    input.destroy();
  }
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw unreadable(path, what, cause);
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT' || (cause as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw unreadable(dir, 'folder', cause);
  }
}

function unreadable(path: string, what: string, cause: unknown): InputError {
  const code = (cause as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (cause as Error).message;
  return new InputError(`cannot read ${what}: ${why}`, { file: path, code: 'UNREADABLE_FILE', cause });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}
