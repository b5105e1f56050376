/**
 * Concept Relevance Propagation (CRP; Achtibat et al. 2023, "From attribution maps to human-understandable
 * explanations through Concept Relevance Propagation", Nature Machine Intelligence; zennit-crp): the relevance of
 * the input conditioned on a concept, a channel (or a set of channels) of one layer. It is the relevance pass with
 * the relevance at that layer's output kept on the concept's channels and set to 0 on every other channel (a
 * scaling hook, api.ts LayerHook), so everything below the layer is explained by that concept alone:
 *
 *   R^(x | layer, C)_i = relevance pass from the target, with R_layer[c, ...] multiplied by [c in C].
 *
 * For rules whose relevance is linear in the relevance from above (Epsilon, ZPlus, Gamma, AlphaBeta, Flat, ...: the
 * denominators depend on the forward pass only), the conditional relevances of channel sets that partition the
 * layer's channels sum to the unconditional relevance. The relevance of the concept itself (how much of the target
 * it carries) is the sum of the layer's output relevance over its channels (channelRelevance).
 */
import type { Shape } from './graph';
import { shapeSize } from './graph';
import type { Explanation, ExplainOptions, LoadedModel } from './api';
import { inferShapes } from './compile';

export interface ConceptOptions extends Omit<ExplainOptions, 'hooks'> {
  /** The layer whose output channels are the concepts (a graph node name). */
  readonly layer: string;
  /** The concept: one channel or several (indices along `axis`). */
  readonly channels: number | readonly number[];
  /** The channel axis of the layer's output (default 1, NCHW channels or a Linear's features; negative from the end). */
  readonly axis?: number;
}

export interface ConceptExplanation extends Explanation {
  readonly concept: {
    readonly layer: string;
    readonly axis: number;
    readonly channels: readonly number[];
    /** Relevance of every channel of the layer's output before conditioning (sum over the other axes). */
    readonly channelRelevance: Float64Array;
    /** The concept's share: channelRelevance summed over its channels. */
    readonly relevance: number;
  };
}

/** The layer's output shape and the channel axis (non-negative). */
function layerAxis(model: LoadedModel, layer: string, axis = 1): { shape: Shape; axis: number } {
  const node = model.graph.nodes.find((n) => n.name === layer);
  if (!node) throw new RangeError(`concept: no layer named "${layer}"`);
  const shape = inferShapes(model.graph).get(node.output)!;
  const a = axis < 0 ? axis + shape.length : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= shape.length) throw new RangeError(`concept: axis ${axis} is not an axis of "${layer}"'s output [${shape.join(', ')}]`);
  return { shape, axis: a };
}

/** Sums `data` (of `shape`, row-major) over every axis but `axis`: one value per channel, in float64. */
export function channelRelevance(data: ArrayLike<number>, shape: Shape, axis: number): Float64Array {
  const a = axis < 0 ? axis + shape.length : axis;
  const channels = shape[a]!;
  const inner = shape.slice(a + 1).reduce((p, d) => p * d, 1);
  const out = new Float64Array(channels);
  const n = shapeSize(shape);
  if (data.length !== n) throw new RangeError(`channelRelevance: ${data.length} values for shape [${shape.join(', ')}]`);
  for (let i = 0; i < n; i++) out[Math.floor(i / inner) % channels]! += data[i]!;
  return out;
}

/** The 0/1 mask over the layer's channels that keeps `channels`. */
export function conceptMask(count: number, channels: readonly number[]): Float32Array {
  const mask = new Float32Array(count);
  for (const c of channels) {
    if (!Number.isInteger(c) || c < 0 || c >= count) throw new RangeError(`concept: channel ${c} is not a channel of the layer (0 to ${count - 1})`);
    mask[c] = 1;
  }
  return mask;
}

/**
 * The input relevance conditioned on `channels` of `layer` (CRP): one explanation whose relevance at the layer's
 * output is masked to those channels. Explanation.hooks[0] holds the layer's activation and its unmasked relevance.
 */
export async function explainConcept(model: LoadedModel, input: Float32Array, options: ConceptOptions): Promise<ConceptExplanation> {
  const { layer, channels: chosen, axis: given, ...explain } = options;
  const { shape, axis } = layerAxis(model, layer, given);
  const channels = typeof chosen === 'number' ? [chosen] : [...chosen];
  if (!channels.length) throw new RangeError('concept: no channels given');
  const mask = conceptMask(shape[axis]!, channels);
  const result = await model.explain(input, { ...explain, hooks: [{ layer, axis, scale: mask }] });
  const observed = result.hooks![0]!;
  const perChannel = channelRelevance(observed.relevance, shape, axis);
  let relevance = 0;
  for (const c of new Set(channels)) relevance += perChannel[c]!;
  return { ...result, concept: { layer, axis, channels, channelRelevance: perChannel, relevance } };
}

export interface ConceptRanking {
  readonly layer: string;
  readonly axis: number;
  readonly target: number;
  /** Every channel with its relevance (sum over the other axes) and mean activation, most relevant first. */
  readonly channels: readonly { readonly channel: number; readonly relevance: number; readonly activation: number }[];
}

/**
 * The channels of `layer` ranked by their relevance for the target (one explanation, observing the layer): the
 * candidates for explainConcept (CRP's "relevance of a concept").
 */
export async function rankConcepts(model: LoadedModel, input: Float32Array, options: Omit<ConceptOptions, 'channels'>): Promise<ConceptRanking> {
  const { layer, axis: given, ...explain } = options;
  const { shape, axis } = layerAxis(model, layer, given);
  const result = await model.explain(input, { ...explain, layerRelevance: false, hooks: [{ layer, axis }] });
  const observed = result.hooks![0]!;
  const relevance = channelRelevance(observed.relevance, shape, axis);
  const activation = channelRelevance(observed.activation, shape, axis);
  const per = shapeSize(shape) / shape[axis]!;
  const channels = Array.from(relevance, (r, channel) => ({ channel, relevance: r, activation: activation[channel]! / per }));
  channels.sort((a, b) => b.relevance - a.relevance || a.channel - b.channel);
  return { layer, axis, target: result.target, channels };
}
