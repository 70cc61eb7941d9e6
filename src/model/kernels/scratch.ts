/**
 * A storage buffer that a kernel owns for intermediates passed between its own dispatches (per-row
 * statistics, attention's D, the embedding plan), so callers need not allocate them. Created
 * synchronously (steps are built synchronously); its errors surface through the runtime at the next
 * read or sync, like the kernels' uniforms. Dispatches run in order, so one buffer serves every call.
 */
import type { GpuRuntime } from '../../gpu/index.js';

export class Scratch {
  private buffer: GPUBuffer | null = null;
  // Steps built before a growth may still bind the smaller buffer and run later: kept until destroy().
  private readonly retired: GPUBuffer[] = [];

  constructor(
    private readonly rt: GpuRuntime,
    private readonly label: string,
  ) {}

  /** A buffer of at least `bytes`, grown (at least doubled) when too small. */
  get(bytes: number): GPUBuffer {
    const need = Math.max(16, Math.ceil(bytes / 4) * 4);
    if (this.buffer && this.buffer.size >= need) return this.buffer;
    if (this.buffer) this.retired.push(this.buffer);
    const size = Math.max(need, 2 * (this.buffer?.size ?? 0));
    this.buffer = this.rt.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, label: this.label });
    return this.buffer;
  }

  destroy(): void {
    for (const b of this.retired) b.destroy();
    this.buffer?.destroy();
    this.retired.length = 0;
    this.buffer = null;
  }
}
