/**
 * Readers for relevance judgements and runs (text in, validated maps out). Formats:
 * - TREC qrels: `qid iter docno rel`, whitespace separated, rel an integer.
 * - BEIR qrels.tsv: a header `query-id<TAB>corpus-id<TAB>score`, then one judgement per
 *   line (auto-detected from the header).
 * - TREC run: `qid Q0 docno rank score tag`; words after the tag are ignored and the
 *   rank column is ignored (ranking is by score), both as in trec_eval.
 * Blank lines and lines starting with `#` are skipped. Every malformed line is an
 * `InputError` naming the file and line.
 */
import { InputError } from '../errors.js';

/** Judgements: qid → docno → grade (negative: pooled but unjudged, as in trec_eval). */
export type Qrels = Map<string, Map<string, number>>;

export interface Run {
  /** qid → docno → score, in file order. */
  readonly results: Map<string, Map<string, number>>;
  /** The tag of the run's last line, which trec_eval reports as `runid`. */
  readonly runId: string;
}

// Whole numbers, also written as decimals ("1.0"), since some BEIR exports write grades so.
const INTEGER = /^[+-]?\d+(\.0*)?$/;
// A decimal number as C's atof reads one; trailing junk, "nan" and "inf" are rejected.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BEIR_HEADER = ['query-id', 'corpus-id', 'score'];

function* contentLines(text: string): Generator<{ fields: string[]; raw: string; line: number }> {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].replace(/\r$/, '');
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    yield { fields: trimmed.split(/\s+/), raw, line: i + 1 };
  }
}

/** Parses TREC or BEIR qrels; `name` (usually the path) labels errors. */
export function parseQrels(text: string, name = '<qrels>'): Qrels {
  const qrels: Qrels = new Map();
  let beir = false;
  let first = true;
  for (const { fields, raw, line } of contentLines(text)) {
    if (first) {
      first = false;
      const header = raw.split('\t').map((f) => f.trim().toLowerCase());
      if (header.length === 3 && header.every((f, i) => f === BEIR_HEADER[i])) {
        beir = true;
        continue;
      }
    }
    let qid: string, docno: string, grade: string;
    if (beir) {
      const cols = raw.split('\t').map((f) => f.trim());
      if (cols.length !== 3 || cols.some((c) => c === '')) {
        throw new InputError(`expected 3 tab-separated columns (query-id, corpus-id, score), found ${cols.length}`, { file: name, line });
      }
      [qid, docno, grade] = cols;
    } else {
      if (fields.length !== 4) {
        throw new InputError(`expected 4 columns (qid iter docno rel), found ${fields.length}`, { file: name, line });
      }
      [qid, , docno, grade] = fields;
    }
    if (!INTEGER.test(grade)) throw new InputError(`relevance '${grade}' is not an integer`, { file: name, line });
    const rel = Number(grade) + 0; // + 0 turns a "-0" grade into 0
    if (!Number.isSafeInteger(rel)) throw new InputError(`relevance '${grade}' is out of range`, { file: name, line });
    let docs = qrels.get(qid);
    if (!docs) qrels.set(qid, (docs = new Map()));
    if (docs.has(docno)) throw new InputError(`document '${docno}' is judged twice for query '${qid}'`, { file: name, line });
    docs.set(docno, rel);
  }
  if (qrels.size === 0) throw new InputError('no judgements found', { file: name });
  return qrels;
}

/** A run from ranked lists of doc ids (best first), scored by list position (trec_eval re-sorts by score). */
export function runFromLists(lists: ReadonlyMap<string, readonly string[]>, runId: string): Run {
  const results = new Map<string, Map<string, number>>();
  for (const [q, list] of lists) results.set(q, new Map(list.map((d, i) => [d, list.length - i])));
  return { results, runId };
}

/** Parses a TREC run; `name` (usually the path) labels errors. */
export function parseRun(text: string, name = '<run>'): Run {
  const results = new Map<string, Map<string, number>>();
  let runId = '';
  for (const { fields, line } of contentLines(text)) {
    if (fields.length < 6) {
      throw new InputError(`expected 6 columns (qid Q0 docno rank score tag), found ${fields.length}`, { file: name, line });
    }
    const [qid, , docno, , scoreText, tag] = fields;
    if (!DECIMAL.test(scoreText)) throw new InputError(`score '${scoreText}' is not a number`, { file: name, line });
    const score = Number(scoreText);
    if (!Number.isFinite(score)) throw new InputError(`score '${scoreText}' is out of range`, { file: name, line });
    let docs = results.get(qid);
    if (!docs) results.set(qid, (docs = new Map()));
    // trec_eval refuses a run that retrieves the same document twice for a query.
    if (docs.has(docno)) throw new InputError(`document '${docno}' appears twice for query '${qid}'`, { file: name, line });
    docs.set(docno, score);
    runId = tag;
  }
  if (results.size === 0) throw new InputError('the run is empty', { file: name });
  return { results, runId };
}
