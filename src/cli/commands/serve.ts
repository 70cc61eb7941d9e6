/**
 * `gpurank serve`: loads the model once and serves the rerank HTTP API until SIGTERM/SIGINT, then shuts down
 * gracefully (in-flight requests are answered) and exits 0. A second signal exits at once with 1.
 */
import { basename, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { GpurankError } from '../../errors.js';
import { SERVER_DEFAULTS, createServer, shutdown } from '../../server/index.js';
import { addModelOptions, loadReranker, positiveInt, type ModelFlags } from './model-options.js';

interface ServeFlags extends ModelFlags {
  port: number;
  host: string;
  apiKey?: string;
  maxDocuments: number;
  maxBodyBytes: number;
  concurrency: number;
  queue: number;
  timeoutMs: number;
}

function intInRange(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

export function registerServe(program: Command): void {
  addModelOptions(program.command('serve').description('serve the rerank HTTP API (Cohere /v1/rerank, TEI /rerank, /health, /metrics)'))
    .option('--port <n>', 'TCP port (0: any free port)', intInRange(0, 65535), 8080)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--api-key <key>', 'require "Authorization: Bearer <key>" on the rerank routes (default: $GPURANK_API_KEY)')
    .option('--max-documents <n>', 'most documents per request (413 above)', positiveInt, SERVER_DEFAULTS.maxDocuments)
    .option('--max-body-bytes <n>', 'largest request body (413 above)', positiveInt, SERVER_DEFAULTS.maxBodyBytes)
    .option('--concurrency <n>', 'rerank requests scored at once', positiveInt, SERVER_DEFAULTS.concurrency)
    .option('--queue <n>', 'rerank requests that may wait for a slot (429 above)', intInRange(0, 1_000_000), SERVER_DEFAULTS.queue)
    .option('--timeout-ms <n>', 'deadline per rerank request, queueing included (504 after)', positiveInt, SERVER_DEFAULTS.timeoutMs)
    .action(async (flags: ServeFlags) => {
      const reranker = await loadReranker(flags);
      const app = createServer(reranker, {
        apiKey: flags.apiKey ?? (process.env.GPURANK_API_KEY || undefined),
        maxDocuments: flags.maxDocuments,
        maxBodyBytes: flags.maxBodyBytes,
        concurrency: flags.concurrency,
        queue: flags.queue,
        timeoutMs: flags.timeoutMs,
        modelName: basename(resolve(flags.model)),
        logger: { level: process.env.GPURANK_LOG_LEVEL ?? 'info', stream: process.stderr },
      });
      let address: string;
      try {
        address = await app.listen({ port: flags.port, host: flags.host });
      } catch (err) {
        await reranker.dispose();
        throw new GpurankError(`cannot listen on ${flags.host}:${flags.port}: ${(err as Error).message}`, { code: 'LISTEN_FAILED', cause: err });
      }
      process.stderr.write(`gpurank: serving ${reranker.kind} ${flags.model} on ${address}\n`);
      const signal = await new Promise<NodeJS.Signals>((done) => {
        process.once('SIGTERM', done);
        process.once('SIGINT', done);
      });
      process.stderr.write(`gpurank: ${signal}: finishing in-flight requests, then exiting\n`);
      const force = () => process.exit(1);
      process.once('SIGTERM', force);
      process.once('SIGINT', force);
      await shutdown(app, reranker);
      process.stderr.write('gpurank: stopped\n');
    });
}
