/**
 * What an op file's importer mapping sees. An op declares, next to its shape inference, forward and relevance, the
 * ONNX operators (and Keras layer classes) it is imported from; the importers are tables built from those
 * declarations (onnx/onnx-table.ts). These interfaces are implemented by the importers; op files only use them, so
 * nothing here imports an importer.
 */
import type { AttrValue, OpType, Tensor } from '../graph';

/** A constant known at load time (an initializer, a Constant node, or something folded from them). */
export interface ConstValue {
  /** ONNX data type (1 = float, 7 = int64, ...). */
  readonly dtype: number;
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array;
}

/** A layer the importer has emitted and not yet finished: mappings may fuse into it (a bias, a scale). */
export interface PendingLayer {
  op: OpType;
  inputs: string[];
  output: string;
  attrs: Record<string, AttrValue>;
  params: Record<string, Tensor>;
}

export interface OnnxAttributes {
  has(name: string): boolean;
  int(name: string, fallback: number): number;
  ints(name: string): number[] | undefined;
  float(name: string, fallback: number): number;
  floats(name: string): number[] | undefined;
  str(name: string, fallback: string): string;
}

export interface EmitOptions {
  /** The value the layer writes (default: the node's first output). */
  readonly output?: string;
  /** Index of the node input holding the weight: the layer is then named after the weight's module. */
  readonly weightInput?: number;
}

/**
 * One ONNX node being imported. Value names are resolved (aliases followed). Every error names the node.
 */
export interface OnnxNode {
  readonly opType: string;
  /** Input names as resolved ('' for an omitted optional input). */
  readonly ins: readonly string[];
  /** Input names as written in the file, before aliases (Identity, Dropout) are followed. */
  readonly raw: readonly string[];
  readonly attr: OnnxAttributes;
  /** The node's k-th output name (default 0); errors when absent. */
  out(k?: number): string;
  /** Output names as written ('' where omitted). */
  readonly outs: readonly string[];

  /** Throws an import error naming the node. */
  error(message: string): never;
  /** Runs a shape computation, turning fold errors into errors that name the node. */
  guard<T>(f: () => T): T;

  /** Whether input i is given and constant. */
  isConst(i: number): boolean;
  /** Input i, a computed (non-constant) value. */
  rt(i: number): string;
  /** Input i, a constant. */
  cst(i: number, what: string): ConstValue;
  /** Input i, a constant list of integers (shapes, axes, pads). */
  ints(i: number, what: string): number[];
  /** Input i, a constant float tensor (a weight, a bias). */
  param(i: number, what: string): ConstValue;
  /** A constant as float32 for a layer parameter, within the import's memory budget. */
  f32(t: ConstValue, what: string): Float32Array;
  /** Reserves memory for `count` float32 values the mapping is about to allocate. */
  charge(count: number, what: string): void;

  shapeOf(value: string): number[];
  /** The shape of a value, checked to have rank r. */
  rank(value: string, r: number, why?: string): number[];
  /** The layer that computes a value, if a layer does (not the graph input, not a constant). */
  producer(value: string): PendingLayer | undefined;
  /** How many nodes (and graph outputs) read a value. */
  consumers(value: string): number;
  isGraphOutput(value: string): boolean;

  /** Emits an engine layer; returns its output value name. */
  emit(op: OpType, inputs: string[], attrs: Record<string, AttrValue>, params: Record<string, Tensor>, outShape: number[], options?: EmitOptions): string;
  /** The node's output `output` is the value `value` (Identity, Dropout, a no-op reshape). */
  alias(output: string, value: string): void;
  /** Makes a layer write another value (when a following node was fused into it). */
  retarget(layer: PendingLayer, output: string, shape: number[]): void;
  /** A note shown to the user with the model (e.g. that a final softmax was removed). */
  note(message: string): void;
  /** Reports this node as unsupported (collected and reported with all others) instead of failing at once. */
  unsupported(label: string): void;
}

/** How an op is imported from one ONNX operator type. */
export interface OnnxMapping {
  /** What of the ONNX operator is supported (attributes, ranks), for the generated operator table. */
  readonly limits: string;
  map(node: OnnxNode): void;
}
