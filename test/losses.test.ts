import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { GpuRuntime } from '../src/gpu/index.js';
import { checkLossInput, LOSS_NAMES, Losses, lossCpu, LOSSES_NEEDING_POSITIVE, LOSSES_NEEDING_TEACHER, lossNeedsTeacher, type LossName, type LossOptions } from '../src/train/losses.js';
import { finiteDifference, gradientError } from './gradcheck.js';
import { randn, rng } from './kernels-support.js';

interface List {
  scores: number[];
  labels: number[];
  teacher?: number[];
}

const GOLDENS = JSON.parse(readFileSync(new URL('./fixtures/goldens/train/losses.json', import.meta.url), 'utf8')) as {
  versions: Record<string, string>;
  batches: { name: string; lists: List[] }[];
  cases: { batch: string; loss: LossName; options: LossOptions; value: number; grads: number[][]; sinkhorn_iterations?: number }[];
};

/** Every variant the goldens hold, as `name options`. */
const VARIANTS: [LossName, LossOptions][] = [];
for (const c of GOLDENS.cases) {
  if (!VARIANTS.some(([n, o]) => n === c.loss && JSON.stringify(o) === JSON.stringify(c.options))) VARIANTS.push([c.loss, c.options]);
}
const label = (name: LossName, o: LossOptions): string => (Object.keys(o).length ? `${name} ${JSON.stringify(o)}` : name);

const relative = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-6);
/** Per-score relative error, floored at 1% of the largest gradient of the case (the goldens are f32). */
const gradError = (a: number[], b: number[]): number => gradientError(a, b, Math.max(1e-2 * Math.max(...b.map(Math.abs)), 1e-9));

describe('lossCpu against the PyTorch reference goldens', () => {
  it('covers every loss', () => {
    expect(new Set(GOLDENS.cases.map((c) => c.loss))).toEqual(new Set(LOSS_NAMES));
  });

  const casesOf = (name: LossName, options: LossOptions) => GOLDENS.cases.filter((c) => c.loss === name && JSON.stringify(c.options) === JSON.stringify(options));
  const listsOf = (batch: string): List[] => GOLDENS.batches.find((b) => b.name === batch)!.lists;

  for (const [name, options] of VARIANTS) {
    // neural-ndcg: how many Sinkhorn iterations reach the tolerance depends on rounding (the reference
    // runs f32, lossCpu f64), so the exact check runs the reference's recorded count.
    const exact = (c: (typeof GOLDENS.cases)[number]): LossOptions => (name === 'neural-ndcg' ? { ...options, sinkhornTol: 1e-300, sinkhornMaxIter: c.sinkhorn_iterations } : options);
    it(`${label(name, options)}: value and d loss / d scores within 1e-4 on every batch`, () => {
      for (const c of casesOf(name, options)) {
        const got = lossCpu(name, exact(c), listsOf(c.batch));
        expect(relative(got.loss, c.value), c.batch).toBeLessThan(1e-4);
        expect(gradError(got.grads.flat(), c.grads.flat()), c.batch).toBeLessThan(1e-4);
      }
    });
    if (name === 'neural-ndcg') {
      it(`${label(name, options)}: with its own iteration count, value within 1e-4 and gradients within 1e-3`, () => {
        for (const c of casesOf(name, options)) {
          const got = lossCpu(name, options, listsOf(c.batch));
          expect(relative(got.loss, c.value), c.batch).toBeLessThan(1e-4);
          expect(gradError(got.grads.flat(), c.grads.flat()), c.batch).toBeLessThan(1e-3);
        }
      });
    }
  }
});

/** Random lists without ties (finite differences need a smooth neighbourhood): lengths 1..7, graded labels. */
function randomLists(seed: number, count: number): List[] {
  const rand = rng(seed);
  return Array.from({ length: count }, (_, q) => {
    const n = q === count - 1 ? 1 : 2 + Math.floor(rand() * 6);
    const labels = Array.from({ length: n }, () => Math.floor(rand() * 4));
    labels[Math.floor(rand() * n)] = 1 + Math.floor(rand() * 3); // every list has a positive
    return { scores: Array.from(randn(n, rand, 1.5)), labels, teacher: Array.from(randn(n, rand, 1.5)) };
  });
}

describe('lossCpu gradient against finite differences', () => {
  // neural-ndcg with a tolerance no iteration meets: a fixed iteration count, so the loss is smooth.
  const fdVariants: [LossName, LossOptions][] = [...VARIANTS.filter(([n]) => n !== 'neural-ndcg'), ['neural-ndcg', { sinkhornTol: 1e-300, sinkhornMaxIter: 20 }], ['neural-ndcg', { sinkhornTol: 1e-300, sinkhornMaxIter: 7, temperature: 0.7 }]];
  for (const [name, options] of fdVariants) {
    it(label(name, options), () => {
      const lists = randomLists(7 + name.length, 4);
      const sizes = lists.map((l) => l.scores.length);
      const unflatten = (x: Float64Array): List[] => {
        let at = 0;
        return lists.map((l, q) => ({ ...l, scores: Array.from(x.subarray(at, (at += sizes[q]))) }));
      };
      const x = Float64Array.from(lists.flatMap((l) => l.scores));
      const numeric = finiteDifference((v) => lossCpu(name, options, unflatten(v)).loss, x, 1e-5);
      const analytic = lossCpu(name, options, lists).grads.flat();
      expect(gradientError(analytic, numeric, 1e-4)).toBeLessThan(1e-5);
    });
  }
});

describe('input checks', () => {
  const ok: List = { scores: [0.1, 0.2], labels: [1, 0], teacher: [0.3, 0.1] };

  it('losses that need teacher scores and a positive are listed', () => {
    expect([...LOSSES_NEEDING_TEACHER].sort()).toEqual(['kl', 'margin-mse']);
    expect([...LOSSES_NEEDING_POSITIVE].sort()).toEqual(['infonce', 'margin-mse']);
    expect(lossNeedsTeacher('kl')).toBe(true);
    expect(lossNeedsTeacher('listnet')).toBe(false);
  });

  const cases: [string, LossName, List[], string][] = [
    ['a missing teacher', 'kl', [{ scores: [0.1, 0.2], labels: [1, 0] }], 'LOSS_NEEDS_TEACHER'],
    ['a missing teacher (margin-mse)', 'margin-mse', [ok, { scores: [0.1, 0.2], labels: [1, 0] }], 'LOSS_NEEDS_TEACHER'],
    ['a list without a positive (infonce)', 'infonce', [ok, { scores: [0.1, 0.2], labels: [0, 0] }], 'LOSS_NEEDS_POSITIVE'],
    ['a list without a positive (margin-mse)', 'margin-mse', [{ ...ok, labels: [0, 0] }], 'LOSS_NEEDS_POSITIVE'],
    ['an empty batch', 'listnet', [], 'LOSS_INPUT'],
    ['an empty list', 'listnet', [ok, { scores: [], labels: [] }], 'LOSS_INPUT'],
    ['scores and labels of different lengths', 'bce', [{ scores: [0.1, 0.2, 0.3], labels: [1, 0] }], 'LOSS_INPUT'],
    ['teacher scores of a different length', 'kl', [{ ...ok, teacher: [1] }], 'LOSS_INPUT'],
    ['a NaN label', 'listnet', [{ scores: [0.1, 0.2], labels: [NaN, 0] }], 'LOSS_INPUT'],
    ['a non-finite teacher score', 'kl', [{ ...ok, teacher: [Infinity, 0] }], 'LOSS_INPUT'],
    ['a negative label for an NDCG loss', 'lambdaloss', [{ scores: [0.1, 0.2], labels: [-1, 1] }], 'LOSS_INPUT'],
  ];
  for (const [what, name, lists, code] of cases) {
    it(`${what} is an InputError (${code})`, () => {
      for (const f of [() => lossCpu(name, {}, lists), () => checkLossInput(name, lists)]) {
        expect(f).toThrow(InputError);
        try {
          f();
        } catch (e) {
          expect((e as InputError).code).toBe(code);
        }
      }
    });
  }

  it('bad options are InputErrors (LOSS_OPTIONS)', () => {
    const bad: [LossName, LossOptions][] = [
      ['lambdaloss', { lambdaScheme: 'ndcg3' as never }],
      ['lambdaloss', { sigma: 0 }],
      ['lambdaloss', { reductionLog: 'ten' as never }],
      ['lambdaloss', { mu: -1 }],
      ['approx-ndcg', { alpha: NaN }],
      ['neural-ndcg', { temperature: -1 }],
      ['neural-ndcg', { sinkhornMaxIter: 0 }],
      ['neural-ndcg', { sinkhornMaxIter: 2.5 }],
      ['listmle', { respectInputOrder: 'yes' as never }],
      ['nope' as LossName, {}],
    ];
    for (const [name, o] of bad) {
      expect(() => lossCpu(name, o, [ok]), `${name} ${JSON.stringify(o)}`).toThrow(expect.objectContaining({ code: 'LOSS_OPTIONS' }));
    }
  });

  it('a NaN score gives a NaN loss and NaN gradients for its list (no exception)', () => {
    for (const name of LOSS_NAMES) {
      const got = lossCpu(name, {}, [ok, { ...ok, scores: [NaN, 0.5] }]);
      expect(got.loss, name).toBeNaN();
      expect(got.grads[1].every(Number.isNaN), name).toBe(true);
    }
  });

  it('a batch with nothing to count has loss 0 and zero gradients (ranknet over all-zero labels)', () => {
    const got = lossCpu('ranknet', {}, [{ scores: [0.3, 0.1], labels: [0, 0] }, { scores: [2], labels: [1] }]);
    expect(got.loss).toBe(0);
    expect(got.grads.flat().every((g) => g === 0)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------

let rt: GpuRuntime;
let losses: Losses;
beforeAll(async () => {
  rt = await GpuRuntime.create();
  losses = await Losses.create(rt);
});
afterAll(() => {
  losses?.destroy();
  rt?.destroy();
});

const f32 = (v: number[]): number[] => v.map(Math.fround);
const asF32 = (lists: List[]): List[] => lists.map((l) => ({ scores: f32(l.scores), labels: f32(l.labels), ...(l.teacher ? { teacher: f32(l.teacher) } : {}) }));

async function gpuLoss(name: LossName, o: LossOptions, lists: List[], extra: { maxListLength?: number; withTeacher?: boolean } = {}): Promise<{ loss: number; grads: number[][]; bits: Uint32Array }> {
  const sizes = lists.map((l) => l.scores.length);
  const offsets = Uint32Array.from([0, ...sizes.map((_, q) => sizes.slice(0, q + 1).reduce((a, b) => a + b, 0))]);
  const rows = offsets[lists.length];
  const flat = (key: 'scores' | 'labels' | 'teacher'): Float32Array => Float32Array.from(lists.flatMap((l) => l[key] ?? l.scores.map(() => 0)));
  const dScores = await rt.storageBuffer(new Float32Array(rows).fill(12345));
  const loss = await rt.storageBuffer(Float32Array.of(12345));
  const teacher = extra.withTeacher ?? lists.every((l) => l.teacher);
  rt.dispatch(
    losses.steps(name, o, {
      lists: lists.length,
      rows,
      offsets: await rt.storageBuffer(offsets),
      scores: await rt.storageBuffer(flat('scores')),
      labels: await rt.storageBuffer(flat('labels')),
      ...(teacher ? { teacher: await rt.storageBuffer(flat('teacher')) } : {}),
      loss,
      dScores,
      ...(extra.maxListLength ? { maxListLength: extra.maxListLength } : {}),
    }),
  );
  const [l, g] = await rt.read([loss, dScores]);
  const grad = Array.from(new Float32Array(g));
  let at = 0;
  return { loss: new Float32Array(l)[0], grads: sizes.map((n) => grad.slice(at, (at += n))), bits: new Uint32Array([...new Uint32Array(l), ...new Uint32Array(g)]) };
}

/** |a − b| / (1 + |b|) over the loss and every gradient. */
function worst(got: { loss: number; grads: number[][] }, want: { loss: number; grads: number[][] }): number {
  const a = [got.loss, ...got.grads.flat()];
  const b = [want.loss, ...want.grads.flat()];
  let e = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i]));
    e = Number.isNaN(d) ? Infinity : Math.max(e, d);
  }
  return e;
}

describe('Losses (GPU) against lossCpu', () => {
  // The golden batches (ties, all-zero labels, a one-document list) plus random ragged lists with a
  // long one (more documents than a workgroup has invocations).
  const long = (() => {
    const rand = rng(99);
    const n = 150;
    return {
      scores: Array.from(randn(n, rand, 2)),
      labels: Array.from({ length: n }, () => (rand() < 0.15 ? 1 + Math.floor(rand() * 3) : 0)),
      teacher: Array.from(randn(n, rand, 2)),
    };
  })();
  const batches: { name: string; lists: List[] }[] = [...GOLDENS.batches, { name: 'random ragged lists + a 150-document list', lists: [...randomLists(5, 5), long] }];
  // neural-ndcg: f32 and f64 Sinkhorn stop after different iterations at the default tolerance, so the
  // exact comparison pins the count (no iteration meets the tolerance); the default is checked below.
  const gpuVariants: [LossName, LossOptions][] = VARIANTS.map(([n, o]) => [n, n === 'neural-ndcg' ? { ...o, sinkhornTol: 1e-30, sinkhornMaxIter: 30 } : o]);

  for (const [name, options] of gpuVariants) {
    it(`${label(name, options)}: loss and d loss / d scores within 1e-5 on every batch`, async () => {
      for (const { name: batch, lists } of batches) {
        if (LOSSES_NEEDING_POSITIVE.includes(name) && lists.some((l) => !l.labels.some((y) => y > 0))) continue;
        const input = asF32(lists);
        const got = await gpuLoss(name, options, input);
        expect(worst(got, lossCpu(name, options, input)), batch).toBeLessThan(1e-5);
      }
    });
  }

  it('neural-ndcg with the default tolerance stays within 1e-4 of the f64 reference', async () => {
    for (const { name: batch, lists } of batches) {
      const input = asF32(lists);
      expect(worst(await gpuLoss('neural-ndcg', {}, input), lossCpu('neural-ndcg', {}, input)), batch).toBeLessThan(1e-4);
    }
  });

  it('is bit-identical across runs', async () => {
    const lists = asF32([...randomLists(11, 6)]);
    for (const name of ['lambdaloss', 'neural-ndcg', 'listmle', 'approx-ndcg'] as LossName[]) {
      const a = await gpuLoss(name, {}, lists);
      const b = await gpuLoss(name, {}, lists);
      expect(Array.from(a.bits), name).toEqual(Array.from(b.bits));
    }
  });

  it('a NaN or infinite score gives a NaN loss and NaN gradients for that list, other lists stay finite', async () => {
    const lists = asF32(randomLists(3, 3));
    for (const name of LOSS_NAMES) {
      for (const bad of [NaN, Infinity]) {
        const input = lists.map((l, q) => (q === 1 ? { ...l, scores: [bad, ...l.scores.slice(1)] } : l));
        const got = await gpuLoss(name, {}, input);
        expect(got.loss, `${name} ${bad}`).toBeNaN();
        expect(got.grads[1].every(Number.isNaN), `${name} ${bad}`).toBe(true);
        expect(got.grads[0].every(Number.isFinite), `${name} ${bad}`).toBe(true);
      }
    }
  });

  it('a list without a positive that reached the GPU anyway gives NaN (infonce, margin-mse)', async () => {
    const lists = asF32([{ scores: [0.1, 0.4], labels: [0, 0], teacher: [0, 1] }, { scores: [0.3, 0.2], labels: [1, 0], teacher: [1, 0] }]);
    for (const name of LOSSES_NEEDING_POSITIVE) expect((await gpuLoss(name, {}, lists)).loss, name).toBeNaN();
  });

  it('neural-ndcg lists longer than maxListLength give NaN rather than overrunning the scratch', async () => {
    const lists = asF32(randomLists(4, 3));
    const longest = Math.max(...lists.map((l) => l.scores.length));
    expect((await gpuLoss('neural-ndcg', {}, lists, { maxListLength: longest - 1 })).loss).toBeNaN();
    expect(Number.isFinite((await gpuLoss('neural-ndcg', {}, lists, { maxListLength: longest })).loss)).toBe(true);
  });

  it('steps() refuses a missing teacher, bad shapes and bad options with InputErrors', async () => {
    const lists = asF32(randomLists(2, 2));
    await expect(gpuLoss('kl', {}, lists, { withTeacher: false })).rejects.toThrow(expect.objectContaining({ code: 'LOSS_NEEDS_TEACHER' }));
    await expect(gpuLoss('lambdaloss', { lambdaScheme: 'x' as never }, lists)).rejects.toThrow(expect.objectContaining({ code: 'LOSS_OPTIONS' }));
    await expect(gpuLoss('neural-ndcg', {}, lists, { maxListLength: 0.5 })).rejects.toThrow(InputError);
    const buf = await rt.storageBuffer(new Float32Array(4));
    const args = { offsets: buf, scores: buf, labels: buf, loss: buf, dScores: buf };
    expect(() => losses.steps('listnet', {}, { ...args, lists: 0, rows: 4 })).toThrow(InputError);
    expect(() => losses.steps('listnet', {}, { ...args, lists: 3, rows: 2 })).toThrow(InputError);
  });
});
