/** Flags shared by the commands that load a model: `score`, `rerank` (and later `serve`). */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Reranker, type RerankerOptions } from '../../rerank/reranker.js';

export interface ModelFlags {
  model: string;
  maxLength?: number;
  dtype: 'f32' | 'f16' | 'auto';
  batchTokens?: number;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function addModelOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--model <dir>', 'Hugging Face model directory (config.json, model.safetensors, tokenizer files)')
    .option('--max-length <n>', "most tokens per (query, document) pair (default: the model's, at most 512)", positiveInt)
    .addOption(new Option('--dtype <dtype>', 'GPU compute precision; f16 needs shader-f16').choices(['f32', 'f16', 'auto']).default('f32'))
    .option('--batch-tokens <n>', 'padded tokens per GPU batch (bounds GPU memory)', positiveInt);
}

export function loadReranker(flags: ModelFlags): Promise<Reranker> {
  const options: RerankerOptions = { maxLength: flags.maxLength, dtype: flags.dtype, batchTokens: flags.batchTokens };
  return Reranker.load(flags.model, options);
}
