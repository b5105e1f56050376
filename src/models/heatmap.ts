/**
 * Heatmaps of input relevance: summed over channels, normalised symmetrically by the largest magnitude and
 * coloured with a diverging blue-white-red map (matplotlib's "bwr": negative blue, zero white, positive red).
 * Browser-safe.
 */
import type { Shape } from '../engine/graph';
import type { RgbaImage } from './image';

/** Relevance [1, C, H, W] summed over channels: H x W values (a feature vector [1, F] gives F x 1). */
export function channelSum(relevance: ArrayLike<number>, shape: Shape): { width: number; height: number; data: Float64Array } {
  if (shape.length === 4) {
    const [, c, h, w] = shape as [number, number, number, number];
    const n = h * w;
    const data = new Float64Array(n);
    for (let k = 0; k < c; k++) for (let i = 0; i < n; i++) data[i] = data[i]! + relevance[k * n + i]!;
    return { width: w, height: h, data };
  }
  const data = Float64Array.from(relevance as ArrayLike<number>);
  return { width: data.length, height: 1, data };
}

/** bwr colour of v in [-1, 1] as [r, g, b] 0..255. */
export function bwr(v: number): [number, number, number] {
  const t = Math.min(1, Math.max(-1, Number.isFinite(v) ? v : 0));
  if (t < 0) {
    const c = Math.round(255 * (1 + t));
    return [c, c, 255];
  }
  const c = Math.round(255 * (1 - t));
  return [255, c, c];
}

/** Colours a map with bwr, normalised by its largest magnitude (0 everywhere: all white). */
export function heatmapRgba(map: { width: number; height: number; data: ArrayLike<number> }): RgbaImage & { data: Uint8ClampedArray; maxAbs: number } {
  let maxAbs = 0;
  for (let i = 0; i < map.data.length; i++) {
    const v = Math.abs(map.data[i]!);
    if (Number.isFinite(v) && v > maxAbs) maxAbs = v;
  }
  const data = new Uint8ClampedArray(map.width * map.height * 4);
  for (let i = 0; i < map.width * map.height; i++) {
    const [r, g, b] = bwr(maxAbs > 0 ? map.data[i]! / maxAbs : 0);
    data[4 * i] = r;
    data[4 * i + 1] = g;
    data[4 * i + 2] = b;
    data[4 * i + 3] = 255;
  }
  return { width: map.width, height: map.height, data, maxAbs };
}
