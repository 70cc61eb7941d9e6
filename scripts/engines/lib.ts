/**
 * Shared by the engine scripts and the integration tests: where a started engine listens, a client of the
 * matching library for it, and the bundled BEIR collections. ES 7.10 needs client 7.13 (aliased `es7`):
 * clients 8/9 refuse servers that lack the x-elastic-product header, OpenSearch included.
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client as OpenSearchClient } from '@opensearch-project/opensearch';
import { createRequire } from 'node:module';
// Client 7.13's typings are unreachable through its package "exports" under NodeNext resolution.
import type { Client as Es7ClientType } from '../../node_modules/es7/index.js';

const { Client: Es7Client } = createRequire(import.meta.url)('es7') as { Client: typeof Es7ClientType };

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ENGINES = ['opensearch', 'elasticsearch7'] as const;
export type Engine = (typeof ENGINES)[number];
export const COLLECTIONS = ['cranfield', 'cisi'] as const;
export type Collection = (typeof COLLECTIONS)[number];

/** Either client: both send `{index, body}` and resolve to `{body}`. */
export type EngineClient = OpenSearchClient | Es7ClientType;

/** The URL `start.sh` wrote for a running engine, or undefined when it is not started. */
export function engineUrl(engine: Engine): string | undefined {
  const env = process.env[engine === 'opensearch' ? 'OPENSEARCH_URL' : 'ES7_URL'];
  if (env) return env;
  try {
    return readFileSync(`${ROOT}.cache/engines/${engine}/url`, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * One call shape for both: the union of the two client types has no common signature, and the calls used
 * here (info, indices.*, bulk, count, search with `body`) take the same parameters in both libraries.
 */
export function calls(client: EngineClient): OpenSearchClient {
  return client as OpenSearchClient;
}

export function makeClient(engine: Engine, node: string, requestTimeout = 30_000): EngineClient {
  // No retries: a dead engine must surface as an error at once, not after several reconnects.
  const options = { node, requestTimeout, maxRetries: 0 };
  return engine === 'opensearch' ? new OpenSearchClient(options) : new Es7Client(options);
}

export interface Doc {
  _id: string;
  title?: string;
  text: string;
}

export interface Query {
  _id: string;
  text: string;
}

async function readJsonl<T>(path: string): Promise<T[]> {
  const text = await readFile(path, 'utf8');
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
}

export async function loadCollection(name: Collection): Promise<{ docs: Doc[]; queries: Query[]; qrelsText: string }> {
  const dir = `${ROOT}data/${name}/`;
  const [docs, queries, qrelsText] = await Promise.all([
    readJsonl<Doc>(dir + 'corpus.jsonl'),
    readJsonl<Query>(dir + 'queries.jsonl'),
    readFile(dir + 'qrels.tsv', 'utf8'),
  ]);
  return { docs, queries, qrelsText };
}

/** BM25 over title and text with Lucene's English analyzer (stop words, Porter stemming), one shard. */
export const INDEX_BODY = {
  settings: { number_of_shards: 1, number_of_replicas: 0 },
  mappings: {
    properties: {
      title: { type: 'text', analyzer: 'english' },
      text: { type: 'text', analyzer: 'english' },
    },
  },
};

/** The first-stage query: BEIR's Elasticsearch baseline (best field plus half of the other's score). */
export function bm25Query(text: string): Record<string, unknown> {
  return { multi_match: { query: text, fields: ['title', 'text'], type: 'best_fields', tie_breaker: 0.5 } };
}

/** (Re)creates the index and bulk-loads the collection; returns the document count the engine reports. */
export async function indexCollection(client: EngineClient, name: Collection, docs: Doc[]): Promise<number> {
  const c = calls(client);
  await c.indices.delete({ index: name, ignore_unavailable: true });
  await c.indices.create({ index: name, body: INDEX_BODY as never });
  for (let i = 0; i < docs.length; i += 500) {
    const body = docs.slice(i, i + 500).flatMap((d) => [{ index: { _index: name, _id: d._id } }, { title: d.title ?? '', text: d.text }]);
    const res = await c.bulk({ body, refresh: false });
    if (res.body.errors) {
      const first = res.body.items.find((it) => Object.values(it)[0]?.error);
      throw new Error(`bulk indexing into '${name}' failed: ${JSON.stringify(first)}`);
    }
  }
  await c.indices.refresh({ index: name });
  const count = await c.count({ index: name });
  return count.body.count;
}
