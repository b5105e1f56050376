/**
 * Model randomisation sanity check (Adebayo et al. 2018): re-initialise the weights of the Linear/Conv layers
 * cumulatively from the top (output) layer down and explain again at each step. An explanation that barely changes
 * while the model it explains is destroyed is a warning sign. Similarity: Spearman rank correlation of the
 * per-pixel relevance (summed over channels) with the original heatmap, and of its absolute value.
 */
import { isWeightedLayer, type Graph } from '../engine/graph';
import type { Engine } from '../engine/index';
import type { ExplainOptions } from '../engine/api';
import { seededRandom } from './random';

/** Ranks with ties averaged. */
function ranks(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const out = new Float64Array(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]!] === values[order[i]!]) j++;
    const rank = (i + j) / 2;
    for (let k = i; k <= j; k++) out[order[k]!] = rank;
    i = j + 1;
  }
  return out;
}

export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length || a.length < 2) throw new RangeError('spearman needs two series of the same length >= 2');
  const ra = ranks(a);
  const rb = ranks(b);
  const mean = (ra.length - 1) / 2;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < ra.length; i++) {
    const x = ra[i]! - mean;
    const y = rb[i]! - mean;
    num += x * y;
    da += x * x;
    db += y * y;
  }
  return da === 0 || db === 0 ? 0 : num / Math.sqrt(da * db);
}

/** Relevance summed over channels: one value per pixel. */
export function pixelMap(relevance: Float32Array, shape: readonly number[]): Float64Array {
  const [, c = 1, h = 1, w = relevance.length] = shape.length === 4 ? shape : [1, 1, 1, relevance.length];
  const plane = h * w;
  const out = new Float64Array(plane);
  for (let ch = 0; ch < c; ch++) for (let i = 0; i < plane; i++) out[i] = out[i]! + relevance[ch * plane + i]!;
  return out;
}

/**
 * The graph with the weights (and biases) of its top `count` Linear/Conv layers re-drawn: normal, with each
 * layer's own weight standard deviation, so activations keep their scale.
 */
export function randomizeTopLayers(graph: Graph, count: number, seed: number): Graph {
  const weighted = graph.nodes.filter(isWeightedLayer);
  const chosen = new Set(weighted.slice(Math.max(0, weighted.length - count)).map((n) => n.name));
  const random = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const redraw = (data: Float32Array) => {
    let mean = 0;
    for (const v of data) mean += v;
    mean /= data.length || 1;
    let variance = 0;
    for (const v of data) variance += (v - mean) ** 2;
    const std = Math.sqrt(variance / (data.length || 1)) || 0.01;
    return data.map(() => normal() * std);
  };
  return {
    ...graph,
    nodes: graph.nodes.map((node) => {
      if (!chosen.has(node.name)) return node;
      const params = Object.fromEntries(Object.entries(node.params).map(([k, t]) => [k, { shape: t.shape, data: redraw(t.data) }]));
      return { ...node, params };
    }),
  };
}

export interface RandomizationStep {
  /** Layers re-drawn so far, from the top; the first step (0) is the trained model. */
  readonly layer: string | null;
  readonly randomized: number;
  readonly spearman: number;
  readonly spearmanAbs: number;
  /** Per-pixel relevance of this step (for display). */
  readonly heatmap: Float64Array;
}

export async function modelRandomization(
  engine: Engine,
  graph: Graph,
  input: Float32Array,
  options: ExplainOptions & { readonly seed?: number; readonly onProgress?: (done: number) => void },
): Promise<RandomizationStep[]> {
  const weighted = graph.nodes.filter(isWeightedLayer);
  const steps: RandomizationStep[] = [];
  let original: Float64Array | null = null;
  for (let k = 0; k <= weighted.length; k++) {
    if (options.signal?.aborted) throw new DOMException('the check was cancelled', 'AbortError');
    const model = await engine.load(randomizeTopLayers(graph, k, options.seed ?? 1));
    try {
      // The target stays the one explained on the trained model.
      const ex = await model.explain(input, { ...options, layerRelevance: false });
      const map = pixelMap(ex.relevance, ex.inputShape);
      original ??= map;
      steps.push({
        layer: k === 0 ? null : weighted[weighted.length - k]!.name,
        randomized: k,
        spearman: spearman(original, map),
        spearmanAbs: spearman(original.map(Math.abs), map.map(Math.abs)),
        heatmap: map,
      });
    } finally {
      model.dispose();
    }
    options.onProgress?.((k + 1) / (weighted.length + 1));
  }
  return steps;
}
