/** The doctor's GPU check, and software-adapter detection. */
import { describe, expect, it } from 'vitest';
import { diagnose, softwareWarning } from '../src/gpu/diagnose.js';
import { isSoftwareAdapter, type AdapterReport } from '../src/gpu/index.js';
import { forward, gpuWithDevice } from './gpu-forward.js';


describe('diagnose', () => {
  it('reports the software adapter and a passing compute check', async () => {
    const d = await diagnose();
    expect(d.adapter.software).toBe(true);
    expect(d.compute).toMatchObject({ ok: true, elements: 4096, maxAbsError: 0 });
    expect(d.compute.ms).toBeGreaterThan(0);
    expect(d.warnings).toEqual([softwareWarning(d.adapter)]);
  });

  it('flags a device that returns wrong results', async () => {
    // A device whose first queue submission (the check's dispatch) is silently dropped.
    let dropped = false;
    const gpu = await gpuWithDevice((device) => {
      const queue = forward(device.queue, {
        submit: (buffers: GPUCommandBuffer[]) => (dropped ? device.queue.submit(buffers) : (dropped = true)),
      });
      return forward(device, { queue });
    });
    const d = await diagnose({ gpu });
    expect(dropped).toBe(true);
    expect(d.compute.ok).toBe(false);
    expect(d.compute.maxAbsError).toBeGreaterThan(1);
    expect(d.warnings).toContainEqual(expect.stringMatching(/^the compute check returned wrong values/));
  });
});

describe('software adapter detection', () => {
  const hw = { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100 80GB HBM3' };

  it('tells CPU implementations from GPUs', () => {
    expect(isSoftwareAdapter(hw)).toBe(false);
    expect(isSoftwareAdapter({ vendor: 'apple', architecture: 'metal-3', description: 'Apple M2' })).toBe(false);
    expect(isSoftwareAdapter({ vendor: 'mesa', architecture: 'software', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader', description: '' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'microsoft', description: 'Microsoft Basic Render Driver' })).toBe(true);
    expect(isSoftwareAdapter({ ...hw, isFallbackAdapter: true })).toBe(true);
    expect(isSoftwareAdapter({ vendor: '', architecture: '', device: 'null-backend', description: '' })).toBe(true);
  });

  it('warns only for software adapters', () => {
    const report: AdapterReport = { runtime: 'node', backend: 'vulkan', ...hw, software: false, isFallbackAdapter: false, features: [], limits: {} };
    expect(softwareWarning(report)).toBeUndefined();
    expect(softwareWarning({ ...report, software: true, description: 'llvmpipe' })).toBe(
      'llvmpipe is a software (CPU) adapter: gpurank works but will be slow; use a machine with a GPU for real workloads',
    );
  });
});
