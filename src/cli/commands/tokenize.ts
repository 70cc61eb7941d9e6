/**
 * `gpurank tokenize`: JSONL `{"query","document"}` (or `{"text"}`) on stdin → one
 * `{"input_ids","token_type_ids"}` line per input, in order.
 *
 * Streams: lines are gathered while more are already buffered on stdin, then tokenized in one
 * WASM call, so piped files go through in large batches and interactive input answers at once.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { InputError } from '../../errors.js';
import { TokenizeError, Tokenizer, TRUNCATION_STRATEGIES, batchRow, type EncodeOptions, type TruncationStrategy } from '../../core/tokenizer.js';
import { jsonLineBatches } from '../io.js';

/** Most inputs per WASM call; bounds memory when stdin delivers a lot at once. */
const MAX_BATCH = 1024;

type Item = { line: number; text?: string; query?: string; document?: string };

export function registerTokenize(program: Command): void {
  program
    .command('tokenize')
    .description('tokenize JSONL {"query","document"} pairs (or {"text"}) from stdin into input_ids and token_type_ids')
    .requiredOption('--model <dir>', 'model directory with tokenizer.json, or vocab.txt (+ tokenizer_config.json)')
    .option('--max-length <n>', "most tokens per input (default: the model's model_max_length, else 512)", parsePositive)
    .addOption(
      new Option('--truncation <strategy>', 'how to shorten pairs that are too long')
        .choices(TRUNCATION_STRATEGIES)
        .default('longest_first'),
    )
    .action(async (opts: { model: string; maxLength?: number; truncation: TruncationStrategy }) => {
      const tokenizer = await Tokenizer.fromModelDir(opts.model, { maxLength: opts.maxLength });
      try {
        await tokenizeStream(tokenizer, process.stdin, process.stdout, { truncation: opts.truncation });
      } finally {
        tokenizer.dispose();
      }
    });
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError('expected a positive integer');
  }
  return n;
}

/** Tokenizes every JSONL input of `input` to `output`, in order. */
export async function tokenizeStream(
  tokenizer: Tokenizer,
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
  options: EncodeOptions = {},
): Promise<void> {
  for await (const lines of jsonLineBatches(input, MAX_BATCH)) {
    const items: Item[] = [];
    let bad: unknown;
    for (const { value, line } of lines) {
      try {
        items.push(toItem(value, line));
      } catch (err) {
        bad = err;
        break;
      }
    }
    if (items.length > 0) {
      let text: string;
      try {
        text = encodeItems(tokenizer, items, options);
      } catch (err) {
        // Answer the lines before the refused one, as for a bad JSON line, then fail.
        const before = err instanceof InputError && err.line !== undefined ? items.filter((it) => it.line < err.line!) : [];
        if (before.length > 0) await write(output, encodeItems(tokenizer, before, options));
        throw err;
      }
      await write(output, text);
    }
    if (bad !== undefined) throw bad; // everything before a bad line has been answered
  }
}

function toItem(value: unknown, line: number): Item {
  const where = { file: '<stdin>', line, code: 'INVALID_INPUT' };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InputError('expected an object {"query","document"} or {"text"}', where);
  }
  const v = value as Record<string, unknown>;
  if ('query' in v || 'document' in v) {
    if (typeof v.query !== 'string') throw new InputError('"query" is missing or not a string', where);
    if (typeof v.document !== 'string') throw new InputError('"document" is missing or not a string', where);
    return { line, query: v.query, document: v.document };
  }
  if (typeof v.text === 'string') return { line, text: v.text };
  throw new InputError('expected {"query","document"} or {"text"} with string values', where);
}

/** Encodes a run of items (pairs and single texts may be mixed) into output lines, in order. */
function encodeItems(tokenizer: Tokenizer, items: Item[], options: EncodeOptions): string {
  const pairIdx: number[] = [];
  const textIdx: number[] = [];
  items.forEach((it, i) => (it.text === undefined ? pairIdx : textIdx).push(i));
  const out = new Array<string>(items.length);
  const run = (idx: number[], encode: () => ReturnType<Tokenizer['encode']>) => {
    if (idx.length === 0) return;
    let batch;
    try {
      batch = encode();
    } catch (err) {
      if (err instanceof TokenizeError) {
        throw new InputError(err.reason, {
          file: '<stdin>',
          line: items[idx[err.row]].line,
          code: err.code,
          cause: err,
        });
      }
      throw err;
    }
    for (let k = 0; k < idx.length; k++) {
      const { ids, typeIds } = batchRow(batch, k);
      out[idx[k]] = `{"input_ids":[${ids.join(',')}],"token_type_ids":[${typeIds.join(',')}]}\n`;
    }
  };
  run(pairIdx, () =>
    tokenizer.encodePairs(
      pairIdx.map((i) => items[i].query!),
      pairIdx.map((i) => items[i].document!),
      options,
    ),
  );
  run(textIdx, () => tokenizer.encode(textIdx.map((i) => items[i].text!), options));
  return out.join('');
}

async function write(out: NodeJS.WritableStream, chunk: string): Promise<void> {
  if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
}
