/**
 * The `navigator.gpu` path of src/gpu in headless Chromium (Debian's `chromium`, driven
 * by `playwright-core`; WebGPU runs on SwiftShader). The compiled dist/ (built by
 * `pretest`) is served as plain ES modules, so no Node module may be reachable from
 * the browser path. Skipped where /usr/bin/chromium is absent.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = join(root, 'dist');
const page = fileURLToPath(new URL('gpu-page.html', import.meta.url));

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=native',
  '--use-angle=vulkan',
  '--ignore-gpu-blocklist',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

function serve(): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const file = path === '/' ? page : join(dist, path);
    if (!file.startsWith(dist) && file !== page) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      const type = extname(file) === '.html' ? 'text/html' : extname(file) === '.js' ? 'text/javascript' : 'application/octet-stream';
      res.writeHead(200, { 'content-type': type }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe.skipIf(!existsSync(CHROMIUM))('src/gpu in headless Chromium', () => {
  let server: Server;
  let result: Record<string, any>;

  beforeAll(async () => {
    if (!existsSync(join(dist, 'gpu', 'index.js'))) throw new Error('dist/ is not built: run `npm run build:ts` (npm test does it)');
    const { chromium } = await import('playwright-core');
    server = await serve();
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    try {
      const tab = await browser.newPage();
      await tab.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await tab.waitForFunction(() => (window as any).__result !== undefined, null, { timeout: 45_000 });
      result = await tab.evaluate(() => (window as any).__result);
    } finally {
      await browser.close();
    }
  }, 90_000);

  afterAll(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('acquires an adapter through navigator.gpu and reports it', () => {
    expect(result.error).toBeUndefined();
    expect(result.node).toBe(false);
    expect(result.report).toMatchObject({ runtime: 'browser', backend: 'unknown', software: true });
    expect(result.report.architecture).toBe('swiftshader');
    expect(result.report.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
  });

  it('runs a compute shader that matches the CPU reference, with a cached pipeline', () => {
    expect(result.got).toHaveLength(500);
    expect(result.got).toEqual(result.expected);
    expect(result.cached).toBe(true);
  });

  it('raises the same typed errors as in Node', () => {
    expect(result.compile).toMatchObject({ name: 'ShaderCompilationError', code: 'SHADER_COMPILATION', line: 2 });
    expect(result.lost).toMatchObject({ name: 'DeviceLostError', code: 'DEVICE_LOST' });
    expect(result.afterReacquire).toEqual([1, 2]);
    expect(result.noAdapter).toMatchObject({ name: 'NoAdapterError', code: 'NO_ADAPTER' });
    expect(result.noAdapter.message).toMatch(/does not match 'no-such-adapter'/);
  });
});
