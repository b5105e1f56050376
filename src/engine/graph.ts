/**
 * The engine's model representation: a small, validated graph of layers over float32 NCHW tensors.
 * Importers (ONNX, later TF.js) produce a Graph; canonicalisation and shape inference run on it at load.
 */
export type Shape = readonly number[];

export interface Tensor {
  readonly shape: Shape;
  readonly data: Float32Array;
}

/** Layer kinds the engine computes: the keys of the op table (ops/registry.ts), one file each in ops/. */
export type OpType = keyof typeof import('./ops/registry').ops;

export type AttrValue = number | readonly number[] | string;

export interface GraphNode {
  /** Display name, e.g. the PyTorch module name "conv1"; unique within the graph. */
  readonly name: string;
  readonly op: OpType;
  /** Names of the values this node reads (graph input or other nodes' outputs). */
  readonly inputs: readonly string[];
  readonly output: string;
  readonly attrs: Readonly<Record<string, AttrValue>>;
  /** Learned parameters: linear/conv "weight" and "bias"; batchnorm "scale" and "shift" (per channel). */
  readonly params: Readonly<Record<string, Tensor>>;
}

export interface Graph {
  readonly name: string;
  readonly input: { readonly name: string; readonly shape: Shape };
  readonly output: string;
  /** Topologically ordered. */
  readonly nodes: readonly GraphNode[];
  /** Notes the importer wants the user to see (e.g. "softmax at the end removed"). */
  readonly notes?: readonly string[];
}

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function attrNumber(node: GraphNode, key: string, fallback?: number): number {
  const v = node.attrs[key];
  if (typeof v === 'number') return v;
  if (v === undefined && fallback !== undefined) return fallback;
  throw new Error(`layer "${node.name}": attribute "${key}" must be a number`);
}

export function attrNumbers(node: GraphNode, key: string, fallback?: readonly number[]): readonly number[] {
  const v = node.attrs[key];
  if (Array.isArray(v)) return v as readonly number[];
  if (v === undefined && fallback !== undefined) return fallback;
  throw new Error(`layer "${node.name}": attribute "${key}" must be a list of numbers`);
}

/** True for layers that carry weights and get LRP rules of the Linear/Conv kind. */
export function isWeightedLayer(node: GraphNode): boolean {
  return node.op === 'linear' || node.op === 'conv2d';
}
