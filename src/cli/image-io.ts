/**
 * PNG and JPEG in Node (pngjs, jpeg-js: pure JavaScript): decoding photos to RGBA and writing heatmaps.
 * The format is recognised from the bytes, not the file name.
 */
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import type { RgbaImage } from '../models/image';

export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Largest photo accepted (pixels): 100 megapixels. */
const MAX_PIXELS = 100e6;

export function isPng(bytes: Uint8Array): boolean {
  return PNG_MAGIC.every((b, i) => bytes[i] === b);
}

export function isJpeg(bytes: Uint8Array): boolean {
  return bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** Decodes a PNG or JPEG to RGBA (8 bits per channel; greyscale, palette and 16-bit PNGs are converted). */
export function decodeImage(bytes: Uint8Array, name: string): RgbaImage {
  const reason = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
  if (isPng(bytes)) {
    // The header's size, checked before pngjs allocates for it.
    if (bytes.length >= 24) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const w = view.getUint32(16);
      const h = view.getUint32(20);
      if (w * h > MAX_PIXELS) throw new ImageDecodeError(`${name}: the PNG declares ${w}x${h} pixels, more than the ${MAX_PIXELS / 1e6} megapixels accepted`);
    }
    try {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    } catch (e) {
      throw new ImageDecodeError(`${name}: not a valid PNG image (${reason(e)})`);
    }
  }
  if (isJpeg(bytes)) {
    try {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
      return { width: img.width, height: img.height, data: img.data };
    } catch (e) {
      throw new ImageDecodeError(`${name}: not a valid JPEG image (${reason(e)})`);
    }
  }
  throw new ImageDecodeError(`${name}: not a PNG or JPEG image`);
}

/** Encodes RGBA pixels as a PNG. */
export function encodePng(img: RgbaImage): Uint8Array {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return new Uint8Array(PNG.sync.write(png));
}
