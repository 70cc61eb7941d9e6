// y[m, n] = act(sum_k x[m, k] * w[n, k] + b[n]): a Linear layer with HF's [out, in] weights.
//
// The host prepends a prelude that fixes the storage type and the block shape:
//   enable f16;            (f16 only)
//   alias T = f32 | f16;   storage element type; arithmetic and accumulation are always f32
//   const TM, TN, TK       blocked variant: outputs per invocation (rows x cols), k step
// Both operands are k-contiguous, so every load walks along k.
// Rows and columns past the edge are clamped for loading and skipped when storing, so the inner
// loops carry no bounds checks and any m, n, k is correct.

struct Params {
  m: u32,
  n: u32,
  k: u32,
  // bit 0: add bias; bits 1..2: activation (0 none, 1 gelu, 2 tanh)
  flags: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> w: array<T>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 64;

// erf for f32 as a rational approximation on [-4, 4] (Eigen/XLA's); beyond that erf is +-1 in f32.
fn erf32(v: f32) -> f32 {
  let a = clamp(v, -4.0, 4.0);
  let a2 = a * a;
  var num = a2 * -2.72614225801306e-10 + 2.77068142495902e-08;
  num = a2 * num - 2.10102402082508e-06;
  num = a2 * num - 5.69250639462346e-05;
  num = a2 * num - 7.34990630326855e-04;
  num = a2 * num - 2.95459980854025e-03;
  num = a2 * num - 1.60960333262415e-02;
  var den = a2 * -1.45660718464996e-05 - 2.13374055278905e-04;
  den = a2 * den - 1.68282697438203e-03;
  den = a2 * den - 7.37332916720468e-03;
  den = a2 * den - 1.42647390514189e-02;
  return a * num / den;
}

fn epilogue(acc: f32, col: u32) -> f32 {
  var v = acc;
  if ((p.flags & 1u) != 0u) {
    v += f32(bias[col]);
  }
  let act = (p.flags >> 1u) & 3u;
  if (act == 1u) {
    v = 0.5 * v * (1.0 + erf32(v * 0.70710678118654752));
  } else if (act == 2u) {
    // Clamped: tanh of a large argument can come out as NaN (inf / inf) on some drivers.
    v = tanh(clamp(v, -15.0, 15.0));
  }
  return v;
}

fn load4(src: u32, at: u32) -> vec4<f32> {
  // Scalar loads: a vec4 view would need k % 4 == 0 and 8/16-byte aligned rows.
  if (src == 0u) {
    return vec4<f32>(f32(x[at]), f32(x[at + 1u]), f32(x[at + 2u]), f32(x[at + 3u]));
  }
  return vec4<f32>(f32(w[at]), f32(w[at + 1u]), f32(w[at + 2u]), f32(w[at + 3u]));
}

// Register-blocked: each invocation owns a TM x TN block of y and keeps it in registers; no
// workgroup memory and no barriers (barriers are expensive on CPU implementations).
@compute @workgroup_size(WG)
fn matmul_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let colBlocks = (p.n + TN - 1u) / TN;
  let id = gid.x + gid.y * nwg.x * WG;
  let rowBlock = id / colBlocks;
  let row0 = rowBlock * TM;
  let col0 = (id % colBlocks) * TN;
  if (row0 >= p.m) {
    return;
  }
  var xb: array<u32, TM>;
  var wb: array<u32, TN>;
  for (var i = 0u; i < TM; i++) {
    xb[i] = min(row0 + i, p.m - 1u) * p.k;
  }
  for (var j = 0u; j < TN; j++) {
    wb[j] = min(col0 + j, p.n - 1u) * p.k;
  }
  var acc: array<vec4<f32>, TM * TN>;
  let k4 = p.k & ~3u;
  for (var kk = 0u; kk < k4; kk += 4u) {
    var xv: array<vec4<f32>, TM>;
    for (var i = 0u; i < TM; i++) {
      xv[i] = load4(0u, xb[i] + kk);
    }
    for (var j = 0u; j < TN; j++) {
      let wv = load4(1u, wb[j] + kk);
      for (var i = 0u; i < TM; i++) {
        acc[i * TN + j] = fma(xv[i], wv, acc[i * TN + j]);
      }
    }
  }
  for (var kk = k4; kk < p.k; kk++) {
    for (var i = 0u; i < TM; i++) {
      let xs = f32(x[xb[i] + kk]);
      for (var j = 0u; j < TN; j++) {
        acc[i * TN + j].x = fma(xs, f32(w[wb[j] + kk]), acc[i * TN + j].x);
      }
    }
  }
  for (var i = 0u; i < TM; i++) {
    let row = row0 + i;
    for (var j = 0u; j < TN; j++) {
      let col = col0 + j;
      if (row < p.m && col < p.n) {
        let a = acc[i * TN + j];
        y[row * p.n + col] = T(epilogue(a.x + a.y + a.z + a.w, col));
      }
    }
  }
}

// Workgroup-tiled, for hardware GPUs: a 16 x 16 workgroup computes a (16 RT) x (16 RT) tile of y,
// staging TILE_K-wide slabs of x and w in workgroup memory; each invocation owns RT x RT outputs.
const TG = 16u;
const RT = 4u;
const TILE = TG * RT;
const TILE_K = 16u;
var<workgroup> xs: array<array<f32, TILE_K>, TILE>;
var<workgroup> ws: array<array<f32, TILE_K>, TILE>;

@compute @workgroup_size(TG, TG)
fn matmul_forward_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                        @builtin(local_invocation_index) lix: u32) {
  let rowBase = wid.y * TILE;
  let colBase = wid.x * TILE;
  var acc: array<f32, RT * RT>;
  for (var k0 = 0u; k0 < p.k; k0 += TILE_K) {
    // TILE * TILE_K elements per slab, TG * TG invocations: each loads RT * RT / (TILE / TILE_K) of each.
    for (var e = lix; e < TILE * TILE_K; e += TG * TG) {
      let r = e / TILE_K;
      let kk = e % TILE_K;
      let kg = k0 + kk;
      let xr = rowBase + r;
      let wr = colBase + r;
      xs[r][kk] = select(0.0, f32(x[min(xr, p.m - 1u) * p.k + min(kg, p.k - 1u)]), xr < p.m && kg < p.k);
      ws[r][kk] = select(0.0, f32(w[min(wr, p.n - 1u) * p.k + min(kg, p.k - 1u)]), wr < p.n && kg < p.k);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      var wv: array<f32, RT>;
      for (var j = 0u; j < RT; j++) {
        wv[j] = ws[lid.x + j * TG][kk];
      }
      for (var i = 0u; i < RT; i++) {
        let xv = xs[lid.y + i * TG][kk];
        for (var j = 0u; j < RT; j++) {
          acc[i * RT + j] = fma(xv, wv[j], acc[i * RT + j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < RT; i++) {
    let row = rowBase + lid.y + i * TG;
    for (var j = 0u; j < RT; j++) {
      let col = colBase + lid.x + j * TG;
      if (row < p.m && col < p.n) {
        y[row * p.n + col] = T(epilogue(acc[i * RT + j], col));
      }
    }
  }
}
