/**
 * A Vision Transformer's token relevance as a patch grid, for the layer inspector. The patch embedding is a Conv2d
 * reading the model's input with stride = kernel = p (torchvision's `conv_proj`): its output is (H/p) x (W/p),
 * flattened row by row into the patch tokens, after a class token when the model has one. A layer whose input has
 * an axis of T = 1 + (H/p)(W/p) tokens (or (H/p)(W/p), with no class token) is shown as that grid: each token's
 * relevance summed over everything else (features, heads, batch), the class token's beside it as a number.
 */
import type { HeatMap } from '../src/models/colormap';
import type { LayerInfo } from './protocol';

export interface PatchGrid {
  readonly rows: number;
  readonly cols: number;
  /** Patch size in input pixels: height, width (the patch embedding's stride). */
  readonly patch: readonly [number, number];
}

/**
 * The patch grid of a model whose first Conv2d on the input embeds patches: its output spatial size divides the
 * input's, with patches larger than one pixel. Null for a model without such a layer, or without token tensors
 * (a layer whose input has an axis of 1 + rows x cols): a CNN's strided stem is not a patch embedding.
 */
export function patchGridOf(layers: readonly LayerInfo[], inputName: string, inputShape: readonly number[]): PatchGrid | null {
  if (inputShape.length !== 4) return null;
  const [, , h, w] = inputShape as [number, number, number, number];
  const embed = layers.find((l) => l.op === 'conv2d' && l.inputs[0] === inputName && l.outputShape.length === 4);
  if (!embed) return null;
  const rows = embed.outputShape[2]!;
  const cols = embed.outputShape[3]!;
  if (!(rows >= 1 && cols >= 1) || h % rows !== 0 || w % cols !== 0 || h / rows < 2 || w / cols < 2) return null;
  const grid: PatchGrid = { rows, cols, patch: [h / rows, w / cols] };
  const tokens = rows * cols + 1;
  return layers.some((l) => l.outputShape.includes(tokens)) ? grid : null;
}

export interface TokenMap {
  /** Patch tokens' relevance, rows x cols (row-major, as the patch embedding flattens them). */
  readonly map: HeatMap;
  /** The class token's relevance; null when the tensor has no class token. */
  readonly classToken: number | null;
  /** The token axis of the tensor, and its length. */
  readonly axis: number;
  readonly tokens: number;
}

/** Which axis of a shape holds the tokens: the first of length 1 + rows x cols, else (not an image-shaped 4-D tensor) of rows x cols. */
export function tokenAxis(shape: readonly number[], grid: PatchGrid): { axis: number; classToken: boolean } | null {
  const patches = grid.rows * grid.cols;
  const withClass = shape.indexOf(patches + 1);
  if (withClass >= 0) return { axis: withClass, classToken: true };
  if (shape.length === 4 || patches < 2) return null;
  const plain = shape.indexOf(patches);
  return plain >= 0 ? { axis: plain, classToken: false } : null;
}

/** Per-token relevance (summed over every other axis), as the patch grid plus the class token; null for a tensor without tokens. */
export function tokenRelevance(data: Float32Array, shape: readonly number[], grid: PatchGrid): TokenMap | null {
  const found = tokenAxis(shape, grid);
  if (!found) return null;
  const { axis, classToken } = found;
  const tokens = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  if (shape.reduce((a, b) => a * b, 1) !== data.length) return null;
  // Summed in float64 per token, rounded once.
  const sums = new Float64Array(tokens);
  for (let i = 0; i < data.length; i++) {
    const t = Math.floor(i / inner) % tokens;
    sums[t] = sums[t]! + data[i]!;
  }
  const first = classToken ? 1 : 0;
  const out = new Float32Array(grid.rows * grid.cols);
  for (let k = 0; k < out.length; k++) out[k] = sums[first + k]!;
  return { map: { width: grid.cols, height: grid.rows, data: out }, classToken: classToken ? sums[0]! : null, axis, tokens };
}
