/**
 * Image preprocessing for a model card: RGBA pixels (from a canvas or an image decoder) to the model's float32 NCHW
 * input. Deterministic and browser-safe: the same photo gives the same input in the app and in the CLI.
 *
 * Steps: alpha composited on white; the crop (centre crop of the input's aspect ratio, or the whole photo when
 * stretching); a separable resize: area averaging along an axis that shrinks (every source pixel weighted by how
 * much of it a target pixel covers), bilinear interpolation (pixel centres, edges clamped) along an axis that grows;
 * then (pixel * scale - mean) / std per channel, computed from the resampled values before any rounding.
 */
import { channelValue, type ModelCard } from './model-card';

export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  /** width * height * 4 bytes, RGBA, straight (not premultiplied) alpha. */
  readonly data: Uint8ClampedArray | Uint8Array;
}

export type ResizeMode = 'stretch' | 'center-crop';

export class ImageError extends Error {
  override name = 'ImageError';
}

/**
 * The largest photo accepted, in the CLI (src/cli/image-io.ts) and, by the same numbers, the app: checked against
 * the size a file's header declares before anything is decoded (docs/security.md). 8192 x 8192 RGBA is 256 MiB.
 */
export const IMAGE_LIMITS = {
  /** Pixels (width x height). */
  maxPixels: 8192 * 8192,
  /** Width or height. */
  maxSide: 16384,
  /** Bytes of an image file. */
  maxFileBytes: 256 * 2 ** 20,
} as const;

/** Throws an ImageError unless width x height is within IMAGE_LIMITS. */
export function checkImageSize(width: number, height: number, what = 'the image'): void {
  const L = IMAGE_LIMITS;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new ImageError(`${what} declares ${width}x${height} pixels, which is no image`);
  }
  if (width > L.maxSide || height > L.maxSide || width * height > L.maxPixels) {
    throw new ImageError(
      `${what} declares ${width}x${height} pixels, more than the ${(L.maxPixels / 2 ** 20).toFixed(0)} megapixels (at most ${L.maxSide} on a side) accepted`,
    );
  }
}

/** What an image file's header says, read without decoding it. */
export interface ImageHeader {
  readonly format: 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp';
  readonly width: number;
  readonly height: number;
  /** PNG: bits per sample; JPEG: sample precision. */
  readonly bitDepth?: number;
  /** PNG colour type (0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA). */
  readonly colorType?: number;
  /** PNG: Adam7 interlacing. */
  readonly interlaced?: boolean;
  /** JPEG: colour components (1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK). */
  readonly components?: number;
}

const u16be = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const u32be = (b: Uint8Array, o: number): number => ((b[o]! << 24) >>> 0) + (b[o + 1]! << 16) + (b[o + 2]! << 8) + b[o + 3]!;
const u16le = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const u24le = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16);
const i32le = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
const ascii = (b: Uint8Array, o: number, n: number): string => String.fromCharCode(...b.subarray(o, o + n));

/**
 * The format and declared size of a PNG, JPEG, GIF, WebP or BMP file, read from its header (browser-safe, no
 * decoding): undefined when the bytes are none of these; throws ImageError when the header is cut or damaged.
 * Callers check the size (checkImageSize) before handing the bytes to a decoder.
 */
export function readImageHeader(bytes: Uint8Array): ImageHeader | undefined {
  const b = bytes;
  const cut = (format: string): never => {
    throw new ImageError(`the ${format} header is cut short or damaged`);
  };
  if (b.length >= 8 && b[0] === 0x89 && ascii(b, 1, 3) === 'PNG' && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) {
    if (b.length < 33) cut('PNG');
    if (u32be(b, 8) !== 13 || ascii(b, 12, 4) !== 'IHDR') throw new ImageError('the PNG does not start with its IHDR header');
    return { format: 'png', width: u32be(b, 16), height: u32be(b, 20), bitDepth: b[24]!, colorType: b[25]!, interlaced: b[28] === 1 };
  }
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) {
    // Walk the markers up to the frame header (SOFn); it comes before the first scan.
    let i = 2;
    while (i < b.length) {
      while (i < b.length && b[i] !== 0xff) i++; // stray bytes between segments, as some writers leave
      while (i < b.length && b[i] === 0xff) i++; // fill bytes
      if (i >= b.length) break;
      const m = b[i++]!;
      if ((m >= 0xd0 && m <= 0xd7) || m === 0x01) continue; // standalone markers
      if (m === 0xd9 || m === 0xda) throw new ImageError('the JPEG has no frame header (SOF) before its image data');
      if (i + 2 > b.length) break;
      const len = u16be(b, i);
      if (len < 2) throw new ImageError(`the JPEG has a marker segment of length ${len}`);
      const sof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
      if (sof) {
        if (len < 8 || i + 8 > b.length) break;
        const height = u16be(b, i + 3);
        if (height === 0) throw new ImageError('the JPEG leaves its height to a DNL marker, which is not supported');
        return { format: 'jpeg', width: u16be(b, i + 5), height, bitDepth: b[i + 2]!, components: b[i + 7]! };
      }
      i += len;
    }
    cut('JPEG');
  }
  if (b.length >= 6 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) {
    if (b.length < 10) cut('GIF');
    return { format: 'gif', width: u16le(b, 6), height: u16le(b, 8) };
  }
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') {
    if (b.length < 30) cut('WebP');
    const chunk = ascii(b, 12, 4);
    if (chunk === 'VP8X') return { format: 'webp', width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 };
    if (chunk === 'VP8L') {
      if (b[20] !== 0x2f) cut('WebP');
      const bits = b[21]! | (b[22]! << 8) | (b[23]! << 16) | (b[24]! << 24);
      return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    if (chunk === 'VP8 ') {
      if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) cut('WebP');
      return { format: 'webp', width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
    }
    throw new ImageError(`the WebP holds a "${chunk.replace(/[^\x20-\x7e]/g, '?')}" chunk, not an image`);
  }
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) {
    if (b.length < 26) cut('BMP');
    return { format: 'bmp', width: Math.abs(i32le(b, 18)), height: Math.abs(i32le(b, 22)) };
  }
  return undefined;
}

/** `name: ` when there is a name to prefix a message with. */
const prefix = (name?: string) => (name ? `${name}: ` : '');

/** Throws an ImageError (naming the file when given its name) unless it is at most IMAGE_LIMITS.maxFileBytes long. */
export function checkImageFileSize(bytes: number, name?: string): void {
  const max = IMAGE_LIMITS.maxFileBytes;
  if (bytes > max) throw new ImageError(`${prefix(name)}the file is ${(bytes / 2 ** 20).toFixed(0)} MiB; images of at most ${max / 2 ** 20} MiB are accepted`);
}

/**
 * The checks an image file passes before any decoder sees it (the app's worker; the CLI's decoder does the same in
 * src/cli/image-io.ts): at most IMAGE_LIMITS.maxFileBytes, a PNG, JPEG, GIF, WebP or BMP header that is whole, and a
 * declared size within IMAGE_LIMITS. Returns the header; throws ImageError (naming the file when given its name).
 */
export function checkImageFile(bytes: Uint8Array, name?: string): ImageHeader {
  checkImageFileSize(bytes.length, name);
  if (bytes.length === 0) throw new ImageError(`${prefix(name)}the file is empty`);
  try {
    const header = readImageHeader(bytes);
    if (!header) throw new ImageError('it is not a PNG, JPEG, GIF, WebP or BMP image');
    checkImageSize(header.width, header.height, `the ${header.format === 'jpeg' ? 'JPEG' : header.format === 'webp' ? 'WebP' : header.format.toUpperCase()}`);
    return header;
  } catch (e) {
    if (e instanceof ImageError) throw new ImageError(`${prefix(name)}${e.message}`);
    throw e;
  }
}

/** RGB bytes (a share link's pixels) as an opaque RGBA image. */
export function rgbToRgba(width: number, height: number, rgb: Uint8Array): { readonly width: number; readonly height: number; readonly data: Uint8ClampedArray<ArrayBuffer> } {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    data[4 * i] = rgb[3 * i]!;
    data[4 * i + 1] = rgb[3 * i + 1]!;
    data[4 * i + 2] = rgb[3 * i + 2]!;
    data[4 * i + 3] = 255;
  }
  return { width, height, data };
}

/** The source rectangle [x, y, width, height] (fractional) that is resized to the target. */
export function cropRect(srcW: number, srcH: number, dstW: number, dstH: number, mode: ResizeMode): [number, number, number, number] {
  if (mode === 'stretch') return [0, 0, srcW, srcH];
  const target = dstW / dstH;
  if (srcW / srcH > target) {
    // Wider than the target: keep the full height.
    const w = Math.round(srcH * target);
    return [Math.floor((srcW - w) / 2), 0, w, srcH];
  }
  const h = Math.round(srcW / target);
  return [0, Math.floor((srcH - h) / 2), srcW, h];
}

/** Per target index: the source indices and their weights (summing to 1). */
interface AxisWeights {
  readonly start: Int32Array;
  readonly count: Int32Array;
  readonly index: Int32Array;
  readonly weight: Float64Array;
}

/**
 * Resampling weights along one axis: target pixels 0..dst-1 from the source interval [from, from + len) of an
 * axis with `size` pixels.
 */
function axisWeights(size: number, from: number, len: number, dst: number): AxisWeights {
  const start = new Int32Array(dst);
  const count = new Int32Array(dst);
  const idx: number[] = [];
  const wts: number[] = [];
  const ratio = len / dst;
  const clamp = (i: number): number => Math.min(Math.max(i, 0), size - 1);
  for (let i = 0; i < dst; i++) {
    start[i] = idx.length;
    if (ratio > 1) {
      // Area averaging: the target pixel covers [a, b) of the source.
      const a = from + i * ratio;
      const b = from + (i + 1) * ratio;
      for (let j = Math.floor(a); j < Math.ceil(b); j++) {
        const overlap = Math.min(b, j + 1) - Math.max(a, j);
        if (overlap > 1e-12) {
          idx.push(clamp(j));
          wts.push(overlap / ratio);
        }
      }
    } else {
      // Bilinear between the two nearest source pixel centres, clamped to the crop.
      const c = from + (i + 0.5) * ratio - 0.5;
      const lo = Math.ceil(from - 1e-9);
      const hi = Math.max(lo, Math.floor(from + len - 1 + 1e-9));
      const p = Math.min(Math.max(c, lo), hi);
      const j0 = Math.floor(p);
      const t = p - j0;
      idx.push(clamp(j0));
      wts.push(1 - t);
      if (t > 1e-12) {
        idx.push(clamp(j0 + 1));
        wts.push(t);
      }
    }
    count[i] = idx.length - start[i]!;
  }
  return { start, count, index: Int32Array.from(idx), weight: Float64Array.from(wts) };
}

function checkImage(img: RgbaImage): void {
  const { width, height, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError(`the image has no pixels (${width}x${height})`);
  }
  if (data.length !== width * height * 4) {
    throw new ImageError(`the image data has ${data.length} bytes; ${width}x${height} RGBA needs ${width * height * 4}`);
  }
}

/**
 * The photo resized to width x height, composited on white: three planes (R, G, B) of float values 0..255,
 * not yet rounded.
 */
function resizePlanes(img: RgbaImage, width: number, height: number, mode: ResizeMode): Float64Array[] {
  checkImage(img);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError(`cannot resize to ${width}x${height}`);
  }
  const [cx, cy, cw, ch] = cropRect(img.width, img.height, width, height, mode);
  const wx = axisWeights(img.width, cx, cw, width);
  const wy = axisWeights(img.height, cy, ch, height);
  // Source rows any target row reads.
  let rowMin = img.height;
  let rowMax = -1;
  for (const r of wy.index) {
    rowMin = Math.min(rowMin, r);
    rowMax = Math.max(rowMax, r);
  }
  const rows = rowMax - rowMin + 1;
  // Horizontal pass over the rows needed: rows x width per channel, composited on white.
  const tmp = [0, 1, 2].map(() => new Float64Array(rows * width));
  const src = img.data;
  for (let y = 0; y < rows; y++) {
    const rowBase = (rowMin + y) * img.width * 4;
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      const s = wx.start[x]!;
      for (let k = 0; k < wx.count[x]!; k++) {
        const w = wx.weight[s + k]!;
        const p = rowBase + wx.index[s + k]! * 4;
        const a = src[p + 3]! / 255;
        const white = 255 * (1 - a);
        r += w * (src[p]! * a + white);
        g += w * (src[p + 1]! * a + white);
        b += w * (src[p + 2]! * a + white);
      }
      const o = y * width + x;
      tmp[0]![o] = r;
      tmp[1]![o] = g;
      tmp[2]![o] = b;
    }
  }
  // Vertical pass.
  const out = [0, 1, 2].map(() => new Float64Array(width * height));
  for (let y = 0; y < height; y++) {
    const s = wy.start[y]!;
    for (let c = 0; c < 3; c++) {
      const t = tmp[c]!;
      const o = out[c]!;
      for (let x = 0; x < width; x++) {
        let v = 0;
        for (let k = 0; k < wy.count[y]!; k++) v += wy.weight[s + k]! * t[(wy.index[s + k]! - rowMin) * width + x]!;
        o[y * width + x] = v;
      }
    }
  }
  return out;
}

const round8 = (v: number): number => Math.min(255, Math.max(0, Math.round(v)));

/** The photo resized (and cropped) to width x height, composited on white: an opaque RGBA image. */
export function resizeRgba(img: RgbaImage, width: number, height: number, mode: ResizeMode = 'stretch'): RgbaImage & { data: Uint8ClampedArray } {
  const planes = resizePlanes(img, width, height, mode);
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    data[4 * i] = round8(planes[0]![i]!);
    data[4 * i + 1] = round8(planes[1]![i]!);
    data[4 * i + 2] = round8(planes[2]![i]!);
    data[4 * i + 3] = 255;
  }
  return { width, height, data };
}

/** The model input for a photo: float32 NCHW [1, channels, height, width] following the card. */
export function preprocess(img: RgbaImage, card: Pick<ModelCard, 'input' | 'preprocessing'>): Float32Array {
  const { width, height, channels } = card.input;
  const { scale, mean, std, resize } = card.preprocessing;
  const planes = resizePlanes(img, width, height, resize);
  const n = width * height;
  const out = new Float32Array(channels * n);
  if (channels === 1) {
    // Luma (ITU-R BT.601), as image libraries convert RGB to greyscale.
    const m = channelValue(mean, 0);
    const s = channelValue(std, 0);
    for (let i = 0; i < n; i++) {
      const y = 0.299 * planes[0]![i]! + 0.587 * planes[1]![i]! + 0.114 * planes[2]![i]!;
      out[i] = (y * scale - m) / s;
    }
    return out;
  }
  if (channels !== 3) throw new ImageError(`models with ${channels} input channels cannot take a photo (1 or 3 needed)`);
  for (let c = 0; c < 3; c++) {
    const m = channelValue(mean, c);
    const s = channelValue(std, c);
    const p = planes[c]!;
    for (let i = 0; i < n; i++) out[c * n + i] = (p[i]! * scale - m) / s;
  }
  return out;
}
