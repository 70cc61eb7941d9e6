// Used by setup.sh before anything is built: exits 0 and prints the adapter when Dawn finds one.
import { create } from 'webgpu';

const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.error('no WebGPU adapter');
  process.exit(1);
}
const { vendor, architecture, description } = adapter.info;
console.log([vendor, architecture, description].filter(Boolean).join(' / '));
process.exit(0);
