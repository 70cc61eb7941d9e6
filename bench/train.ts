/**
 * `npm run bench -- train [--configs tiny,minilm] [--steps N] [--loss NAME]`
 *
 * Training throughput of `train()` (src/train/trainer.ts) on this machine's WebGPU adapter, one config at a
 * time, on Cranfield lists (BEIR folder + the BM25 run: real abstracts, BM25 hard negatives):
 * - `tiny`: the 2-layer, 32-wide test cross-encoder, 4 queries × 8 documents per step, 128 tokens;
 * - `minilm`: all-MiniLM-L6-v2 with a fresh head, 2 queries × 4 documents per step, 128 tokens.
 * Reports steps/s and tokens/s (real and padded) over the steps after the first (which also compiles the
 * pipelines), and the peak GPU memory: the most bytes held at once by the GPU buffers created on the device
 * during the run (parameters, gradients, Adam moments, activations, scratch, uniforms), counted by wrapping
 * `device.createBuffer` and `GPUBuffer.destroy`; readback staging buffers (MAP_READ, freed right after each
 * read) are left out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GpuRuntime } from '../src/gpu/index.js';
import { train, type StepLog, type TrainOptions } from '../src/train/trainer.js';
import type { LossName } from '../src/train/losses.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Config {
  model: string;
  batchQueries: number;
  docsPerQuery: number;
  maxLength: number;
}

const CONFIGS: Record<string, Config> = {
  tiny: { model: 'test/fixtures/models/tiny-bert', batchQueries: 4, docsPerQuery: 8, maxLength: 128 },
  minilm: { model: 'models/all-MiniLM-L6-v2', batchQueries: 2, docsPerQuery: 4, maxLength: 128 },
};

interface Args {
  configs: string[];
  steps: number;
  loss: LossName;
}

function parseArgs(args: string[]): Args {
  const a: Args = { configs: Object.keys(CONFIGS), steps: 6, loss: 'listnet' };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--configs') a.configs = value.split(',');
    else if (flag === '--steps') a.steps = Number(value);
    else if (flag === '--loss') a.loss = value as LossName;
    else throw new Error(`unknown flag ${flag}`);
  }
  for (const c of a.configs) if (!(c in CONFIGS)) throw new Error(`unknown config ${c} (known: ${Object.keys(CONFIGS).join(', ')})`);
  if (!Number.isInteger(a.steps) || a.steps < 2) throw new Error('--steps must be an integer >= 2 (the first step is warm-up)');
  return a;
}

/** Live and peak bytes of the buffers created on `device` (MAP_READ staging excluded). */
function trackBuffers(device: GPUDevice): { live: () => number; peak: () => number; reset: () => void } {
  let live = 0;
  let peak = 0;
  const create = device.createBuffer.bind(device);
  device.createBuffer = (desc: GPUBufferDescriptor): GPUBuffer => {
    const buffer = create(desc);
    if ((desc.usage & GPUBufferUsage.MAP_READ) !== 0) return buffer;
    const size = buffer.size;
    live += size;
    peak = Math.max(peak, live);
    const destroy = buffer.destroy.bind(buffer);
    let freed = false;
    buffer.destroy = () => {
      if (!freed) {
        freed = true;
        live -= size;
      }
      destroy();
    };
    return buffer;
  };
  return { live: () => live, peak: () => peak, reset: () => (peak = live) };
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

export async function run(argv: string[]): Promise<unknown> {
  const args = parseArgs(argv);
  const rt = await GpuRuntime.create();
  const memory = trackBuffers(rt.device);
  const results: Record<string, unknown> = {};
  try {
    for (const name of args.configs) {
      const c = CONFIGS[name];
      const out = mkdtempSync(join(tmpdir(), `gpurank-bench-train-${name}-`));
      memory.reset();
      const before = memory.live();
      const logs: StepLog[] = [];
      const options: TrainOptions = {
        model: join(ROOT, c.model),
        train: join(ROOT, 'data/cranfield'),
        trainRun: join(ROOT, 'data/cranfield/bm25-top100.run'),
        loss: args.loss,
        out,
        steps: args.steps,
        lr: 2e-5,
        batchQueries: c.batchQueries,
        docsPerQuery: c.docsPerQuery,
        maxLength: c.maxLength,
        // The model config's dropout: the timing includes the dropout kernels, as real training does.
        device: rt,
      };
      const t = performance.now();
      await train(options, { onStep: (log) => logs.push(log) });
      const wall = (performance.now() - t) / 1000;
      rmSync(out, { recursive: true, force: true });
      const timed = logs.slice(1);
      const seconds = logs.at(-1)!.elapsed_s - logs[0].elapsed_s;
      const tokens = timed.reduce((s, l) => s + l.tokens, 0);
      const padded = timed.reduce((s, l) => s + l.padded_tokens, 0);
      results[name] = {
        model: c.model,
        rows_per_step: c.batchQueries * c.docsPerQuery,
        max_length: c.maxLength,
        steps_timed: timed.length,
        steps_per_s: round(timed.length / seconds),
        s_per_step: round(seconds / timed.length),
        tokens_per_s: round(tokens / seconds, 1),
        padded_tokens_per_s: round(padded / seconds, 1),
        mean_tokens_per_step: round(tokens / timed.length, 1),
        peak_gpu_bytes: memory.peak() - before,
        peak_gpu_mib: round((memory.peak() - before) / 2 ** 20, 1),
        wall_s_including_setup_and_checkpoint: round(wall, 1),
        final_loss: logs.at(-1)!.loss,
      };
    }
  } finally {
    rt.destroy();
  }
  return {
    suite: 'train',
    adapter: rt.report,
    workload: {
      data: 'data/cranfield (BEIR) + bm25-top100.run: BM25 hard negatives',
      loss: args.loss,
      steps: args.steps,
      timing: 'steps 2..N (step 1 compiles pipelines); a step = forward + loss + backward + grad norm + AdamW, with the config dropout',
      memory: 'peak bytes of live GPU buffers created on the device during train() (readback staging excluded)',
    },
    // The CPU adapter shares the machine's cores: other load slows it down.
    load_average_1_5_15_min: loadavg().map((x) => round(x, 2)),
    results,
  };
}
