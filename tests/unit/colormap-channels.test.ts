// src/models/colormap.ts: the layer inspector's channel sum for NHWC values (a ConvNeXt block's LayerNorm, Linear, GELU).
import { describe, expect, it } from 'vitest';
import { sumChannels, sumChannelsLast } from '../../src/models/colormap';

describe('sumChannelsLast', () => {
  it('sums an NHWC tensor over its last axis: the map of the same tensor in NCHW', () => {
    const [h, w, c] = [2, 3, 4];
    const nchw = Float32Array.from({ length: c * h * w }, (_, i) => Math.sin(i) * 10);
    const nhwc = new Float32Array(nchw.length);
    for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) nhwc[i * c + k] = nchw[k * h * w + i]!;
    const expected = sumChannels(nchw, [1, c, h, w]);
    const got = sumChannelsLast(nhwc, [1, h, w, c]);
    expect([got.width, got.height]).toEqual([w, h]);
    expect(Array.from(got.data)).toEqual(Array.from(expected.data));
  });

  it('leaves a tensor that is not 4-D to sumChannels', () => {
    const data = Float32Array.from([1, 2, 3]);
    expect(sumChannelsLast(data, [1, 3])).toEqual(sumChannels(data, [1, 3]));
  });
});
