import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { GpuRuntime } from '../src/gpu/index.js';
import { Embedding, embeddingBackwardCpu, embeddingBackwardPlan, embeddingCpu, type EmbeddingShape, type EmbeddingWeights } from '../src/model/kernels/embedding.js';
import { checkGradient, dot } from './gradcheck.js';
import { download, maxError, randn, raggedLengths, rng, upload } from './kernels-support.js';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await GpuRuntime.create();
});
afterAll(() => rt?.destroy());

interface Case extends EmbeddingShape {
  vocab: number;
  typeVocab: number;
  maxPositions: number;
}

/** Random tables and a ragged batch whose ids repeat (so the word scatter-add has to sum). */
function inputs(c: Case, seed: number) {
  const { batch, length, hidden, vocab, typeVocab, maxPositions } = c;
  const rand = rng(seed);
  const lengths = raggedLengths(batch, length, rand);
  const pool = Math.min(vocab, Math.max(2, Math.floor((batch * length) / 3)));
  const ids = Uint32Array.from({ length: batch * length }, () => Math.floor(rand() * pool) * Math.floor(vocab / pool));
  const typeIds = Uint32Array.from({ length: batch * length }, () => Math.floor(rand() * typeVocab));
  const w: EmbeddingWeights = {
    word: randn(vocab * hidden, rand, 0.5),
    position: randn(maxPositions * hidden, rand, 0.5),
    tokenType: randn(typeVocab * hidden, rand, 0.5),
    gamma: randn(hidden, rand, 0.3, 1),
    beta: randn(hidden, rand, 0.1),
  };
  const dy = randn(batch * length * hidden, rand);
  return { lengths, ids, typeIds, w, dy };
}

describe('embeddingBackwardCpu', () => {
  it('agrees with central differences of the f64 forward for every table and the LayerNorm (ragged lengths incl. 1, repeated ids)', () => {
    const c: Case = { batch: 3, length: 4, hidden: 5, eps: 1e-12, vocab: 7, typeVocab: 2, maxPositions: 6 };
    const { lengths, ids, typeIds, w, dy } = inputs(c, 1);
    const grads = embeddingBackwardCpu(ids, typeIds, lengths, w, dy, c);
    // dy on padding rows is nonzero here: the forward writes zeros there, so it must not count.
    const f = (o: Partial<EmbeddingWeights>) => dot(dy, embeddingCpu(ids, typeIds, lengths, { ...w, ...o }, c, Float64Array));
    checkGradient((x) => f({ word: x }), Float64Array.from(w.word), grads.dWord, { tol: 1e-5 });
    checkGradient((x) => f({ position: x }), Float64Array.from(w.position), grads.dPosition, { tol: 1e-5 });
    checkGradient((x) => f({ tokenType: x }), Float64Array.from(w.tokenType), grads.dTokenType, { tol: 1e-5 });
    checkGradient((x) => f({ gamma: x }), Float64Array.from(w.gamma), grads.dGamma, { tol: 1e-5 });
    checkGradient((x) => f({ beta: x }), Float64Array.from(w.beta), grads.dBeta, { tol: 1e-5 });
  });
});

describe('embeddingBackwardPlan', () => {
  it('groups the valid token positions by id, ids ascending, positions ascending, padding left out', () => {
    // Two rows of length 3; row 1 has length 2, so its token 2 (id 9) is padding.
    const plan = embeddingBackwardPlan([5, 2, 5, 2, 7, 9], [3, 2], { batch: 2, length: 3 }, 10);
    expect(Array.from(plan)).toEqual([3, 2, 5, 7, 0, 2, 4, 5, 1, 3, 0, 2, 4]);
  });

  it('refuses ids outside the vocabulary and arrays too short for the batch', () => {
    expect(() => embeddingBackwardPlan([1, 10], [2], { batch: 1, length: 2 }, 10)).toThrow(/token 1 of row 0 has id 10, outside the vocabulary of 10/);
    // An out-of-range id in padding is never used, so it is accepted.
    expect(embeddingBackwardPlan([1, 10], [1], { batch: 1, length: 2 }, 10)[0]).toBe(1);
    expect(() => embeddingBackwardPlan([1], [2], { batch: 1, length: 2 }, 10)).toThrow(InputError);
    expect(() => embeddingBackwardPlan([1, 2], [], { batch: 1, length: 2 }, 10)).toThrow(/0 lengths for a batch of 1 rows/);
  });
});

describe('embedding_backward (GPU)', () => {
  const bytes = (n: number) => Math.ceil((n * 4) / 256) * 256;

  async function run(c: Case, seed: number) {
    const { batch, length, hidden, vocab, typeVocab, maxPositions } = c;
    const { lengths, ids, typeIds, w, dy } = inputs(c, seed);
    // dy on padding may hold anything (NaN here) and must not leak.
    for (let b = 0; b < batch; b++) dy.fill(NaN, (b * length + lengths[b]) * hidden, (b + 1) * length * hidden);
    const kernel = await Embedding.create(rt, { dtype: 'f32', training: true });
    const [bw, bp, bt, bg, bdy] = await Promise.all([w.word, w.position, w.tokenType, w.gamma, dy].map((a) => upload(rt, a as Float32Array, 'f32')));
    const [bids, btypes, blen] = await Promise.all([ids, typeIds, lengths].map((a) => rt.storageBuffer(a)));
    // All gradients in one flat buffer at 256-byte-aligned offsets, as the trainer's grads, with earlier
    // values in it (the kernel accumulates).
    const sizes = [vocab * hidden, maxPositions * hidden, typeVocab * hidden, hidden, hidden];
    const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((s, n) => s + bytes(n), 0));
    const total = offsets[4] + bytes(hidden);
    const before = randn(total / 4, rng(seed + 1));
    const grads = await upload(rt, before, 'f32');
    const [dWord, dPosition, dTokenType, dGamma, dBeta] = sizes.map((n, i) => ({ buffer: grads, offset: offsets[i], size: n * 4 }));
    rt.dispatch(
      kernel.backwardSteps({
        ...c,
        ids: bids,
        typeIds: btypes,
        lengths: blen,
        hostIds: ids,
        hostLengths: lengths,
        vocabSize: vocab,
        typeVocabSize: typeVocab,
        word: bw,
        position: bp,
        tokenType: bt,
        gamma: bg,
        dy: bdy,
        dWord,
        dPosition,
        dTokenType,
        dGamma,
        dBeta,
      }),
    );
    const got = await download(rt, grads, 'f32', total / 4);
    const want = embeddingBackwardCpu(ids, typeIds, lengths, w, dy, c);
    const expected = before.slice();
    [want.dWord, want.dPosition, want.dTokenType, want.dGamma, want.dBeta].forEach((g, i) => g.forEach((v, j) => (expected[offsets[i] / 4 + j] += v)));
    return { got, expected, before, ids, lengths, offsets };
  }

  const cases: [string, Case][] = [
    ['a small ragged batch (lengths 1..L)', { batch: 4, length: 9, hidden: 32, eps: 1e-12, vocab: 50, typeVocab: 2, maxPositions: 16 }],
    ['a BERT-sized vocabulary, an odd width past one workgroup, three token types', { batch: 3, length: 20, hidden: 70, eps: 1e-5, vocab: 30522, typeVocab: 3, maxPositions: 24 }],
  ];
  for (const [name, c] of cases) {
    it(`accumulates the CPU reference's gradients into the flat grads: ${name}`, async () => {
      const { got, expected, before, ids, lengths, offsets } = await run(c, c.batch * 10 + c.length);
      expect(maxError(got, expected)).toBeLessThan(1e-5);
      // Word rows no valid token uses keep their bits.
      const used = new Set<number>();
      for (let b = 0; b < c.batch; b++) for (let l = 0; l < lengths[b]; l++) used.add(ids[b * c.length + l]);
      for (let r = 0; r < c.vocab; r += 97) {
        if (used.has(r)) continue;
        const at = offsets[0] / 4 + r * c.hidden;
        expect(got.subarray(at, at + c.hidden)).toEqual(before.subarray(at, at + c.hidden));
      }
    });
  }

  it('is deterministic: the same batch gives the same bits', async () => {
    const c = cases[0][1];
    const a = await run(c, 3);
    const b = await run(c, 3);
    expect(b.got).toEqual(a.got);
  });

  it('refuses f16 training, a backward from an inference kernel, and ids outside the vocabulary', async () => {
    await expect(Embedding.create(rt, { dtype: 'f16', training: true })).rejects.toThrow(/training is f32 only/);
    const b = await rt.storageBuffer(64);
    const args = {
      batch: 1,
      length: 2,
      hidden: 4,
      eps: 1e-5,
      ids: b,
      typeIds: b,
      lengths: b,
      hostIds: [0, 3],
      hostLengths: [2],
      vocabSize: 3,
      typeVocabSize: 2,
      word: b,
      position: b,
      tokenType: b,
      gamma: b,
      dy: b,
      dWord: b,
      dPosition: b,
      dTokenType: b,
      dGamma: b,
      dBeta: b,
    };
    const inference = await Embedding.create(rt, { dtype: 'f32' });
    expect(() => inference.backwardSteps(args)).toThrow(/training: true/);
    const training = await Embedding.create(rt, { dtype: 'f32', training: true });
    expect(() => training.backwardSteps(args)).toThrow(/id 3, outside the vocabulary of 3/);
  });
});
