import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../src/errors.js';
import {
  bf16ToF32,
  f16ToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  MAX_HEADER_BYTES,
  readSafetensorsDir,
  readSafetensorsHeader,
  readTensorsInto,
  writeSafetensors,
} from '../src/model/safetensors.js';

const SMALL = 'test/fixtures/models/small-vocab';
const GOOD = join(SMALL, 'f32', 'model.safetensors');
const tmp = mkdtempSync(join(tmpdir(), 'gpurank-st-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
function tmpFile(bytes: Uint8Array): string {
  const path = join(tmp, `t${counter++}.safetensors`);
  writeFileSync(path, bytes);
  return path;
}

/** The good fixture split into its JSON header and data. */
function goodParts(): { header: Record<string, any>; data: Buffer } {
  const buf = readFileSync(GOOD);
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')), data: buf.subarray(8 + n) };
}

function assemble(header: unknown, data: Uint8Array, headerLength?: bigint): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLength ?? BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

async function expectLoadError(p: Promise<unknown>, code: string, ...fragments: string[]): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ModelLoadError ${code}`).toBeInstanceOf(ModelLoadError);
  expect((err as ModelLoadError).code).toBe(code);
  for (const f of fragments) expect((err as Error).message).toContain(f);
}

describe('dtype conversion', () => {
  it('decodes known f16 and bf16 bit patterns', () => {
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x3555]);
    const out = new Float32Array(f16.length);
    f16ToF32(f16, out);
    expect(Array.from(out.slice(0, 9))).toEqual([1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, -0, Infinity, -Infinity]);
    expect(out[9]).toBeNaN();
    expect(out[10]).toBeCloseTo(1 / 3, 3);
    const bf = new Uint16Array([0x3f80, 0xc000, 0x7f80, 0xff80, 0x7fc0, 0x0001]);
    const out2 = new Float32Array(bf.length);
    bf16ToF32(bf, out2);
    expect(Array.from(out2.slice(0, 4))).toEqual([1, -2, Infinity, -Infinity]);
    expect(out2[4]).toBeNaN();
    expect(out2[5]).toBe(new Float32Array(new Uint32Array([0x00010000]).buffer)[0]);
  });

  it('encodes every finite f16 and bf16 value back to its own bits', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const halves = new Float32Array(65536);
    f16ToF32(all, halves);
    const brains = new Float32Array(65536);
    bf16ToF32(all, brains);
    const wrong: string[] = [];
    for (let i = 0; i < 65536; i++) {
      if (!Number.isNaN(halves[i]) && f32ToF16Bits(halves[i]) !== i) wrong.push(`f16 ${i}`);
      if (!Number.isNaN(brains[i]) && f32ToBf16Bits(brains[i]) !== i) wrong.push(`bf16 ${i}`);
    }
    expect(wrong).toEqual([]);
  });

  it('rounds to nearest even, overflows to infinity and keeps NaN', () => {
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie, even stays
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, odd rounds up
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    expect(f32ToF16Bits(65520)).toBe(0x7c00);
    expect(f32ToF16Bits(-1e9)).toBe(0xfc00);
    expect(f32ToF16Bits(2 ** -25)).toBe(0); // tie at the smallest subnormal rounds to even (zero)
    expect(f32ToF16Bits(3 * 2 ** -26)).toBe(1);
    expect(f32ToF16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToF16Bits(NaN) & 0x3ff).not.toBe(0);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(f32ToBf16Bits(NaN) & 0x7f).not.toBe(0);
  });
});

describe('readSafetensorsHeader', () => {
  it('reads the table of the F32 fixture, with absolute offsets inside the file', async () => {
    const file = await readSafetensorsHeader(GOOD);
    const { header } = goodParts();
    expect(file.metadata).toEqual(header.__metadata__ ?? {});
    expect(file.tensors.size).toBe(Object.keys(header).filter((k) => k !== '__metadata__').length);
    const t = file.tensors.get('bert.embeddings.word_embeddings.weight')!;
    expect(t).toMatchObject({ dtype: 'F32', shape: [128, 32], size: 4096, file: GOOD });
    expect(t.begin).toBe(8 + file.headerBytes + header['bert.embeddings.word_embeddings.weight'].data_offsets[0]);
    expect(t.end - t.begin).toBe(4096 * 4);
  });

  it('round-trips F32, F16 and BF16 through writeSafetensors and readTensorsInto', async () => {
    const values = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i) * 3);
    const path = join(tmp, 'roundtrip.safetensors');
    await writeSafetensors(
      path,
      [
        { name: 'a', dtype: 'F32', shape: [3, 100], data: values },
        { name: 'b', dtype: 'F16', shape: [300], data: values },
        { name: 'c', dtype: 'BF16', shape: [2, 150], data: values },
      ],
      { format: 'pt' },
    );
    const file = await readSafetensorsHeader(path);
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(file.headerBytes % 8).toBe(0);
    const dest = new Float32Array(1000).fill(7);
    await readTensorsInto([
      { tensor: file.tensors.get('c')!, dest, offset: 600 },
      { tensor: file.tensors.get('a')!, dest, offset: 0 },
      { tensor: file.tensors.get('b')!, dest, offset: 300 },
    ]);
    expect(dest.subarray(0, 300)).toEqual(values);
    const half = new Float32Array(300);
    f16ToF32(Uint16Array.from(values, (v) => f32ToF16Bits(v)), half);
    expect(dest.subarray(300, 600)).toEqual(half);
    const brain = new Float32Array(300);
    bf16ToF32(Uint16Array.from(values, (v) => f32ToBf16Bits(v)), brain);
    expect(dest.subarray(600, 900)).toEqual(brain);
    expect(Math.max(...dest.subarray(300, 600).map((v, i) => Math.abs(v - values[i])))).toBeLessThan(3 * 2 ** -11);
    expect(dest.subarray(900).every((v) => v === 7)).toBe(true);
  });

  it('refuses a file shorter than the length prefix', async () => {
    await expectLoadError(readSafetensorsHeader(tmpFile(new Uint8Array(5))), 'SAFETENSORS_TRUNCATED', '5 bytes');
  });

  it('refuses an absurd header length (not a safetensors file)', async () => {
    const { header, data } = goodParts();
    await expectLoadError(readSafetensorsHeader(tmpFile(assemble(header, data, BigInt(MAX_HEADER_BYTES) + 1n))), 'SAFETENSORS_INVALID', 'header length');
    await expectLoadError(readSafetensorsHeader(tmpFile(assemble(header, data, 2n ** 63n))), 'SAFETENSORS_INVALID', 'header length');
  });

  it('refuses a header length running past the end of the file', async () => {
    const { header } = goodParts();
    const json = JSON.stringify(header);
    await expectLoadError(readSafetensorsHeader(tmpFile(assemble(json, new Uint8Array(0), BigInt(json.length + 100)))), 'SAFETENSORS_TRUNCATED', 'runs past the end');
  });

  it('refuses a corrupted header', async () => {
    const buf = readFileSync(GOOD);
    buf[8 + 3] = 0xff; // invalid UTF-8 inside the JSON
    await expectLoadError(readSafetensorsHeader(tmpFile(buf)), 'SAFETENSORS_INVALID', 'not valid UTF-8 JSON');
    const buf2 = readFileSync(GOOD);
    buf2.write('}', 9, 'latin1');
    await expectLoadError(readSafetensorsHeader(tmpFile(buf2)), 'SAFETENSORS_INVALID', 'JSON');
    await expectLoadError(readSafetensorsHeader(tmpFile(assemble('[1, 2]', new Uint8Array(0)))), 'SAFETENSORS_INVALID', 'not a JSON object');
  });

  it.each([
    ['unknown dtype', (h: any) => (h['classifier.bias'].dtype = 'F17'), 'classifier.bias: unknown dtype'],
    ['negative dim', (h: any) => (h['classifier.bias'].shape = [-2]), 'classifier.bias: shape'],
    ['bad offsets', (h: any) => (h['classifier.bias'].data_offsets = [8, 0]), 'classifier.bias: data_offsets'],
    ['shape and bytes disagree', (h: any) => (h['classifier.bias'].shape = [3]), 'needs 12 bytes but data_offsets span 8'],
    ['entry not an object', (h: any) => (h['classifier.bias'] = 5), 'classifier.bias: entry is not an object'],
    ['metadata not strings', (h: any) => (h.__metadata__ = { format: 1 }), '__metadata__.format'],
  ])('refuses a header entry: %s', async (_, mutate, message) => {
    const { header, data } = goodParts();
    mutate(header);
    await expectLoadError(readSafetensorsHeader(tmpFile(assemble(header, data))), 'SAFETENSORS_INVALID', message);
  });

  it('refuses overlapping tensors, holes and trailing bytes', async () => {
    const { header, data } = goodParts();
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    const byBegin = names.sort((a, b) => header[a].data_offsets[0] - header[b].data_offsets[0]);
    const [first, second] = byBegin;
    const overlap = structuredClone(header);
    // The second tensor claims the first's bytes (and the data keeps its length).
    overlap[second].data_offsets = [...header[first].data_offsets];
    overlap[second].shape = [...header[first].shape];
    await expectLoadError(readSafetensorsHeader(tmpFile(assemble(overlap, data))), 'SAFETENSORS_INVALID', 'overlaps');

    const hole = structuredClone(header);
    delete hole[first];
    await expectLoadError(readSafetensorsHeader(tmpFile(assemble(hole, data))), 'SAFETENSORS_INVALID', 'gap');

    await expectLoadError(readSafetensorsHeader(tmpFile(assemble(header, Buffer.concat([data, Buffer.alloc(4)])))), 'SAFETENSORS_INVALID', '4 bytes after');
  });

  it('refuses a truncated file, naming the tensor that runs past the end', async () => {
    const buf = readFileSync(GOOD);
    const { header } = goodParts();
    const last = Object.keys(header).filter((k) => k !== '__metadata__').sort((a, b) => header[b].data_offsets[1] - header[a].data_offsets[1])[0];
    await expectLoadError(readSafetensorsHeader(tmpFile(buf.subarray(0, buf.length - 10))), 'SAFETENSORS_TRUNCATED', `tensor ${last} ends at byte`);
  });

  it('refuses a header whose offsets point past the end of the file', async () => {
    const { header, data } = goodParts();
    const name = Object.keys(header).filter((k) => k !== '__metadata__').sort((a, b) => header[b].data_offsets[1] - header[a].data_offsets[1])[0];
    const [begin, end] = header[name].data_offsets;
    // Consistent with itself (shape and byte count agree) but 64 bytes longer than the file.
    header[name].data_offsets = [begin, end + 64];
    header[name].shape = [(end + 64 - begin) / 4];
    await expectLoadError(readSafetensorsHeader(tmpFile(assemble(header, data))), 'SAFETENSORS_TRUNCATED', `tensor ${name} ends at byte`);
  });

  it('reports a missing file as missing weights', async () => {
    await expectLoadError(readSafetensorsHeader(join(tmp, 'nope.safetensors')), 'MODEL_WEIGHTS_MISSING', 'nope.safetensors not found');
  });

  it('refuses to convert a non-float tensor', async () => {
    const path = join(tmp, 'ints.safetensors');
    writeFileSync(path, assemble({ ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(16)));
    const file = await readSafetensorsHeader(path);
    await expectLoadError(readTensorsInto([{ tensor: file.tensors.get('ids')!, dest: new Float32Array(2), offset: 0 }]), 'MODEL_TENSOR_DTYPE', 'tensor ids has dtype I64');
  });
});

describe('readSafetensorsDir', () => {
  function copyModel(src: string): string {
    const dir = mkdtempSync(join(tmp, 'dir-'));
    for (const f of readdirSync(src)) copyFileSync(join(src, f), join(dir, f));
    return dir;
  }

  it('merges the shards listed by model.safetensors.index.json', async () => {
    const sharded = await readSafetensorsDir(join(SMALL, 'sharded'));
    const single = await readSafetensorsDir(join(SMALL, 'f32'));
    expect([...sharded.keys()].sort()).toEqual([...single.keys()].sort());
    expect(new Set([...sharded.values()].map((t) => t.file)).size).toBe(4);
    for (const [name, t] of sharded) expect(t.shape).toEqual(single.get(name)!.shape);
  });

  it('refuses a missing shard', async () => {
    const dir = copyModel(join(SMALL, 'sharded'));
    rmSync(join(dir, 'model-00002-of-00004.safetensors'));
    await expectLoadError(readSafetensorsDir(dir), 'MODEL_WEIGHTS_MISSING', 'model-00002-of-00004.safetensors not found');
  });

  it.each([
    ['a path outside the directory', (idx: any) => (idx.weight_map['classifier.bias'] = '../f32/model.safetensors'), 'weight_map.classifier.bias is not a file name'],
    ['a tensor listed under another shard', (idx: any) => {
      const [name, shard] = Object.entries(idx.weight_map).find(([, s]) => s === 'model-00001-of-00004.safetensors')!;
      void shard;
      idx.weight_map[name] = 'model-00002-of-00004.safetensors';
    }, 'is listed under model-00002-of-00004.safetensors'],
    ['a tensor not listed', (idx: any) => delete idx.weight_map['classifier.bias'], 'tensor classifier.bias is not listed'],
    ['a listed tensor absent from its shard', (idx: any) => (idx.weight_map['bert.extra.weight'] = 'model-00001-of-00004.safetensors'), 'tensor bert.extra.weight listed in'],
    ['no weight_map', (idx: any) => delete idx.weight_map, 'weight_map is missing'],
    ['an empty weight_map', (idx: any) => (idx.weight_map = {}), 'weight_map is empty'],
  ])('refuses an index with %s', async (_, mutate, message) => {
    const dir = copyModel(join(SMALL, 'sharded'));
    const path = join(dir, 'model.safetensors.index.json');
    const idx = JSON.parse(readFileSync(path, 'utf8'));
    mutate(idx);
    writeFileSync(path, JSON.stringify(idx));
    await expectLoadError(readSafetensorsDir(dir), 'MODEL_INDEX_INVALID', message);
  });

  it('refuses an index that is not JSON', async () => {
    const dir = copyModel(join(SMALL, 'sharded'));
    writeFileSync(join(dir, 'model.safetensors.index.json'), '{"weight_map": ');
    await expectLoadError(readSafetensorsDir(dir), 'MODEL_INDEX_INVALID', 'model.safetensors.index.json');
  });

  it('refuses a directory without safetensors weights, and says why for pytorch_model.bin', async () => {
    const dir = mkdtempSync(join(tmp, 'empty-'));
    await expectLoadError(readSafetensorsDir(dir), 'MODEL_WEIGHTS_MISSING', 'no model.safetensors or model.safetensors.index.json');
    writeFileSync(join(dir, 'pytorch_model.bin'), 'x');
    await expectLoadError(readSafetensorsDir(dir), 'MODEL_WEIGHTS_MISSING', 'pytorch_model.bin is not supported');
  });
});
