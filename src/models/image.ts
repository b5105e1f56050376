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
