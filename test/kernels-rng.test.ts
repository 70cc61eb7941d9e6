/**
 * shaders/rng.wgsl against its CPU twin src/model/kernels/rng.ts: the same bits for the same
 * (seed, stream, index), so a backward pass (or a CPU reference) regenerates the forward's masks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuRuntime } from '../src/gpu/index.js';
import { grid, params, shaderSource } from '../src/model/kernels/common.js';
import { dropoutScale, rngUniform } from '../src/model/kernels/rng.js';
import { rng } from './kernels-support.js';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await GpuRuntime.create();
});
afterAll(() => rt?.destroy());

// A test-only entry point over rng.wgsl: per triple, the uniform's bits and dropout_scale's bits.
const PROBE = `
struct Params { count: u32, p: f32 }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> triples: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec2<u32>>;
@compute @workgroup_size(64)
fn probe(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= u.count) { return; }
  let t = triples[i];
  out[i] = vec2<u32>(bitcast<u32>(rng_uniform(t.x, t.y, t.z)), bitcast<u32>(dropout_scale(t.x, t.y, t.z, u.p)));
}
`;

const bits = (v: number): number => new Uint32Array(Float32Array.of(v).buffer)[0];

describe('rng.wgsl and rng.ts', () => {
  it('give bit-identical uniforms and dropout factors for thousands of (seed, stream, index)', async () => {
    const code = (await shaderSource('rng', 'f32')) + PROBE;
    const pipeline = await rt.pipeline({ code, entryPoint: 'probe', label: 'rng probe' });
    const rand = rng(17);
    const u32 = () => Math.floor(rand() * 2 ** 32) >>> 0;
    const edges = [0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
    const triples: [number, number, number][] = [];
    for (const a of edges) for (const b of edges) for (const c of edges) triples.push([a, b, c]);
    // Random words, then the dropout pattern: fixed seed/stream, consecutive indices.
    for (let i = 0; i < 3000; i++) triples.push([u32(), u32() % 64, u32()]);
    for (let i = 0; i < 2000; i++) triples.push([12345, 7, i]);
    const flat = new Uint32Array(triples.length * 4);
    triples.forEach((t, i) => flat.set(t, i * 4));
    const input = await rt.storageBuffer(flat);
    for (const p of [0, 0.1, 0.5, 0.9]) {
      const out = await rt.storageBuffer(triples.length * 8);
      const step = { pipeline, bindGroups: rt.bindGroup(pipeline, [await rt.uniformBuffer(new Uint8Array(params([triples.length], [p]))), input, out]), workgroups: grid(triples.length, 64) };
      rt.dispatch(step);
      const got = new Uint32Array((await rt.read([out]))[0]);
      const pf = Math.fround(p);
      let uniformMismatches = 0;
      let scaleMismatches = 0;
      triples.forEach(([seed, stream, index], i) => {
        if (got[2 * i] !== bits(rngUniform(seed, stream, index))) uniformMismatches++;
        if (got[2 * i + 1] !== bits(dropoutScale(seed, stream, index, pf))) scaleMismatches++;
      });
      expect({ p, uniformMismatches, scaleMismatches }).toEqual({ p, uniformMismatches: 0, scaleMismatches: 0 });
      // Sanity: the uniforms are spread over [0, 1), not constant.
      const u = Array.from({ length: triples.length }, (_, i) => new Float32Array(got.buffer, 8 * i, 1)[0]);
      const mean = u.reduce((s, v) => s + v, 0) / u.length;
      expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
      expect(Math.max(...u)).toBeLessThan(1);
    }
  });
});
