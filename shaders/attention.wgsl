// Scaled dot-product attention with a key-padding mask, softmax fused (online, numerically stable).
// q, k, v: element (b, l, head h, dim c) at (b * length + l) * stride + offset + h * HEAD_DIM + c, so
// separate [B, L, H] buffers (stride H, offset 0) and one fused [B, L, 3H] buffer both work.
// out: [B, L, heads * HEAD_DIM]. Keys l >= lengths[b] get no weight; padded query rows are zeros.
// The dispatch covers only the batch's padded length: workgroups (ceil(length / WG), heads, batch).
// The host prepends `alias T = f32|f16;` (and `enable f16;`). Scores, softmax and sums are f32.
//
// One invocation per (query row, head): it keeps its query and output rows in registers and
// streams the keys with a running max and sum, so there is no workgroup memory and no barrier
// (barriers are expensive on CPU drivers); the invocations of a workgroup read the same key row
// at the same time, which caches well everywhere.

struct Params {
  batch: u32,
  length: u32,
  stride: u32,
  q_offset: u32,
  k_offset: u32,
  v_offset: u32,
  out_stride: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lengths: array<u32>;
@group(0) @binding(2) var<storage, read> q: array<T>;
@group(0) @binding(3) var<storage, read> k: array<T>;
@group(0) @binding(4) var<storage, read> v: array<T>;
@group(0) @binding(5) var<storage, read_write> out: array<T>;

override WG: u32 = 32u;
// A pipeline constant, so the loops over it have a fixed trip count and the rows stay in registers.
override HEAD_DIM: u32 = 64u;
const MAX_HEAD_DIM: u32 = 256u;

@compute @workgroup_size(WG)
fn attention_forward(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = wg.x * WG + lid.x;
  let h = wg.y;
  let b = wg.z;
  if (i >= p.length) {
    return;
  }
  let len = min(lengths[b], p.length);
  let o = (b * p.length + i) * p.out_stride + h * HEAD_DIM;
  if (i >= len) {
    for (var c = 0u; c < HEAD_DIM; c++) {
      out[o + c] = T(0.0);
    }
    return;
  }
  var qr: array<f32, MAX_HEAD_DIM>;
  var acc: array<f32, MAX_HEAD_DIM>;
  let qb = (b * p.length + i) * p.stride + p.q_offset + h * HEAD_DIM;
  for (var c = 0u; c < HEAD_DIM; c++) {
    qr[c] = f32(q[qb + c]) * p.scale;
    acc[c] = 0.0;
  }
  var m = -3.0e38;
  var sum = 0.0;
  let row0 = b * p.length;
  for (var j = 0u; j < len; j++) {
    let kb = (row0 + j) * p.stride + p.k_offset + h * HEAD_DIM;
    var s = 0.0;
    for (var c = 0u; c < HEAD_DIM; c++) {
      s += qr[c] * f32(k[kb + c]);
    }
    if (s > m) {
      // A new maximum: rescale what was summed so far (exp(-huge) is 0 for the first key).
      let a = exp(m - s);
      sum *= a;
      for (var c = 0u; c < HEAD_DIM; c++) {
        acc[c] *= a;
      }
      m = s;
    }
    let e = exp(s - m);
    sum += e;
    let vb = (row0 + j) * p.stride + p.v_offset + h * HEAD_DIM;
    for (var c = 0u; c < HEAD_DIM; c++) {
      acc[c] += e * f32(v[vb + c]);
    }
  }
  let inv = 1.0 / sum;
  for (var c = 0u; c < HEAD_DIM; c++) {
    out[o + c] = T(acc[c] * inv);
  }
}
