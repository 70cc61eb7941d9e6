// AdamW over the flat f32 parameter buffer, as torch.optim.AdamW (single-tensor path), with the global
// gradient-norm clipping of torch.nn.utils.clip_grad_norm_.
// The host prepends `alias T = f32;` and the consts WG (invocations per workgroup), PER (elements each
// norm invocation sums) and BLOCK (PARAM_ALIGN: every tensor starts at a multiple of it).
//
// The norm is a two-stage reduction in a fixed order, so it is the same bits on every run: stage 1 gives
// each workgroup WG * PER consecutive elements (invocation l sums l, l + WG, ... in order, then a tree in
// workgroup memory); stage 2 is one workgroup doing the same over the partial sums. It covers the whole
// buffer, padding included: padding between tensors holds zero gradient (the trainer clears the buffer
// and backward kernels only touch tensor ranges), so it adds nothing.

struct NormParams {
  n: u32,
}

@group(0) @binding(0) var<uniform> np: NormParams;
@group(0) @binding(1) var<storage, read> norm_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> norm_out: array<f32>;

var<workgroup> sums: array<f32, WG>;

// Tree over sums[0..WG) (WG a power of two); every invocation must call it (it has barriers).
fn tree_sum(lid: u32) -> f32 {
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    workgroupBarrier();
    if (lid < half) {
      sums[lid] = sums[lid] + sums[lid + half];
    }
  }
  workgroupBarrier();
  return sums[0];
}

// Stage 1: norm_in = grads [np.n], norm_out = partial sums of squares, one per workgroup.
@compute @workgroup_size(WG)
fn adamw_norm_partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let group = wid.x + wid.y * nwg.x;
  let base = group * WG * PER;
  var s = 0.0;
  for (var k = 0u; k < PER; k++) {
    let i = base + k * WG + lid;
    if (i < np.n) {
      let g = norm_in[i];
      s = s + g * g;
    }
  }
  sums[lid] = s;
  let total = tree_sum(lid);
  if (lid == 0u) {
    norm_out[group] = total;
  }
}

// Stage 2, one workgroup: norm_in = the np.n partial sums, norm_out[0] = sqrt(their sum).
@compute @workgroup_size(WG)
fn adamw_norm_final(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < np.n; i += WG) {
    s = s + norm_in[i];
  }
  sums[lid] = s;
  let total = tree_sum(lid);
  if (lid == 0u) {
    norm_out[0] = sqrt(total);
  }
}

struct UpdateParams {
  n: u32,
  // 1 when clipping is on (max_norm > 0).
  clip: u32,
  max_norm: f32,
  // 1 - lr * weight_decay (applied only where the mask bit is set).
  decay: f32,
  one_minus_beta1: f32,
  beta2: f32,
  one_minus_beta2: f32,
  // -lr / (1 - beta1^t)
  neg_step_size: f32,
  // sqrt(1 - beta2^t)
  bc2_sqrt: f32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> up: UpdateParams;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;
// Bit b of word w: weight decay for elements [(32w + b) * BLOCK, (32w + b + 1) * BLOCK).
@group(0) @binding(5) var<storage, read> decay_mask: array<u32>;
@group(0) @binding(6) var<storage, read> norm: array<f32>;

// Each operation mirrors the torch CPU kernel it stands for (lerp_, mul_ + addcmul_, sqrt / scalar +
// eps, addcdiv_), so the f32 roundings are the same ones.
@compute @workgroup_size(WG)
fn adamw_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= up.n) {
    return;
  }
  var g = grads[i];
  if (up.clip != 0u) {
    // clip_grad_norm_: coef = max_norm / (norm + 1e-6), clamped to 1, and grads are multiplied by it.
    let coef = min(up.max_norm / (norm[0] + 1e-6), 1.0);
    g = g * coef;
  }
  var p = params[i];
  let block = i / BLOCK;
  if (((decay_mask[block / 32u] >> (block % 32u)) & 1u) != 0u) {
    p = p * up.decay;
  }
  let m0 = exp_avg[i];
  // torch's lerp with w = 1 - beta1: start + w * (end - start) for w < 0.5, else end - (end - start) * (1 - w).
  let w = up.one_minus_beta1;
  let m = select(g - (g - m0) * (1.0 - w), m0 + w * (g - m0), w < 0.5);
  let v = exp_avg_sq[i] * up.beta2 + up.one_minus_beta2 * g * g;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  let denom = sqrt(v) / up.bc2_sqrt + up.eps;
  params[i] = p + up.neg_step_size * m / denom;
}
