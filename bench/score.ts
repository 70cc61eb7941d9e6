/**
 * `npm run bench -- score [--model DIR] [--onnx FILE] [--runs N] [--docs N] [--tokens N] [--dump FILE]`
 *
 * One rerank call = one query against `docs` passages of about `tokens` tokens each (default 100 × 200),
 * with the default all-MiniLM-L6-v2 weights:
 * - gpurank on this machine's WebGPU adapter, f32 (and f16 when the adapter has shader-f16);
 * - onnxruntime-node (CPU, all cores) on the same weights exported by `scripts/export_onnx.py`, with the
 *   same token ids and sentence-transformers' batching (32 texts per run, length-sorted);
 * - the matmul micro-benchmark at BERT's FFN shape.
 * Reports pairs/s and p50/p95 latency per call, and how far the two engines' scores differ.
 * `--dump FILE` writes the workload ({query, docs}) as JSON, so other engines can time the same texts.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Reranker } from '../src/rerank/reranker.js';
import { Tokenizer } from '../src/core/tokenizer.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Args {
  model: string;
  onnx: string;
  runs: number;
  docs: number;
  tokens: number;
  dump: string;
}

function parseArgs(args: string[]): Args {
  const a: Args = {
    model: `${ROOT}models/all-MiniLM-L6-v2`,
    onnx: '',
    runs: 5,
    docs: 100,
    tokens: 200,
    dump: '',
  };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--model') a.model = value;
    else if (flag === '--onnx') a.onnx = value;
    else if (flag === '--dump') a.dump = value;
    else if (flag === '--runs' || flag === '--docs' || flag === '--tokens') a[flag.slice(2) as 'runs' | 'docs' | 'tokens'] = Number(value);
    else throw new Error(`unknown flag ${flag}`);
  }
  a.onnx ||= `${a.model}/onnx/model.onnx`;
  return a;
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function summary(ms: number[], pairs: number) {
  const s = [...ms].sort((x, y) => x - y);
  const p50 = percentile(s, 50);
  return {
    runs_ms: ms.map((x) => Math.round(x * 10) / 10),
    p50_ms: Math.round(p50 * 10) / 10,
    p95_ms: Math.round(percentile(s, 95) * 10) / 10,
    pairs_per_s: Math.round((pairs / (p50 / 1000)) * 10) / 10,
  };
}

/** Real passages (Cranfield + CISI abstracts) cut or joined to about `tokens` word pieces each. */
function passages(tok: Tokenizer, n: number, tokens: number): { query: string; docs: string[] } {
  const texts: string[] = [];
  for (const c of ['cranfield', 'cisi']) {
    for (const line of readFileSync(`${ROOT}data/${c}/corpus.jsonl`, 'utf8').split('\n')) {
      if (line.trim()) texts.push((JSON.parse(line) as { text: string }).text);
    }
  }
  const docs: string[] = [];
  let words: string[] = [];
  for (const t of texts) {
    words.push(...t.split(/\s+/).filter(Boolean));
    const enc = tok.encode([words.join(' ')], { maxLength: 100_000 });
    if (enc.lengths[0] >= tokens) {
      // Trim words until the passage is at most `tokens` pieces, special tokens included.
      while (tok.encode([words.join(' ')], { maxLength: 100_000 }).lengths[0] > tokens) words.pop();
      docs.push(words.join(' '));
      words = [];
      if (docs.length === n) break;
    }
  }
  return { query: 'what are the structural and aeroelastic problems associated with flight of high speed aircraft', docs };
}

export async function run(argv: string[]): Promise<unknown> {
  const args = parseArgs(argv);
  const tok = await Tokenizer.fromModelDir(args.model, { maxLength: 512 });
  const { query, docs } = passages(tok, args.docs, args.tokens);
  if (args.dump) writeFileSync(args.dump, JSON.stringify({ query, docs }) + '\n');
  const lengths = Array.from(tok.encode(docs, { maxLength: 512 }).lengths);
  const result: Record<string, unknown> = {
    suite: 'score',
    workload: {
      model: args.model.replace(ROOT, ''),
      query,
      docs: docs.length,
      mean_tokens: Math.round((lengths.reduce((a, b) => a + b, 0) / lengths.length) * 10) / 10,
      runs: args.runs,
      call: 'Reranker.score(query, docs): one rerank call',
    },
  };

  const gpurank: Record<string, unknown> = {};
  let reference: Float32Array | undefined;
  for (const dtype of ['f32', 'f16'] as const) {
    let reranker: Reranker;
    try {
      reranker = await Reranker.load(args.model, { dtype, maxLength: 512 });
    } catch (err) {
      gpurank[dtype] = { skipped: (err as Error).message };
      continue;
    }
    result.adapter ??= reranker.runtime.report;
    const scores = await reranker.score(query, docs); // warm-up: pipelines, first uploads
    const ms: number[] = [];
    for (let r = 0; r < args.runs; r++) {
      const t = performance.now();
      await reranker.score(query, docs);
      ms.push(performance.now() - t);
    }
    gpurank[dtype] = { ...summary(ms, docs.length), kind: reranker.kind };
    if (dtype === 'f32') reference = scores;
    else if (reference) (gpurank[dtype] as Record<string, unknown>).max_abs_diff_vs_f32 = maxAbsDiff(scores, reference);
    await reranker.dispose();
  }
  result.gpurank = gpurank;

  result.onnxruntime = existsSync(args.onnx)
    ? await onnxBench(args, tok, query, docs, reference)
    : { skipped: `${args.onnx} not found: run python3 scripts/export_onnx.py (needs torch)` };
  tok.dispose();

  const f32 = gpurank.f32 as { pairs_per_s?: number } | undefined;
  const ort = result.onnxruntime as { pairs_per_s?: number };
  if (f32?.pairs_per_s && ort.pairs_per_s) result.gpurank_f32_vs_onnxruntime = Math.round((f32.pairs_per_s / ort.pairs_per_s) * 100) / 100;

  const { run: matmul } = await import('./matmul.js');
  result.matmul = await matmul(['--dtype', 'f32', '--m', '16384']);
  return result;
}

async function onnxBench(args: Args, tok: Tokenizer, query: string, docs: string[], reference?: Float32Array) {
  const ort = await import('onnxruntime-node');
  const threads = cpus().length;
  const session = await ort.InferenceSession.create(args.onnx, { intraOpNumThreads: threads, graphOptimizationLevel: 'all' });
  const texts = [query, ...docs];
  const enc = tok.encode(texts, { maxLength: 512 });
  // sentence-transformers' encode: length-sorted, 32 per batch, padded to the batch's longest.
  const order = Array.from(texts.keys()).sort((a, b) => enc.lengths[b] - enc.lengths[a]);
  const embed = async (): Promise<Float32Array[]> => {
    const out: Float32Array[] = new Array(texts.length);
    for (let s = 0; s < order.length; s += 32) {
      const rows = order.slice(s, s + 32);
      const L = Math.max(...rows.map((r) => enc.lengths[r]));
      const ids = new BigInt64Array(rows.length * L);
      const mask = new BigInt64Array(rows.length * L);
      rows.forEach((r, i) => {
        for (let j = 0; j < enc.lengths[r]; j++) {
          ids[i * L + j] = BigInt(enc.ids[enc.offsets[r] + j]);
          mask[i * L + j] = 1n;
        }
      });
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
        input_ids: new ort.Tensor('int64', ids, [rows.length, L]),
        attention_mask: new ort.Tensor('int64', mask, [rows.length, L]),
      };
      if (session.inputNames.includes('token_type_ids')) feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(rows.length * L), [rows.length, L]);
      const res = await session.run(feeds);
      const t = res[session.outputNames[0]];
      const data = t.data as Float32Array;
      const dims = t.dims as number[];
      rows.forEach((r, i) => {
        if (dims.length === 3) {
          // Token embeddings: mean over real tokens, as the model's Pooling module does.
          const H = dims[2];
          const v = new Float32Array(H);
          for (let j = 0; j < enc.lengths[r]; j++) for (let h = 0; h < H; h++) v[h] += data[(i * L + j) * H + h];
          for (let h = 0; h < H; h++) v[h] /= enc.lengths[r];
          out[r] = v;
        } else {
          out[r] = data.slice(i * dims[1], (i + 1) * dims[1]);
        }
      });
    }
    return out;
  };
  const scoresOf = (emb: Float32Array[]) => Float32Array.from(emb.slice(1), (d) => cosine(emb[0], d));
  const scores = scoresOf(await embed());
  const ms: number[] = [];
  for (let r = 0; r < args.runs; r++) {
    const t = performance.now();
    scoresOf(await embed());
    ms.push(performance.now() - t);
  }
  await session.release();
  return {
    ...summary(ms, docs.length),
    threads,
    model: args.onnx.replace(ROOT, ''),
    ...(reference ? { max_abs_score_diff_vs_gpurank_f32: maxAbsDiff(scores, reference) } : {}),
  };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return dot / Math.sqrt(aa * bb);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
