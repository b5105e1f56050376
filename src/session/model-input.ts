/**
 * A model's input from what a user gives: a photo (any size) or a tensor (.npy). One implementation for the app's
 * engine worker, the CLI (`explain --image/--input`, `explain --link`) so that one photo gives one input
 * everywhere: the photo is cropped and resized per the model card to the model's input size and rounded to 8-bit
 * RGB first (what a share link carries), then normalised per the card.
 */
import { shapeSize, type Graph } from '../engine/graph';
import { preprocess, resizeRgba, type RgbaImage } from '../models/image';
import { graphInputSize, type ModelCard } from '../models/model-card';

/** The input does not fit the model; the message names both. */
export class InputError extends Error {
  override name = 'InputError';
}

const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/**
 * The photo as the model sees it: cropped and resized per the card to the model's input size, as 8-bit RGBA.
 * Throws InputError for a model whose input is not an image (NCHW).
 */
export function seenImage(rgba: RgbaImage, graph: Graph, card: Pick<ModelCard, 'preprocessing'>): RgbaImage & { data: Uint8ClampedArray } {
  const size = graphInputSize(graph);
  if (!size.image) throw new InputError(`this model's input ${shapeText(graph.input.shape)} is not an image: give it a tensor (.npy)`);
  return resizeRgba(rgba, size.width, size.height, card.preprocessing.resize);
}

/** The model input for a photo, and the photo as the model sees it (seenImage). */
export function photoInput(rgba: RgbaImage, graph: Graph, card: Pick<ModelCard, 'input' | 'preprocessing'>): { seen: RgbaImage & { data: Uint8ClampedArray }; data: Float32Array } {
  const seen = seenImage(rgba, graph, card);
  const data = preprocess(seen, card);
  const expected = shapeSize(graph.input.shape);
  if (data.length !== expected) throw new InputError(`preprocessing gave ${data.length} values; the model takes ${expected} ${shapeText(graph.input.shape)}`);
  return { seen, data };
}

/** A tensor as the model input: of the model's input shape, or that shape without its batch axis. */
export function tensorInput(name: string, shape: readonly number[], data: Float32Array, graph: Graph): Float32Array {
  const want = graph.input.shape;
  const same = (a: readonly number[]): boolean => a.length === shape.length && a.every((d, i) => d === shape[i]);
  if ((!same(want) && !same(want.slice(1))) || data.length !== shapeSize(want)) {
    throw new InputError(`${name} has shape ${shapeText(shape)}; the model takes ${shapeText(want)}`);
  }
  return data;
}
