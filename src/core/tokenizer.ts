/**
 * Tokenization of texts and (query, passage) pairs, done by the Rust core (HF `tokenizers` in WASM).
 * The result of a batch is flat typed arrays: row `i` is `ids.subarray(offsets[i], offsets[i + 1])`.
 *
 * A batch crosses into WASM as one concatenated string plus the UTF-16 length of each text, and
 * comes back as one Uint32Array: per-string marshalling would cost more than tokenizing queries.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError, ModelLoadError } from '../errors.js';
import { loadCore } from './wasm.js';

export type TruncationStrategy = 'longest_first' | 'only_first' | 'only_second';
export const TRUNCATION_STRATEGIES: readonly TruncationStrategy[] = ['longest_first', 'only_first', 'only_second'];

/** Used when neither the caller nor tokenizer_config.json gives a sane `model_max_length`. */
export const DEFAULT_MAX_LENGTH = 512;
/** transformers writes 1e30 for "no limit"; anything this large is treated as unset. */
const ABSURD_MAX_LENGTH = 1_000_000;

export interface EncodeOptions {
  /** Most tokens per row, special tokens included. Defaults to the tokenizer's `maxLength`. */
  maxLength?: number;
  /** How to shorten a pair that is too long (as transformers' `truncation=`). Default `longest_first`. */
  truncation?: TruncationStrategy;
}

export interface EncodedBatch {
  /** Number of rows. */
  readonly size: number;
  /** Token ids of all rows, back to back. */
  readonly ids: Uint32Array;
  /** Segment (token type) ids, aligned with `ids`: 0 for the first text, 1 for the second. */
  readonly typeIds: Uint32Array;
  /** `size + 1` offsets into `ids`/`typeIds`. */
  readonly offsets: Uint32Array;
  /** Tokens per row. */
  readonly lengths: Uint32Array;
}

/** One row of a batch, as views into the batch's arrays (no copy). */
export function batchRow(batch: EncodedBatch, i: number): { ids: Uint32Array; typeIds: Uint32Array } {
  if (!Number.isInteger(i) || i < 0 || i >= batch.size) {
    throw new RangeError(`row ${i} is out of range for a batch of ${batch.size}`);
  }
  const a = batch.offsets[i];
  const b = batch.offsets[i + 1];
  return { ids: batch.ids.subarray(a, b), typeIds: batch.typeIds.subarray(a, b) };
}

/** An input the tokenizer refused, e.g. a truncation that cannot reach `maxLength`. `row` is its index. */
export class TokenizeError extends InputError {
  readonly row: number;
  /** The message without the row. */
  readonly reason: string;

  constructor(reason: string, row: number, cause?: unknown) {
    super(`input ${row}: ${reason}`, { code: 'TOKENIZE_ERROR', cause });
    this.row = row;
    this.reason = reason;
  }
}

/** What the WASM tokenizer object looks like from here (wasm-bindgen's `WasmTokenizer`). */
interface WasmTokenizerHandle {
  encodeBatch(text: string, lens: Uint32Array, pairs: boolean, maxLength: number, truncation: string): Uint32Array;
  free(): void;
}

// Node 20 has these (ES2024); the project's `lib` is ES2023.
type WellFormed = { isWellFormed(): boolean; toWellFormed(): string };

export class Tokenizer {
  /** Default `maxLength` for calls that give none. */
  readonly maxLength: number;
  #inner: WasmTokenizerHandle | undefined;

  private constructor(inner: WasmTokenizerHandle, maxLength: number) {
    this.#inner = inner;
    this.maxLength = maxLength;
  }

  /**
   * Loads the tokenizer of a Hugging Face model directory: `tokenizer.json` if present, else a
   * BERT `vocab.txt` (+ `tokenizer_config.json`). `maxLength` defaults to the config's
   * `model_max_length`, or 512.
   */
  static async fromModelDir(dir: string, options: { maxLength?: number } = {}): Promise<Tokenizer> {
    const configText = await readOptional(dir, 'tokenizer_config.json');
    const config = configText === undefined ? {} : parseConfig(dir, configText);
    const maxLength = options.maxLength ?? configMaxLength(config);
    const json = await readOptional(dir, 'tokenizer.json');
    if (json !== undefined) {
      return Tokenizer.fromJson(json, { maxLength, source: join(dir, 'tokenizer.json') });
    }
    const vocab = await readOptional(dir, 'vocab.txt');
    if (vocab !== undefined) {
      return Tokenizer.fromVocab(vocab, configText, { maxLength, source: join(dir, 'vocab.txt') });
    }
    const exists = await stat(dir).then(
      (st) => st.isDirectory(),
      () => false,
    );
    if (!exists) {
      throw new ModelLoadError(`model directory ${dir} does not exist (looked for tokenizer.json and vocab.txt)`, {
        code: 'TOKENIZER_NOT_FOUND',
      });
    }
    throw new ModelLoadError(
      `no tokenizer in ${dir}: looked for tokenizer.json, and vocab.txt (with tokenizer_config.json)`,
      { code: 'TOKENIZER_NOT_FOUND' },
    );
  }

  /** From the text of a `tokenizer.json`. */
  static async fromJson(json: string, options: { maxLength?: number; source?: string } = {}): Promise<Tokenizer> {
    const maxLength = checkMaxLength(options.maxLength ?? DEFAULT_MAX_LENGTH);
    const core = await loadCore();
    try {
      return new Tokenizer(core.WasmTokenizer.fromJson(json) as WasmTokenizerHandle, maxLength);
    } catch (cause) {
      throw new ModelLoadError(`cannot load ${options.source ?? 'tokenizer.json'}: ${messageOf(cause)}`, { cause });
    }
  }

  /** From a BERT WordPiece `vocab.txt` and, optionally, the text of its `tokenizer_config.json`. */
  static async fromVocab(
    vocab: string,
    configJson?: string,
    options: { maxLength?: number; source?: string } = {},
  ): Promise<Tokenizer> {
    const maxLength = checkMaxLength(options.maxLength ?? DEFAULT_MAX_LENGTH);
    const core = await loadCore();
    try {
      return new Tokenizer(core.WasmTokenizer.fromVocab(vocab, configJson) as WasmTokenizerHandle, maxLength);
    } catch (cause) {
      throw new ModelLoadError(`cannot load ${options.source ?? 'vocab.txt'}: ${messageOf(cause)}`, { cause });
    }
  }

  /** Tokenizes single texts: `[CLS] text [SEP]`. */
  encode(texts: readonly string[], options: EncodeOptions = {}): EncodedBatch {
    const lens = new Uint32Array(texts.length);
    const parts = new Array<string>(texts.length);
    for (let i = 0; i < texts.length; i++) {
      parts[i] = wellFormed(texts[i], i, 'text');
      lens[i] = parts[i].length;
    }
    return this.#run(parts, lens, false, options);
  }

  /** Tokenizes (query, document) pairs: `[CLS] query [SEP] document [SEP]`, type ids 0…0 1…1. */
  encodePairs(queries: readonly string[], documents: readonly string[], options: EncodeOptions = {}): EncodedBatch {
    if (queries.length !== documents.length) {
      throw new InputError(`got ${queries.length} queries but ${documents.length} documents`, { code: 'INVALID_INPUT' });
    }
    const lens = new Uint32Array(2 * queries.length);
    const parts = new Array<string>(2 * queries.length);
    for (let i = 0; i < queries.length; i++) {
      parts[2 * i] = wellFormed(queries[i], i, 'query');
      parts[2 * i + 1] = wellFormed(documents[i], i, 'document');
      lens[2 * i] = parts[2 * i].length;
      lens[2 * i + 1] = parts[2 * i + 1].length;
    }
    return this.#run(parts, lens, true, options);
  }

  /** Frees the WASM memory behind this tokenizer; it cannot be used afterwards. */
  dispose(): void {
    this.#inner?.free();
    this.#inner = undefined;
  }

  #run(parts: string[], lens: Uint32Array, pairs: boolean, options: EncodeOptions): EncodedBatch {
    const inner = this.#inner;
    if (!inner) throw new InputError('this tokenizer has been disposed', { code: 'DISPOSED' });
    const maxLength = checkMaxLength(options.maxLength ?? this.maxLength);
    const truncation = options.truncation ?? 'longest_first';
    if (!TRUNCATION_STRATEGIES.includes(truncation)) {
      throw new InputError(
        `unknown truncation strategy ${JSON.stringify(truncation)} (expected ${TRUNCATION_STRATEGIES.join(', ')})`,
        { code: 'INVALID_OPTION' },
      );
    }
    let packed: Uint32Array;
    try {
      packed = inner.encodeBatch(parts.join(''), lens, pairs, maxLength, truncation);
    } catch (cause) {
      const row = (cause as { row?: unknown })?.row;
      if (typeof row === 'number') {
        throw new TokenizeError(messageOf(cause), row, cause);
      }
      throw new InputError(`tokenization failed: ${messageOf(cause)}`, { code: 'TOKENIZE_ERROR', cause });
    }
    return unpack(packed);
  }
}

/** Reverses the Rust side's `Batch::pack`: `[rows, total, offsets, ids, typeIds]`. */
function unpack(p: Uint32Array): EncodedBatch {
  const size = p[0];
  const total = p[1];
  const offsets = p.subarray(2, 3 + size);
  const ids = p.subarray(3 + size, 3 + size + total);
  const typeIds = p.subarray(3 + size + total, 3 + size + 2 * total);
  const lengths = new Uint32Array(size);
  for (let i = 0; i < size; i++) lengths[i] = offsets[i + 1] - offsets[i];
  return { size, ids, typeIds, offsets, lengths };
}

/**
 * Lone surrogates become U+FFFD on the way into WASM anyway; doing it here keeps a high surrogate
 * at the end of one text from pairing with a low one at the start of the next.
 */
function wellFormed(s: unknown, i: number, what: string): string {
  if (typeof s !== 'string') {
    throw new InputError(`${what} ${i} is not a string (got ${s === null ? 'null' : typeof s})`, {
      code: 'INVALID_INPUT',
    });
  }
  const w = s as unknown as WellFormed;
  return w.isWellFormed() ? s : w.toWellFormed();
}

function checkMaxLength(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 0xffffffff) {
    throw new InputError(`maxLength must be a positive integer (got ${n})`, { code: 'INVALID_OPTION' });
  }
  return n;
}

function configMaxLength(config: Record<string, unknown>): number {
  const m = config.model_max_length;
  return typeof m === 'number' && Number.isInteger(m) && m >= 1 && m <= ABSURD_MAX_LENGTH ? m : DEFAULT_MAX_LENGTH;
}

function parseConfig(dir: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ModelLoadError(`cannot load ${join(dir, 'tokenizer_config.json')}: ${messageOf(cause)}`, { cause });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ModelLoadError(`cannot load ${join(dir, 'tokenizer_config.json')}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** A file's text, or undefined when it does not exist; any other read failure is a ModelLoadError. */
async function readOptional(dir: string, name: string): Promise<string | undefined> {
  const path = join(dir, name);
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ModelLoadError(`cannot read ${path}: ${messageOf(cause)}`, { cause });
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
