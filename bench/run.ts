/**
 * `npm run bench -- <suite> [args]`: runs one benchmark suite and prints its result as one JSON
 * document on stdout. Suites register here by name; each lives in its own file.
 */
type Suite = (args: string[]) => Promise<unknown>;

const suites: Record<string, Suite> = {
  tokenize: async (args) => (await import('./tokenize.js')).run(args),
  score: async (args) => (await import('./score.js')).run(args),
  matmul: async (args) => (await import('./matmul.js')).run(args),
  load: async (args) => (await import('./load.js')).run(args),
  train: async (args) => (await import('./train.js')).run(args),
};

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const suite = name === undefined ? undefined : suites[name];
  if (!suite) {
    process.stderr.write(`usage: npm run bench -- <suite> [args]\nsuites: ${Object.keys(suites).join(', ')}\n`);
    return 2;
  }
  const result = await suite(args);
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
