/** Shared by the BERT tests: golden files, batches built from them, and comparisons. */
import { readFileSync } from 'node:fs';
import type { BertBatch } from '../src/model/bert-cpu.js';

export const TINY_BERT = 'test/fixtures/models/tiny-bert';
export const MINILM = 'models/all-MiniLM-L6-v2';

export interface GoldenPair {
  query: string;
  document: string;
  input_ids: number[];
  token_type_ids: number[];
  logits: number[];
}

export interface GoldenHidden extends GoldenPair {
  embeddings: number[][];
  layers: number[][][];
  pooled: number[];
}

export interface GoldenText {
  text: string;
  input_ids: number[];
  embedding: number[];
}

const golden = <T>(name: string): T => JSON.parse(readFileSync(`test/fixtures/goldens/${name}.json`, 'utf8')) as T;
export const logitGoldens = () => golden<{ cases: GoldenPair[] }>('tiny-bert-logits').cases;
export const hiddenGoldens = () => golden<{ cases: GoldenHidden[] }>('tiny-bert-hidden').cases;
export const minilmGoldens = () => golden<{ cases: GoldenText[] }>('minilm-embeddings').cases;

/** Rows back to back, padded to the longest. */
export function batchOf(rows: { input_ids: number[]; token_type_ids?: number[] }[]): BertBatch {
  const lengths = rows.map((r) => r.input_ids.length);
  return {
    ids: rows.flatMap((r) => r.input_ids),
    typeIds: rows.flatMap((r) => r.token_type_ids ?? r.input_ids.map(() => 0)),
    lengths,
    paddedLength: Math.max(...lengths),
    size: rows.length,
  };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

/** Kendall's τ-b over all pairs (ties in either list count as neither concordant nor discordant). */
export function kendallTau(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let concordant = 0;
  let discordant = 0;
  let tiesA = 0;
  let tiesB = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = i + 1; j < a.length; j++) {
      const s = Math.sign(a[i] - a[j]) * Math.sign(b[i] - b[j]);
      if (s > 0) concordant++;
      else if (s < 0) discordant++;
      else if (a[i] === a[j] && b[i] !== b[j]) tiesA++;
      else if (b[i] === b[j] && a[i] !== a[j]) tiesB++;
    }
  }
  return (concordant - discordant) / Math.sqrt((concordant + discordant + tiesA) * (concordant + discordant + tiesB));
}
