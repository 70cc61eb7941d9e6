#!/usr/bin/env node
// GPU check of the BERT forward for machines without vitest (e.g. the lent GPU machine, next to
// scripts/device/check.sh): runs the built dist/ on the default adapter and prints one JSON object.
//   tiny-bert f32 logits and hidden states vs PyTorch goldens, f16 vs f32 (Kendall τ), both attention
//   variants vs the CPU reference; exit 1 when a bar is missed.
// Usage: npm run build:ts && node scripts/check-bert-gpu.mjs
import { readFileSync } from 'node:fs';
import { GpuRuntime } from '../dist/gpu/index.js';
import { BertGpu } from '../dist/model/bert.js';
import { Attention, attentionCpu } from '../dist/model/kernels/attention.js';
import { pack, unpack } from '../dist/model/kernels/common.js';
import { loadModel } from '../dist/model/load.js';

const golden = (name) => JSON.parse(readFileSync(new URL(`../test/fixtures/goldens/${name}.json`, import.meta.url), 'utf8')).cases;
const batchOf = (rows) => ({
  ids: rows.flatMap((r) => r.input_ids),
  typeIds: rows.flatMap((r) => r.token_type_ids),
  lengths: rows.map((r) => r.input_ids.length),
  paddedLength: Math.max(...rows.map((r) => r.input_ids.length)),
  size: rows.length,
});
const maxAbs = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
function kendall(a, b) {
  let s = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) for (let j = i + 1; j < a.length; j++, n++) s += Math.sign(a[i] - a[j]) * Math.sign(b[i] - b[j]);
  return s / n;
}

const rt = await GpuRuntime.create({ optionalFeatures: ['shader-f16'], powerPreference: 'high-performance' });
const report = { adapter: rt.report.description || rt.report.device, software: rt.report.software, checks: {} };
let ok = true;
const check = (name, value, pass) => {
  report.checks[name] = { value, pass };
  ok &&= pass;
};
try {
  const model = await loadModel(new URL('../test/fixtures/models/tiny-bert', import.meta.url).pathname);
  const cases = golden('tiny-bert-logits');
  const f32 = await BertGpu.create(rt, model, { dtype: 'f32', maxTokens: 64 * 128, maxRows: 64 });
  const logits = await f32.forward(batchOf(cases));
  check('tiny-bert f32 logits max |Δ|', maxAbs(logits, cases.flatMap((c) => c.logits)), maxAbs(logits, cases.flatMap((c) => c.logits)) <= 1e-4);
  const hidden = golden('tiny-bert-hidden');
  const hb = batchOf(hidden);
  const states = await f32.hiddenStates(hb);
  const H = model.config.hiddenSize;
  let worst = 0;
  hidden.forEach((c, r) => {
    const row = (s) => s.subarray(r * hb.paddedLength * H, (r * hb.paddedLength + c.input_ids.length) * H);
    worst = Math.max(worst, maxAbs(row(states[0]), c.embeddings.flat()), ...c.layers.map((l, i) => maxAbs(row(states[i + 1]), l.flat())));
  });
  check('tiny-bert f32 hidden states max |Δ|', worst, worst <= 1e-4);
  if (rt.hasFeature('shader-f16')) {
    const f16 = await BertGpu.create(rt, model, { dtype: 'f16', maxTokens: 64 * 128, maxRows: 64 });
    const half = await f16.forward(batchOf(cases));
    check('tiny-bert f16 vs f32 Kendall τ (50 pairs)', kendall(logits, half), kendall(logits, half) >= 0.99);
    f16.dispose();
  }
  f32.dispose();

  // Both attention variants on a ragged batch at MiniLM's head size.
  const shape = { batch: 5, length: 77, heads: 3, headDim: 32 };
  const lengths = Uint32Array.of(77, 1, 40, 64, 13);
  const n = 5 * 77 * 96;
  const [q, k, v] = [1, 2, 3].map((s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 * s) * 3));
  const want = attentionCpu(q, k, v, lengths, shape);
  for (const dtype of rt.hasFeature('shader-f16') ? ['f32', 'f16'] : ['f32']) {
    for (const variant of ['blocked', 'tiled']) {
      const attn = await Attention.create(rt, { dtype, headDim: 32, variant });
      const [bq, bk, bv] = await Promise.all([q, k, v].map((a) => rt.storageBuffer(pack(a, dtype))));
      const out = await rt.storageBuffer(n * 4);
      rt.dispatch(attn.step({ ...shape, lengths: await rt.storageBuffer(lengths), q: bq, k: bk, v: bv, out }));
      const [bytes] = await rt.read([out]);
      const err = maxAbs(unpack(bytes, dtype, n), want);
      check(`attention ${variant} ${dtype} max |Δ| vs CPU`, err, err <= (dtype === 'f16' ? 2e-2 : 1e-4));
      attn.destroy();
    }
  }
} catch (err) {
  report.error = String(err?.stack ?? err);
  ok = false;
} finally {
  rt.destroy();
}
report.ok = ok;
console.log(JSON.stringify(report, null, 2));
process.exit(ok ? 0 : 1);
