/**
 * Pixel flipping / region perturbation (Samek et al. 2017): remove input regions in order of relevance, most
 * relevant first, re-run the forward pass, and watch the target score fall. A faithful explanation makes it fall
 * fast; a random order is the baseline. The area over the perturbation curve (AOPC) sums the drop:
 *   AOPC = 1/(L+1) * sum_{k=0..L} (f(x) - f(x_k)),  x_k = x with the first k/L of the regions replaced.
 * The score f is the target's logit (the quantity LRP explains). Regions are square patches of the input grid;
 * a region's relevance is the sum over its pixels and channels. The forward passes run in batches.
 */
import type { LoadedModel } from '../engine/api';
import { seededRandom, shuffledIndices } from './random';

/** What a removed region becomes (see PixelFlippingOptions.baseline). */
export const PERTURBATION_BASELINES = ['blur', 'mean', 'noise', 'zero'] as const;
export type PerturbationBaseline = (typeof PERTURBATION_BASELINES)[number];

export interface PixelFlippingOptions {
  readonly target: number;
  /** Side of the square regions, in input pixels (default 8). */
  readonly patch?: number;
  /**
   * What a removed region becomes (default 'blur'): the input blurred with a box filter of the patch size, the
   * input's per-channel mean, uniform noise over the input's range (seeded), or 0 in the model's input space.
   */
  readonly baseline?: PerturbationBaseline;
  /** Number of steps L: the curve has L + 1 points from 0 to all regions removed (default 16). */
  readonly steps?: number;
  /** Forward passes per batch (default 8). */
  readonly batch?: number;
  /** Seed for the random order and the noise baseline (default 1). */
  readonly seed?: number;
  /** Called after each batch with the fraction of forward passes done. */
  readonly onProgress?: (done: number) => void;
  readonly signal?: AbortSignal;
}

export interface PerturbationCurve {
  /** Fraction of regions removed at each point. */
  readonly fractions: readonly number[];
  readonly scores: readonly number[];
  readonly aopc: number;
}

export interface PixelFlippingResult {
  readonly relevanceOrder: PerturbationCurve;
  readonly randomOrder: PerturbationCurve;
  readonly regions: number;
  readonly patch: number;
  readonly baseline: PerturbationBaseline;
}

interface Layout {
  readonly c: number;
  readonly h: number;
  readonly w: number;
}

function layoutOf(model: LoadedModel): Layout {
  const s = model.graph.input.shape;
  if (s.length !== 4) throw new RangeError('pixel flipping needs an image model (input [1, C, H, W])');
  return { c: s[1]!, h: s[2]!, w: s[3]! };
}

/** The values a removed region takes, for every input element. */
export function baselineImage(input: Float32Array, { c, h, w }: Layout, kind: PerturbationBaseline, patch: number, seed: number): Float32Array {
  const out = new Float32Array(input.length);
  const plane = h * w;
  if (kind === 'zero') return out;
  if (kind === 'mean') {
    for (let ch = 0; ch < c; ch++) {
      let sum = 0;
      for (let i = 0; i < plane; i++) sum += input[ch * plane + i]!;
      out.fill(sum / plane, ch * plane, (ch + 1) * plane);
    }
    return out;
  }
  if (kind === 'noise') {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of input) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const random = seededRandom(seed ^ 0x9e3779b9);
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * random();
    return out;
  }
  // Box blur with a window of the patch size (clamped at the borders), separable.
  const r = Math.max(1, Math.floor(patch / 2));
  const tmp = new Float32Array(input.length);
  for (let ch = 0; ch < c; ch++) {
    const base = ch * plane;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let sum = 0;
        let n = 0;
        for (let k = Math.max(0, x - r); k <= Math.min(w - 1, x + r); k++, n++) sum += input[base + y * w + k]!;
        tmp[base + y * w + x] = sum / n;
      }
    }
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let sum = 0;
        let n = 0;
        for (let k = Math.max(0, y - r); k <= Math.min(h - 1, y + r); k++, n++) sum += tmp[base + k * w + x]!;
        out[base + y * w + x] = sum / n;
      }
    }
  }
  return out;
}

/** Regions of the patch grid: each one's pixel offsets (within a plane) and its summed relevance. */
export function regionsOf(relevance: Float32Array, { c, h, w }: Layout, patch: number): { pixels: number[]; relevance: number }[] {
  const regions: { pixels: number[]; relevance: number }[] = [];
  const plane = h * w;
  for (let y0 = 0; y0 < h; y0 += patch) {
    for (let x0 = 0; x0 < w; x0 += patch) {
      const pixels: number[] = [];
      let sum = 0;
      for (let y = y0; y < Math.min(h, y0 + patch); y++) {
        for (let x = x0; x < Math.min(w, x0 + patch); x++) {
          pixels.push(y * w + x);
          for (let ch = 0; ch < c; ch++) sum += relevance[ch * plane + y * w + x]!;
        }
      }
      regions.push({ pixels, relevance: sum });
    }
  }
  return regions;
}

export function aopc(scores: readonly number[]): number {
  const first = scores[0]!;
  return scores.reduce((acc, s) => acc + (first - s), 0) / scores.length;
}

/** The perturbed inputs of one ordering: point k has the first round(k/L * regions) regions replaced. */
export function perturbedInputs(input: Float32Array, baseline: Float32Array, layout: Layout, regions: { pixels: number[] }[], order: readonly number[], steps: number): Float32Array[] {
  const plane = layout.h * layout.w;
  const out: Float32Array[] = [];
  const current = input.slice();
  let removed = 0;
  for (let k = 0; k <= steps; k++) {
    const upTo = Math.round((k / steps) * regions.length);
    for (; removed < upTo; removed++) {
      for (const p of regions[order[removed]!]!.pixels) {
        for (let ch = 0; ch < layout.c; ch++) current[ch * plane + p] = baseline[ch * plane + p]!;
      }
    }
    out.push(current.slice());
  }
  return out;
}

async function scoresOf(model: LoadedModel, inputs: Float32Array[], target: number, batch: number, progress: (n: number) => void, signal?: AbortSignal): Promise<number[]> {
  const size = inputs[0]!.length;
  const scores: number[] = [];
  for (let i = 0; i < inputs.length; i += batch) {
    if (signal?.aborted) throw new DOMException('the evaluation was cancelled', 'AbortError');
    const chunk = inputs.slice(i, i + batch);
    // Pad the last batch to the batch size so one compiled batch program serves every chunk.
    const packed = new Float32Array(batch * size);
    chunk.forEach((x, j) => packed.set(x, j * size));
    const logits = await model.forwardBatch(packed, batch);
    const classes = logits.length / batch;
    for (let j = 0; j < chunk.length; j++) scores.push(logits[j * classes + target]!);
    progress(chunk.length);
  }
  return scores;
}

export async function pixelFlipping(model: LoadedModel, input: Float32Array, relevance: Float32Array, options: PixelFlippingOptions): Promise<PixelFlippingResult> {
  const layout = layoutOf(model);
  const patch = options.patch ?? 8;
  const steps = options.steps ?? 16;
  const batch = options.batch ?? 8;
  const seed = options.seed ?? 1;
  const kind = options.baseline ?? 'blur';
  if (!(Number.isInteger(patch) && patch >= 1 && patch <= Math.max(layout.h, layout.w))) throw new RangeError(`patch must be an integer from 1 to ${Math.max(layout.h, layout.w)}`);
  if (!(Number.isInteger(steps) && steps >= 1 && steps <= 256)) throw new RangeError('steps must be an integer from 1 to 256');
  if (!(Number.isInteger(batch) && batch >= 1 && batch <= 64)) throw new RangeError('batch must be an integer from 1 to 64');
  if (input.length !== relevance.length || input.length !== layout.c * layout.h * layout.w) throw new RangeError('input and relevance must both have the model input size');

  const base = baselineImage(input, layout, kind, patch, seed);
  const regions = regionsOf(relevance, layout, patch);
  // Most relevant first; ties keep grid order so the result is deterministic.
  const byRelevance = regions.map((_, i) => i).sort((a, b) => regions[b]!.relevance - regions[a]!.relevance || a - b);
  const random = shuffledIndices(regions.length, seededRandom(seed));
  const total = 2 * (steps + 1);
  let done = 0;
  const progress = (n: number) => {
    done += n;
    options.onProgress?.(done / total);
  };
  const curve = async (order: readonly number[]): Promise<PerturbationCurve> => {
    const scores = await scoresOf(model, perturbedInputs(input, base, layout, regions, order, steps), options.target, batch, progress, options.signal);
    return { fractions: scores.map((_, k) => Math.round((k / steps) * regions.length) / regions.length), scores, aopc: aopc(scores) };
  };
  const relevanceOrder = await curve(byRelevance);
  const randomOrder = await curve(random);
  return { relevanceOrder, randomOrder, regions: regions.length, patch, baseline: kind };
}
