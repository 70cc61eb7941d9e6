/** Shared by the training tests: the PyTorch goldens of the tiny BERT (test/fixtures/goldens/train). */
import { readFileSync } from 'node:fs';
import type { BertBatch } from '../src/model/bert-cpu.js';

export const TRAIN_GOLDENS = new URL('./fixtures/goldens/train/', import.meta.url);
export const TINY_BERT = new URL('./fixtures/models/tiny-bert', import.meta.url).pathname;

export interface GoldenList {
  labels: number[];
  teacher_scores: number[];
  input_ids: number[][];
  token_type_ids: number[][];
}

export interface ModelGolden {
  lists: GoldenList[];
  logits: number[];
  losses: Record<string, { loss: number; dScores: number[]; file: string }>;
}

export const modelGolden = (): ModelGolden => JSON.parse(readFileSync(new URL('model.json', TRAIN_GOLDENS), 'utf8'));

/** The golden rows, in order, as one batch padded to the longest. */
export function goldenBatch(lists: GoldenList[]): BertBatch {
  const rows = lists.flatMap((l) => l.input_ids.map((ids, i) => ({ ids, typeIds: l.token_type_ids[i] })));
  return {
    ids: rows.flatMap((r) => r.ids),
    typeIds: rows.flatMap((r) => r.typeIds),
    lengths: rows.map((r) => r.ids.length),
    paddedLength: Math.max(...rows.map((r) => r.ids.length)),
    size: rows.length,
  };
}
