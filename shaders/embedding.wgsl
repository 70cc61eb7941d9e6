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

// ---- Backward (training; f32 storage). Per valid token t with e = word[id] + position[l] +
// token_type[type], x̂ = (e - mean) * inv and g = dy * gamma, the LayerNorm backward gives
//   de = inv * (g - mean(g) - x̂ * mean(g * x̂)),
// and de flows unchanged into the three table rows the token gathered. Padding tokens add nothing.
// Every sum is taken in a fixed order by one invocation (no atomics), so results are deterministic:
//   embedding_backward (one invocation per token): recomputes e and its statistics, writes de and
//     dy * x̂ for the token into `work` [2, batch * length, hidden] (zeros for padding);
//   embedding_backward_columns (one invocation per (target row, column), targets: 0 = gamma/beta,
//     1 + l = position l < length, 1 + length + k = token type k): sums over tokens in order;
//   embedding_backward_word (one invocation per (plan entry, column)): the host plan lists each distinct
//     word id of the batch with its valid token positions in ascending order; rows of the table that
//     the batch does not use are never touched.
// All table and LayerNorm gradients are accumulated (+=).
// Plan (u32): [U, ids[U], offsets[U + 1], tokens[N]]; the tokens of id u are
// tokens[offsets[u] .. offsets[u + 1]).
//
// Binding tables (numbers may repeat across entry points; each entry point uses its own):
//   embedding_backward:         0 bp, 1 ids, 2 type_ids, 3 lengths, 4 word, 5 position, 6 token_type,
//                               7 gamma, 8 dy, 9 work (written)
//   embedding_backward_columns: 0 bp, 1 col_lengths, 2 col_type_ids, 3 col_dy, 4 col_work, 5 d_gamma,
//                               6 d_beta, 7 d_position, 8 d_token_type
//   embedding_backward_word:    0 bp, 1 plan, 2 word_work, 3 d_word

struct BackwardParams {
  batch: u32,
  length: u32,
  hidden: u32,
  type_vocab: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> bp: BackwardParams;
@group(0) @binding(8) var<storage, read> dy: array<f32>;
@group(0) @binding(9) var<storage, read_write> work: array<f32>;
@group(0) @binding(1) var<storage, read> col_lengths: array<u32>;
@group(0) @binding(2) var<storage, read> col_type_ids: array<u32>;
@group(0) @binding(3) var<storage, read> col_dy: array<f32>;
@group(0) @binding(4) var<storage, read> col_work: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_gamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_beta: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_position: array<f32>;
@group(0) @binding(8) var<storage, read_write> d_token_type: array<f32>;
@group(0) @binding(1) var<storage, read> plan: array<u32>;
@group(0) @binding(2) var<storage, read> word_work: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_word: array<f32>;

// Grid: grid(batch * length, WG).
@compute @workgroup_size(WG)
fn embedding_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  let tokens = bp.batch * bp.length;
  if (t >= tokens) {
    return;
  }
  let l = t % bp.length;
  let row = t * bp.hidden;
  let gx = tokens * bp.hidden + row;
  if (l >= lengths[t / bp.length]) {
    for (var c = 0u; c < bp.hidden; c++) {
      work[row + c] = 0.0;
      work[gx + c] = 0.0;
    }
    return;
  }
  let w = ids[t] * bp.hidden;
  let pos = l * bp.hidden;
  let tt = type_ids[t] * bp.hidden;
  let n = f32(bp.hidden);
  // The forward's statistics, recomputed the same way (two passes).
  var sum = 0.0;
  for (var c = 0u; c < bp.hidden; c++) {
    sum += f32(word[w + c]) + f32(position[pos + c]) + f32(token_type[tt + c]);
  }
  let mean = sum / n;
  var sq = 0.0;
  for (var c = 0u; c < bp.hidden; c++) {
    let d = f32(word[w + c]) + f32(position[pos + c]) + f32(token_type[tt + c]) - mean;
    sq += d * d;
  }
  let inv = inverseSqrt(sq / n + bp.eps);
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = 0u; c < bp.hidden; c++) {
    let xhat = (f32(word[w + c]) + f32(position[pos + c]) + f32(token_type[tt + c]) - mean) * inv;
    let g = dy[row + c] * f32(gamma[c]);
    sg += g;
    sgx += g * xhat;
    work[gx + c] = dy[row + c] * xhat;
  }
  let mg = sg / n;
  let mgx = sgx / n;
  for (var c = 0u; c < bp.hidden; c++) {
    let xhat = (f32(word[w + c]) + f32(position[pos + c]) + f32(token_type[tt + c]) - mean) * inv;
    work[row + c] = inv * (dy[row + c] * f32(gamma[c]) - mg - xhat * mgx);
  }
}

// Grid: grid((1 + length + type_vocab) * hidden, WG).
@compute @workgroup_size(WG)
fn embedding_backward_columns(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let x = gid.x + gid.y * nwg.x * WG;
  let h = bp.hidden;
  if (x >= (1u + bp.length + bp.type_vocab) * h) {
    return;
  }
  let r = x / h;
  let c = x % h;
  let tokens = bp.batch * bp.length;
  if (r == 0u) {
    var sg = 0.0;
    var sb = 0.0;
    for (var t = 0u; t < tokens; t++) {
      // dy of padding is not read (it may hold anything); dy * x̂ is already zero there.
      if (t % bp.length < col_lengths[t / bp.length]) {
        sg += col_work[tokens * h + t * h + c];
        sb += col_dy[t * h + c];
      }
    }
    d_gamma[c] += sg;
    d_beta[c] += sb;
  } else if (r <= bp.length) {
    let l = r - 1u;
    var s = 0.0;
    for (var b = 0u; b < bp.batch; b++) {
      s += col_work[(b * bp.length + l) * h + c];
    }
    d_position[l * h + c] += s;
  } else {
    let k = r - 1u - bp.length;
    var s = 0.0;
    for (var t = 0u; t < tokens; t++) {
      if (col_type_ids[t] == k) {
        s += col_work[t * h + c];
      }
    }
    d_token_type[k * h + c] += s;
  }
}

// Grid: grid(U * hidden, WG), U = plan[0].
@compute @workgroup_size(WG)
fn embedding_backward_word(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let x = gid.x + gid.y * nwg.x * WG;
  let unique = plan[0];
  let u = x / bp.hidden;
  if (u >= unique) {
    return;
  }
  let c = x % bp.hidden;
  let start = plan[1u + unique + u];
  let end = plan[2u + unique + u];
  let base = 2u + 2u * unique;
  var s = 0.0;
  for (var k = start; k < end; k++) {
    s += word_work[plan[base + k] * bp.hidden + c];
  }
  d_word[plan[1u + u] * bp.hidden + c] += s;
}
