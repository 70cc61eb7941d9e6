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
