/**
 * safetensors reading and writing (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`, then
 * the data, offsets relative to the data start. npm has no maintained reader for local files, so this is a
 * small parser that checks what the Rust reference checks: header size, dtype sizes against shapes,
 * offsets inside the file, no overlaps or holes, and no bytes after the last tensor.
 *
 * Only headers are read up front; tensor bytes are read on demand, F32 straight into the caller's
 * Float32Array (no second copy of the model in memory), F16/BF16 through one tensor-sized scratch buffer.
 */
import { constants as fsConstants } from 'node:fs';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ModelLoadError } from '../errors.js';

/** Bytes per element of every dtype the format defines; only F32, F16 and BF16 convert to floats. */
export const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  U16: 2, I16: 2, F16: 2, BF16: 2,
  U32: 4, I32: 4, F32: 4,
  U64: 8, I64: 8, F64: 8,
};
export type FloatDtype = 'F32' | 'F16' | 'BF16';
export const FLOAT_DTYPES: readonly FloatDtype[] = ['F32', 'F16', 'BF16'];

/** The reference implementation refuses headers above 100 MB; so do we (a corrupt length would
 * otherwise ask for gigabytes). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsTensor {
  name: string;
  dtype: string;
  shape: number[];
  /** Number of elements (product of shape; 1 for a scalar). */
  size: number;
  /** Absolute byte range of the data in `file`. */
  begin: number;
  end: number;
  file: string;
}

export interface SafetensorsFile {
  path: string;
  headerBytes: number;
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

function corrupt(path: string, message: string, code = 'SAFETENSORS_INVALID'): ModelLoadError {
  return new ModelLoadError(`${path}: ${message}`, { code });
}

/** Reads and validates the header of one .safetensors file. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsFile> {
  let handle;
  try {
    handle = await open(path, fsConstants.O_RDONLY);
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ModelLoadError(missing ? `${path} not found` : `cannot open ${path}: ${String(cause)}`, {
      code: missing ? 'MODEL_WEIGHTS_MISSING' : 'SAFETENSORS_INVALID',
      cause,
    });
  }
  try {
    const fileSize = (await handle.stat()).size;
    if (fileSize < 8) throw corrupt(path, `file is ${fileSize} bytes, shorter than the 8-byte header length`, 'SAFETENSORS_TRUNCATED');
    const lengthBytes = Buffer.alloc(8);
    await readFully(handle, lengthBytes, 0, path);
    const n = lengthBytes.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER_BYTES)) throw corrupt(path, `header length ${n} exceeds ${MAX_HEADER_BYTES} bytes: not a safetensors file`);
    const headerBytes = Number(n);
    if (headerBytes < 2) throw corrupt(path, `header length ${headerBytes} is too small for a JSON object`);
    if (8 + headerBytes > fileSize) {
      throw corrupt(path, `header length ${headerBytes} runs past the end of the ${fileSize}-byte file`, 'SAFETENSORS_TRUNCATED');
    }
    const headerBuf = Buffer.alloc(headerBytes);
    await readFully(handle, headerBuf, 8, path);
    return parseHeader(path, headerBuf, fileSize);
  } finally {
    await handle.close();
  }
}

function parseHeader(path: string, headerBuf: Buffer, fileSize: number): SafetensorsFile {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBuf));
  } catch (cause) {
    throw new ModelLoadError(`${path}: header is not valid UTF-8 JSON: ${(cause as Error).message}`, { code: 'SAFETENSORS_INVALID', cause });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw corrupt(path, 'header is not a JSON object');
  const dataStart = 8 + headerBuf.length;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw corrupt(path, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw corrupt(path, `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    tensors.set(name, parseEntry(path, name, value, dataStart));
  }
  // The data must be covered exactly: sorted by offset, each tensor starts where the previous ended
  // (overlaps would alias two tensors; holes or trailing bytes mean the header and data disagree).
  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = dataStart;
  for (const t of sorted) {
    if (t.begin < cursor) throw corrupt(path, `tensor ${t.name} overlaps the tensor before it`);
    if (t.begin > cursor) throw corrupt(path, `tensor ${t.name} starts at data offset ${t.begin - dataStart}, leaving a gap after offset ${cursor - dataStart}`);
    cursor = t.end;
  }
  if (cursor > fileSize) {
    const last = sorted[sorted.length - 1];
    throw corrupt(path, `tensor ${last.name} ends at byte ${cursor} but the file has ${fileSize} bytes (truncated?)`, 'SAFETENSORS_TRUNCATED');
  }
  if (cursor < fileSize) throw corrupt(path, `${fileSize - cursor} bytes after the last tensor's data`);
  return { path, headerBytes: headerBuf.length, tensors, metadata };
}

function parseEntry(path: string, name: string, value: unknown, dataStart: number): SafetensorsTensor {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw corrupt(path, `tensor ${name}: entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) throw corrupt(path, `tensor ${name}: unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw corrupt(path, `tensor ${name}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]
  ) {
    throw corrupt(path, `tensor ${name}: data_offsets ${JSON.stringify(offsets)} is not a [begin, end] pair with begin <= end`);
  }
  const size = (shape as number[]).reduce((a, d) => a * d, 1);
  const bytes = offsets[1] - offsets[0];
  if (!Number.isSafeInteger(size) || size * DTYPE_BYTES[dtype] !== bytes) {
    throw corrupt(path, `tensor ${name}: ${dtype} shape [${shape.join(', ')}] needs ${size * DTYPE_BYTES[dtype]} bytes but data_offsets span ${bytes}`);
  }
  return { name, dtype, shape: [...shape], size, begin: dataStart + offsets[0], end: dataStart + offsets[1], file: path };
}

/**
 * The tensors of a model directory: `model.safetensors`, or the shards listed by
 * `model.safetensors.index.json`. Every tensor name maps to the file it lives in.
 */
export async function readSafetensorsDir(dir: string): Promise<Map<string, SafetensorsTensor>> {
  const single = join(dir, 'model.safetensors');
  if (await exists(single)) return (await readSafetensorsHeader(single)).tensors;
  const indexPath = join(dir, 'model.safetensors.index.json');
  if (!(await exists(indexPath))) {
    const bin = (await exists(join(dir, 'pytorch_model.bin'))) ? ' (pytorch_model.bin is not supported: convert it to safetensors)' : '';
    throw new ModelLoadError(`${dir}: no model.safetensors or model.safetensors.index.json${bin}`, { code: 'MODEL_WEIGHTS_MISSING' });
  }
  const weightMap = await readIndex(indexPath);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const shard of new Set(weightMap.values())) {
    const file = await readSafetensorsHeader(join(dir, shard));
    for (const [name, t] of file.tensors) {
      const listed = weightMap.get(name);
      if (listed === undefined) throw new ModelLoadError(`${file.path}: tensor ${name} is not listed in ${indexPath}`, { code: 'MODEL_INDEX_INVALID' });
      if (listed !== shard) throw new ModelLoadError(`${file.path}: tensor ${name} is listed under ${listed} in ${indexPath}`, { code: 'MODEL_INDEX_INVALID' });
      tensors.set(name, t);
    }
  }
  for (const [name, shard] of weightMap) {
    if (!tensors.has(name)) throw new ModelLoadError(`${join(dir, shard)}: tensor ${name} listed in ${indexPath} is not in the shard`, { code: 'MODEL_INDEX_INVALID' });
  }
  return tensors;
}

async function readIndex(indexPath: string): Promise<Map<string, string>> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (cause) {
    throw new ModelLoadError(`cannot read ${indexPath}: ${(cause as Error).message}`, { code: 'MODEL_INDEX_INVALID', cause });
  }
  const weightMap = (json as { weight_map?: unknown } | null)?.weight_map;
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new ModelLoadError(`${indexPath}: weight_map is missing or not an object`, { code: 'MODEL_INDEX_INVALID' });
  }
  const map = new Map<string, string>();
  for (const [name, file] of Object.entries(weightMap as Record<string, unknown>)) {
    // Shards live next to the index: a path (or `..`) would read outside the model directory.
    if (typeof file !== 'string' || file !== basename(file) || file === '..' || file === '.' || file === '') {
      throw new ModelLoadError(`${indexPath}: weight_map.${name} is not a file name in the model directory: ${JSON.stringify(file)}`, {
        code: 'MODEL_INDEX_INVALID',
      });
    }
    map.set(name, file);
  }
  if (map.size === 0) throw new ModelLoadError(`${indexPath}: weight_map is empty`, { code: 'MODEL_INDEX_INVALID' });
  return map;
}

/**
 * Reads tensors into `dest` (F32/F16/BF16 converted to f32), each at its element offset. The reads are
 * grouped per file and done in file order.
 */
export async function readTensorsInto(jobs: { tensor: SafetensorsTensor; dest: Float32Array; offset: number }[]): Promise<void> {
  const byFile = new Map<string, typeof jobs>();
  for (const job of jobs) {
    if (!FLOAT_DTYPES.includes(job.tensor.dtype as FloatDtype)) {
      throw new ModelLoadError(`${job.tensor.file}: tensor ${job.tensor.name} has dtype ${job.tensor.dtype}; supported: ${FLOAT_DTYPES.join(', ')}`, {
        code: 'MODEL_TENSOR_DTYPE',
      });
    }
    if (job.offset < 0 || job.offset + job.tensor.size > job.dest.length) throw new RangeError(`tensor ${job.tensor.name} does not fit at offset ${job.offset}`);
    const list = byFile.get(job.tensor.file) ?? [];
    list.push(job);
    byFile.set(job.tensor.file, list);
  }
  for (const [file, list] of byFile) {
    list.sort((a, b) => a.tensor.begin - b.tensor.begin);
    const handle = await open(file, fsConstants.O_RDONLY);
    try {
      let scratch = new Uint8Array(0);
      for (const { tensor, dest, offset } of list) {
        const target = dest.subarray(offset, offset + tensor.size);
        if (tensor.dtype === 'F32') {
          await readFully(handle, new Uint8Array(target.buffer, target.byteOffset, target.byteLength), tensor.begin, file);
          continue;
        }
        const bytes = tensor.end - tensor.begin;
        if (scratch.byteLength < bytes) scratch = new Uint8Array(bytes);
        await readFully(handle, scratch.subarray(0, bytes), tensor.begin, file);
        const halves = new Uint16Array(scratch.buffer, 0, tensor.size);
        if (tensor.dtype === 'F16') f16ToF32(halves, target);
        else bf16ToF32(halves, target);
      }
    } finally {
      await handle.close();
    }
  }
}

async function readFully(handle: import('node:fs/promises').FileHandle, into: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < into.byteLength) {
    const { bytesRead } = await handle.read(into, done, into.byteLength - done, position + done);
    // The header was checked against the file size, so this means the file shrank while we read it.
    if (bytesRead === 0) throw corrupt(path, `unexpected end of file at byte ${position + done}`, 'SAFETENSORS_TRUNCATED');
    done += bytesRead;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

// --- dtype conversion ---

/** One IEEE binary16 value (bits) as a number: subnormals, infinities and NaN included. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** IEEE binary16 bits → f32 values. */
export function f16ToF32(src: Uint16Array, dest: Float32Array): void {
  for (let i = 0; i < src.length; i++) dest[i] = f16BitsToF32(src[i]);
}

/** bfloat16 bits are the top half of an f32. */
export function bf16ToF32(src: Uint16Array, dest: Float32Array): void {
  const bits = new Uint32Array(dest.buffer, dest.byteOffset, dest.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** f32 → binary16 bits, round to nearest even (what torch's `.half()` does). */
export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let out = m >>> shift;
    if (rest > half || (rest === half && out & 1)) out++;
    return sign | out;
  }
  let out = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && out & 1)) out++;
  return sign | out;
}

/** f32 → bfloat16 bits, round to nearest even (NaN stays NaN). */
export function f32ToBf16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

// --- writing ---

export interface TensorToWrite {
  name: string;
  dtype: FloatDtype;
  shape: number[];
  data: Float32Array;
}

/** Writes tensors as one .safetensors file (data in the order given, header padded to 8 bytes as the
 * reference writer does). */
export async function writeSafetensors(path: string, tensors: TensorToWrite[], metadata: Record<string, string> = {}): Promise<void> {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const size = t.shape.reduce((a, d) => a * d, 1);
    if (size !== t.data.length) throw new RangeError(`tensor ${t.name}: shape [${t.shape.join(', ')}] has ${size} elements, data has ${t.data.length}`);
    const bytes = size * DTYPE_BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBuf = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBuf.length + offset);
  out.writeBigUInt64LE(BigInt(headerBuf.length), 0);
  headerBuf.copy(out, 8);
  let at = 8 + headerBuf.length;
  for (const t of tensors) {
    if (t.dtype === 'F32') {
      Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, at);
      at += t.data.byteLength;
    } else {
      const encode = t.dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
      for (let i = 0; i < t.data.length; i++, at += 2) out.writeUInt16LE(encode(t.data[i]), at);
    }
  }
  await writeFile(path, out);
}
