/**
 * Heatmap colouring, pure and deterministic so that a test can recompute exactly what the page draws.
 * Signed maps put zero at the centre of the colour scale; the scale is symmetric, [-vmax, vmax], with vmax the
 * largest |value| or, with a percentile clip, that percentile of |value| (larger values saturate).
 */

export type ColormapId = 'bwr' | 'seismic' | 'coldnhot' | 'magnitude';

export interface ColormapInfo {
  readonly id: ColormapId;
  readonly label: string;
  /** Signed: [-vmax, vmax] with 0 at the centre. Magnitude: |value| in [0, vmax]. */
  readonly signed: boolean;
  /** Colour stops at positions in [0, 1] of the scale (RGB 0-255). */
  readonly stops: readonly (readonly [number, number, number, number])[];
}

export const colormaps: readonly ColormapInfo[] = [
  {
    id: 'bwr',
    label: 'bwr',
    signed: true,
    stops: [
      [0, 0, 0, 255],
      [0.5, 255, 255, 255],
      [1, 255, 0, 0],
    ],
  },
  {
    id: 'seismic',
    label: 'seismic',
    signed: true,
    stops: [
      [0, 0, 0, 76.5],
      [0.25, 0, 0, 255],
      [0.5, 255, 255, 255],
      [0.75, 255, 0, 0],
      [1, 127.5, 0, 0],
    ],
  },
  {
    id: 'coldnhot',
    label: 'coldnhot',
    signed: true,
    stops: [
      [0, 0, 255, 255],
      [0.25, 0, 0, 255],
      [0.5, 0, 0, 0],
      [0.75, 255, 0, 0],
      [1, 255, 255, 0],
    ],
  },
  {
    id: 'magnitude',
    label: 'magnitude (|relevance|)',
    signed: false,
    stops: [
      [0, 0, 0, 0],
      [0.375, 255, 0, 0],
      [0.75, 255, 255, 0],
      [1, 255, 255, 255],
    ],
  },
];

export function colormapInfo(id: ColormapId): ColormapInfo {
  return colormaps.find((c) => c.id === id) ?? colormaps[0]!;
}

export const LUT_SIZE = 256;

const lutCache = new Map<ColormapId, Uint8Array>();

/** 256 RGB entries sampled evenly over the scale (entry 0 = the lowest value, 255 = the highest). */
export function colormapLut(id: ColormapId): Uint8Array {
  let lut = lutCache.get(id);
  if (lut) return lut;
  const { stops } = colormapInfo(id);
  lut = new Uint8Array(LUT_SIZE * 3);
  for (let i = 0; i < LUT_SIZE; i++) {
    const t = i / (LUT_SIZE - 1);
    let k = 0;
    while (k < stops.length - 2 && t > stops[k + 1]![0]) k++;
    const a = stops[k]!;
    const b = stops[k + 1]!;
    const f = b[0] === a[0] ? 0 : Math.min(1, Math.max(0, (t - a[0]) / (b[0] - a[0])));
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(a[c + 1]! + (b[c + 1]! - a[c + 1]!) * f);
  }
  lutCache.set(id, lut);
  return lut;
}

/** Which LUT entry a value falls on, given the scale's vmax (> 0). */
export function lutIndex(value: number, vmax: number, signed: boolean): number {
  if (signed) {
    const v = Math.min(1, Math.max(-1, value / vmax));
    return Math.round(((v + 1) / 2) * (LUT_SIZE - 1));
  }
  const v = Math.min(1, Math.abs(value) / vmax);
  return Math.round(v * (LUT_SIZE - 1));
}

/** A 2-D map: relevance summed over channels. */
export interface HeatMap {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

/**
 * Sums an NCHW (batch 1) tensor over its channels: the relevance of each pixel. Tensors of rank 2 ([1, F]) become
 * a map one row high.
 */
export function sumChannels(data: Float32Array, shape: readonly number[]): HeatMap {
  if (shape.length === 4) {
    const [, c, h, w] = shape as [number, number, number, number];
    const plane = h * w;
    const out = new Float32Array(plane);
    // Sum in float64 per pixel, then round once.
    for (let i = 0; i < plane; i++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += data[k * plane + i]!;
      out[i] = s;
    }
    return { width: w, height: h, data: out };
  }
  return { width: data.length, height: 1, data: Float32Array.from(data) };
}

/** As sumChannels, for a 4-D tensor in NHWC order (a ConvNeXt block's LayerNorm, Linear and GELU see one). */
export function sumChannelsLast(data: Float32Array, shape: readonly number[]): HeatMap {
  if (shape.length !== 4) return sumChannels(data, shape);
  const [, h, w, c] = shape as [number, number, number, number];
  const plane = h * w;
  const out = new Float32Array(plane);
  for (let i = 0; i < plane; i++) {
    let s = 0;
    for (let k = 0; k < c; k++) s += data[i * c + k]!;
    out[i] = s;
  }
  return { width: w, height: h, data: out };
}

/**
 * The scale's vmax: max |value|, or the given percentile of |value| (0 < p < 100) when clipping. A map that is 0
 * everywhere gets vmax 1 (drawn as all zero).
 */
export function symmetricMax(data: Float32Array, clipPercentile: number | null): number {
  let vmax = 0;
  if (clipPercentile === null || !(clipPercentile > 0 && clipPercentile < 100)) {
    for (let i = 0; i < data.length; i++) {
      const a = Math.abs(data[i]!);
      if (a > vmax) vmax = a;
    }
  } else {
    const abs = Float64Array.from(data, Math.abs).sort();
    vmax = abs[Math.min(abs.length - 1, Math.floor((clipPercentile / 100) * (abs.length - 1)))] ?? 0;
  }
  return vmax > 0 && Number.isFinite(vmax) ? vmax : 1;
}

/** Colours a map: opaque RGBA pixels, row-major. */
export function renderHeatmap(map: HeatMap, colormap: ColormapId, vmax: number): Uint8ClampedArray<ArrayBuffer> {
  const lut = colormapLut(colormap);
  const { signed } = colormapInfo(colormap);
  const out = new Uint8ClampedArray(map.width * map.height * 4);
  for (let i = 0; i < map.data.length; i++) {
    const k = lutIndex(map.data[i]!, vmax, signed) * 3;
    out[i * 4] = lut[k]!;
    out[i * 4 + 1] = lut[k + 1]!;
    out[i * 4 + 2] = lut[k + 2]!;
    out[i * 4 + 3] = 255;
  }
  return out;
}

/** A coloured heatmap: opaque RGBA pixels, row-major, and the scale it was drawn with. */
export interface HeatmapImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray<ArrayBuffer>;
  /** The scale: values at or beyond +-vmax saturate. */
  readonly vmax: number;
}

/**
 * The heatmap of an input relevance as the page's canvas draws it (app/components/HeatmapView.tsx): summed over
 * channels (sumChannels), the scale from symmetricMax (clipped at a percentile of |relevance|, or not: null), coloured
 * with the colormap (renderHeatmap). `lrp-lens explain --out` and `explain --link --out` write this.
 */
export function heatmapImage(relevance: Float32Array, shape: readonly number[], colormap: ColormapId, clipPercentile: number | null): HeatmapImage {
  const map = sumChannels(relevance, shape);
  const vmax = symmetricMax(map.data, clipPercentile);
  return { width: map.width, height: map.height, data: renderHeatmap(map, colormap, vmax), vmax };
}

/** Compact number formatting for the colour bar, the hover read-out and the charts. */
export function formatValue(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
  return v.toPrecision(3);
}
