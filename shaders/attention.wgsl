// Scaled dot-product attention with a key-padding mask, softmax fused (online, numerically stable).
// q, k, v: element (b, l, head h, dim c) at (b * length + l) * stride + offset + h * HEAD_DIM + c, so
// separate [B, L, H] buffers (stride H, offset 0) and one fused [B, L, 3H] buffer both work.
// out: [B, L, heads * HEAD_DIM]. Keys l >= lengths[b] get no weight; padded query rows are zeros.
// The dispatch covers only the batch's padded length (see each entry point for its grid).
// The host prepends `alias T = f32|f16;` (and `enable f16;`) and the consts `HEAD_DIM` (so the
// per-head arrays are exactly one head long) and `KEY_TILE` (keys per tile of the tiled variant).
// Scores, softmax and sums are f32. Both variants stream the keys through a running max and sum.

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

override WG: u32 = 8u;

// For CPU drivers (lavapipe): no workgroup memory and no barrier, as barriers are expensive there.
// Each invocation owns four consecutive query rows of one head, kept as vec4s across the rows: every
// key and value element it loads (the same for the whole workgroup, so a scalar load on SIMD CPU
// drivers) feeds four rows at once. Grid: (ceil(length / (4 * WG)), heads, batch).
@compute @workgroup_size(WG)
fn attention_forward(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i0 = (wg.x * WG + lid.x) * 4u;
  let h = wg.y;
  let b = wg.z;
  if (i0 >= p.length) {
    return;
  }
  let len = min(lengths[b], p.length);
  let row0 = b * p.length;
  // Rows past the row's length are computed on a valid row's data (no garbage in) and written as 0.
  let rows = min(vec4u(i0, i0 + 1u, i0 + 2u, i0 + 3u), vec4u(max(len, 1u) - 1u));
  var qr: array<vec4<f32>, HEAD_DIM>;
  var acc: array<vec4<f32>, HEAD_DIM>;
  let qb = (vec4u(row0) + rows) * p.stride + vec4u(p.q_offset + h * HEAD_DIM);
  for (var c = 0u; c < HEAD_DIM; c++) {
    qr[c] = vec4<f32>(f32(q[qb.x + c]), f32(q[qb.y + c]), f32(q[qb.z + c]), f32(q[qb.w + c])) * p.scale;
    acc[c] = vec4<f32>(0.0);
  }
  var m = vec4<f32>(-3.0e38);
  var sum = vec4<f32>(0.0);
  for (var j = 0u; j < len; j++) {
    let kb = (row0 + j) * p.stride + p.k_offset + h * HEAD_DIM;
    var s = vec4<f32>(0.0);
    for (var c = 0u; c < HEAD_DIM; c++) {
      s += qr[c] * f32(k[kb + c]);
    }
    // A new maximum for any of the rows: rescale what was summed so far (exp(-huge) = 0 at the
    // first key). Past the first few keys this is rare, so the rescale is skipped most of the time.
    let mx = max(m, s);
    if (any(mx > m)) {
      let a = exp(m - mx);
      sum *= a;
      for (var c = 0u; c < HEAD_DIM; c++) {
        acc[c] *= a;
      }
      m = mx;
    }
    let e = exp(s - m);
    sum += e;
    let vb = (row0 + j) * p.stride + p.v_offset + h * HEAD_DIM;
    for (var c = 0u; c < HEAD_DIM; c++) {
      acc[c] += e * f32(v[vb + c]);
    }
  }
  let inv = select(vec4<f32>(0.0), 1.0 / sum, vec4u(i0, i0 + 1u, i0 + 2u, i0 + 3u) < vec4u(len));
  for (var t = 0u; t < 4u; t++) {
    let i = i0 + t;
    if (i < p.length) {
      let o = (row0 + i) * p.out_stride + h * HEAD_DIM;
      for (var c = 0u; c < HEAD_DIM; c++) {
        out[o + c] = T(acc[c][t] * inv[t]);
      }
    }
  }
}

var<workgroup> row_length: u32;
var<workgroup> k_tile: array<f32, KEY_TILE * HEAD_DIM>;
var<workgroup> v_tile: array<f32, KEY_TILE * HEAD_DIM>;

// For hardware GPUs: one query row per invocation (a head's worth of registers, twice), and the
// workgroup loads each tile of KEY_TILE keys and values into workgroup memory with coalesced reads,
// where every invocation then reads the same element at once (a broadcast).
// Grid: (ceil(length / WG), heads, batch).
@compute @workgroup_size(WG)
fn attention_forward_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = wg.x * WG + lid.x;
  let h = wg.y;
  let b = wg.z;
  // Loaded through workgroup memory so the tile loop's bound is provably uniform (barriers inside).
  if (lid.x == 0u) {
    row_length = lengths[b];
  }
  let len = min(workgroupUniformLoad(&row_length), p.length);
  let row0 = b * p.length;
  let valid = i < len;
  var qr: array<f32, HEAD_DIM>;
  var acc: array<f32, HEAD_DIM>;
  let qb = (row0 + min(i, max(len, 1u) - 1u)) * p.stride + p.q_offset + h * HEAD_DIM;
  for (var c = 0u; c < HEAD_DIM; c++) {
    qr[c] = f32(q[qb + c]) * p.scale;
    acc[c] = 0.0;
  }
  var m = -3.0e38;
  var sum = 0.0;
  for (var t0 = 0u; t0 < len; t0 += KEY_TILE) {
    let n = min(KEY_TILE, len - t0);
    workgroupBarrier();
    for (var x = lid.x; x < n * HEAD_DIM; x += WG) {
      let r = (row0 + t0 + x / HEAD_DIM) * p.stride + h * HEAD_DIM + x % HEAD_DIM;
      k_tile[x] = f32(k[r + p.k_offset]);
      v_tile[x] = f32(v[r + p.v_offset]);
    }
    workgroupBarrier();
    for (var j = 0u; j < n; j++) {
      var s = 0.0;
      for (var c = 0u; c < HEAD_DIM; c++) {
        s += qr[c] * k_tile[j * HEAD_DIM + c];
      }
      if (s > m) {
        let a = exp(m - s);
        sum *= a;
        for (var c = 0u; c < HEAD_DIM; c++) {
          acc[c] *= a;
        }
        m = s;
      }
      let e = exp(s - m);
      sum += e;
      for (var c = 0u; c < HEAD_DIM; c++) {
        acc[c] += e * v_tile[j * HEAD_DIM + c];
      }
    }
  }
  if (i < p.length) {
    let inv = select(0.0, 1.0 / sum, valid);
    let o = (row0 + i) * p.out_stride + h * HEAD_DIM;
    for (var c = 0u; c < HEAD_DIM; c++) {
      out[o + c] = T(acc[c] * inv);
    }
  }
}
