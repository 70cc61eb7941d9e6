/**
 * `gpurank rerank --query Q`: documents on stdin (JSON strings, or objects with the text in `--field`) →
 * `{"index","score","document"}` lines, best first.
 */
import type { Command } from 'commander';
import { InputError } from '../../errors.js';
import { readJsonLines, writeJsonLine } from '../io.js';
import { documentText } from '../../rerank/reranker.js';
import { addModelOptions, loadReranker, positiveInt, type ModelFlags } from './model-options.js';

export function registerRerank(program: Command): void {
  addModelOptions(program.command('rerank').description('rerank the documents on stdin (JSON strings or objects) for a query, best first'))
    .requiredOption('--query <text>', 'the query')
    .option('--top-k <k>', 'print only the best k', positiveInt)
    .option('--field <path>', 'for object documents, the field holding the text (dotted paths allowed)', 'text')
    .action(async (flags: ModelFlags & { query: string; topK?: number; field: string }) => {
      // Read and check every document before the model loads, so bad input fails fast.
      const documents: unknown[] = [];
      for await (const { value, line } of readJsonLines(process.stdin)) {
        try {
          documentText(value, flags.field, documents.length);
        } catch (err) {
          throw new InputError((err as Error).message, { file: '<stdin>', line, code: 'INVALID_INPUT' });
        }
        documents.push(value);
      }
      if (documents.length === 0) throw new InputError('no documents on stdin', { code: 'EMPTY_DOCUMENTS' });
      const reranker = await loadReranker(flags);
      try {
        const results = await reranker.rerank(flags.query, documents, { topK: flags.topK, textField: flags.field });
        for (const r of results) await writeJsonLine(r);
      } finally {
        await reranker.dispose();
      }
    });
}
