/**
 * `withReranking(client, reranker, options)`: wraps an Elasticsearch or OpenSearch client so that `search()`
 * fetches a window of the engine's top hits, reranks them with a `Reranker` and returns the requested page
 * of the new order.
 *
 * No client is a dependency: the wrapper is a Proxy over whatever object it is given, and understands both
 * request shapes, `search({ index, query, from, size })` (`@elastic/elasticsearch` v8/v9) and
 * `search({ index, body: { query, from, size } })` (7.x clients, `@opensearch-project/opensearch`), and both
 * response shapes, the bare search body (v8/v9) and `{ body, statusCode, ... }` (7.x, OpenSearch, v8/v9 with
 * `{ meta: true }`).
 */
import { GpurankError, InputError } from '../errors.js';
import { blend, rrf } from '../core/fusion.js';
import { loadCore } from '../core/wasm.js';

/** What the wrapper needs of a reranker: `Reranker.score` (logits or cosines, in input order). */
export interface Scorer {
  score(query: string, documents: readonly string[], options?: { timeoutMs?: number }): Promise<ArrayLike<number>>;
}

/**
 * Where a hit's text is: a dotted `_source` path (`'title'`, `'meta.abstract'`), or explicitly
 * `{ source }`, `{ fields }` (the `fields` / `docvalue_fields` response section) or `{ highlight }`
 * (highlight fragments; ask for them in the request). Arrays of specs and array values are joined by spaces.
 */
export type FieldSpec = string | { source: string } | { fields: string } | { highlight: string };

export type BlendSpec =
  | { method: 'rrf'; k?: number }
  | { method: 'linear'; alpha: number; normalization?: 'minmax' | 'zscore' };

export interface RerankingOptions {
  /** Where each hit's text is. Required here or per request. */
  field?: FieldSpec | FieldSpec[];
  /** Hits fetched and reranked per search (default 100); raised to `from + size` when that is larger. */
  window?: number;
  /** Fuse the reranker's order with the engine's instead of replacing it. */
  blend?: BlendSpec;
  /** Deadline for the reranking step, in ms. */
  timeoutMs?: number;
  /** `'fallback'` (default): return the engine's order, flagged, when reranking fails; `'throw'`: raise RerankFailedError. */
  onError?: 'fallback' | 'throw';
  /** Where fallbacks are logged (once per error code and wrapper). Default `console.warn`. */
  logger?: (message: string) => void;
}

/** The per-request `rerank` block, next to the search parameters. */
export interface RerankRequest {
  /** The query text; default: the text of the request's only match/multi_match/query_string clause. */
  query?: string;
  field?: FieldSpec | FieldSpec[];
  window?: number;
  /** Rerank only the best `topK` of the window; the rest keep the engine's order after them. */
  topK?: number;
  /** `false` sends the search through untouched. */
  enabled?: boolean;
}

/** The annotation each returned hit carries. `_score` becomes `blended_score ?? score`. */
export interface RerankAnnotation {
  /** The reranker's score; null for hits without text (ranked last). */
  score: number | null;
  /** The engine's `_score`. */
  original_score: number | null;
  /** 0-based rank in the engine's order. */
  original_rank: number;
  blended_score?: number;
}

/** Added to every response as `response.gpurank`. */
export type RerankInfo =
  | { reranked: true; window: number; ms: number }
  | { reranked: false; error: string };

/** Reranking failed in `onError: 'throw'` mode; `cause` holds the reranker's error. */
export class RerankFailedError extends GpurankError {
  constructor(message: string, cause: unknown) {
    super(`reranking failed: ${message}`, { code: 'RERANK_FAILED', statusCode: 502, cause });
  }
}

type AnyFn = (...args: any[]) => any;
type SearchParams<C extends { search: AnyFn }> = NonNullable<Parameters<C['search']>[0]>;

/**
 * The wrapped client: the same object and types, with `search()` also accepting a `rerank` block. Without
 * one, the client's own overloads (and response types) apply; with one, its most general overload's.
 */
export type RerankingClient<C extends { search: AnyFn }> = C & {
  search(params: SearchParams<C> & { rerank?: RerankRequest }, options?: Parameters<C['search']>[1]): ReturnType<C['search']>;
};

const DEFAULT_WINDOW = 100;
const DEFAULT_SIZE = 10;

export function withReranking<C extends { search: AnyFn }>(client: C, reranker: Scorer, options: RerankingOptions = {}): RerankingClient<C> {
  if (client === null || typeof client !== 'object' || typeof client.search !== 'function') {
    throw new InputError('withReranking: the client has no search() method', { code: 'BAD_CLIENT' });
  }
  if (reranker === null || typeof reranker !== 'object' || typeof reranker.score !== 'function') {
    throw new InputError('withReranking: the reranker has no score() method', { code: 'BAD_RERANKER' });
  }
  checkWindow(options.window, 'window');
  checkBlend(options.blend);
  if (options.timeoutMs !== undefined && !(options.timeoutMs > 0)) {
    throw new InputError(`withReranking: timeoutMs must be positive, got ${options.timeoutMs}`, { code: 'BAD_OPTION' });
  }
  if (options.onError !== undefined && options.onError !== 'fallback' && options.onError !== 'throw') {
    throw new InputError(`withReranking: onError must be 'fallback' or 'throw', got ${String(options.onError)}`, { code: 'BAD_OPTION' });
  }
  const logged = new Set<string>();
  const log = (code: string, message: string) => {
    if (logged.has(code)) return;
    logged.add(code);
    (options.logger ?? console.warn)(`gpurank: ${message} (further '${code}' failures are not logged)`);
  };
  const search = (params: Record<string, unknown> | undefined, ...rest: unknown[]) =>
    rerankedSearch(client, reranker, options, log, params, rest);
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'search') return search;
      const value = Reflect.get(target, prop, receiver);
      // Methods run on the real client, whose private fields a Proxy receiver would not have.
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as RerankingClient<C>;
}

async function rerankedSearch(
  client: { search: AnyFn },
  reranker: Scorer,
  options: RerankingOptions,
  log: (code: string, message: string) => void,
  params: Record<string, unknown> | undefined,
  rest: unknown[],
): Promise<unknown> {
  if (params === undefined || params === null || typeof params !== 'object') return client.search(params, ...rest);
  // 7.x clients also take a callback; its result would bypass the reranking, so only promises are supported.
  if (rest.some((arg) => typeof arg === 'function')) {
    throw new InputError('search: the callback API is not supported with reranking; use the returned promise', { code: 'BAD_RERANK' });
  }
  const { rerank = {}, ...engineParams } = params as Record<string, unknown> & { rerank?: RerankRequest };
  if (typeof rerank !== 'object' || rerank === null) throw new InputError('search: rerank must be an object', { code: 'BAD_RERANK' });
  const body = isObject(engineParams.body) ? { ...engineParams.body } : undefined;
  const from = intParam(engineParams.from ?? body?.from, 0, 'from');
  const size = intParam(engineParams.size ?? body?.size, DEFAULT_SIZE, 'size');
  // Nothing to rerank: pass through, as for disabled reranking.
  if (rerank.enabled === false || size === 0) return client.search(engineParams, ...rest);

  const field = rerank.field ?? options.field;
  if (field === undefined) throw new InputError('search: no text field (set options.field or rerank.field)', { code: 'RERANK_FIELD_REQUIRED' });
  checkField(field);
  checkWindow(rerank.window, 'rerank.window');
  if (rerank.topK !== undefined && !(Number.isInteger(rerank.topK) && rerank.topK > 0)) {
    throw new InputError(`search: rerank.topK must be a positive integer, got ${rerank.topK}`, { code: 'BAD_RERANK' });
  }
  const query = rerank.query ?? inferQuery(body?.query ?? engineParams.query);
  if (typeof query !== 'string' || query.trim() === '') {
    throw new InputError('search: no obvious query text in the request; pass rerank.query', { code: 'RERANK_QUERY_REQUIRED' });
  }
  const window = Math.max(rerank.window ?? options.window ?? DEFAULT_WINDOW, from + size);

  // Fetch the window: from/size live in the body for body-shaped requests, at the top level otherwise.
  delete engineParams.from;
  delete engineParams.size;
  if (body) {
    engineParams.body = { ...body, from: 0, size: window };
  } else {
    engineParams.from = 0;
    engineParams.size = window;
  }
  // Engine errors propagate as the client raised them.
  const result = await client.search(engineParams, ...rest);
  const wrapped = isObject(result) && isObject(result.body) && isObject(result.body.hits) && !isObject(result.hits);
  const response = (wrapped ? result.body : result) as Record<string, unknown>;
  if (!isObject(response) || !isObject(response.hits) || !Array.isArray(response.hits.hits)) return result;
  const hits = response.hits.hits as Record<string, unknown>[];

  const started = performance.now();
  let page: Record<string, unknown>[];
  let info: RerankInfo;
  try {
    page = await reorder(hits, query, field, rerank.topK, reranker, options);
    page = page.slice(from, from + size);
    info = { reranked: true, window, ms: Math.round((performance.now() - started) * 1000) / 1000 };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (options.onError === 'throw') throw new RerankFailedError(message, err);
    log(err instanceof GpurankError ? err.code : 'RERANK_FAILED', `reranking failed, returning the engine's order: ${message}`);
    page = hits.slice(from, from + size);
    info = { reranked: false, error: message };
  }
  const maxScore = page.reduce<number | null>((m, h) => (typeof h._score === 'number' && (m === null || h._score > m) ? h._score : m), null);
  const out = { ...response, hits: { ...response.hits, hits: page, max_score: info.reranked ? maxScore : response.hits.max_score }, gpurank: info };
  return wrapped ? { ...result, body: out } : out;
}

/** The window in its new order, each hit annotated. */
async function reorder(
  hits: Record<string, unknown>[],
  query: string,
  field: FieldSpec | FieldSpec[],
  topK: number | undefined,
  reranker: Scorer,
  options: RerankingOptions,
): Promise<Record<string, unknown>[]> {
  const considered = topK === undefined ? hits : hits.slice(0, topK);
  const texts = considered.map((h) => hitText(h, field));
  const withText = texts.flatMap((t, i) => (t === undefined ? [] : [i]));
  const scores = new Float64Array(considered.length).fill(Number.NaN);
  if (withText.length > 0) {
    const got = await withDeadline(reranker.score(query, withText.map((i) => texts[i]!), { timeoutMs: options.timeoutMs }), options.timeoutMs);
    if (got === null || typeof got !== 'object' || got.length !== withText.length) {
      throw new GpurankError(`the reranker returned ${got?.length} scores for ${withText.length} documents`, { code: 'RERANK_BAD_SCORES' });
    }
    withText.forEach((hitIndex, j) => (scores[hitIndex] = Number(got[j])));
  }
  const engineScore = (i: number) => (typeof considered[i]._score === 'number' ? (considered[i]._score as number) : null);
  const blended = await blendScores(withText, scores, engineScore, options.blend);
  // Hits with text by the new score (stable: ties keep the engine's order), then those without, in order.
  const finalScore = (i: number) => blended?.get(i) ?? scores[i];
  const order = [...withText].sort((a, b) => orderKey(finalScore(b)) - orderKey(finalScore(a)) || a - b);
  texts.forEach((t, i) => t === undefined && order.push(i));
  const reranked = order.map((i) => {
    const hit = considered[i];
    const annotation: RerankAnnotation = {
      score: texts[i] === undefined ? null : scores[i],
      original_score: engineScore(i),
      original_rank: i,
    };
    const b = blended?.get(i);
    if (b !== undefined) annotation.blended_score = b;
    return { ...hit, _score: texts[i] === undefined ? null : finalScore(i), _rerank: annotation };
  });
  // Beyond topK the engine's order continues, unannotated.
  return [...reranked, ...hits.slice(considered.length)];
}

async function blendScores(
  withText: number[],
  scores: Float64Array,
  engineScore: (i: number) => number | null,
  spec: BlendSpec | undefined,
): Promise<Map<number, number> | undefined> {
  if (spec === undefined || withText.length === 0) return undefined;
  await loadCore();
  const out = new Map<number, number>();
  if (spec.method === 'rrf') {
    const byRerank = [...withText].sort((a, b) => orderKey(scores[b]) - orderKey(scores[a]) || a - b);
    const fused = rrf([withText.map(String), byRerank.map(String)], { k: spec.k });
    fused.ids.forEach((id, j) => out.set(Number(id), fused.scores[j]));
    return out;
  }
  const first = withText.map((i) => engineScore(i));
  if (first.some((s) => s === null)) {
    throw new GpurankError('a linear blend needs the engine _score of every hit (sorted searches have none)', { code: 'RERANK_NO_SCORES' });
  }
  const b = blend(first as number[], withText.map((i) => scores[i]), { alpha: spec.alpha, normalization: spec.normalization });
  withText.forEach((i, j) => out.set(i, b.scores[j]));
  return out;
}

/** NaN (a failed score) sorts below every number. */
function orderKey(x: number): number {
  return Number.isNaN(x) ? Number.NEGATIVE_INFINITY : x;
}

function withDeadline<T>(work: Promise<T>, ms: number | undefined): Promise<T> {
  if (ms === undefined) return work;
  // The wrapper enforces the deadline itself too, for scorers that do not honour timeoutMs.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new GpurankError(`reranking timed out after ${ms} ms`, { code: 'TIMEOUT', statusCode: 504 })), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** A hit's text under `field`, or undefined when it has none (missing, empty, or not text). */
export function hitText(hit: Record<string, unknown>, field: FieldSpec | FieldSpec[]): string | undefined {
  const specs = Array.isArray(field) ? field : [field];
  const parts: string[] = [];
  for (const spec of specs) {
    let value: unknown;
    if (typeof spec === 'string') value = dotted(hit._source, spec);
    else if ('source' in spec) value = dotted(hit._source, spec.source);
    else if ('fields' in spec) value = isObject(hit.fields) ? hit.fields[spec.fields] : undefined;
    else value = isObject(hit.highlight) ? hit.highlight[spec.highlight] : undefined;
    const text = toText(value);
    if (text !== undefined) parts.push(text);
  }
  const joined = parts.join(' ');
  return joined.trim() === '' ? undefined : joined;
}

function dotted(source: unknown, path: string): unknown {
  if (!isObject(source)) return undefined;
  // A field may be stored flat under its dotted name ({"a.b": …}) as well as nested.
  if (path in source) return source[path];
  let value: unknown = source;
  for (const part of path.split('.')) {
    if (Array.isArray(value)) value = value.map((v) => (isObject(v) ? v[part] : undefined)).flat();
    else value = isObject(value) ? value[part] : undefined;
  }
  return value;
}

function toText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) {
    const parts = value.map(toText).filter((t): t is string => t !== undefined);
    return parts.length > 0 ? parts.join(' ') : undefined;
  }
  return undefined;
}

/** The query text when the query has exactly one distinct full-text clause text. */
export function inferQuery(query: unknown): string | undefined {
  const found = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!isObject(node)) return;
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'multi_match' || key === 'query_string' || key === 'simple_query_string') && isObject(value)) {
        if (typeof value.query === 'string') found.add(value.query);
      } else if ((key === 'match' || key === 'match_phrase' || key === 'match_bool_prefix') && isObject(value)) {
        for (const clause of Object.values(value)) {
          if (typeof clause === 'string') found.add(clause);
          else if (isObject(clause) && typeof clause.query === 'string') found.add(clause.query);
        }
      } else visit(value);
    }
  };
  visit(query);
  return found.size === 1 ? [...found][0] : undefined;
}

function isObject(x: unknown): x is Record<string, any> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function intParam(value: unknown, fallback: number, name: string): number {
  if (value === undefined || value === null) return fallback;
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new InputError(`search: ${name} must be a non-negative integer, got ${String(value)}`, { code: 'BAD_RERANK' });
  return n;
}

function checkWindow(window: unknown, name: string): void {
  if (window !== undefined && !(typeof window === 'number' && Number.isInteger(window) && window > 0)) {
    throw new InputError(`${name} must be a positive integer, got ${String(window)}`, { code: 'BAD_OPTION' });
  }
}

function checkBlend(spec: BlendSpec | undefined): void {
  if (spec === undefined) return;
  if (spec.method === 'rrf') {
    if (spec.k !== undefined && !(spec.k > 0)) throw new InputError(`blend.k must be positive, got ${spec.k}`, { code: 'BAD_OPTION' });
  } else if (spec.method === 'linear') {
    if (!(spec.alpha >= 0 && spec.alpha <= 1)) throw new InputError(`blend.alpha must be in [0, 1], got ${spec.alpha}`, { code: 'BAD_OPTION' });
    if (spec.normalization !== undefined && spec.normalization !== 'minmax' && spec.normalization !== 'zscore') {
      throw new InputError(`blend.normalization must be 'minmax' or 'zscore', got ${String(spec.normalization)}`, { code: 'BAD_OPTION' });
    }
  } else {
    throw new InputError(`blend.method must be 'rrf' or 'linear', got ${String((spec as { method: unknown }).method)}`, { code: 'BAD_OPTION' });
  }
}

function checkField(field: unknown): void {
  const ok = (f: unknown) =>
    (typeof f === 'string' && f !== '') ||
    (isObject(f) && Object.keys(f).length === 1 && ['source', 'fields', 'highlight'].some((k) => typeof f[k] === 'string' && f[k] !== ''));
  if (!(Array.isArray(field) ? field.length > 0 && field.every(ok) : ok(field))) {
    throw new InputError(`field must be a path or {source|fields|highlight: path}, got ${JSON.stringify(field)}`, { code: 'BAD_OPTION' });
  }
}
