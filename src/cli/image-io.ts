/**
 * PNG and JPEG in Node (pngjs, jpeg-js: pure JavaScript): decoding photos to RGBA and writing heatmaps.
 * The format is recognised from the bytes, not the file name. Photos are untrusted: the size a header declares is
 * checked against IMAGE_LIMITS (src/models/image.ts) before any decoder allocates for it, an interlaced PNG's
 * compressed pixels are inflated with a bound (pngjs bounds only non-interlaced ones), and the decoders' output is
 * checked against the header. Every failure is an ImageDecodeError naming the file.
 */
import { inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { IMAGE_LIMITS, ImageError, checkImageFileSize, checkImageSize, readImageHeader, type ImageHeader, type RgbaImage } from '../models/image';

export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function isPng(bytes: Uint8Array): boolean {
  return PNG_MAGIC.every((b, i) => bytes[i] === b);
}

export function isJpeg(bytes: Uint8Array): boolean {
  return bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** Samples per pixel of each PNG colour type. */
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const PNG_DEPTHS: Record<number, readonly number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

/**
 * Bytes a PNG's pixels inflate to: every row with its filter byte (for Adam7 interlacing, every row of each of the
 * seven passes).
 */
function inflatedSize(h: ImageHeader): number {
  const bits = (PNG_CHANNELS[h.colorType!] ?? 4) * h.bitDepth!;
  if (!h.interlaced) return h.height * (((h.width * bits + 7) >> 3) + 1);
  const passes = [
    [0, 0, 8, 8],
    [4, 0, 8, 8],
    [0, 4, 4, 8],
    [2, 0, 4, 4],
    [0, 2, 2, 4],
    [1, 0, 2, 2],
    [0, 1, 1, 2],
  ] as const;
  let size = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const w = Math.ceil((h.width - x0) / dx);
    const rows = Math.ceil((h.height - y0) / dy);
    if (w > 0 && rows > 0) size += rows * (((w * bits + 7) >> 3) + 1);
  }
  return size;
}

/**
 * Deflate shrinks data at most 1032:1, and a JPEG spends at least one bit per 8x8 block: a file far smaller than
 * that for the size it declares is cut short or hostile, and is refused before a decoder allocates the full size.
 */
const MAX_DEFLATE_RATIO = 1100;
const MAX_JPEG_PIXELS_PER_BYTE = 512;

/** The concatenated IDAT payloads of a PNG (chunk lengths checked against the file). */
function idat(bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let at = 8; at + 8 <= bytes.length; ) {
    const len = ((bytes[at]! << 24) >>> 0) + (bytes[at + 1]! << 16) + (bytes[at + 2]! << 8) + bytes[at + 3]!;
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    if (at + 12 + len > bytes.length) throw new Error(`the ${type.replace(/[^\x20-\x7e]/g, '?')} chunk runs past the end of the file`);
    if (type === 'IDAT') {
      parts.push(bytes.subarray(at + 8, at + 8 + len));
      total += len;
    }
    if (type === 'IEND') break;
    at += 12 + len;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The header, checked: a known size within IMAGE_LIMITS, and for PNGs a valid colour type and depth. */
function checkedHeader(bytes: Uint8Array, name: string, kind: 'PNG' | 'JPEG'): ImageHeader {
  let h: ImageHeader | undefined;
  try {
    h = readImageHeader(bytes);
  } catch (e) {
    if (e instanceof ImageError) throw new ImageDecodeError(`${name}: not a valid ${kind} image (${e.message})`);
    throw e;
  }
  if (!h) throw new ImageDecodeError(`${name}: not a valid ${kind} image`);
  try {
    checkImageSize(h.width, h.height, `the ${kind}`);
  } catch (e) {
    if (e instanceof ImageError) throw new ImageDecodeError(`${name}: ${e.message}`);
    throw e;
  }
  if (kind === 'PNG' && !(PNG_DEPTHS[h.colorType!] ?? []).includes(h.bitDepth!)) {
    throw new ImageDecodeError(`${name}: not a valid PNG image (colour type ${h.colorType} with ${h.bitDepth}-bit samples)`);
  }
  if (kind === 'JPEG' && ![1, 3, 4].includes(h.components!)) {
    throw new ImageDecodeError(`${name}: the JPEG has ${h.components} colour components; grey (1), colour (3) or CMYK (4) ones can be read`);
  }
  return h;
}

/**
 * Decodes a PNG or JPEG to RGBA (8 bits per channel; greyscale, palette, alpha and 16-bit PNGs, grey and CMYK
 * JPEGs are converted; an animated PNG gives its first frame). Throws ImageDecodeError naming the file.
 */
export function decodeImage(bytes: Uint8Array, name: string): RgbaImage {
  const reason = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 200);
  try {
    checkImageFileSize(bytes.length, name);
  } catch (e) {
    throw e instanceof ImageError ? new ImageDecodeError(e.message) : e;
  }
  let img: RgbaImage;
  let header: ImageHeader;
  if (isPng(bytes)) {
    header = checkedHeader(bytes, name, 'PNG');
    try {
      const compressed = idat(bytes);
      const size = inflatedSize(header);
      if (size > MAX_DEFLATE_RATIO * compressed.length) {
        throw new Error(`${compressed.length} bytes of compressed pixels cannot hold a ${header.width}x${header.height} image: the file is cut short`);
      }
      if (header.interlaced) {
        // pngjs inflates interlaced pixels without a bound: a small file could inflate to gigabytes.
        inflateSync(compressed, { maxOutputLength: Math.max(size, 1) });
      }
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      img = { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    } catch (e) {
      const why = (e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' ? 'its compressed pixels inflate to more than the image holds' : reason(e);
      throw new ImageDecodeError(`${name}: not a valid PNG image (${why})`);
    }
  } else if (isJpeg(bytes)) {
    header = checkedHeader(bytes, name, 'JPEG');
    if (header.width * header.height > MAX_JPEG_PIXELS_PER_BYTE * bytes.length) {
      throw new ImageDecodeError(`${name}: not a valid JPEG image (${bytes.length} bytes cannot hold a ${header.width}x${header.height} image: the file is cut short)`);
    }
    try {
      const d = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: IMAGE_LIMITS.maxPixels / 1e6, maxMemoryUsageInMB: 1024 });
      img = { width: d.width, height: d.height, data: d.data };
    } catch (e) {
      throw new ImageDecodeError(`${name}: not a valid JPEG image (${reason(e)})`);
    }
  } else {
    throw new ImageDecodeError(`${name}: not a PNG or JPEG image`);
  }
  // What the decoder made must be what the header declared, in RGBA.
  if (img.width !== header.width || img.height !== header.height || img.data.length !== img.width * img.height * 4) {
    throw new ImageDecodeError(`${name}: the image decoded to ${img.width}x${img.height} (${img.data.length} bytes), not the ${header.width}x${header.height} its header declares`);
  }
  return img;
}

/** Encodes RGBA pixels as a PNG. */
export function encodePng(img: RgbaImage): Uint8Array {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return new Uint8Array(PNG.sync.write(png));
}
