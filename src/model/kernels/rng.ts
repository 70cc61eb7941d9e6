/** The CPU twin of `shaders/rng.wgsl`: the same bits for the same (seed, stream, index). */

export function rngHash(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/** Uniform in [0, 1) with 24 random bits. */
export function rngUniform(seed: number, stream: number, index: number): number {
  const h = rngHash((index ^ rngHash((stream ^ rngHash(seed)) >>> 0)) >>> 0);
  return (h >>> 8) / 16777216;
}

/** Inverted dropout's factor for one element: 0 with probability p, else 1 / (1 - p) (as f32). */
export function dropoutScale(seed: number, stream: number, index: number, p: number): number {
  return rngUniform(seed, stream, index) < p ? 0 : Math.fround(1 / Math.fround(1 - p));
}
