// Standalone activations for training (f32), one invocation per element:
//   gelu_forward   y = GELU(x), exact erf GELU (the same gelu32 as matmul.wgsl's fused one);
//   gelu_backward  dx = dy * GELU'(z), from the pre-activation z;
//   tanh_backward  dx = dy * (1 - y^2), from the output y = tanh(z) (the pooler's fused tanh).
// The host prepends gelu.wgsl. Outputs must not alias inputs (WebGPU forbids binding one buffer
// range as read and read_write storage in one dispatch).

struct Params {
  count: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out2: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out3: array<f32>;

override WG: u32 = 64u;

fn element(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn gelu_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = element(gid, nwg);
  if (i < p.count) {
    out2[i] = gelu32(a[i]);
  }
}

@compute @workgroup_size(WG)
fn gelu_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = element(gid, nwg);
  if (i < p.count) {
    out3[i] = dy[i] * gelu_grad32(a[i]);
  }
}

@compute @workgroup_size(WG)
fn tanh_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = element(gid, nwg);
  if (i < p.count) {
    let y = a[i];
    out3[i] = dy[i] * (1.0 - y * y);
  }
}
