/** Test helper: wraps native WebGPU objects to inject faults while the real work still runs. */

/** Forwards to `target`, binding methods to it so native receivers stay native. */
export function forward<T extends object>(target: T, overrides: Record<string | symbol, unknown>): T {
  return new Proxy(target, {
    get(t, key) {
      if (key in overrides) return overrides[key];
      const value = Reflect.get(t, key, t);
      return typeof value === 'function' ? value.bind(t) : value;
    },
  });
}

/** A `GPU` whose devices pass through `wrap` (the adapter itself stays real). */
export async function gpuWithDevice(wrap: (device: GPUDevice) => GPUDevice): Promise<GPU> {
  const { create } = await import('webgpu');
  const gpu = create([]);
  const adapter = (await gpu.requestAdapter())!;
  const faulty = forward(adapter, {
    requestDevice: async (desc: GPUDeviceDescriptor) => wrap(await adapter.requestDevice(desc)),
  });
  // The returned object holds `gpu` (the Dawn instance) for as long as it is used.
  return forward(gpu, { requestAdapter: async () => faulty });
}
