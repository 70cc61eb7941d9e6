/** JSON Lines on stdin/stdout, the CLI's data contract. */
import { createInterface } from 'node:readline';
import { InputError } from '../errors.js';

/**
 * Yields each non-blank line of `source` parsed as JSON, with its 1-based line number.
 * A line that is not JSON is an `InputError` naming the line.
 */
export async function* readJsonLines(
  source: NodeJS.ReadableStream,
  name = '<stdin>',
): AsyncGenerator<{ value: unknown; line: number }> {
  const rl = createInterface({ input: source, crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) {
    line++;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (cause) {
      throw new InputError(`line is not valid JSON: ${(cause as Error).message}`, { file: name, line, cause });
    }
    yield { value, line };
  }
}


/** Writes one JSON object per line, respecting back-pressure. */
export async function writeJsonLine(value: unknown, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  if (!out.write(JSON.stringify(value) + '\n')) {
    await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
}

const STALLED = Symbol('stalled');

/**
 * Groups JSON lines into batches: a batch ends when `maxBatch` lines are in it or when no further line is
 * buffered yet, so piped files go through in large batches while interactive input is answered at once.
 * Lines before a malformed one are yielded before its error is thrown.
 */
export async function* jsonLineBatches(
  source: NodeJS.ReadableStream,
  maxBatch: number,
  name = '<stdin>',
): AsyncGenerator<{ value: unknown; line: number }[]> {
  const lines = readJsonLines(source, name)[Symbol.asyncIterator]();
  let pending: { value: unknown; line: number }[] = [];
  let next = lines.next();
  for (;;) {
    let r: Awaited<typeof next> | typeof STALLED;
    try {
      r = pending.length === 0
        ? await next
        : await Promise.race([next, new Promise<typeof STALLED>((res) => setImmediate(() => res(STALLED)))]);
    } catch (err) {
      if (pending.length > 0) yield pending;
      throw err;
    }
    if (r === STALLED || pending.length >= maxBatch) {
      yield pending;
      pending = [];
      if (r === STALLED) continue;
    }
    if (r.done) break;
    pending.push(r.value);
    next = lines.next();
  }
  if (pending.length > 0) yield pending;
}
