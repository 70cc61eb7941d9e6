/**
 * BERT embeddings with the LayerNorm fused: y[b, l] = LN(word[ids] + position[l] + tokenType[typeIds]),
 * over a padded [batch, length] layout; padding tokens (l >= lengths[b]) come out as zeros.
 */
import type { BufferBinding, DispatchStep, GpuRuntime } from '../../gpu/index.js';
import { checkDtype, grid, params, shaderSource, StepCache, type KernelOptions } from './common.js';
import { layernormCpu } from './layernorm.js';

export interface EmbeddingShape {
  batch: number;
  /** Padded length L of every row. */
  length: number;
  hidden: number;
  eps: number;
}

export interface EmbeddingWeights {
  word: Float32Array;
  position: Float32Array;
  tokenType: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
}

/** CPU reference. `ids` and `typeIds` are [batch, length]; `lengths` per row. */
export function embeddingCpu(ids: ArrayLike<number>, typeIds: ArrayLike<number>, lengths: ArrayLike<number>, w: EmbeddingWeights, shape: EmbeddingShape): Float32Array {
  const { batch, length, hidden, eps } = shape;
  const sum = new Float32Array(batch * length * hidden);
  const valid: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let l = 0; l < Math.min(lengths[b], length); l++) {
      const t = b * length + l;
      valid.push(t);
      for (let c = 0; c < hidden; c++) {
        sum[t * hidden + c] = w.word[ids[t] * hidden + c] + w.position[l * hidden + c] + w.tokenType[typeIds[t] * hidden + c];
      }
    }
  }
  const normed = layernormCpu(sum, null, w.gamma, w.beta, { rows: batch * length, hidden, eps });
  const y = new Float32Array(batch * length * hidden);
  for (const t of valid) y.set(normed.subarray(t * hidden, (t + 1) * hidden), t * hidden);
  return y;
}

export interface EmbeddingArgs extends EmbeddingShape {
  /** u32 [batch * length]. */
  ids: BufferBinding;
  /** u32 [batch * length]. */
  typeIds: BufferBinding;
  /** u32 [batch]. */
  lengths: BufferBinding;
  word: BufferBinding;
  position: BufferBinding;
  tokenType: BufferBinding;
  gamma: BufferBinding;
  beta: BufferBinding;
  y: BufferBinding;
}

export class Embedding {
  static readonly WG = 64;

  private constructor(private readonly cache: StepCache) {}

  static async create(rt: GpuRuntime, { dtype }: KernelOptions): Promise<Embedding> {
    checkDtype(rt, dtype, 'embedding');
    const code = await shaderSource('embedding', dtype);
    const pipeline = await rt.pipeline({ code, entryPoint: 'embedding_forward', constants: { WG: Embedding.WG }, label: `embedding_forward ${dtype}` });
    return new Embedding(new StepCache(rt, pipeline));
  }

  step(a: EmbeddingArgs): DispatchStep {
    return this.cache.step(
      params([a.batch, a.length, a.hidden], [a.eps]),
      [a.ids, a.typeIds, a.lengths, a.word, a.position, a.tokenType, a.gamma, a.beta, a.y],
      grid(a.batch * a.length, Embedding.WG),
    );
  }

  /** Frees the per-shape uniform buffers. */
  destroy(): void {
    this.cache.destroy();
  }
}
