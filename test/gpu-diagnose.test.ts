/** The doctor's GPU check, and software-adapter detection. */
import { describe, expect, it } from 'vitest';
import { create } from 'webgpu';
import { diagnose, softwareWarning } from '../src/gpu/diagnose.js';
import { isSoftwareAdapter, type AdapterReport } from '../src/gpu/index.js';

/** Forwards to `target`, binding methods to it so native receivers stay native. */
function forward<T extends object>(target: T, overrides: Record<string | symbol, unknown>): T {
  return new Proxy(target, {
    get(t, key) {
      if (key in overrides) return overrides[key];
      const value = Reflect.get(t, key, t);
      return typeof value === 'function' ? value.bind(t) : value;
    },
  });
}

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
    const gpu = create([]);
    const adapter = (await gpu.requestAdapter())!;
    let dropped = false;
    const faulty = forward(adapter, {
      requestDevice: async (desc: GPUDeviceDescriptor) => {
        const device = await adapter.requestDevice(desc);
        const queue = forward(device.queue, {
          submit: (buffers: GPUCommandBuffer[]) => (dropped ? device.queue.submit(buffers) : (dropped = true)),
        });
        return forward(device, { queue });
      },
    });
    const d = await diagnose({ gpu: { requestAdapter: async () => faulty } as unknown as GPU });
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
