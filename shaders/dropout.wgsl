// Inverted dropout, one invocation per element i of a tensor of p.count values:
//   dropout_forward   y[i]  = x[i]  * dropout_scale(seed, stream, i, rate);
//   dropout_backward  dx[i] = dy[i] * the same factor.
// The mask is never stored: the backward regenerates it from (seed, stream, i) with rng.wgsl (the host
// prepends it). rate = 0 gives the factor 1.0 exactly, an identity. Not in place: WebGPU forbids binding
// one buffer range as read and read_write storage in one dispatch.

struct Params {
  count: u32,
  seed: u32,
  stream: u32,
  rate: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

override WG: u32 = 64u;

fn apply(gid: vec3u, nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.count) {
    dst[i] = src[i] * dropout_scale(p.seed, p.stream, i, p.rate);
  }
}

@compute @workgroup_size(WG)
fn dropout_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  apply(gid, nwg);
}

@compute @workgroup_size(WG)
fn dropout_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  apply(gid, nwg);
}
