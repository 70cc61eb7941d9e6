/**
 * The rerank HTTP service: Cohere-style `POST /v1/rerank`, TEI-style `POST /rerank`, `GET /health` and
 * Prometheus `GET /metrics`, on fastify with JSON-schema validation.
 *
 * Protection: a body-size limit and a document-count limit (413), an optional bearer key (401), a concurrency
 * limit with a bounded queue (429 when full), and a per-request deadline (504) that also covers the wait in
 * the queue. A request whose client disconnects is cancelled. `shutdown` stops accepting, lets in-flight
 * requests finish, then frees the model.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { GpurankError } from '../errors.js';
import { RerankAbortedError, RerankTimeoutError, type Reranker } from '../rerank/reranker.js';
import { Limiter } from './limiter.js';
import { createMetrics } from './metrics.js';

export { Limiter, QueueFullError } from './limiter.js';

/** What the server needs of a `Reranker`. */
export type ServedReranker = Pick<Reranker, 'kind' | 'dtype' | 'maxLength' | 'score'>;

export interface ServerOptions {
  /** When set, `POST` routes need `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Most documents in one request (more: 413). Default 1000. */
  maxDocuments?: number;
  /** Largest request body in bytes (more: 413). Default 10 MiB. */
  maxBodyBytes?: number;
  /** Rerank requests scored at once. Default 1 (the GPU runs one job at a time anyway). */
  concurrency?: number;
  /** Rerank requests allowed to wait for a slot; the next one gets 429. Default 64. */
  queue?: number;
  /** Deadline of a rerank request, queueing included (then 504). Default 30 000. */
  timeoutMs?: number;
  /** Shown by `/health`. */
  modelName?: string;
  /** fastify's logger option. Default: off. */
  logger?: FastifyServerOptions['logger'];
}

export const SERVER_DEFAULTS = {
  maxDocuments: 1000,
  maxBodyBytes: 10 * 1024 * 1024,
  concurrency: 1,
  queue: 64,
  timeoutMs: 30_000,
} as const;

/** Too many documents in one request. */
export class TooManyDocumentsError extends GpurankError {
  constructor(count: number, max: number) {
    super(`${count} documents in one request; at most ${max} are allowed`, { code: 'TOO_MANY_DOCUMENTS', statusCode: 413 });
  }
}

/** Missing or wrong bearer key. */
export class UnauthorizedError extends GpurankError {
  constructor(message: string) {
    super(message, { code: 'UNAUTHORIZED', statusCode: 401 });
  }
}

interface CohereBody {
  query: string;
  documents: (string | { text: string })[];
  top_n?: number;
  return_documents?: boolean;
}

interface TeiBody {
  query: string;
  texts: string[];
  top_n?: number;
  return_text?: boolean;
  raw_scores?: boolean;
  truncate?: boolean;
}

const query = { type: 'string', minLength: 1 } as const;
const topN = { type: 'integer', minimum: 1 } as const;

const cohereSchema = {
  body: {
    type: 'object',
    required: ['query', 'documents'],
    properties: {
      query,
      documents: {
        type: 'array',
        minItems: 1,
        items: {
          anyOf: [{ type: 'string' }, { type: 'object', required: ['text'], properties: { text: { type: 'string' } } }],
        },
      },
      top_n: topN,
      return_documents: { type: 'boolean' },
      // Accepted for client compatibility; the served model is the one loaded.
      model: { type: 'string' },
    },
  },
} as const;

const teiSchema = {
  body: {
    type: 'object',
    required: ['query', 'texts'],
    properties: {
      query,
      texts: { type: 'array', minItems: 1, items: { type: 'string' } },
      top_n: topN,
      return_text: { type: 'boolean' },
      raw_scores: { type: 'boolean' },
      // Accepted for TEI compatibility: pairs are always truncated to the model's max length.
      truncate: { type: 'boolean' },
      truncation_direction: { type: 'string', enum: ['Left', 'Right', 'left', 'right'] },
    },
  },
} as const;

const PROTECTED = new Set(['/v1/rerank', '/rerank']);

export function createServer(reranker: ServedReranker, options: ServerOptions = {}): FastifyInstance {
  const o = { ...SERVER_DEFAULTS, ...definedOnly(options) };
  for (const [name, min] of [['maxDocuments', 1], ['maxBodyBytes', 1], ['concurrency', 1], ['queue', 0], ['timeoutMs', 1]] as const) {
    if (!Number.isSafeInteger(o[name]) || o[name] < min) {
      throw new GpurankError(`server option ${name} must be an integer ≥ ${min}, got ${o[name]}`, { code: 'BAD_OPTION', statusCode: 400 });
    }
  }
  const limiter = new Limiter(o.concurrency, o.queue);
  const metrics = createMetrics(limiter);
  const app = Fastify({
    bodyLimit: o.maxBodyBytes,
    logger: options.logger ?? false,
    // No type coercion: a number where a document string belongs is an error, not the string "5".
    ajv: { customOptions: { coerceTypes: false } },
  });

  if (o.apiKey) {
    const expected = digest(o.apiKey);
    app.addHook('onRequest', async (req, reply) => {
      if (!PROTECTED.has(req.routeOptions.url ?? '')) return;
      const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      // Comparing fixed-length digests keeps the comparison constant-time whatever the key's length.
      if (!match || !timingSafeEqual(digest(match[1]), expected)) {
        reply.header('www-authenticate', 'Bearer');
        throw new UnauthorizedError(match ? 'wrong API key' : 'missing bearer API key (Authorization: Bearer <key>)');
      }
    });
  }

  // Responses sent while closing end their keep-alive connection, so `close()` does not wait for idle
  // client sockets (Node closes only the connections idle at the moment `close()` starts).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (req, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.duration.observe({ route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err, req, reply) => {
    const { status, code, message } = describeError(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    reply.code(status).send({ error: code, message });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` });
  });

  /** Scores `texts` under the limiter, the deadline and the client's connection; throws the cause of any abort. */
  async function score(route: string, reply: FastifyReply, q: string, texts: string[]): Promise<Float32Array> {
    if (texts.length > o.maxDocuments) throw new TooManyDocumentsError(texts.length, o.maxDocuments);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new RerankTimeoutError(o.timeoutMs)), o.timeoutMs);
    const onClose = () => {
      if (!reply.raw.writableFinished) ac.abort(new RerankAbortedError(new Error('the client disconnected')));
    };
    reply.raw.on('close', onClose);
    try {
      await limiter.acquire(ac.signal);
      try {
        const scores = await reranker.score(q, texts, { signal: ac.signal });
        metrics.documents.inc({ route }, texts.length);
        return scores;
      } finally {
        limiter.release();
      }
    } catch (err) {
      throw ac.signal.aborted ? ac.signal.reason : err;
    } finally {
      clearTimeout(timer);
      reply.raw.off('close', onClose);
    }
  }

  // Cross-encoder logits become probabilities (sigmoid), as TEI and Cohere report; cosines stay as they are.
  const normalise = (s: number) => (reranker.kind === 'cross-encoder' ? sigmoid(s) : s);

  app.post('/v1/rerank', { schema: cohereSchema }, async (req, reply) => {
    const body = req.body as CohereBody;
    const texts = body.documents.map((d) => (typeof d === 'string' ? d : d.text));
    const scores = await score('/v1/rerank', reply, body.query, texts);
    return {
      id: randomUUID(),
      results: bestFirst(scores, body.top_n).map((index) => ({
        index,
        relevance_score: normalise(scores[index]),
        ...(body.return_documents ? { document: { text: texts[index] } } : {}),
      })),
      meta: { api_version: { version: '2' }, billed_units: { search_units: 1 } },
    };
  });

  app.post('/rerank', { schema: teiSchema }, async (req, reply) => {
    const body = req.body as TeiBody;
    const scores = await score('/rerank', reply, body.query, body.texts);
    return bestFirst(scores, body.top_n).map((index) => ({
      index,
      score: body.raw_scores ? scores[index] : normalise(scores[index]),
      ...(body.return_text ? { text: body.texts[index] } : {}),
    }));
  });

  app.get('/health', async () => ({
    status: 'ok',
    model: { name: o.modelName ?? null, kind: reranker.kind, dtype: reranker.dtype, max_length: reranker.maxLength },
    limits: { max_documents: o.maxDocuments, max_body_bytes: o.maxBodyBytes, concurrency: o.concurrency, queue: o.queue, timeout_ms: o.timeoutMs },
    in_flight: limiter.inFlight,
    queue_depth: limiter.depth,
  }));

  app.get('/metrics', async (req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  return app;
}

/**
 * Graceful stop: refuses new requests (503), waits for in-flight ones to be answered, then frees the model.
 */
export async function shutdown(app: FastifyInstance, reranker?: { dispose(): Promise<void> }): Promise<void> {
  await app.close();
  await reranker?.dispose();
}

/** Indices by score, best first; ties keep input order. At most `topN`. */
function bestFirst(scores: Float32Array, topN?: number): number[] {
  const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b);
  return topN === undefined ? order : order.slice(0, topN);
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Status and body of an error: typed errors keep theirs, fastify's 4xx keep theirs, anything else is an opaque 500. */
function describeError(err: unknown): { status: number; code: string; message: string } {
  if (err instanceof GpurankError) return { status: err.statusCode, code: err.code, message: err.message };
  const e = err as { validation?: unknown; statusCode?: number; code?: string; message?: string };
  if (e?.validation) return { status: 400, code: 'INVALID_REQUEST', message: e.message ?? 'invalid request' };
  // fastify's own: malformed JSON (400), body too large (413), unsupported media type (415).
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, code: e.code ?? 'BAD_REQUEST', message: e.message ?? 'bad request' };
  }
  // Unknown failures: no message or stack, which may hold internals; the log has them.
  return { status: 500, code: 'INTERNAL_ERROR', message: 'internal server error' };
}
