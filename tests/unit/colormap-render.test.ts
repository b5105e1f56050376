// src/models/colormap.ts: the one heatmap colouring of the app's canvas and the CLI's --out.
import { describe, expect, it } from 'vitest';
import { colormapLut, heatmapImage, LUT_SIZE, renderHeatmap, sumChannels, symmetricMax } from '../../src/models/colormap';

describe('heatmapImage', () => {
  it('sums relevance over channels and colours it on a symmetric scale around zero (bwr: blue, white, red)', () => {
    const r = Float32Array.from([1, -2, 0, 0.5, /* channel 2 */ 1, 0, 0, 0.5]);
    const map = sumChannels(r, [1, 2, 2, 2]);
    expect(Array.from(map.data)).toEqual([2, -2, 0, 1]);
    const img = heatmapImage(r, [1, 2, 2, 2], 'bwr', null);
    expect([img.width, img.height, img.vmax]).toEqual([2, 2, 2]);
    expect(Array.from(img.data.subarray(0, 4))).toEqual([255, 0, 0, 255]); // +vmax: red
    expect(Array.from(img.data.subarray(4, 8))).toEqual([0, 0, 255, 255]); // -vmax: blue
    // 0 falls on LUT entry 128 of 256 (the table has no exact centre): all but white.
    const lut = colormapLut('bwr');
    expect(Array.from(img.data.subarray(8, 12))).toEqual([lut[128 * 3], lut[128 * 3 + 1], lut[128 * 3 + 2], 255]);
    expect(Array.from(img.data.subarray(8, 11)).every((c) => c >= 250)).toBe(true);
  });

  it('is the app canvas’s steps: sumChannels, symmetricMax with the clip, renderHeatmap', () => {
    const r = Float32Array.from({ length: 3 * 5 * 7 }, (_, i) => Math.sin(i * 1.7) * (i % 11));
    for (const colormap of ['bwr', 'seismic', 'coldnhot', 'magnitude'] as const) {
      for (const clip of [null, 50, 90, 99.99]) {
        const map = sumChannels(r, [1, 3, 5, 7]);
        const vmax = symmetricMax(map.data, clip);
        const img = heatmapImage(r, [1, 3, 5, 7], colormap, clip);
        expect(img.vmax).toBe(vmax);
        expect(Array.from(img.data)).toEqual(Array.from(renderHeatmap(map, colormap, vmax)));
      }
    }
  });

  it('clips at a percentile of |relevance|: larger values saturate', () => {
    const r = Float32Array.from([...Array.from({ length: 99 }, (_, i) => (i + 1) / 100), 100]);
    const img = heatmapImage(r, [1, 100], 'magnitude', 90);
    expect(img.vmax).toBeCloseTo(0.9, 6); // the 90th percentile of 0.01 ... 0.99, 100
    const top = colormapLut('magnitude').subarray((LUT_SIZE - 1) * 3);
    // 0.95 and 100 both saturate at the top of the scale.
    expect(Array.from(img.data.subarray(94 * 4, 94 * 4 + 3))).toEqual(Array.from(top));
    expect(Array.from(img.data.subarray(99 * 4, 99 * 4 + 3))).toEqual(Array.from(top));
    expect(heatmapImage(r, [1, 100], 'magnitude', null).vmax).toBe(100);
  });

  it('draws a map that is 0 everywhere at the centre of the scale', () => {
    const img = heatmapImage(new Float32Array(4), [1, 1, 2, 2], 'bwr', null);
    expect(img.vmax).toBe(1);
    const lut = colormapLut('bwr');
    expect(Array.from(img.data.subarray(0, 3))).toEqual([lut[384], lut[385], lut[386]]);
  });
});
