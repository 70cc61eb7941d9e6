// Pooling of the last hidden state [batch, length, hidden] into [batch, hidden]:
//   pooling_cls_forward        the first token of each row (BERT's [CLS], fed to the pooler dense);
//   pooling_mean_forward       the mean over each row's valid tokens (l < lengths[b]);
//   pooling_normalize_forward  in place, each row divided by max(L2 norm, 1e-12) (torch F.normalize);
//   pooling_cls_backward       dx [batch, length, hidden] written in full from dPooled [batch, hidden]:
//                              dPooled[b] at row b's [CLS] (l = 0), zeros elsewhere and for empty rows.
// The host prepends `alias T = f32|f16;` (and `enable f16;`). Sums are f32.

struct Params {
  batch: u32,
  length: u32,
  hidden: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lengths: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;

override WG: u32 = 64u;

// One invocation per output element (b, c).
@compute @workgroup_size(WG)
fn pooling_cls_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= p.batch * p.hidden) {
    return;
  }
  let b = e / p.hidden;
  let c = e % p.hidden;
  // A zero-length row has no [CLS] token: zeros, as the mean gives it.
  y[e] = select(T(0.0), x[b * p.length * p.hidden + c], lengths[b] > 0u);
}

// One invocation per output element (b, c): adjacent invocations read adjacent columns.
@compute @workgroup_size(WG)
fn pooling_mean_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= p.batch * p.hidden) {
    return;
  }
  let b = e / p.hidden;
  let c = e % p.hidden;
  let len = min(lengths[b], p.length);
  var sum = 0.0;
  for (var l = 0u; l < len; l++) {
    sum += f32(x[(b * p.length + l) * p.hidden + c]);
  }
  // A zero-length row has no tokens: its mean is 0 (sentence-transformers clamps the count to 1e-9).
  y[e] = T(sum / max(f32(len), 1e-9));
}

// One invocation per element of dx; x is dPooled and y is dx here.
@compute @workgroup_size(WG)
fn pooling_cls_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= p.batch * p.length * p.hidden) {
    return;
  }
  let c = e % p.hidden;
  let t = e / p.hidden;
  let b = t / p.length;
  y[e] = select(T(0.0), x[b * p.hidden + c], t % p.length == 0u && lengths[b] > 0u);
}

@group(0) @binding(0) var<uniform> pn: Params;
@group(0) @binding(1) var<storage, read_write> rows: array<T>;

// One invocation per row.
@compute @workgroup_size(WG)
fn pooling_normalize_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = gid.x + gid.y * nwg.x * WG;
  if (b >= pn.batch) {
    return;
  }
  let base = b * pn.hidden;
  var sq = 0.0;
  for (var c = 0u; c < pn.hidden; c++) {
    let v = f32(rows[base + c]);
    sq += v * v;
  }
  let inv = 1.0 / max(sqrt(sq), 1e-12);
  for (var c = 0u; c < pn.hidden; c++) {
    rows[base + c] = T(f32(rows[base + c]) * inv);
  }
}
