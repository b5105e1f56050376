// A ViT's token relevance as a patch grid (app/token-grid.ts): the layer inspector's view of token tensors.
import { describe, expect, it } from 'vitest';
import { patchGridOf, tokenAxis, tokenRelevance } from '../../app/token-grid';
import type { LayerInfo } from '../../app/protocol';

const layer = (name: string, op: string, inputs: string[], outputShape: number[]): LayerInfo =>
  ({ name, op, cls: 'weighted', inputs, output: `${name}:out`, outputShape, params: 0 }) as LayerInfo;

// vit-tiny: 32x32 input, 8x8 patches -> 4x4 grid, 17 tokens of 32 features.
const vit = [
  layer('conv_proj', 'conv2d', ['input'], [1, 32, 4, 4]),
  layer('reshape_0', 'reshape', ['conv_proj:out'], [1, 32, 16]),
  layer('transpose_0', 'transpose', ['reshape_0:out'], [1, 16, 32]),
  layer('concat_0', 'concat', ['transpose_0:out'], [1, 17, 32]),
  layer('heads.head', 'linear', ['concat_0:out'], [1, 10]),
];
const grid = { rows: 4, cols: 4, patch: [8, 8] as const };

describe('patch grid', () => {
  it("derives the grid from the input size and the patch embedding's output", () => {
    expect(patchGridOf(vit, 'input', [1, 3, 32, 32])).toEqual(grid);
    // A rectangular input: 2 x 3 patches of 8x8 (7 tokens).
    const wide = [layer('conv_proj', 'conv2d', ['input'], [1, 32, 2, 3]), layer('concat_0', 'concat', ['x'], [1, 7, 32])];
    expect(patchGridOf(wide, 'input', [1, 3, 16, 24])).toEqual({ rows: 2, cols: 3, patch: [8, 8] });
  });

  it('is null for a CNN: a strided stem, but no token tensors', () => {
    const cnn = [layer('conv1', 'conv2d', ['input'], [1, 64, 112, 112]), layer('fc', 'linear', ['x'], [1, 1000])];
    expect(patchGridOf(cnn, 'input', [1, 3, 224, 224])).toBeNull();
    // A first convolution that does not read the input, or keeps its size.
    expect(patchGridOf([layer('c', 'conv2d', ['other'], [1, 32, 4, 4]), ...vit.slice(1)], 'input', [1, 3, 32, 32])).toBeNull();
    expect(patchGridOf([layer('c', 'conv2d', ['input'], [1, 8, 32, 32]), layer('t', 'concat', ['x'], [1, 1025, 8])], 'input', [1, 3, 32, 32])).toBeNull();
  });

  it('finds the token axis: class token plus patches first, else patches alone (not in an NCHW map)', () => {
    expect(tokenAxis([1, 17, 32], grid)).toEqual({ axis: 1, classToken: true });
    expect(tokenAxis([17, 1, 32], grid)).toEqual({ axis: 0, classToken: true });
    expect(tokenAxis([1, 2, 17, 16], grid)).toEqual({ axis: 2, classToken: true });
    expect(tokenAxis([1, 32, 16], grid)).toEqual({ axis: 2, classToken: false });
    expect(tokenAxis([1, 16, 4, 4], grid)).toBeNull();
    expect(tokenAxis([1, 10], grid)).toBeNull();
  });
});

describe('token relevance on the grid', () => {
  it('sums each token over its features: token 0 is the class token, token 1 + r * cols + c the patch at (r, c)', () => {
    const shape = [1, 17, 3];
    const data = new Float32Array(17 * 3);
    for (let t = 0; t < 17; t++) for (let f = 0; f < 3; f++) data[t * 3 + f] = t * 10 + f; // token t sums to 30t + 3
    const m = tokenRelevance(data, shape, grid)!;
    expect(m.classToken).toBe(3);
    expect(m.tokens).toBe(17);
    expect([m.map.width, m.map.height]).toEqual([4, 4]);
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(m.map.data[r * 4 + c]).toBe(30 * (1 + r * 4 + c) + 3);
    // Conservation: grid plus class token is the tensor's total.
    expect(m.map.data.reduce((a, b) => a + b, 0) + m.classToken!).toBe(data.reduce((a, b) => a + b, 0));
  });

  it('reads tokens on any axis: sequence-first [T, N, F] and heads [H, T, d]', () => {
    // [17, 1, 2]: token t = data[2t], data[2t + 1]
    const seqFirst = Float32Array.from({ length: 34 }, (_, i) => Math.floor(i / 2));
    const a = tokenRelevance(seqFirst, [17, 1, 2], grid)!;
    expect(a.classToken).toBe(0);
    expect(Array.from(a.map.data)).toEqual(Array.from({ length: 16 }, (_, k) => 2 * (k + 1)));
    // [2, 17, 1]: two heads, token t's relevance t in head 0 and 100 in head 1.
    const heads = new Float32Array(34);
    for (let t = 0; t < 17; t++) {
      heads[t] = t;
      heads[17 + t] = 100;
    }
    const b = tokenRelevance(heads, [2, 17, 1], grid)!;
    expect(b.axis).toBe(1);
    expect(b.classToken).toBe(100);
    expect(b.map.data[5]).toBe(106);
  });

  it('maps patch tokens without a class token, and refuses tensors without tokens', () => {
    const data = Float32Array.from({ length: 32 }, (_, i) => i % 16); // [1, 2, 16]: features first, patches last
    const m = tokenRelevance(data, [1, 2, 16], grid)!;
    expect(m.classToken).toBeNull();
    expect(Array.from(m.map.data)).toEqual(Array.from({ length: 16 }, (_, k) => 2 * k));
    expect(tokenRelevance(new Float32Array(10), [1, 10], grid)).toBeNull();
  });
});
