// BERT embeddings: LayerNorm(word[id] + position[l] + token_type[type_id]) for every token of a padded
// [batch, length] layout; padding tokens (l >= the row's length) are written as zeros.
// The host prepends `alias T = f32|f16;` (and `enable f16;`). Sums and statistics are f32.
// One invocation per token; the gathered rows are re-read per pass rather than kept, so any hidden
// size works without workgroup memory or barriers.

struct Params {
  batch: u32,
  length: u32,
  hidden: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> type_ids: array<u32>;
@group(0) @binding(3) var<storage, read> lengths: array<u32>;
@group(0) @binding(4) var<storage, read> word: array<T>;
@group(0) @binding(5) var<storage, read> position: array<T>;
@group(0) @binding(6) var<storage, read> token_type: array<T>;
@group(0) @binding(7) var<storage, read> gamma: array<T>;
@group(0) @binding(8) var<storage, read> beta: array<T>;
@group(0) @binding(9) var<storage, read_write> y: array<T>;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn embedding_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= p.batch * p.length) {
    return;
  }
  let b = t / p.length;
  let l = t % p.length;
  let out = t * p.hidden;
  if (l >= lengths[b]) {
    for (var c = 0u; c < p.hidden; c++) {
      y[out + c] = T(0.0);
    }
    return;
  }
  let w = ids[t] * p.hidden;
  let pos = l * p.hidden;
  let tt = type_ids[t] * p.hidden;
  let n = f32(p.hidden);
  var sum = 0.0;
  for (var c = 0u; c < p.hidden; c++) {
    sum += f32(word[w + c]) + f32(position[pos + c]) + f32(token_type[tt + c]);
  }
  let mean = sum / n;
  var sq = 0.0;
  for (var c = 0u; c < p.hidden; c++) {
    let d = f32(word[w + c]) + f32(position[pos + c]) + f32(token_type[tt + c]) - mean;
    sq += d * d;
  }
  let inv = inverseSqrt(sq / n + p.eps);
  for (var c = 0u; c < p.hidden; c++) {
    let d = f32(word[w + c]) + f32(position[pos + c]) + f32(token_type[tt + c]) - mean;
    y[out + c] = T(d * inv * f32(gamma[c]) + f32(beta[c]));
  }
}
