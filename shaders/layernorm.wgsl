// y = LayerNorm(x + residual) * gamma + beta, over the last dimension of [rows, hidden].
// The host prepends `alias T = f32|f16;` (and `enable f16;`). Statistics are f32 whatever T is.
// One invocation per row and no workgroup memory: barriers are expensive on CPU drivers, and the
// sums are then taken in a fixed order (the same for every row, whatever the batch holds).

struct Params {
  rows: u32,
  hidden: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> residual: array<T>;
@group(0) @binding(3) var<storage, read> gamma: array<T>;
@group(0) @binding(4) var<storage, read> beta: array<T>;
@group(0) @binding(5) var<storage, read_write> y: array<T>;

override WG: u32 = 64u;

// (mean, 1 / sqrt(var + eps)) of the row of x + residual starting at `base`. Two passes (mean, then
// squared deviations): no cancellation when |mean| >> std.
fn row_statistics(base: u32) -> vec2<f32> {
  let n = f32(p.hidden);
  var sum = 0.0;
  for (var c = 0u; c < p.hidden; c++) {
    sum += f32(x[base + c]) + f32(residual[base + c]);
  }
  let mean = sum / n;
  var sq = 0.0;
  for (var c = 0u; c < p.hidden; c++) {
    let d = f32(x[base + c]) + f32(residual[base + c]) - mean;
    sq += d * d;
  }
  return vec2<f32>(mean, inverseSqrt(sq / n + p.eps));
}

@compute @workgroup_size(WG)
fn layernorm_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= p.rows) {
    return;
  }
  let base = row * p.hidden;
  let st = row_statistics(base);
  let mean = st.x;
  let inv = st.y;
  for (var c = 0u; c < p.hidden; c++) {
    let d = f32(x[base + c]) + f32(residual[base + c]) - mean;
    y[base + c] = T(d * inv * f32(gamma[c]) + f32(beta[c]));
  }
}

// ---- Backward (training; f32 storage). Forward: s = x + residual, x̂ = (s - mean) * inv,
// y = x̂ * gamma + beta. With g = dy * gamma:
//   ds = inv * (g - mean(g) - x̂ * mean(g * x̂))   (written to dx: the graph sends it to both x and residual)
//   dgamma += Σ_rows dy * x̂,   dbeta += Σ_rows dy   (accumulated into the grads buffer)
// Two entry points, dispatched in this order: `layernorm_backward` (one invocation per row) writes dx and
// the row's (mean, inv) to `stats`; `layernorm_backward_params` (one invocation per column) sums over the
// rows in row order, so the result does not depend on the batch split or on timing (no atomics).
// Each entry point has its own binding table (variables of other entry points may share numbers):
//   layernorm_backward:        0 p, 1 x, 2 residual, 3 gamma, 4 dy, 5 dx, 6 stats (written)
//   layernorm_backward_params: 0 p, 1 x, 2 residual, 3 row_stats, 4 dy, 5 dgamma, 6 dbeta
// A row whose dy is zero (padding) yields dx = 0 and adds nothing, whatever finite values x holds.

@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<storage, read> row_stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;

@compute @workgroup_size(WG)
fn layernorm_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= p.rows) {
    return;
  }
  let base = row * p.hidden;
  let n = f32(p.hidden);
  // The forward's statistics, recomputed the same way.
  let st = row_statistics(base);
  let mean = st.x;
  let inv = st.y;
  stats[2u * row] = mean;
  stats[2u * row + 1u] = inv;
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = 0u; c < p.hidden; c++) {
    let g = dy[base + c] * f32(gamma[c]);
    sg += g;
    sgx += g * (f32(x[base + c]) + f32(residual[base + c]) - mean) * inv;
  }
  let mg = sg / n;
  let mgx = sgx / n;
  for (var c = 0u; c < p.hidden; c++) {
    let xhat = (f32(x[base + c]) + f32(residual[base + c]) - mean) * inv;
    dx[base + c] = inv * (dy[base + c] * f32(gamma[c]) - mg - xhat * mgx);
  }
}

@compute @workgroup_size(WG)
fn layernorm_backward_params(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.hidden) {
    return;
  }
  var sg = 0.0;
  var sb = 0.0;
  for (var r = 0u; r < p.rows; r++) {
    let i = r * p.hidden + c;
    let xhat = (f32(x[i]) + f32(residual[i]) - row_stats[2u * r]) * row_stats[2u * r + 1u];
    sg += dy[i] * xhat;
    sb += dy[i];
  }
  dgamma[c] += sg;
  dbeta[c] += sb;
}
