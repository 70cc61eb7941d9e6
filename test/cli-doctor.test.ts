/**
 * `gpurank doctor` end to end: spawns the built CLI (dist/, built by `pretest`)
 * against the machine's real adapter (Mesa lavapipe here, a software adapter).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

function doctor(args: string[], env: NodeJS.ProcessEnv = {}) {
  const res = spawnSync(process.execPath, ['bin/gpurank.js', 'doctor', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  // Dawn and the Vulkan loader print their own "Warning:" lines to stderr; ours are lower-case.
  const stderr = res.stderr.split('\n').filter((l) => l && !/^(Warning:|\s+at )/.test(l));
  return { status: res.status, stdout: res.stdout, stderr };
}

/** The last stderr line is the CLI's one-line error when the WASM core is not built. */
function expectStatusMatchesCore(status: number | null, stderr: string[], wasmLoaded: boolean) {
  if (wasmLoaded) {
    expect(status).toBe(0);
  } else {
    expect(status).toBe(1);
    expect(stderr.at(-1)).toMatch(/^gpurank: the WASM core does not load: /);
  }
}

describe('gpurank doctor', () => {
  it('--json reports the lavapipe adapter as software with a warning', () => {
    const { status, stdout, stderr } = doctor(['--json']);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]);
    expect(report.adapter).toMatchObject({ runtime: 'node', backend: 'vulkan', vendor: 'mesa', software: true });
    expect(report.adapter.description).toMatch(/llvmpipe/);
    expect(report.adapter.features).toEqual(expect.arrayContaining(['shader-f16', 'subgroups']));
    expect(report.adapter.limits.maxComputeInvocationsPerWorkgroup).toBe(1024);
    expect(report.compute).toMatchObject({ ok: true, elements: 4096, maxAbsError: 0 });
    expect(report.versions.node).toBe(process.version);
    expect(report.versions.webgpu).toMatch(/^\d+\.\d+\.\d+/);
    expect(report.warnings[0]).toMatch(/llvmpipe.* is a software \(CPU\) adapter: gpurank works but will be slow/);
    expect(stderr).toContain(`warning: ${report.warnings[0]}`);
    expect(typeof report.wasmCore.loaded).toBe('boolean');
    expectStatusMatchesCore(status, stderr, report.wasmCore.loaded);
  });

  it('prints a human-readable report', () => {
    const { status, stdout, stderr } = doctor([]);
    expect(stdout).toMatch(/^adapter +llvmpipe/m);
    expect(stdout).toMatch(/^backend +vulkan \(Dawn, webgpu \d/m);
    expect(stdout).toMatch(/^type +software/m);
    expect(stdout).toMatch(/^features +.*shader-f16/m);
    expect(stdout).toMatch(/^maxComputeWorkgroupStorageSize +32768$/m);
    expect(stdout).toMatch(/^compute check +ok \(4096 elements in [\d.]+ ms\)$/m);
    expect(stderr.some((l) => /^warning: .*software \(CPU\) adapter/.test(l))).toBe(true);
    expectStatusMatchesCore(status, stderr, /^wasm core +loaded$/m.test(stdout));
  });

  it('fails when the compute check gives wrong results (Dawn null backend)', () => {
    const { status, stdout, stderr } = doctor(['--json', '--backend', 'null']);
    const report = JSON.parse(stdout);
    expect(report.adapter).toMatchObject({ backend: 'null', device: 'null-backend' });
    expect(report.compute.ok).toBe(false);
    expect(report.warnings).toContainEqual(expect.stringMatching(/^the compute check returned wrong values/));
    expect(status).toBe(1);
    expect(stderr.at(-1)).toBe('gpurank: the GPU compute check failed: results differ from the CPU reference');
  });

  it('fails in one line with the remedy when no adapter matches --adapter', () => {
    const { status, stdout, stderr } = doctor(['--adapter', 'nonexistent']);
    expect(status).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(/^gpurank: no usable GPU adapter: no adapter name contains 'nonexistent'.*available adapters: .*llvmpipe/);
    expect(stderr[0]).toMatch(/lavapipe >= 24 .*bookworm-backports.*npm run setup/);
  });

  it('fails in one line when the Vulkan loader finds no driver', () => {
    const { status, stdout, stderr } = doctor([], { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' });
    expect(status).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toEqual([expect.stringMatching(/^gpurank: no usable GPU adapter: WebGPU returned no adapter on the vulkan backend; .*npm run setup/)]);
  });
});
