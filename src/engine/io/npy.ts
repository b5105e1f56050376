/**
 * NumPy .npy reading and writing (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
 *
 * Layout: the magic "\x93NUMPY", a major and a minor version byte, the header length (uint16 little-endian in
 * version 1, uint32 in versions 2 and 3), the header (a Python dict literal: descr, fortran_order, shape; latin-1
 * in versions 1 and 2, UTF-8 in version 3), then the raw data in C order.
 *
 * Reading supports little-endian float32/float64/int32/int64, uint8 and bool, C order only. Every malformed input
 * raises NpyError; sizes are checked against the bytes actually present before anything is allocated.
 */

export type NpyData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface NpyArray {
  shape: number[];
  /** The descr as written in the file, e.g. '<f4'. */
  dtype: string;
  data: NpyData;
}

export class NpyError extends Error {
  override name = 'NpyError';
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

interface DtypeInfo {
  readonly size: number;
  make(buffer: ArrayBuffer, count: number): NpyData;
}

const DTYPES: Readonly<Record<string, DtypeInfo>> = {
  '<f4': { size: 4, make: (b, n) => new Float32Array(b, 0, n) },
  '<f8': { size: 8, make: (b, n) => new Float64Array(b, 0, n) },
  '<i4': { size: 4, make: (b, n) => new Int32Array(b, 0, n) },
  '<i8': { size: 8, make: (b, n) => new BigInt64Array(b, 0, n) },
  '|u1': { size: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  '|b1': { size: 1, make: (b, n) => new Uint8Array(b, 0, n) },
};

/** Equivalent spellings numpy may write for the one-byte and little-endian types. */
const DTYPE_ALIASES: Readonly<Record<string, string>> = {
  '<u1': '|u1',
  u1: '|u1',
  '<b1': '|b1',
  b1: '|b1',
};

/** Hosts the data must fit in: one typed array, far below any realistic model file. */
const MAX_BYTES = 2 ** 31 - 1;

// ---------------------------------------------------------------------------------------------------------------
// The header: a small parser for the Python literals numpy writes (dict, tuple, list, str, int, True/False/None).

type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

class HeaderParser {
  private pos = 0;
  constructor(private readonly text: string) {}

  parse(): PyValue {
    const value = this.value();
    this.skipSpace();
    if (this.pos !== this.text.length) this.fail(`unexpected "${this.text[this.pos]}"`);
    return value;
  }

  private fail(msg: string): never {
    throw new NpyError(`malformed .npy header at character ${this.pos}: ${msg} (header: ${JSON.stringify(this.text.slice(0, 200))})`);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  private value(): PyValue {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === undefined) this.fail('unexpected end of header');
    if (c === '{') return this.dict();
    if (c === '(') return this.sequence(')');
    if (c === '[') return this.sequence(']');
    if (c === "'" || c === '"') return this.string();
    if (/[-+0-9]/.test(c)) return this.number();
    const word = /^[A-Za-z_]+/.exec(this.text.slice(this.pos))?.[0];
    if (word === 'True' || word === 'False' || word === 'None') {
      this.pos += word.length;
      return word === 'None' ? null : word === 'True';
    }
    return this.fail(`unexpected "${c}"`);
  }

  private string(): string {
    const quote = this.text[this.pos++];
    let out = '';
    for (;;) {
      const c = this.text[this.pos++];
      if (c === undefined) this.fail('unterminated string');
      if (c === quote) return out;
      if (c === '\\') {
        const n = this.text[this.pos++];
        if (n === undefined) this.fail('unterminated string');
        out += n;
      } else {
        out += c;
      }
    }
  }

  private number(): number {
    const m = /^[-+]?\d+L?/.exec(this.text.slice(this.pos));
    if (!m) this.fail('bad number');
    this.pos += m[0].length;
    const v = Number(m[0].replace('L', ''));
    if (!Number.isSafeInteger(v)) this.fail(`number ${m[0]} out of range`);
    return v;
  }

  private sequence(close: string): PyValue[] {
    this.pos++;
    const out: PyValue[] = [];
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] === close) {
        this.pos++;
        return out;
      }
      out.push(this.value());
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === ',') this.pos++;
      else if (c !== close) this.fail(`expected "," or "${close}"`);
    }
  }

  private dict(): { [key: string]: PyValue } {
    this.pos++;
    const out: { [key: string]: PyValue } = {};
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] === '}') {
        this.pos++;
        return out;
      }
      const key = this.value();
      if (typeof key !== 'string') this.fail('dict keys must be strings');
      this.skipSpace();
      if (this.text[this.pos] !== ':') this.fail('expected ":"');
      this.pos++;
      out[key] = this.value();
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === ',') this.pos++;
      else if (c !== '}') this.fail('expected "," or "}"');
    }
  }
}

function decodeHeader(bytes: Uint8Array, utf8: boolean): string {
  if (utf8) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new NpyError('malformed .npy header: not valid UTF-8');
    }
  }
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b); // latin-1
  return s;
}

// ---------------------------------------------------------------------------------------------------------------

/** Parses a .npy file. Throws NpyError with a clear message for anything it cannot read. */
export function parseNpy(bytes: Uint8Array): NpyArray {
  if (!(bytes instanceof Uint8Array)) throw new NpyError('expected the bytes of a .npy file');
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new NpyError('not a .npy file (missing the "\\x93NUMPY" magic)');
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (major < 1 || major > 3) throw new NpyError(`unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLen: number;
  if (major === 1) {
    headerStart = 10;
    headerLen = view.getUint16(8, true);
  } else {
    if (bytes.length < 12) throw new NpyError('truncated .npy file: the header length is cut off');
    headerStart = 12;
    headerLen = view.getUint32(8, true);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) {
    throw new NpyError(`truncated .npy file: the header claims ${headerLen} bytes but only ${bytes.length - headerStart} follow`);
  }
  const headerText = decodeHeader(bytes.subarray(headerStart, dataStart), major === 3);
  const header = new HeaderParser(headerText.trim()).parse();
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new NpyError('malformed .npy header: expected a dict');
  }

  const descrRaw = header.descr;
  if (typeof descrRaw !== 'string') {
    throw new NpyError('malformed .npy header: "descr" must be a string (structured dtypes are not supported)');
  }
  const descr = DTYPE_ALIASES[descrRaw] ?? descrRaw;
  const info = DTYPES[descr];
  if (!info) {
    const hint = descrRaw.startsWith('>') ? ' (big-endian data is not supported)' : '';
    throw new NpyError(`unsupported .npy dtype "${descrRaw}"${hint}; supported: ${Object.keys(DTYPES).join(', ')}`);
  }

  const fortran = header.fortran_order;
  if (typeof fortran !== 'boolean') throw new NpyError('malformed .npy header: "fortran_order" must be True or False');
  if (fortran) throw new NpyError('unsupported .npy file: fortran_order is True (only C-order arrays are supported)');

  const shapeRaw = header.shape;
  if (!Array.isArray(shapeRaw)) throw new NpyError('malformed .npy header: "shape" must be a tuple');
  const shape: number[] = [];
  for (const d of shapeRaw) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new NpyError(`malformed .npy header: bad dimension ${JSON.stringify(d)} in shape`);
    }
    shape.push(d);
  }

  // Element count, checked against the bytes present as it grows (no overflow, no huge allocation).
  const available = bytes.length - dataStart;
  const needed = (): string => `shape (${shape.join(', ')}) of ${descrRaw} needs ${shape.reduce((a, b) => a * b, info.size)} bytes of data, found ${available}`;
  let count = shape.includes(0) ? 0 : 1;
  for (const d of count === 0 ? [] : shape) {
    count *= d;
    if (count * info.size > available) throw new NpyError(`truncated .npy file: ${needed()}`);
  }
  const byteLength = count * info.size;
  if (byteLength !== available) throw new NpyError(`malformed .npy file: ${needed()}`);
  if (byteLength > MAX_BYTES) throw new NpyError(`.npy array too large (${byteLength} bytes)`);

  // Copy: the source may sit at an offset not aligned for the element type.
  const buffer = new ArrayBuffer(byteLength);
  new Uint8Array(buffer).set(bytes.subarray(dataStart, dataStart + byteLength));
  return { shape, dtype: descrRaw, data: info.make(buffer, count) };
}

/** The array's values as float64 (int64 values beyond 2^53 lose precision). */
export function toFloat64(a: NpyArray): Float64Array {
  const d = a.data;
  if (d instanceof Float64Array) return d;
  const out = new Float64Array(d.length);
  if (d instanceof BigInt64Array) {
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]!);
  } else {
    out.set(d);
  }
  return out;
}

/** The array's values as float32. */
export function toFloat32(a: NpyArray): Float32Array {
  const d = a.data;
  if (d instanceof Float32Array) return d;
  if (d instanceof BigInt64Array) return Float32Array.from(d, (x) => Number(x));
  return Float32Array.from(d);
}

/** Writes a format 1.0 .npy file ('<f4' for Float32Array, '<f8' for Float64Array), C order. */
export function encodeNpy(data: Float32Array | Float64Array, shape: readonly number[]): Uint8Array {
  let count = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new NpyError(`encodeNpy: bad dimension ${d} in shape`);
    count *= d;
  }
  if (count !== data.length) {
    throw new NpyError(`encodeNpy: shape (${shape.join(', ')}) has ${count} elements but the data has ${data.length}`);
  }
  const descr = data instanceof Float64Array ? '<f8' : '<f4';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Pad with spaces so that magic + version + length + header (ending in '\n') is a multiple of 64 bytes.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  if (header.length > 0xffff) throw new NpyError('encodeNpy: header too long for format 1.0');
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = header.length & 0xff;
  out[9] = header.length >> 8;
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  // Typed arrays are little-endian on every platform the engine runs on (WebGPU requires it too).
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
