/**
 * Hostile and unusual images for the Node decoder (src/cli/image-io.ts) and the header reader the app can use
 * (src/models/image.ts): huge declared sizes refused before decoding, decompression bombs, corrupt and truncated
 * files, every PNG colour type and depth, interlacing, animation, grey and CMYK JPEGs, 1x1 images; and a fuzzer
 * over mutated small images. Every file is generated here (pngjs, jpeg-js, or by hand).
 */
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ImageDecodeError, decodeImage } from '../../src/cli/image-io';
import { IMAGE_LIMITS, ImageError, checkImageFile, checkImageFileSize, checkImageSize, preprocess, readImageHeader, type RgbaImage } from '../../src/models/image';
import { byteMutations, corpus, fuzz, mutateBytes, PropertyViolation } from '../fuzz/harness';
import { SIGNATURE, adam7, animatedPng, chunk, flatJpeg, pngjsPng, rawPng, rgbJpeg, scanlines } from '../fixtures/image-files';

// ---------------------------------------------------------------------------------------------------------------
// Decoding helpers

/** Decodes, or returns the ImageDecodeError; anything else thrown fails the test. */
function decodeOrError(bytes: Uint8Array, name = 'photo'): RgbaImage | ImageDecodeError {
  try {
    return decodeImage(bytes, name);
  } catch (e) {
    if (e instanceof ImageDecodeError) return e;
    throw e;
  }
}

// No test here bounds wall-clock time (that is the benchmark's job): "refused before decoding" is judged by the
// memory the refusal allocates, and a decoder that hangs fails by the test's timeout.
function refused(bytes: Uint8Array): string {
  const r = decodeOrError(bytes, 'hostile.png');
  expect(r).toBeInstanceOf(ImageDecodeError);
  const message = (r as Error).message;
  expect(message).toMatch(/^hostile\.png: /);
  expect(message).not.toMatch(/\n/);
  return message;
}

function decoded(bytes: Uint8Array): RgbaImage {
  const r = decodeOrError(bytes);
  if (r instanceof ImageDecodeError) throw new Error(`expected an image, got: ${r.message}`);
  expect(r.data.length).toBe(r.width * r.height * 4);
  return r;
}

const pixel = (img: RgbaImage, x: number, y: number) => Array.from(img.data.subarray(4 * (y * img.width + x), 4 * (y * img.width + x) + 4));

// ---------------------------------------------------------------------------------------------------------------

describe('huge declared sizes are refused before decoding', () => {
  it('a PNG header saying 20000x20000 (and other sizes past the limit)', () => {
    const before = process.memoryUsage().arrayBuffers;
    expect(refused(rawPng({ width: 20000, height: 20000, raw: new Uint8Array(100) }))).toBe(
      'hostile.png: the PNG declares 20000x20000 pixels, more than the 64 megapixels (at most 16384 on a side) accepted',
    );
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 2 ** 20);
    expect(refused(rawPng({ width: 2 ** 31, height: 1 }))).toMatch(/2147483648x1 pixels, more than/);
    expect(refused(rawPng({ width: 1, height: 20000 }))).toMatch(/1x20000 pixels, more than/);
    expect(refused(rawPng({ width: 0, height: 5 }))).toMatch(/declares 0x5 pixels, which is no image/);
    expect(refused(rawPng({ width: 9000, height: 9000 }))).toMatch(/9000x9000 pixels, more than the 64 megapixels/);
  });

  it('a JPEG frame header saying 60000x60000, or leaving its height to a DNL marker', () => {
    expect(refused(flatJpeg({ width: 60000, height: 60000, components: 3, entropy: [0] }))).toBe(
      'hostile.png: the JPEG declares 60000x60000 pixels, more than the 64 megapixels (at most 16384 on a side) accepted',
    );
    expect(refused(flatJpeg({ width: 64, height: 64, components: 1, dnl: true }))).toMatch(/not a valid JPEG image \(the JPEG leaves its height to a DNL marker/);
  });

  it('files far smaller than the size they declare (decompression bombs and cut files)', () => {
    // Within the pixel limit, but 50 bytes cannot hold 8000x8000 pixels: refused before pngjs allocates 64 MB.
    expect(refused(rawPng({ width: 8000, height: 8000, raw: new Uint8Array(10) }))).toMatch(/compressed pixels cannot hold a 8000x8000 image: the file is cut short/);
    expect(refused(flatJpeg({ width: 8000, height: 8000, components: 3, entropy: [0, 0] }))).toMatch(/cannot hold a 8000x8000 image/);
    // An interlaced 64x64 PNG whose pixels inflate to 50 MB: pngjs would inflate them all.
    const bomb = rawPng({ width: 64, height: 64, interlace: 1, idat: deflateSync(new Uint8Array(50 * 2 ** 20)) });
    expect(bomb.length).toBeLessThan(100_000);
    expect(refused(bomb)).toMatch(/not a valid PNG image \(its compressed pixels inflate to more than the image holds\)/);
  });

  it('checkImageSize and readImageHeader, for the app (PNG, JPEG, GIF, WebP, BMP headers)', () => {
    expect(() => checkImageSize(8192, 8192)).not.toThrow();
    expect(() => checkImageSize(8193, 8192)).toThrow(ImageError);
    expect(() => checkImageSize(16385, 1)).toThrow(/more than the 64 megapixels/);
    expect(() => checkImageSize(NaN, 1)).toThrow(/no image/);
    expect(IMAGE_LIMITS.maxPixels).toBe(8192 * 8192);
    expect(readImageHeader(rawPng({ width: 20000, height: 30, colorType: 6, depth: 16, interlace: 1 }))).toEqual({
      format: 'png', width: 20000, height: 30, bitDepth: 16, colorType: 6, interlaced: true,
    });
    expect(readImageHeader(flatJpeg({ width: 300, height: 200, components: 4, adobe: 0 }))).toEqual({ format: 'jpeg', width: 300, height: 200, bitDepth: 8, components: 4 });
    const gif = Uint8Array.from([...'GIF89a'].map((c) => c.charCodeAt(0)).concat([0x20, 0x4e, 0x20, 0x4e, 0, 0, 0]));
    expect(readImageHeader(gif)).toEqual({ format: 'gif', width: 20000, height: 20000 });
    const webp = (chunkName: string, payload: number[]) =>
      Uint8Array.from([...'RIFF'].map((c) => c.charCodeAt(0)).concat([0, 0, 0, 0], [...`WEBP${chunkName}`].map((c) => c.charCodeAt(0)), [0, 0, 0, 0], payload, new Array<number>(16).fill(0)));
    expect(readImageHeader(webp('VP8X', [0, 0, 0, 0, 0x1f, 0x4e, 0, 0x1f, 0x4e, 0]))).toEqual({ format: 'webp', width: 20000, height: 20000 });
    expect(readImageHeader(webp('VP8L', [0x2f, 0x3f, 0xdf, 0x2b, 0x01]))).toMatchObject({ format: 'webp', width: 8000, height: 1200 });
    expect(readImageHeader(webp('VP8 ', [0, 0, 0, 0x9d, 0x01, 0x2a, 0x40, 0x1f, 0xb0, 0x04]))).toEqual({ format: 'webp', width: 8000, height: 1200 });
    const bmp = new Uint8Array(54);
    bmp.set([0x42, 0x4d]);
    new DataView(bmp.buffer).setInt32(18, 30000, true);
    new DataView(bmp.buffer).setInt32(22, -20, true);
    expect(readImageHeader(bmp)).toEqual({ format: 'bmp', width: 30000, height: 20 });
    expect(readImageHeader(new TextEncoder().encode('not an image'))).toBeUndefined();
    expect(() => readImageHeader(Uint8Array.from(SIGNATURE))).toThrow(/PNG header is cut short/);
    expect(() => readImageHeader(Uint8Array.from([0xff, 0xd8, 0xff, 0xd9]))).toThrow(/no frame header/);
  });
});

describe('checkImageFile: what the app checks before its browser decoder sees a file', () => {
  it('refuses past the file size limit by length alone, empty files, unknown formats, cut headers and huge sizes', () => {
    expect(() => checkImageFileSize(IMAGE_LIMITS.maxFileBytes)).not.toThrow();
    expect(() => checkImageFileSize(IMAGE_LIMITS.maxFileBytes + 1, 'big.png')).toThrow(/^big\.png: the file is 256 MiB; images of at most 256 MiB are accepted$/);
    expect(() => checkImageFileSize(2 ** 31)).toThrow(/^the file is 2048 MiB/);
    expect(() => checkImageFile(new Uint8Array(0), 'e.png')).toThrow(/^e\.png: the file is empty$/);
    expect(() => checkImageFile(new TextEncoder().encode('<svg onload="x()"/>'))).toThrow(/^it is not a PNG, JPEG, GIF, WebP or BMP image$/);
    expect(() => checkImageFile(Uint8Array.from(SIGNATURE), 'cut.png')).toThrow(/^cut\.png: the PNG header is cut short or damaged$/);
    expect(() => checkImageFile(rawPng({ width: 20000, height: 20000 }))).toThrow(/^the PNG declares 20000x20000 pixels, more than the 64 megapixels/);
    expect(() => checkImageFile(flatJpeg({ width: 60000, height: 8, components: 3 }))).toThrow(/^the JPEG declares 60000x8 pixels/);
    const gif = Uint8Array.from([...'GIF89a'].map((c) => c.charCodeAt(0)).concat([0x20, 0x4e, 0x20, 0x4e, 0, 0, 0]));
    expect(() => checkImageFile(gif)).toThrow(/^the GIF declares 20000x20000 pixels/);
    for (const e of [() => checkImageFile(gif), () => checkImageFileSize(2 ** 40)]) expect(e).toThrow(ImageError);
  });

  it('passes ordinary files and returns their header', () => {
    expect(checkImageFile(pngjsPng(3, 2, 0, 8, () => [1, 2, 3, 4]), 'ok.png')).toMatchObject({ format: 'png', width: 3, height: 2, colorType: 0 });
    expect(checkImageFile(rgbJpeg(5, 4))).toMatchObject({ format: 'jpeg', width: 5, height: 4, components: 3 });
    expect(checkImageFile(flatJpeg({ width: 8192, height: 8192, components: 4, adobe: 2, entropy: [0] }))).toMatchObject({ width: 8192, height: 8192, components: 4 });
  });
});

describe('corrupt and truncated files end in a message', () => {
  const png = pngjsPng(9, 7, 6, 8, (x, y) => [x * 20, y * 30, 100, 200]);
  const jpg = rgbJpeg(19, 13);

  it('every prefix of a PNG and a JPEG', () => {
    for (const bytes of [png, jpg]) {
      for (let n = 0; n < bytes.length; n++) {
        const r = decodeOrError(bytes.subarray(0, n));
        if (!(r instanceof ImageDecodeError)) expect(r.data.length).toBe(r.width * r.height * 4);
      }
    }
    expect(refused(png.subarray(0, 40))).toMatch(/not a valid PNG image/);
    expect(refused(png.subarray(0, 0))).toBe('hostile.png: not a PNG or JPEG image');
  });

  it('a bad CRC, a missing IHDR, a bad colour type or depth, garbage after the magic', () => {
    const badCrc = Uint8Array.from(png);
    badCrc[29]! ^= 0xff;
    expect(refused(badCrc)).toMatch(/not a valid PNG image \(.+\)$/);
    const noIhdr = Uint8Array.from([...SIGNATURE, ...chunk('IDAT', deflateSync(new Uint8Array(4))), ...chunk('IEND')]);
    expect(refused(noIhdr)).toMatch(/not a valid PNG image \(the PNG does not start with its IHDR header\)/);
    expect(refused(rawPng({ width: 2, height: 2, colorType: 5, raw: new Uint8Array(12) }))).toMatch(/colour type 5 with 8-bit samples/);
    expect(refused(rawPng({ width: 2, height: 2, colorType: 2, depth: 4, raw: new Uint8Array(12) }))).toMatch(/colour type 2 with 4-bit samples/);
    expect(refused(Uint8Array.from([...SIGNATURE, ...new Array<number>(40).fill(0xee)]))).toMatch(/not a valid PNG image/);
    expect(refused(Uint8Array.from([0xff, 0xd8, 0xff, ...new Array<number>(40).fill(0x41)]))).toMatch(/not a valid JPEG image/);
    expect(refused(flatJpeg({ width: 8, height: 8, components: 2 }))).toMatch(/the JPEG has 2 colour components/);
    expect(refused(flatJpeg({ width: 8, height: 8, components: 4 }))).toMatch(/not a valid JPEG image \(Unsupported color mode \(4 components\)\)/);
  });
});

describe('unusual valid images are decoded', () => {
  it('1x1 PNG and JPEG, and a photo of 1x16384 pixels still preprocesses', () => {
    expect(pixel(decoded(pngjsPng(1, 1, 6, 8, () => [10, 20, 30, 40])), 0, 0)).toEqual([10, 20, 30, 40]);
    const j = decoded(rgbJpeg(1, 1, 100));
    expect([j.width, j.height]).toEqual([1, 1]);
    const tall = decoded(rawPng({ width: 1, height: 16384, raw: scanlines(1, 16384, 1, (_, y) => y) }));
    const card = { input: { width: 8, height: 8, channels: 3 }, preprocessing: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], resize: 'center-crop' as const } };
    expect(preprocess(tall, card as never)).toHaveLength(3 * 64);
  });

  it('grey, grey + alpha, RGB and RGBA PNGs at 8 and 16 bits, and a palette PNG with transparency', () => {
    for (const colorType of [0, 2, 4, 6] as const) {
      const alpha = colorType === 4 || colorType === 6;
      // (pngjs composites alpha away, on white, when it writes a type without alpha.)
      const px = (x: number, y: number): [number, number, number, number] => [x * 40, y * 40, 255 - x * 40, alpha ? 128 + y * 20 : 255];
      for (const depth of [8, 16] as const) {
        const img = decoded(pngjsPng(5, 4, colorType, depth, px));
        expect([img.width, img.height]).toEqual([5, 4]);
        const p = pixel(img, 3, 2);
        const grey = colorType === 0 || colorType === 4;
        if (!grey) expect(p.slice(0, 3)).toEqual([120, 80, 135]);
        else expect(p[0]).toBe(p[1]);
        expect(p[3]).toBe(alpha ? 168 : 255);
      }
    }
    const palette = rawPng({
      width: 3,
      height: 2,
      colorType: 3,
      raw: scanlines(3, 2, 1, (x, y) => (x + y) % 3),
      before: [chunk('PLTE', [255, 0, 0, 0, 255, 0, 0, 0, 255]), chunk('tRNS', [255, 128, 0])],
    });
    const img = decoded(palette);
    expect(pixel(img, 0, 0)).toEqual([255, 0, 0, 255]);
    expect(pixel(img, 1, 0)).toEqual([0, 255, 0, 128]);
    expect(pixel(img, 2, 0)).toEqual([0, 0, 255, 0]);
    const bits = decoded(rawPng({ width: 10, height: 1, colorType: 0, depth: 1, raw: Uint8Array.from([0, 0b10110000, 0b01000000]) }));
    expect(Array.from({ length: 10 }, (_, x) => pixel(bits, x, 0)[0])).toEqual([255, 0, 255, 255, 0, 0, 0, 0, 0, 255]);
  });

  it('an interlaced PNG, and an animated PNG (its first frame)', () => {
    const f = (x: number, y: number) => (x * 16 + y * 3) & 0xff;
    const img = decoded(rawPng({ width: 11, height: 9, interlace: 1, raw: adam7(11, 9, f) }));
    for (const [x, y] of [[0, 0], [4, 0], [10, 8], [5, 3]] as const) expect(pixel(img, x, y)[0]).toBe(f(x, y));
    // acTL / fcTL / fdAT: ancillary chunks, ignored; the default image is what is shown.
    const apng = animatedPng(4, 4, 200, 0);
    expect(pixel(decoded(apng), 2, 2)).toEqual([200, 200, 200, 255]);
  });

  it('grey, RGB and CMYK / YCCK JPEGs (Adobe marker)', () => {
    const grey = decoded(flatJpeg({ width: 13, height: 9, components: 1 }));
    expect(pixel(grey, 12, 8)).toEqual([128, 128, 128, 255]);
    for (const adobe of [0, 2]) {
      const cmyk = decoded(flatJpeg({ width: 17, height: 8, components: 4, adobe }));
      expect([cmyk.width, cmyk.height]).toEqual([17, 8]);
      const p = pixel(cmyk, 16, 7);
      expect(p[0]).toBe(p[1]);
      expect(p[3]).toBe(255);
    }
    const rgb = decoded(rgbJpeg(37, 23));
    expect([rgb.width, rgb.height]).toEqual([37, 23]);
  });
});

describe('image fuzzing', () => {
  const seeds = [
    pngjsPng(6, 5, 6, 8, (x, y) => [x * 40, y * 50, 7, 255]),
    pngjsPng(4, 3, 0, 16, (x) => [x * 60, x * 60, x * 60, 255]),
    rawPng({ width: 5, height: 4, interlace: 1, raw: adam7(5, 4, (x, y) => x + y) }),
    rawPng({ width: 3, height: 2, colorType: 3, raw: scanlines(3, 2, 1, (x) => x % 2), before: [chunk('PLTE', [1, 2, 3, 4, 5, 6])] }),
    rgbJpeg(11, 9),
    flatJpeg({ width: 9, height: 9, components: 1 }),
    flatJpeg({ width: 9, height: 8, components: 4, adobe: 2 }),
  ];

  it('replays the corpus of images that once broke the decoder', () => {
    for (const { file, bytes } of corpus('images')) {
      const r = decodeOrError(bytes, file);
      if (!(r instanceof ImageDecodeError)) expect(r.data.length).toBe(r.width * r.height * 4);
    }
  });

  it('mutated PNGs and JPEGs decode to a consistent image or give an ImageDecodeError', () => {
    const arb = fc.record({ seed: fc.nat({ max: seeds.length - 1 }), mutations: byteMutations });
    const make = (m: { seed: number; mutations: Parameters<typeof mutateBytes>[1] }) => mutateBytes(seeds[m.seed]!, m.mutations);
    let images = 0;
    fuzz(
      'images-mutated',
      arb,
      600,
      (m) => {
        const bytes = make(m);
        let r: RgbaImage | ImageDecodeError;
        try {
          readImageHeader(bytes);
        } catch (e) {
          if (!(e instanceof ImageError)) throw new PropertyViolation(`readImageHeader threw ${(e as Error).constructor.name}: ${(e as Error).message}`);
        }
        try {
          r = decodeOrError(bytes, 'fuzz.png');
        } catch (e) {
          throw new PropertyViolation(`decodeImage threw ${(e as Error).constructor?.name}: ${(e as Error).message}`);
        }
        if (r instanceof ImageDecodeError) {
          if (!r.message.startsWith('fuzz.png: ') || r.message.includes('\n')) throw new PropertyViolation(`unclear message: ${r.message}`);
          return;
        }
        images++;
        if (r.data.length !== r.width * r.height * 4 || r.width * r.height > IMAGE_LIMITS.maxPixels) {
          throw new PropertyViolation(`inconsistent image ${r.width}x${r.height} with ${r.data.length} bytes`);
        }
      },
      (m) => ({ kind: 'image', ext: seeds[m.seed]![0] === 0x89 ? 'png' : 'jpg', bytes: make(m) }),
    );
    expect(images).toBeGreaterThan(0);
  });
});
