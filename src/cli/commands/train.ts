/**
 * `gpurank train`: fine-tunes a cross-encoder on listwise data (see src/train/trainer.ts).
 *
 * Output: with `--log-json`, stdout carries one JSON line per optimizer step,
 * `{"step","loss","lr","grad_norm","epoch","tokens","elapsed_s"}` (plus `"skipped":true` on a skipped
 * update), and one per evaluation, `{"eval":true,"step","ndcg@10","mrr@10","queries"}`; the same lines go to
 * `<out>/train_log.jsonl` either way. Without it, a progress bar on stderr shows the loss, throughput and
 * ETA. Warnings are `gpurank: warning: …` lines on stderr.
 */
import { SingleBar } from 'cli-progress';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { LOSS_NAMES, type LossName } from '../../train/losses.js';
import { TRAIN_DEFAULTS, evalLine, train, type LambdaScheme, type TrainOptions } from '../../train/trainer.js';
import { positiveInt } from './model-options.js';

interface TrainFlags {
  model: string;
  train: string;
  run?: string;
  eval?: string;
  evalRun?: string;
  loss: LossName;
  out: string;
  steps?: number;
  epochs?: number;
  lr: number;
  batchQueries: number;
  docsPerQuery: number;
  maxLength?: number;
  warmup: number;
  weightDecay: number;
  maxGradNorm: number;
  seed: number;
  shuffle: boolean;
  dropout?: number;
  evalEvery: number;
  saveEvery: number;
  resume?: string;
  lambdaScheme?: LambdaScheme;
  layers?: number;
  logJson?: boolean;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected an integer >= 0');
  return n;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number >= 0');
  return n;
}

function probability(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n < 1)) throw new InvalidArgumentError('expected a number in [0, 1)');
  return n;
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('fine-tune a cross-encoder on listwise data with a learning-to-rank loss (writes a Hugging Face checkpoint)')
    .requiredOption('--model <dir>', 'Hugging Face model directory: a 1-label cross-encoder, or any BERT (a fresh head is trained)')
    .requiredOption('--train <path>', 'listwise JSONL {"query","documents","labels"[,"teacher_scores"]}, or a BEIR folder (+ --run)')
    .addOption(new Option('--loss <name>', 'learning-to-rank loss').choices(LOSS_NAMES).makeOptionMandatory())
    .requiredOption('--out <dir>', 'output directory: final checkpoint, checkpoint-<step>/, train_log.jsonl, report')
    .option('--run <file>', "TREC run of first-stage candidates for a BEIR --train folder (default: the folder's run file)")
    .option('--eval <path>', 'held-out data (same formats) for nDCG@10 / MRR@10 during and after training')
    .option('--eval-run <file>', 'TREC run for a BEIR --eval folder')
    .option('--steps <n>', 'optimizer steps (wins over --epochs)', positiveInt)
    .option('--epochs <n>', `passes over the training queries when --steps is not given (default ${TRAIN_DEFAULTS.epochs})`, positiveInt)
    .option('--lr <x>', 'peak learning rate', nonNegativeNumber, TRAIN_DEFAULTS.lr)
    .option('--batch-queries <n>', 'queries (lists) per step', positiveInt, TRAIN_DEFAULTS.batchQueries)
    .option('--docs-per-query <n>', 'documents sampled per list (one positive kept where there is one)', positiveInt, TRAIN_DEFAULTS.docsPerQuery)
    .option('--max-length <n>', "most tokens per (query, document) pair (default: the model's, at most 512)", positiveInt)
    .option('--warmup <x>', 'linear warmup: a fraction of the steps (< 1) or a step count', nonNegativeNumber, TRAIN_DEFAULTS.warmup)
    .option('--weight-decay <x>', 'AdamW decoupled weight decay (not on biases and LayerNorm)', nonNegativeNumber, TRAIN_DEFAULTS.weightDecay)
    .option('--max-grad-norm <x>', 'clip the global gradient norm to this (0: no clipping)', nonNegativeNumber, TRAIN_DEFAULTS.maxGradNorm)
    .option('--seed <n>', 'seed of the query order, the document sampling, dropout and a fresh head', nonNegativeInt, TRAIN_DEFAULTS.seed)
    .option('--no-shuffle', 'keep the file order of the queries')
    .option('--dropout <p>', "hidden, attention and classifier dropout (default: the model config's)", probability)
    .option('--eval-every <n>', 'evaluate on --eval every n steps (0: only at the end)', nonNegativeInt, TRAIN_DEFAULTS.evalEvery)
    .option('--save-every <n>', 'also write <out>/checkpoint-<step>/ every n steps (0: only the final checkpoint)', nonNegativeInt, TRAIN_DEFAULTS.saveEvery)
    .option('--resume <dir>', 'continue bit-exactly from a checkpoint directory this command wrote')
    .addOption(new Option('--lambda-scheme <name>', 'LambdaLoss weighting scheme (lambdaloss only; default ndcg2pp)').choices(['ndcg2pp', 'lambdarank', 'ndcg1', 'ndcg2', 'none']))
    .option('--layers <n>', 'keep only the first n encoder layers of the model', positiveInt)
    .option('--log-json', 'print one JSON line per step (and per evaluation) on stdout instead of a progress bar')
    .action(async (flags: TrainFlags) => {
      const options: TrainOptions = {
        model: flags.model,
        train: flags.train,
        trainRun: flags.run,
        eval: flags.eval,
        evalRun: flags.evalRun,
        loss: flags.loss,
        out: flags.out,
        steps: flags.steps,
        epochs: flags.epochs,
        lr: flags.lr,
        batchQueries: flags.batchQueries,
        docsPerQuery: flags.docsPerQuery,
        maxLength: flags.maxLength,
        warmup: flags.warmup,
        weightDecay: flags.weightDecay,
        maxGradNorm: flags.maxGradNorm,
        seed: flags.seed,
        shuffle: flags.shuffle,
        dropout: flags.dropout,
        evalEvery: flags.evalEvery,
        saveEvery: flags.saveEvery,
        resume: flags.resume,
        lambdaScheme: flags.lambdaScheme,
        layers: flags.layers,
      };
      const json = flags.logJson === true;
      let bar: SingleBar | undefined;
      let tokens = 0;
      let t0 = 0;
      let startStep = 0;
      const stderr = (line: string) => {
        // Keep the bar on its own line: a message printed under it moves it down one line.
        if (bar && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
        process.stderr.write(`${line}\n`);
      };
      try {
        const result = await train(options, {
          onStart(info) {
            startStep = info.startStep;
            t0 = performance.now();
            if (json) return;
            stderr(
              `gpurank: training ${info.options.loss} on ${info.trainQueries} queries (${info.evalQueries} held out), ` +
                `steps ${info.startStep + 1}..${info.totalSteps} on ${info.device}`,
            );
            bar = new SingleBar({
              stream: process.stderr,
              format: 'train |{bar}| {value}/{total} | loss {loss} | {steps_s} steps/s, {tokens_s} tok/s | ETA {eta_formatted}',
              barsize: 24,
              hideCursor: null,
              // Without a terminal, print the line every 10 s instead of redrawing it.
              noTTYOutput: true,
              notTTYSchedule: 10_000,
            });
            bar.start(info.totalSteps, info.startStep, { loss: '-', steps_s: '-', tokens_s: '-' });
          },
          onStep(log) {
            if (json) {
              process.stdout.write(JSON.stringify(log) + '\n');
              return;
            }
            tokens += log.tokens;
            const s = (performance.now() - t0) / 1000;
            bar?.update(log.step, {
              loss: log.loss === null ? 'NaN' : log.loss.toFixed(4),
              steps_s: ((log.step - startStep) / s).toFixed(2),
              tokens_s: Math.round(tokens / s).toString(),
            });
          },
          onEval(e) {
            if (json) process.stdout.write(JSON.stringify(evalLine(e)) + '\n');
            else stderr(`gpurank: step ${e.step}: nDCG@10 ${e.ndcg10.toFixed(4)}, MRR@10 ${e.mrr10.toFixed(4)} over ${e.queries} held-out queries`);
          },
          onWarning(message) {
            stderr(`gpurank: warning: ${message}`);
          },
        });
        bar?.stop();
        bar = undefined;
        if (!json) stderr(`gpurank: trained to step ${result.steps.at(-1)?.step ?? 0}${result.skipped ? ` (${result.skipped} skipped)` : ''}; checkpoint in ${result.out}`);
      } finally {
        bar?.stop();
      }
    });
}
