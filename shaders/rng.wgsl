// Counter-based random numbers for dropout: a pure function of (seed, stream, index), so a backward
// pass regenerates the forward's mask instead of storing it, and a resumed run draws the same masks.
// `stream` separates the uses within one step (e.g. layer * 4 + site); `seed` changes every step.
// Three rounds of the "lowbias32" integer hash (Wellons), chained over the counter's words.
// The TypeScript twin (src/model/kernels/rng.ts) gives the same bits on the CPU.

fn rng_hash(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

// Uniform in [0, 1) with 24 random bits.
fn rng_uniform(seed: u32, stream: u32, index: u32) -> f32 {
  let h = rng_hash(index ^ rng_hash(stream ^ rng_hash(seed)));
  return f32(h >> 8u) * (1.0 / 16777216.0);
}

// Inverted dropout's factor for one element: 0 with probability p, else 1 / (1 - p).
fn dropout_scale(seed: u32, stream: u32, index: u32, p: f32) -> f32 {
  return select(1.0 / (1.0 - p), 0.0, rng_uniform(seed, stream, index) < p);
}
