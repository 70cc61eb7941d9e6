/**
 * Reranking many queries' candidate lists at once, as the demo and the end-to-end evaluation do: a bi-encoder
 * embeds each distinct candidate once, however many queries retrieved it; a cross-encoder reads every pair.
 */
import type { Reranker } from './reranker.js';

export interface CandidateQuery {
  id: string;
  text: string;
}

/** Scores of each query's candidates: query id → document id → score. */
export async function scoreCandidates(
  reranker: Reranker,
  queries: readonly CandidateQuery[],
  candidates: ReadonlyMap<string, readonly string[]>,
  text: (docId: string) => string,
): Promise<Map<string, Map<string, number>>> {
  const scores = new Map<string, Map<string, number>>();
  if (reranker.kind === 'bi-encoder') {
    const docIds = [...new Set(queries.flatMap((q) => candidates.get(q.id) ?? []))];
    const row = new Map(docIds.map((d, i) => [d, i]));
    const docEmb = await reranker.embed(docIds.map(text));
    const queryEmb = await reranker.embed(queries.map((q) => q.text));
    const dim = docEmb.length / docIds.length;
    queries.forEach((q, qi) => {
      const s = new Map<string, number>();
      for (const d of candidates.get(q.id) ?? []) s.set(d, dot(queryEmb, qi * dim, docEmb, row.get(d)! * dim, dim));
      scores.set(q.id, s);
    });
  } else {
    for (const q of queries) {
      const ids = candidates.get(q.id) ?? [];
      const s = ids.length > 0 ? await reranker.score(q.text, ids.map(text)) : new Float32Array(0);
      scores.set(q.id, new Map(ids.map((d, i) => [d, s[i]])));
    }
  }
  return scores;
}

/** Document ids by descending score (ties keep insertion order). */
export function byScore(scores: ReadonlyMap<string, number>): string[] {
  return [...scores.entries()].sort((a, b) => b[1] - a[1]).map(([d]) => d);
}

function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[ao + i] * b[bo + i];
  return s;
}
