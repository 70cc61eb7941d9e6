/**
 * trec_eval-compatible evaluation of a run against judgements. The measures are
 * computed by the Rust core (crates/gpurank-core/src/metrics.rs); call
 * `await loadCore()` first. Measure names are trec_eval's: `map`, `ndcg_cut_10`,
 * `P_5`, `recall_100`, `recip_rank`, families such as `ndcg_cut` (its default cutoffs),
 * trec_eval's `P.5,10` form, and the nicknames `official`, `all_trec` and `set`.
 */
import { InputError } from '../errors.js';
import { core, coreCall } from '../core/wasm.js';
import type { Qrels, Run } from './parse.js';

export interface EvaluateOptions {
  /** Measures to compute; default trec_eval's `official` set. */
  measures?: readonly string[];
  /** trec_eval -c: average over every judged query; ones missing from the run score 0. */
  complete?: boolean;
  /** trec_eval -l: the smallest grade that counts as relevant (default 1). */
  relevanceLevel?: number;
  /** trec_eval -M: evaluate only each query's top N documents. */
  maxDocsPerQuery?: number;
  /** Cut `recip_rank` alone at this rank (MRR@k); other measures see the whole ranking. */
  recipRankCutoff?: number;
}

export type MeasureValue = number | string;

type Entry = [name: string, value: MeasureValue, text: string];

export class Evaluation {
  /** qid → measure → value, for the evaluated queries in trec_eval's order. */
  readonly perQuery: Map<string, Map<string, MeasureValue>>;
  /** measure → value over all evaluated queries (means; counts are totals). */
  readonly all: Map<string, MeasureValue>;
  readonly #rows: { perQuery: [string, Entry[]][]; all: Entry[] };

  constructor(rows: { perQuery: [string, Entry[]][]; all: Entry[] }) {
    this.#rows = rows;
    this.perQuery = new Map(rows.perQuery.map(([qid, entries]) => [qid, new Map(entries.map(([n, v]) => [n, v]))]));
    this.all = new Map(rows.all.map(([n, v]) => [n, v]));
  }

  /** trec_eval's table: `measure<TAB>qid|all<TAB>value`, numbers as trec_eval prints them. */
  formatTable(options: { perQuery?: boolean } = {}): string {
    const line = (qid: string, [name, , text]: Entry) => `${name.padEnd(22)}\t${qid}\t${text}\n`;
    let out = '';
    if (options.perQuery) {
      for (const [qid, entries] of this.#rows.perQuery) for (const e of entries) out += line(qid, e);
    }
    for (const e of this.#rows.all) out += line('all', e);
    return out;
  }

  toJSON(): { per_query: Record<string, Record<string, MeasureValue>>; all: Record<string, MeasureValue> } {
    const perQuery: Record<string, Record<string, MeasureValue>> = {};
    for (const [qid, values] of this.perQuery) perQuery[qid] = Object.fromEntries(values);
    return { per_query: perQuery, all: Object.fromEntries(this.all) };
  }
}

/** The printed names a measure selection expands to; throws on an unknown name. */
export function measureNames(measures: readonly string[]): string[] {
  return coreCall('BAD_EVAL_INPUT', () => core().measureNames([...measures]));
}

export function evaluate(qrels: Qrels, run: Run, options: EvaluateOptions = {}): Evaluation {
  const qrelRows: [string, string, number][] = [];
  for (const [qid, docs] of qrels) for (const [docno, rel] of docs) qrelRows.push([qid, docno, rel]);
  const runRows: [string, string][] = [];
  const scores: number[] = [];
  for (const [qid, docs] of run.results) {
    for (const [docno, score] of docs) {
      runRows.push([qid, docno]);
      scores.push(score);
    }
  }
  for (const [key, v] of [
    ['relevanceLevel', options.relevanceLevel],
    ['maxDocsPerQuery', options.maxDocsPerQuery],
    ['recipRankCutoff', options.recipRankCutoff],
  ] as const) {
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1)) {
      throw new InputError(`${key} must be a whole number >= 1, got ${v}`, { code: 'BAD_EVAL_OPTION' });
    }
  }
  const opts = {
    measures: [...(options.measures ?? ['official'])],
    complete: options.complete ?? false,
    relevanceLevel: options.relevanceLevel,
    maxDocsPerQuery: options.maxDocsPerQuery,
    recipRankCutoff: options.recipRankCutoff,
    runId: run.runId,
  };
  const json = coreCall('BAD_EVAL_INPUT', () =>
    core().evaluateRun(JSON.stringify(qrelRows), JSON.stringify(runRows), Float64Array.from(scores), JSON.stringify(opts)),
  );
  return new Evaluation(JSON.parse(json) as { perQuery: [string, Entry[]][]; all: Entry[] });
}

