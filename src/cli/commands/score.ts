/**
 * `gpurank score`: JSONL `{"query","document"}` on stdin → one `{"logit","score"}` line per pair, in order
 * (`score` = sigmoid(logit)); for a bi-encoder, `{"score"}` = cosine similarity.
 */
import type { Command } from 'commander';
import { InputError } from '../../errors.js';
import { jsonLineBatches, writeJsonLine } from '../io.js';
import { addModelOptions, loadReranker, positiveInt, type ModelFlags } from './model-options.js';

export function registerScore(program: Command): void {
  addModelOptions(program.command('score').description('score JSONL {"query","document"} pairs from stdin with a cross-encoder'))
    .option('--batch-size <n>', 'most pairs scored per call (GPU batches are further bounded by --batch-tokens)', positiveInt, 256)
    .action(async (flags: ModelFlags & { batchSize: number }) => {
      const reranker = await loadReranker(flags);
      try {
        for await (const batch of jsonLineBatches(process.stdin, flags.batchSize)) {
          const pairs: { query: string; document: string }[] = [];
          let bad: InputError | undefined;
          for (const { value, line } of batch) {
            try {
              pairs.push(toPair(value, line));
            } catch (err) {
              bad = err as InputError;
              break;
            }
          }
          // Pairs before a malformed line are still answered.
          if (pairs.length > 0) {
            const scores = await reranker.scorePairs(pairs.map((p) => p.query), pairs.map((p) => p.document));
            for (const s of scores) {
              await writeJsonLine(reranker.kind === 'cross-encoder' ? { logit: s, score: 1 / (1 + Math.exp(-s)) } : { score: s });
            }
          }
          if (bad) throw bad;
        }
      } finally {
        await reranker.dispose();
      }
    });
}

function toPair(value: unknown, line: number): { query: string; document: string } {
  const where = { file: '<stdin>', line, code: 'INVALID_INPUT' };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InputError('expected an object {"query","document"}', where);
  const { query, document } = value as Record<string, unknown>;
  if (typeof query !== 'string') throw new InputError('"query" is missing or not a string', where);
  if (typeof document !== 'string') throw new InputError('"document" is missing or not a string', where);
  return { query, document };
}
