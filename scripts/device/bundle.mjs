#!/usr/bin/env node
/**
 * Bundles the benchmarks (bench/run.ts: score, matmul) and the CLI into single ESM files under
 * .cache/device/ for a GPU machine that has Node (unpacked from pack.sh) but no TypeScript, tsx or dist/.
 *
 * Paths: the sources find shaders, data and the WASM core relative to their own `import.meta.url`, at
 * different depths (src/model/kernels → ../../../shaders, bench → .., src/core → ../../crates). In one
 * bundle they would all resolve against the bundle's URL, so each file's `import.meta.url` is rewritten to
 * its original location. The WASM glue is loaded by a computed `import()` that esbuild leaves alone and that
 * resolves against the bundle itself: the bundle therefore sits two levels below the repo root
 * (.cache/device/), like src/core/wasm.ts. `webgpu` (native addon) and `onnxruntime-node` (absent on the
 * device; only imported when an ONNX file exists) stay external.
 */
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = join(ROOT, '.cache/device');

const originalUrls = {
  name: 'original-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const rel = relative(OUT, args.path).split('\\').join('/');
      const url = `new URL(${JSON.stringify(rel)}, import.meta.url).href`;
      return { contents: source.replaceAll('import.meta.url', url), loader: 'ts' };
    });
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['webgpu', 'onnxruntime-node', '@huggingface/transformers'],
  plugins: [originalUrls],
  logLevel: 'warning',
  // Bundled CommonJS dependencies (commander) call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
};

await build({ ...common, entryPoints: [join(ROOT, 'bench/run.ts')], outfile: join(OUT, 'bench.mjs') });
await build({
  ...common,
  stdin: {
    contents: "import { main } from './src/cli/index.ts';\nmain(process.argv).then((c) => process.exit(c), () => process.exit(1));\n",
    resolveDir: ROOT,
    sourcefile: 'gpurank-cli.ts',
    loader: 'ts',
  },
  outfile: join(OUT, 'gpurank.mjs'),
});
