/**
 * `gpurank eval --qrels FILE --run FILE`: trec_eval-compatible evaluation. Prints
 * trec_eval's table (summary; per query too with -q), or one JSON object with --json:
 * `{"per_query": {qid: {measure: value}}, "all": {measure: value}}`.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InputError } from '../../errors.js';
import { loadCore } from '../../core/wasm.js';
import { evaluate, parseQrels, parseRun } from '../../eval/index.js';

interface EvalCliOptions {
  qrels: string;
  run: string;
  metrics?: string[];
  json?: boolean;
  perQuery?: boolean;
  complete?: boolean;
  maxDocs?: number;
  relevanceLevel?: number;
  recipRankCutoff?: number;
}

/**
 * Splits `-m` values on commas, keeping trec_eval's parameter lists together:
 * `ndcg_cut.10,20,map` is `ndcg_cut.10,20` and `map`.
 */
export function splitMeasures(value: string, previous: string[] = []): string[] {
  const out = [...previous];
  let openParams = false;
  for (const part of value.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    if (openParams && /^[\d.]+$/.test(part)) {
      out[out.length - 1] += `,${part}`;
      continue;
    }
    out.push(part);
    openParams = part.includes('.');
  }
  return out;
}

function positiveInt(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
      throw new InputError(`${flag} needs a whole number >= 1, got '${value}'`, { code: 'BAD_FLAG' });
    }
    return Number(value);
  };
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (cause as Error).message;
    throw new InputError(`cannot read ${what} file '${path}': ${why}`, { code: 'UNREADABLE_FILE', cause });
  }
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('evaluate a TREC run against qrels (TREC or BEIR qrels.tsv) with trec_eval semantics')
    .requiredOption('--qrels <file>', 'judgements: TREC qrels (qid iter docno rel) or BEIR qrels.tsv')
    .requiredOption('--run <file>', 'TREC run (qid Q0 docno rank score tag)')
    .option(
      '-m, --metrics <names>',
      'trec_eval measure names, comma separated, repeatable: e.g. ndcg_cut_10,recip_rank,map,P_10,recall_100; ' +
        'families (ndcg_cut), P.5,10 and nicknames official, all_trec, set (default official)',
      splitMeasures,
    )
    .option('--json', 'print one JSON object {per_query, all}')
    .option('-q, --per-query', 'table: also print each query (as trec_eval -q)')
    .option('-c, --complete', 'average over all judged queries; those missing from the run score 0 (trec_eval -c)')
    .option('-M, --max-docs <k>', 'evaluate only the top k documents of each query (trec_eval -M)', positiveInt('-M'))
    .option('-l, --relevance-level <n>', 'smallest grade counted as relevant (trec_eval -l, default 1)', positiveInt('-l'))
    .option('--recip-rank-cutoff <k>', 'cut recip_rank alone at rank k (MRR@k)', positiveInt('--recip-rank-cutoff'))
    .action(async (opts: EvalCliOptions) => {
      const [qrelsText, runText] = await Promise.all([readText(opts.qrels, 'qrels'), readText(opts.run, 'run')]);
      const qrels = parseQrels(qrelsText, opts.qrels);
      const run = parseRun(runText, opts.run);
      await loadCore();
      const result = evaluate(qrels, run, {
        measures: opts.metrics,
        complete: opts.complete,
        maxDocsPerQuery: opts.maxDocs,
        relevanceLevel: opts.relevanceLevel,
        recipRankCutoff: opts.recipRankCutoff,
      });
      process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : result.formatTable({ perQuery: opts.perQuery }));
    });
}
