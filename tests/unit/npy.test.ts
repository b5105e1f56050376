import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeNpy, NpyError, parseNpy, toFloat32, toFloat64 } from '../../src/engine/io/npy';
import { parseNpz } from '../../src/engine/io/npz';

// shared/ sits beside the repository (CI clones the repo elsewhere with shared next to it).
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const goldens = resolve(repoRoot, '..', 'shared', 'goldens');

/** Builds a .npy file by hand: any version, any header text, any payload. */
function rawNpy(header: string, payload: Uint8Array = new Uint8Array(0), major = 1): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const padded = header + ' '.repeat((64 - ((prefix + header.length + 1) % 64)) % 64) + '\n';
  const head = new TextEncoder().encode(padded);
  const out = new Uint8Array(prefix + head.length + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, head.length, true);
  else view.setUint32(8, head.length, true);
  out.set(head, prefix);
  out.set(payload, prefix + head.length);
  return out;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('parseNpy', () => {
  it('reads every supported dtype', () => {
    const f4 = parseNpy(rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", bytesOf(new Float32Array([1, 2.5, -3, 4]))));
    expect(f4.shape).toEqual([2, 2]);
    expect(f4.dtype).toBe('<f4');
    expect(f4.data).toBeInstanceOf(Float32Array);
    expect([...f4.data]).toEqual([1, 2.5, -3, 4]);

    const f8 = parseNpy(rawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", bytesOf(new Float64Array([0.1, 1e-300, -7]))));
    expect(f8.data).toBeInstanceOf(Float64Array);
    expect([...f8.data]).toEqual([0.1, 1e-300, -7]);

    const i4 = parseNpy(rawNpy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", bytesOf(new Int32Array([-5, 7]))));
    expect(i4.data).toBeInstanceOf(Int32Array);
    expect([...toFloat64(i4)]).toEqual([-5, 7]);

    const i8 = parseNpy(rawNpy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", bytesOf(new BigInt64Array([-3n, 2n ** 40n]))));
    expect(i8.data).toBeInstanceOf(BigInt64Array);
    expect([...toFloat64(i8)]).toEqual([-3, 2 ** 40]);
    expect([...toFloat32(i8)]).toEqual([-3, 2 ** 40]);

    const u1 = parseNpy(rawNpy("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", new Uint8Array([0, 128, 255])));
    expect([...u1.data]).toEqual([0, 128, 255]);

    const b1 = parseNpy(rawNpy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", new Uint8Array([1, 0])));
    expect(b1.dtype).toBe('|b1');
    expect([...toFloat64(b1)]).toEqual([1, 0]);
  });

  it('reads format versions 2.0 and 3.0, scalars, empty arrays and double-quoted or reordered headers', () => {
    const v2 = parseNpy(rawNpy('{"shape": (1,), "fortran_order": False, "descr": "<f4"}', bytesOf(new Float32Array([9])), 2));
    expect([...v2.data]).toEqual([9]);
    const v3 = parseNpy(rawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", bytesOf(new Float64Array([42])), 3));
    expect(v3.shape).toEqual([]);
    expect([...v3.data]).toEqual([42]);
    const empty = parseNpy(rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }"));
    expect(empty.shape).toEqual([0, 5]);
    expect(empty.data.length).toBe(0);
  });

  it('reads data at an unaligned offset', () => {
    const file = encodeNpy(new Float64Array([1, 2, 3]), [3]);
    const shifted = new Uint8Array(file.length + 1);
    shifted.set(file, 1);
    expect([...parseNpy(shifted.subarray(1)).data]).toEqual([1, 2, 3]);
  });

  const bad: [string, Uint8Array, RegExp][] = [
    ['empty input', new Uint8Array(0), /not a \.npy file/],
    ['wrong magic', new TextEncoder().encode('PK\x03\x04 not numpy at all'), /not a \.npy file/],
    ['unknown version', (() => { const b = rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }"); b[6] = 9; return b; })(), /version 9\.0/],
    ['header longer than the file', (() => { const b = rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }"); b[8] = 0xff; b[9] = 0xff; return b; })(), /truncated/],
    ['v2 length cut off', new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 1, 0]), /truncated/],
    ['fortran order', rawNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new Uint8Array(16)), /fortran_order/],
    ['big-endian', rawNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)), /big-endian/],
    ['unsupported dtype', rawNpy("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(16)), /unsupported \.npy dtype "<c16"/],
    ['structured dtype', rawNpy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)), /descr/],
    ['missing shape', rawNpy("{'descr': '<f4', 'fortran_order': False, }"), /shape/],
    ['negative dimension', rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"), /bad dimension/],
    ['header not a dict', rawNpy('(1, 2)'), /expected a dict/],
    ['garbage header', rawNpy("{'descr': '<f4', 'fortran_order': Maybe, }"), /malformed \.npy header/],
    ['unterminated header', rawNpy("{'descr': '<f4"), /malformed \.npy header/],
    ['too little data', rawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", new Uint8Array(31)), /truncated.*needs 32 bytes.*found 31/],
    ['too much data', rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)), /needs 4 bytes.*found 8/],
    ['huge shape', rawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000, 100000, 100000), }", new Uint8Array(8)), /truncated/],
  ];
  for (const [name, bytes, message] of bad) {
    it(`rejects ${name} with an NpyError`, () => {
      expect(() => parseNpy(bytes)).toThrow(NpyError);
      expect(() => parseNpy(bytes)).toThrow(message);
    });
  }

  it('never throws anything but NpyError on random bytes, or on corrupted real files', () => {
    const valid = encodeNpy(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (random, pos, value) => {
        const corrupted = valid.slice();
        corrupted[pos % corrupted.length] = value;
        for (const bytes of [random, corrupted, valid.subarray(0, pos % valid.length)]) {
          try {
            parseNpy(bytes);
          } catch (e) {
            if (!(e instanceof NpyError)) throw e;
          }
        }
      }),
    );
  });
});

describe('encodeNpy', () => {
  it('round-trips float32 and float64 data of any shape', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }), fc.boolean(), (shape, f64) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = f64 ? Float64Array.from({ length: n }, (_, i) => i * 0.1 - 1) : Float32Array.from({ length: n }, (_, i) => i * 0.5 - 3);
        const file = encodeNpy(data, shape);
        const back = parseNpy(file);
        expect(back.shape).toEqual(shape);
        expect(back.dtype).toBe(f64 ? '<f8' : '<f4');
        expect(back.data).toBeInstanceOf(f64 ? Float64Array : Float32Array);
        expect([...back.data]).toEqual([...data]);
      }),
    );
  });

  it('writes a numpy-style v1.0 header, padded to 64 bytes', () => {
    const file = encodeNpy(new Float32Array(12), [1, 3, 2, 2]);
    const headerLen = file[8]! | (file[9]! << 8);
    expect((10 + headerLen) % 64).toBe(0);
    const header = new TextDecoder().decode(file.subarray(10, 10 + headerLen));
    expect(header.startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 2, 2), }")).toBe(true);
    expect(header.endsWith('\n')).toBe(true);
    expect(new TextDecoder().decode(encodeNpy(new Float64Array(2), [2]).subarray(10, 70))).toContain("'shape': (2,)");
  });

  it('rejects a shape that does not match the data', () => {
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(/6 elements but the data has 5/);
    expect(() => encodeNpy(new Float32Array(1), [-1])).toThrow(NpyError);
  });
});

describe('parseNpz', () => {
  it('reads stored and deflated members, keyed without .npy', () => {
    const a = encodeNpy(new Float64Array([1, 2]), [2]);
    const b = encodeNpy(new Float32Array([3, 4, 5, 6]), [2, 2]);
    for (const level of [0, 6] as const) {
      const npz = parseNpz(zipSync({ 'a.npy': a, 'conv1.npy': b }, { level }));
      expect([...npz.keys()].sort()).toEqual(['a', 'conv1']);
      expect([...npz.get('a')!.data]).toEqual([1, 2]);
      expect(npz.get('conv1')!.shape).toEqual([2, 2]);
    }
  });

  it('rejects non-zip data and names the bad member', () => {
    expect(() => parseNpz(new Uint8Array([1, 2, 3, 4, 5]))).toThrow(NpyError);
    expect(() => parseNpz(new TextEncoder().encode('PK\x03\x04garbage'))).toThrow(NpyError);
    const bad = zipSync({ 'good.npy': encodeNpy(new Float32Array(1), [1]), 'bad.npy': new Uint8Array([1, 2, 3]) });
    expect(() => parseNpz(bad)).toThrow(/"bad\.npy": not a \.npy file/);
  });
});

describe('golden files (../shared/goldens)', () => {
  it('reads cnn.input.npy (float32 NCHW)', () => {
    const a = parseNpy(readFileSync(resolve(goldens, 'cnn.input.npy')));
    expect(a.dtype).toBe('<f4');
    expect(a.shape).toEqual([1, 3, 16, 16]);
    expect(a.data).toBeInstanceOf(Float32Array);
    expect(a.data[0]).toBeCloseTo(0.06275675, 7);
    expect(a.data[1]).toBeCloseTo(1.326581, 6);
    expect(encodeNpy(a.data as Float32Array, a.shape)).toEqual(new Uint8Array(readFileSync(resolve(goldens, 'cnn.input.npy'))));
  });

  it('reads a float64 relevance and a layer-relevance .npz', () => {
    const r = parseNpy(readFileSync(resolve(goldens, 'cnn.zennit.Flat.top.npy')));
    expect(r.dtype).toBe('<f8');
    expect(r.shape).toEqual([1, 3, 16, 16]);
    const layers = parseNpz(readFileSync(resolve(goldens, 'cnn.zennit.Flat.top.layers.npz')));
    expect(new Map([...layers].map(([k, v]) => [k, v.shape]))).toEqual(
      new Map([
        ['fc2', [1, 32]],
        ['fc1', [1, 256]],
        ['conv2', [1, 8, 8, 8]],
        ['conv1', [1, 3, 16, 16]],
      ]),
    );
    // The relevance at the input of the first layer is the input relevance.
    expect([...toFloat64(layers.get('conv1')!)]).toEqual([...toFloat64(r)]);
  });
});
