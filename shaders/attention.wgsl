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

// ---- Training (f32 storage; the host includes rng.wgsl). q, k, v, out, dout, dq, dk, dv are separate
// [B, L, heads * HEAD_DIM] tensors (`stride` = heads * HEAD_DIM). One query (or key) row of one head per
// invocation: correctness first, and no workgroup memory, so CPU drivers need no barriers.
// Dropout on the attention probabilities (HF: softmax, then dropout, then · V) keeps no mask: the factor
// of probability (b, h, i, j) is dropout_scale(seed, stream, ((b * heads + h) * L + i) * L + j, drop),
// recomputed by both backward passes (u32 index: it wraps only past 2^32 scores per batch).
// With drop = 0 the RNG is skipped, and the forward sums exactly as the inference kernel does.
//
// Backward, with P = softmax(s) (s = scale · q·k over the valid keys), Z = dropout factors,
// out_i = Σ_j P_ij Z_ij v_j:
//   dv_j = Σ_i P_ij Z_ij dout_i
//   dS_ij = P_ij (Z_ij dout_i·v_j − D_i),  D_i = Σ_j P_ij Z_ij dout_i·v_j = dout_i·out_i
//   dq_i = scale Σ_j dS_ij k_j,  dk_j = scale Σ_i dS_ij q_i
// P is recomputed from the forward's lse (P_ij = exp(s_ij − lse_i)). `attention_backward_query` (one
// invocation per query row) writes dq and D; `attention_backward_key` (one per key row) writes dk and
// dv. Each sums in a fixed order (keys, resp. queries, ascending): deterministic, with no atomics.
// Padded query rows and keys get zero gradients, and padded rows of dout are never read.
//
// Binding tables (numbers may repeat across entry points; each entry point uses its own):
//   attention_forward_train:  0 tp, 1 lengths, 2 q, 3 k, 4 v, 5 out, 6 lse (written)
//   attention_backward_query: 0 tp, 1 lengths, 2 q, 3 k, 4 v, 5 dout, 6 lse, 7 fwd_out, 8 delta (written), 9 dq
//   attention_backward_key:   0 tp, 1 lengths, 2 q, 3 k, 4 v, 5 dout, 6 lse, 7 delta, 8 dk, 9 dv

struct TrainParams {
  batch: u32,
  length: u32,
  heads: u32,
  seed: u32,
  stream: u32,
  scale: f32,
  drop: f32,
}

@group(0) @binding(0) var<uniform> tp: TrainParams;
@group(0) @binding(6) var<storage, read_write> lse_out: array<f32>;
@group(0) @binding(5) var<storage, read> dout: array<f32>;
@group(0) @binding(6) var<storage, read> lse: array<f32>;
@group(0) @binding(7) var<storage, read> fwd_out: array<f32>;
@group(0) @binding(8) var<storage, read_write> delta_out: array<f32>;
@group(0) @binding(9) var<storage, read_write> dq: array<f32>;
@group(0) @binding(7) var<storage, read> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dk: array<f32>;
@group(0) @binding(9) var<storage, read_write> dv: array<f32>;

// The dropout factor of probability (b, h, i, j); 1 when dropout is off.
fn attention_dropout(b: u32, h: u32, i: u32, j: u32) -> f32 {
  if (tp.drop == 0.0) {
    return 1.0;
  }
  return dropout_scale(tp.seed, tp.stream, ((b * tp.heads + h) * tp.length + i) * tp.length + j, tp.drop);
}

// Grid: (ceil(length / WG), heads, batch). Also writes lse [batch, heads, length] (0 for padded rows).
@compute @workgroup_size(WG)
fn attention_forward_train(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = wg.x * WG + lid.x;
  let h = wg.y;
  let b = wg.z;
  if (i >= tp.length) {
    return;
  }
  let len = min(lengths[b], tp.length);
  let row0 = b * tp.length;
  let stride = tp.heads * HEAD_DIM;
  let o = (row0 + i) * stride + h * HEAD_DIM;
  let li = (b * tp.heads + h) * tp.length + i;
  if (i >= len) {
    for (var c = 0u; c < HEAD_DIM; c++) {
      out[o + c] = T(0.0);
    }
    lse_out[li] = 0.0;
    return;
  }
  var qr: array<f32, HEAD_DIM>;
  var acc: array<f32, HEAD_DIM>;
  for (var c = 0u; c < HEAD_DIM; c++) {
    qr[c] = f32(q[o + c]) * tp.scale;
    acc[c] = 0.0;
  }
  var m = -3.0e38;
  var sum = 0.0;
  for (var j = 0u; j < len; j++) {
    let kb = (row0 + j) * stride + h * HEAD_DIM;
    var s = 0.0;
    for (var c = 0u; c < HEAD_DIM; c++) {
      s += qr[c] * f32(k[kb + c]);
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
    // The softmax denominator takes every key; only the weighted sum of values is dropped out.
    let w = e * attention_dropout(b, h, i, j);
    for (var c = 0u; c < HEAD_DIM; c++) {
      acc[c] += w * f32(v[kb + c]);
    }
  }
  let inv = 1.0 / sum;
  for (var c = 0u; c < HEAD_DIM; c++) {
    out[o + c] = T(acc[c] * inv);
  }
  lse_out[li] = m + log(sum);
}

// Grid: (ceil(length / WG), heads, batch). dq [B, L, H] and delta = D [batch, heads, length], written.
@compute @workgroup_size(WG)
fn attention_backward_query(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = wg.x * WG + lid.x;
  let h = wg.y;
  let b = wg.z;
  if (i >= tp.length) {
    return;
  }
  let len = min(lengths[b], tp.length);
  let row0 = b * tp.length;
  let stride = tp.heads * HEAD_DIM;
  let o = (row0 + i) * stride + h * HEAD_DIM;
  let li = (b * tp.heads + h) * tp.length + i;
  if (i >= len) {
    for (var c = 0u; c < HEAD_DIM; c++) {
      dq[o + c] = 0.0;
    }
    delta_out[li] = 0.0;
    return;
  }
  var qr: array<f32, HEAD_DIM>;
  var dor: array<f32, HEAD_DIM>;
  var acc: array<f32, HEAD_DIM>;
  var d = 0.0;
  for (var c = 0u; c < HEAD_DIM; c++) {
    qr[c] = f32(q[o + c]) * tp.scale;
    dor[c] = dout[o + c];
    d += dor[c] * fwd_out[o + c];
    acc[c] = 0.0;
  }
  let lse_i = lse[li];
  for (var j = 0u; j < len; j++) {
    let kb = (row0 + j) * stride + h * HEAD_DIM;
    var s = 0.0;
    var dp = 0.0;
    for (var c = 0u; c < HEAD_DIM; c++) {
      s += qr[c] * f32(k[kb + c]);
      dp += dor[c] * f32(v[kb + c]);
    }
    let ds = exp(s - lse_i) * (dp * attention_dropout(b, h, i, j) - d);
    for (var c = 0u; c < HEAD_DIM; c++) {
      acc[c] += ds * f32(k[kb + c]);
    }
  }
  for (var c = 0u; c < HEAD_DIM; c++) {
    dq[o + c] = acc[c] * tp.scale;
  }
  delta_out[li] = d;
}

// Grid: (ceil(length / WG), heads, batch); invocation j owns key row j. dk, dv [B, L, H], written.
@compute @workgroup_size(WG)
fn attention_backward_key(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let j = wg.x * WG + lid.x;
  let h = wg.y;
  let b = wg.z;
  if (j >= tp.length) {
    return;
  }
  let len = min(lengths[b], tp.length);
  let row0 = b * tp.length;
  let stride = tp.heads * HEAD_DIM;
  let o = (row0 + j) * stride + h * HEAD_DIM;
  var kr: array<f32, HEAD_DIM>;
  var vr: array<f32, HEAD_DIM>;
  var gk: array<f32, HEAD_DIM>;
  var gv: array<f32, HEAD_DIM>;
  for (var c = 0u; c < HEAD_DIM; c++) {
    kr[c] = f32(k[o + c]);
    vr[c] = f32(v[o + c]);
    gk[c] = 0.0;
    gv[c] = 0.0;
  }
  // A padded key (j >= len) takes no query: its gradients stay zero.
  let n = select(0u, len, j < len);
  for (var i = 0u; i < n; i++) {
    let qb = (row0 + i) * stride + h * HEAD_DIM;
    let li = (b * tp.heads + h) * tp.length + i;
    var s = 0.0;
    var dp = 0.0;
    for (var c = 0u; c < HEAD_DIM; c++) {
      s += f32(q[qb + c]) * tp.scale * kr[c];
      dp += dout[qb + c] * vr[c];
    }
    let pr = exp(s - lse[li]);
    let z = attention_dropout(b, h, i, j);
    let ds = pr * (dp * z - delta[li]);
    let pz = pr * z;
    for (var c = 0u; c < HEAD_DIM; c++) {
      gv[c] += pz * dout[qb + c];
      gk[c] += ds * f32(q[qb + c]);
    }
  }
  for (var c = 0u; c < HEAD_DIM; c++) {
    dk[o + c] = gk[c] * tp.scale;
    dv[o + c] = gv[c];
  }
}
