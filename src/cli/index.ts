/**
 * The `gpurank` command. Argument handling only: each subcommand lives in
 * `commands/` and calls into the library. Errors become one line on stderr and a
 * non-zero exit code; set GPURANK_DEBUG=1 for the stack.
 */
import { Command, CommanderError } from 'commander';
import { GpurankError } from '../errors.js';
import { registerDoctor } from './commands/doctor.js';
import { registerTokenize } from './commands/tokenize.js';
import { registerEval } from './commands/eval.js';
import { registerDemo } from './commands/demo.js';
import { registerScore } from './commands/score.js';
import { registerRerank } from './commands/rerank.js';
import { registerServe } from './commands/serve.js';
import { registerTrain } from './commands/train.js';

export function buildProgram(): Command {
  const program = new Command('gpurank')
    .description('Re-rank search results with cross-encoders on WebGPU')
    .version('0.1.0')
    .showHelpAfterError(false)
    .exitOverride()
    // Commander's own errors (unknown flag or command, missing option) get the same one-line form as ours.
    .configureOutput({ outputError: (s, write) => write(`gpurank: ${s.trim().replace(/^error: /, '').replace(/\n+/g, ' ')}\n`) });
  registerDoctor(program);
  registerTokenize(program);
  registerEval(program);
  registerScore(program);
  registerRerank(program);
  registerServe(program);
  registerTrain(program);
  registerDemo(program);
  for (const cmd of program.commands) cmd.exitOverride().configureOutput(program.configureOutput());
  return program;
}

/** Runs the CLI and resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has already printed its one-line message; help and version exit 0.
    return err.exitCode;
  }
  if (process.env.GPURANK_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  if (err instanceof GpurankError) {
    process.stderr.write(`gpurank: ${err.message}\n`);
    return 1;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && e.code === 'ENOENT' && e.path) {
    process.stderr.write(`gpurank: no such file: ${e.path}\n`);
    return 1;
  }
  process.stderr.write(`gpurank: unexpected error: ${e?.message ?? String(err)}\n`);
  return 1;
}
