// y[m, n] = act(sum_k x[m, k] * w[n, k] + b[n]): a Linear layer with HF's [out, in] weights.
// Both operands are k-contiguous, so every load walks along k.
//
// The host prepends a prelude that fixes the types and block shapes:
//   enable f16; enable subgroups;   (when used)
//   alias T = f32 | f16;            storage element type; arithmetic and accumulation are always f32
//   const TM, TN, SG, BM, BN        block shapes (below); DSM, DSV, DXM, DXV, DWJ, DWV for the backward
//   gelu.wgsl                       erf32 / gelu32, shared with activation.wgsl
// and expands `//#for v < N` ... `//#end` (N a number or one of those constants), writing the
// body N times with ${v} = 0 .. N-1. The expansion unrolls register blocks into plain variables:
// CPU implementations keep them in registers only when no loop or array indexing is left.
//
// Rows and columns past the edge are clamped for loading and skipped when storing, so the inner
// loops carry no bounds checks and any m, n, k is correct.

struct Params {
  m: u32,
  n: u32,
  k: u32,
  // bit 0: add bias; bits 1..2: activation (0 none, 1 gelu, 2 tanh)
  flags: u32,
}

@group(0) @binding(1) var<storage, read> xs: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;
@group(0) @binding(0) var<uniform> p: Params;

override WG: u32 = 64;

fn store(row: u32, col: u32, acc: f32) {
  if (row >= p.m || col >= p.n) {
    return;
  }
  var v = acc;
  if ((p.flags & 1u) != 0u) {
    v += f32(bias[col]);
  }
  let act = (p.flags >> 1u) & 3u;
  if (act == 1u) {
    v = gelu32(v);
  } else if (act == 2u) {
    // Clamped: tanh of a large argument can come out as NaN (inf / inf) on some drivers.
    v = tanh(clamp(v, -15.0, 15.0));
  }
  y[row * p.n + col] = T(v);
}

// ---- matmul_forward: subgroup broadcast, for CPU implementations (needs k % 4 == 0) ----
// A subgroup of SG lanes owns TM rows x SG*TN columns; lane l owns columns col0 + j*SG + l.
// Per SG-wide step of k, lane l loads x[row, k0 + l] for each row and shares it with
// subgroupBroadcast, so the SG lanes load each x element once instead of SG times; each lane
// loads its own columns of w as vec4. On lavapipe a load costs about as much as 50 FMAs (every
// lane's address is bounds-checked on its own), so loads per FMA is what counts.
@group(0) @binding(2) var<storage, read> w4: array<vec4<T>>;

@compute @workgroup_size(WG)
fn matmul_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(subgroup_invocation_id) lane: u32) {
  let colGroups = (p.n + SG * TN - 1u) / (SG * TN);
  let g = (gid.x + gid.y * nwg.x * WG) / SG;
  let row0 = (g / colGroups) * TM;
  let col0 = (g % colGroups) * (SG * TN) + lane;
  let k4 = p.k / 4u;
  //#for i < TM
  let xo${i} = min(row0 + ${i}u, p.m - 1u) * p.k;
  //#end
  //#for j < TN
  let wo${j} = min(col0 + ${j}u * SG, p.n - 1u) * k4;
  //#end
  //#for i < TM
  //#for j < TN
  var a${i}_${j} = 0.0;
  //#end
  //#end
  // Full SG-wide steps, then a tail of k % SG (a multiple of 4) whose upper lanes load a clamped
  // duplicate that is never broadcast.
  let kFull = p.k - p.k % SG;
  for (var k0 = 0u; k0 < kFull; k0 += SG) {
    //#for i < TM
    let xl${i} = f32(xs[xo${i} + k0 + lane]);
    //#end
    //#for t < SG4
    {
      //#for j < TN
      let w${j} = vec4<f32>(w4[wo${j} + k0 / 4u + ${t}u]);
      //#end
      //#for i < TM
      let xb${i} = vec4<f32>(subgroupBroadcast(xl${i}, ${t}u * 4u), subgroupBroadcast(xl${i}, ${t}u * 4u + 1u),
                             subgroupBroadcast(xl${i}, ${t}u * 4u + 2u), subgroupBroadcast(xl${i}, ${t}u * 4u + 3u));
      //#for j < TN
      a${i}_${j} = fma(xb${i}.x, w${j}.x, fma(xb${i}.y, w${j}.y, fma(xb${i}.z, w${j}.z, fma(xb${i}.w, w${j}.w, a${i}_${j}))));
      //#end
      //#end
    }
    //#end
  }
  if (kFull < p.k) {
    let kl = min(kFull + lane, p.k - 1u);
    //#for i < TM
    let xl${i} = f32(xs[xo${i} + kl]);
    //#end
    //#for t < SG4
    if (kFull + ${t}u * 4u < p.k) {
      //#for j < TN
      let w${j} = vec4<f32>(w4[wo${j} + kFull / 4u + ${t}u]);
      //#end
      //#for i < TM
      let xb${i} = vec4<f32>(subgroupBroadcast(xl${i}, ${t}u * 4u), subgroupBroadcast(xl${i}, ${t}u * 4u + 1u),
                             subgroupBroadcast(xl${i}, ${t}u * 4u + 2u), subgroupBroadcast(xl${i}, ${t}u * 4u + 3u));
      //#for j < TN
      a${i}_${j} = fma(xb${i}.x, w${j}.x, fma(xb${i}.y, w${j}.y, fma(xb${i}.z, w${j}.z, fma(xb${i}.w, w${j}.w, a${i}_${j}))));
      //#end
      //#end
    }
    //#end
  }
  //#for i < TM
  //#for j < TN
  store(row0 + ${i}u, col0 + ${j}u * SG, a${i}_${j});
  //#end
  //#end
}

// ---- matmul_forward_f16: the subgroup kernel for f16 storage (needs k % 8 == 0) ----
// Loads count, not bytes, so f16 is read packed: x as u32 pairs (lane l holds k0 + 2l, k0 + 2l + 1),
// w as vec4<u32> (8 halves). A step covers 2 * SG values of k.
@group(0) @binding(1) var<storage, read> xp: array<u32>;
@group(0) @binding(2) var<storage, read> wp: array<vec4<u32>>;

@compute @workgroup_size(WG)
fn matmul_forward_f16(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(subgroup_invocation_id) lane: u32) {
  let colGroups = (p.n + SG * TN - 1u) / (SG * TN);
  let g = (gid.x + gid.y * nwg.x * WG) / SG;
  let row0 = (g / colGroups) * TM;
  let col0 = (g % colGroups) * (SG * TN) + lane;
  let k2 = p.k / 2u;
  let k8 = p.k / 8u;
  //#for i < TM
  let xo${i} = min(row0 + ${i}u, p.m - 1u) * k2;
  //#end
  //#for j < TN
  let wo${j} = min(col0 + ${j}u * SG, p.n - 1u) * k8;
  //#end
  //#for i < TM
  //#for j < TN
  var a${i}_${j} = 0.0;
  //#end
  //#end
  // In units of 8 values of k (one vec4<u32> of w): full steps of SG4, then a tail.
  let kFull = k8 - k8 % SG4;
  for (var k0 = 0u; k0 < kFull; k0 += SG4) {
    //#for i < TM
    let xl${i} = unpack2x16float(xp[xo${i} + k0 * 4u + lane]);
    //#end
    //#for q < SG4
    {
      //#for j < TN
      let wq${j} = wp[wo${j} + k0 + ${q}u];
      let w${j}_0 = unpack2x16float(wq${j}.x);
      let w${j}_1 = unpack2x16float(wq${j}.y);
      let w${j}_2 = unpack2x16float(wq${j}.z);
      let w${j}_3 = unpack2x16float(wq${j}.w);
      //#end
      //#for i < TM
      //#for c < 4
      let xb${i}_${c} = subgroupBroadcast(xl${i}, ${q}u * 4u + ${c}u);
      //#for j < TN
      a${i}_${j} = fma(xb${i}_${c}.x, w${j}_${c}.x, fma(xb${i}_${c}.y, w${j}_${c}.y, a${i}_${j}));
      //#end
      //#end
      //#end
    }
    //#end
  }
  if (kFull < k8) {
    let xl = min(kFull * 4u + lane, k2 - 1u);
    //#for i < TM
    let xl${i} = unpack2x16float(xp[xo${i} + xl]);
    //#end
    //#for q < SG4
    if (kFull + ${q}u < k8) {
      //#for j < TN
      let wq${j} = wp[wo${j} + kFull + ${q}u];
      let w${j}_0 = unpack2x16float(wq${j}.x);
      let w${j}_1 = unpack2x16float(wq${j}.y);
      let w${j}_2 = unpack2x16float(wq${j}.z);
      let w${j}_3 = unpack2x16float(wq${j}.w);
      //#end
      //#for i < TM
      //#for c < 4
      let xb${i}_${c} = subgroupBroadcast(xl${i}, ${q}u * 4u + ${c}u);
      //#for j < TN
      a${i}_${j} = fma(xb${i}_${c}.x, w${j}_${c}.x, fma(xb${i}_${c}.y, w${j}_${c}.y, a${i}_${j}));
      //#end
      //#end
      //#end
    }
    //#end
  }
  //#for i < TM
  //#for j < TN
  store(row0 + ${i}u, col0 + ${j}u * SG, a${i}_${j});
  //#end
  //#end
}

// ---- matmul_forward_blocked: per-invocation register blocks, any k, no subgroups ----
// Each invocation owns a BM x BN block of y and keeps it in registers; no workgroup memory and
// no barriers (barriers are expensive on CPU implementations).
@compute @workgroup_size(WG)
fn matmul_forward_blocked(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let colBlocks = (p.n + BN - 1u) / BN;
  let id = gid.x + gid.y * nwg.x * WG;
  let row0 = (id / colBlocks) * BM;
  let col0 = (id % colBlocks) * BN;
  //#for i < BM
  let xo${i} = min(row0 + ${i}u, p.m - 1u) * p.k;
  //#end
  //#for j < BN
  let wo${j} = min(col0 + ${j}u, p.n - 1u) * p.k;
  //#end
  //#for i < BM
  //#for j < BN
  var a${i}_${j} = 0.0;
  //#end
  //#end
  for (var kk = 0u; kk < p.k; kk++) {
    //#for j < BN
    let w${j} = f32(ws[wo${j} + kk]);
    //#end
    //#for i < BM
    let x${i} = f32(xs[xo${i} + kk]);
    //#for j < BN
    a${i}_${j} = fma(x${i}, w${j}, a${i}_${j});
    //#end
    //#end
  }
  //#for i < BM
  //#for j < BN
  store(row0 + ${i}u, col0 + ${j}u, a${i}_${j});
  //#end
  //#end
}

// ---- matmul_forward_tiled: workgroup-memory tiles, for hardware GPUs ----
// A 16 x 16 workgroup computes a (16 RT) x (16 RT) tile of y, staging TILE_K-wide slabs of x and
// w in workgroup memory; each invocation owns RT x RT outputs, strided by 16.
@group(0) @binding(2) var<storage, read> ws: array<T>;
const TG = 16u;
const RT = 4u;
const TILE = TG * RT;
const TILE_K = 16u;
var<workgroup> xt: array<array<f32, TILE_K>, TILE>;
var<workgroup> wt: array<array<f32, TILE_K>, TILE>;

@compute @workgroup_size(TG, TG)
fn matmul_forward_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                        @builtin(local_invocation_index) lix: u32) {
  let rowBase = wid.y * TILE;
  let colBase = wid.x * TILE;
  var acc: array<f32, RT * RT>;
  for (var k0 = 0u; k0 < p.k; k0 += TILE_K) {
    for (var e = lix; e < TILE * TILE_K; e += TG * TG) {
      let r = e / TILE_K;
      let kk = e % TILE_K;
      let kg = k0 + kk;
      let xr = rowBase + r;
      let wr = colBase + r;
      xt[r][kk] = select(0.0, f32(xs[min(xr, p.m - 1u) * p.k + min(kg, p.k - 1u)]), xr < p.m && kg < p.k);
      wt[r][kk] = select(0.0, f32(ws[min(wr, p.n - 1u) * p.k + min(kg, p.k - 1u)]), wr < p.n && kg < p.k);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      var wv: array<f32, RT>;
      for (var j = 0u; j < RT; j++) {
        wv[j] = wt[lid.x + j * TG][kk];
      }
      for (var i = 0u; i < RT; i++) {
        let xv = xt[lid.y + i * TG][kk];
        for (var j = 0u; j < RT; j++) {
          acc[i * RT + j] = fma(xv, wv[j], acc[i * RT + j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < RT; i++) {
    for (var j = 0u; j < RT; j++) {
      store(rowBase + lid.y + i * TG, colBase + lid.x + j * TG, acc[i * RT + j]);
    }
  }
}

// ==== Backward of y = x · wᵀ + b (f32 only; the activation's backward runs before, on dy) ====
// Entry points:
//   matmul_backward_input_sg / _input4 / _input      dx[m, k] = dy[m, n] · w[n, k], written, or added
//                                                    to dx when p.flags bit 0 (accumulate) is set;
//   matmul_backward_weight4 / matmul_backward_weight dw[n, k] += dyᵀ · x, summed over rows in order;
//   matmul_backward_bias                             db[n] += column sums of dy.
// The `4` kernels load vec4s and need n % 4 == 0 and k % 4 == 0, the `sg` one subgroups and
// k % 4 == 0; the others take any shape. Like the
// forward, each invocation keeps a register block of outputs and owns it alone: no workgroup memory,
// no barriers, no atomics, and every output's sum runs in a fixed order (deterministic bits).
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(1) var<storage, read> gy4: array<vec4<f32>>;
// Binding 2: w for the input gradient, x for the weight gradient.
@group(0) @binding(2) var<storage, read> gb: array<f32>;
@group(0) @binding(2) var<storage, read> gb4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> gout: array<f32>;
@group(0) @binding(3) var<storage, read_write> gout4: array<vec4<f32>>;

fn store_grad(row: u32, col: u32, rows: u32, cols: u32, acc: f32, add: bool) {
  if (row < rows && col < cols) {
    let i = row * cols + col;
    gout[i] = select(acc, gout[i] + acc, add);
  }
}

fn store_grad4(row: u32, col4: u32, rows: u32, cols4: u32, acc: vec4<f32>, add: bool) {
  if (row < rows && col4 < cols4) {
    let i = row * cols4 + col4;
    gout4[i] = select(acc, gout4[i] + acc, add);
  }
}

// ---- matmul_backward_input_sg: dx with subgroup broadcasts of dy (k % 4 == 0; left out without subgroups) ----
// As in matmul_forward: a subgroup owns DSM rows x SG·DSV vec4 columns of dx (lane l: vec4 columns
// c0 + v·SG + l). Per SG-wide step of n, lane l loads dy[row, j0 + l] for each row and broadcasts it,
// so each dy value is loaded once per subgroup; per value of n a lane loads DSV vec4s of w's row.
@compute @workgroup_size(WG)
fn matmul_backward_input_sg(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                            @builtin(subgroup_invocation_id) lane: u32) {
  let k4 = p.k / 4u;
  let colGroups = (k4 + SG * DSV - 1u) / (SG * DSV);
  let g = (gid.x + gid.y * nwg.x * WG) / SG;
  let row0 = (g / colGroups) * DSM;
  let c0 = (g % colGroups) * (SG * DSV) + lane;
  //#for i < DSM
  let yo${i} = min(row0 + ${i}u, p.m - 1u) * p.n;
  //#end
  //#for v < DSV
  let wc${v} = min(c0 + ${v}u * SG, k4 - 1u);
  //#end
  //#for i < DSM
  //#for v < DSV
  var a${i}_${v} = vec4<f32>(0.0);
  //#end
  //#end
  // Full SG-wide steps, then a tail of n % SG whose upper lanes load a clamped duplicate that is
  // never broadcast.
  let nFull = p.n - p.n % SG;
  for (var j0 = 0u; j0 < nFull; j0 += SG) {
    //#for i < DSM
    let yl${i} = gy[yo${i} + j0 + lane];
    //#end
    //#for t < SG
    {
      let wo = (j0 + ${t}u) * k4;
      //#for v < DSV
      let w${v} = gb4[wo + wc${v}];
      //#end
      //#for i < DSM
      let d${i} = vec4<f32>(subgroupBroadcast(yl${i}, ${t}u));
      //#for v < DSV
      a${i}_${v} = fma(d${i}, w${v}, a${i}_${v});
      //#end
      //#end
    }
    //#end
  }
  if (nFull < p.n) {
    let jl = min(nFull + lane, p.n - 1u);
    //#for i < DSM
    let yl${i} = gy[yo${i} + jl];
    //#end
    //#for t < SG
    if (nFull + ${t}u < p.n) {
      let wo = (nFull + ${t}u) * k4;
      //#for v < DSV
      let w${v} = gb4[wo + wc${v}];
      //#end
      //#for i < DSM
      let d${i} = vec4<f32>(subgroupBroadcast(yl${i}, ${t}u));
      //#for v < DSV
      a${i}_${v} = fma(d${i}, w${v}, a${i}_${v});
      //#end
      //#end
    }
    //#end
  }
  let add = (p.flags & 1u) != 0u;
  //#for i < DSM
  //#for v < DSV
  store_grad4(row0 + ${i}u, c0 + ${v}u * SG, p.m, k4, a${i}_${v}, add);
  //#end
  //#end
}

// ---- matmul_backward_input4 ----
// A DXM x 4·DXV block of dx per invocation. Per 4 values of n: DXM vec4 loads of dy (4 values of n
// each) and 4·DXV vec4 loads of w rows, for 16·DXM·DXV FMAs.
@compute @workgroup_size(WG)
fn matmul_backward_input4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n4 = p.n / 4u;
  let k4 = p.k / 4u;
  let colBlocks = (k4 + DXV - 1u) / DXV;
  let id = gid.x + gid.y * nwg.x * WG;
  let row0 = (id / colBlocks) * DXM;
  let c0 = (id % colBlocks) * DXV;
  //#for i < DXM
  let yo${i} = min(row0 + ${i}u, p.m - 1u) * n4;
  //#end
  //#for v < DXV
  let wc${v} = min(c0 + ${v}u, k4 - 1u);
  //#end
  //#for i < DXM
  //#for v < DXV
  var a${i}_${v} = vec4<f32>(0.0);
  //#end
  //#end
  for (var j4 = 0u; j4 < n4; j4++) {
    //#for i < DXM
    let d${i} = gy4[yo${i} + j4];
    //#end
    //#for t < 4
    {
      let wo = (j4 * 4u + ${t}u) * k4;
      //#for v < DXV
      let w${v} = gb4[wo + wc${v}];
      //#end
      //#for i < DXM
      //#for v < DXV
      a${i}_${v} = fma(vec4<f32>(d${i}[${t}]), w${v}, a${i}_${v});
      //#end
      //#end
    }
    //#end
  }
  let add = (p.flags & 1u) != 0u;
  //#for i < DXM
  //#for v < DXV
  store_grad4(row0 + ${i}u, c0 + ${v}u, p.m, k4, a${i}_${v}, add);
  //#end
  //#end
}

// Any shape: a BM x BN block of dx per invocation, scalar loads.
@compute @workgroup_size(WG)
fn matmul_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let colBlocks = (p.k + BN - 1u) / BN;
  let id = gid.x + gid.y * nwg.x * WG;
  let row0 = (id / colBlocks) * BM;
  let col0 = (id % colBlocks) * BN;
  //#for i < BM
  let yo${i} = min(row0 + ${i}u, p.m - 1u) * p.n;
  //#end
  //#for j < BN
  let wc${j} = min(col0 + ${j}u, p.k - 1u);
  //#end
  //#for i < BM
  //#for j < BN
  var a${i}_${j} = 0.0;
  //#end
  //#end
  for (var jj = 0u; jj < p.n; jj++) {
    let wo = jj * p.k;
    //#for j < BN
    let w${j} = gb[wo + wc${j}];
    //#end
    //#for i < BM
    let d${i} = gy[yo${i} + jj];
    //#for j < BN
    a${i}_${j} = fma(d${i}, w${j}, a${i}_${j});
    //#end
    //#end
  }
  let add = (p.flags & 1u) != 0u;
  //#for i < BM
  //#for j < BN
  store_grad(row0 + ${i}u, col0 + ${j}u, p.m, p.k, a${i}_${j}, add);
  //#end
  //#end
}

// A 4·DWJ x 4·DWV block of dw per invocation, summed over all m rows in order. Per row: DWJ vec4
// loads of dy and DWV of x, for 16·DWJ·DWV FMAs.
@compute @workgroup_size(WG)
fn matmul_backward_weight4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n4 = p.n / 4u;
  let k4 = p.k / 4u;
  let colBlocks = (k4 + DWV - 1u) / DWV;
  let id = gid.x + gid.y * nwg.x * WG;
  let j0 = (id / colBlocks) * DWJ;
  let c0 = (id % colBlocks) * DWV;
  //#for u < DWJ
  let jy${u} = min(j0 + ${u}u, n4 - 1u);
  //#end
  //#for v < DWV
  let xc${v} = min(c0 + ${v}u, k4 - 1u);
  //#end
  //#for u < DWJ
  //#for t < 4
  //#for v < DWV
  var a${u}_${t}_${v} = vec4<f32>(0.0);
  //#end
  //#end
  //#end
  for (var r = 0u; r < p.m; r++) {
    let yo = r * n4;
    let xo = r * k4;
    //#for u < DWJ
    let d${u} = gy4[yo + jy${u}];
    //#end
    //#for v < DWV
    let x${v} = gb4[xo + xc${v}];
    //#end
    //#for u < DWJ
    //#for t < 4
    //#for v < DWV
    a${u}_${t}_${v} = fma(vec4<f32>(d${u}[${t}]), x${v}, a${u}_${t}_${v});
    //#end
    //#end
    //#end
  }
  //#for u < DWJ
  //#for t < 4
  //#for v < DWV
  store_grad4((j0 + ${u}u) * 4u + ${t}u, c0 + ${v}u, p.n, k4, a${u}_${t}_${v}, true);
  //#end
  //#end
  //#end
}

// Any shape: a BM x BN block of dw per invocation, scalar loads.
@compute @workgroup_size(WG)
fn matmul_backward_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let colBlocks = (p.k + BN - 1u) / BN;
  let id = gid.x + gid.y * nwg.x * WG;
  let j0 = (id / colBlocks) * BM;
  let col0 = (id % colBlocks) * BN;
  //#for i < BM
  let jy${i} = min(j0 + ${i}u, p.n - 1u);
  //#end
  //#for j < BN
  let xc${j} = min(col0 + ${j}u, p.k - 1u);
  //#end
  //#for i < BM
  //#for j < BN
  var a${i}_${j} = 0.0;
  //#end
  //#end
  for (var r = 0u; r < p.m; r++) {
    let yo = r * p.n;
    let xo = r * p.k;
    //#for j < BN
    let x${j} = gb[xo + xc${j}];
    //#end
    //#for i < BM
    let d${i} = gy[yo + jy${i}];
    //#for j < BN
    a${i}_${j} = fma(d${i}, x${j}, a${i}_${j});
    //#end
    //#end
  }
  //#for i < BM
  //#for j < BN
  store_grad(j0 + ${i}u, col0 + ${j}u, p.n, p.k, a${i}_${j}, true);
  //#end
  //#end
}

// One invocation per column of dy; rows summed in chunks of 256 (each chunk in order, then the
// chunks in order), which keeps the f32 rounding error near that of a 256-row sum.
@group(0) @binding(2) var<storage, read_write> gdb: array<f32>;

@compute @workgroup_size(WG)
fn matmul_backward_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.x + gid.y * nwg.x * WG;
  if (j >= p.n) {
    return;
  }
  var total = 0.0;
  for (var r0 = 0u; r0 < p.m; r0 += 256u) {
    var chunk = 0.0;
    let end = min(r0 + 256u, p.m);
    for (var r = r0; r < end; r++) {
      chunk += gy[r * p.n + j];
    }
    total += chunk;
  }
  gdb[j] += total;
}
