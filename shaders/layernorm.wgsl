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

@compute @workgroup_size(WG)
fn layernorm_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= p.rows) {
    return;
  }
  let base = row * p.hidden;
  let n = f32(p.hidden);
  // Two passes (mean, then squared deviations): no cancellation when |mean| >> std.
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
  let inv = inverseSqrt(sq / n + p.eps);
  for (var c = 0u; c < p.hidden; c++) {
    let d = f32(x[base + c]) + f32(residual[base + c]) - mean;
    y[base + c] = T(d * inv * f32(gamma[c]) + f32(beta[c]));
  }
}
