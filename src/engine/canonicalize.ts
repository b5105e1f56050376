/**
 * Graph rewrites run at load, before rules are assigned.
 */
import type { Graph, GraphNode, Shape, Tensor } from './graph';
import { inferShapes } from './compile';

/**
 * The BatchNorm's per-channel affine map in float64: from gamma/beta/mean/var when the importer kept them (one
 * rounding less than going through the float32 scale/shift), else from scale/shift.
 */
function channelAffine(bn: GraphNode, channels: number): { scale: Float64Array; shift: Float64Array } | undefined {
  const scale = new Float64Array(channels);
  const shift = new Float64Array(channels);
  const { gamma, beta, mean, var: variance } = bn.params;
  const eps = bn.attrs.epsilon;
  if (gamma && beta && mean && variance && typeof eps === 'number') {
    if ([gamma, beta, mean, variance].some((p) => p.data.length !== channels)) return undefined;
    for (let c = 0; c < channels; c++) {
      const k = gamma.data[c]! / Math.sqrt(variance.data[c]! + eps);
      scale[c] = k;
      shift[c] = beta.data[c]! - mean.data[c]! * k;
    }
    return { scale, shift };
  }
  const s = bn.params.scale;
  const t = bn.params.shift;
  if (!s || !t || s.data.length !== channels || t.data.length !== channels) return undefined;
  scale.set(s.data);
  shift.set(t.data);
  return { scale, shift };
}

/**
 * Zennit's BatchNorm merge: every 'batchnorm' that directly follows a 'linear' or 'conv2d' whose output feeds
 * nothing else is folded into that layer (w' = w * scale[o], b' = b * scale[o] + shift[o]); the BatchNorm node
 * disappears and its consumers read the folded layer's output. BatchNorms that cannot be folded stay.
 * Returns a new graph; the input graph is not modified.
 */
export function foldBatchNorm(graph: Graph): Graph {
  const producer = new Map<string, GraphNode>();
  const consumers = new Map<string, number>();
  for (const n of graph.nodes) {
    producer.set(n.output, n);
    for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  }

  // BatchNorm normalises axis 1; a Linear over the last axis of a rank > 2 value (NHWC tokens) has its outputs
  // elsewhere, so only a Linear with a 2-D output can take a BatchNorm in.
  let shapes: Map<string, Shape> | undefined;
  try {
    shapes = inferShapes(graph);
  } catch {
    shapes = undefined; // a graph that does not check merges nothing into a Linear
  }
  const folded = new Map<GraphNode, GraphNode>(); // original weighted layer -> folded replacement
  const removed = new Set<GraphNode>();
  const rename = new Map<string, string>(); // batchnorm output -> folded layer's output

  for (const bn of graph.nodes) {
    if (bn.op !== 'batchnorm' || bn.inputs.length !== 1) continue;
    const src = producer.get(bn.inputs[0]!);
    if (!src || (src.op !== 'linear' && src.op !== 'conv2d')) continue;
    if (src.op === 'linear' && shapes?.get(src.output)?.length !== 2) continue;
    if (folded.has(src) || consumers.get(src.output) !== 1 || src.output === graph.output) continue;
    const w = src.params.weight;
    if (!w) continue;
    const out = w.shape[0]!;
    const affine = channelAffine(bn, out);
    if (!affine) continue;
    const per = w.data.length / out;
    const wData = new Float32Array(w.data.length);
    for (let o = 0; o < out; o++) {
      const k = affine.scale[o]!;
      for (let j = 0; j < per; j++) wData[o * per + j] = w.data[o * per + j]! * k;
    }
    const b = src.params.bias;
    const bData = new Float32Array(out);
    for (let o = 0; o < out; o++) bData[o] = (b ? b.data[o]! : 0) * affine.scale[o]! + affine.shift[o]!;
    const params: Record<string, Tensor> = {
      ...src.params,
      weight: { shape: [...w.shape], data: wData },
      bias: { shape: [out], data: bData },
    };
    folded.set(src, { ...src, params });
    removed.add(bn);
    rename.set(bn.output, src.output);
  }

  if (removed.size === 0) return { ...graph, nodes: [...graph.nodes] };
  const resolve = (name: string): string => rename.get(name) ?? name;
  const nodes = graph.nodes
    .filter((n) => !removed.has(n))
    .map((n) => {
      const f = folded.get(n) ?? n;
      return f.inputs.some((i) => rename.has(i)) ? { ...f, inputs: f.inputs.map(resolve) } : f;
    });
  return { ...graph, output: resolve(graph.output), nodes };
}
