/**
 * What an op file's importer mapping sees. An op declares, next to its shape inference, forward and relevance, the
 * ONNX operators (and Keras layer classes) it is imported from; the importers are tables built from those
 * declarations (onnx/onnx-table.ts, tfjs/keras-table.ts). These interfaces are implemented by the importers; op
 * files only use them, so nothing here imports an importer.
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

// ---------------------------------------------------------------------------------------------------------------
// Keras (TF.js layers models)

/**
 * A Keras tensor as the TF.js importer holds it: an engine value with its Keras shape, the batch axis left out.
 * Keras computes in NHWC, the engine in NCHW: an image [H, W, C] is the engine value [1, C, H, W], a vector [F] the
 * engine value [1, F].
 */
export interface KerasTensor {
  /** Engine value name. */
  readonly value: string;
  /** Keras shape without the batch axis: [H, W, C] or [F]. */
  readonly shape: readonly number[];
  /** For a vector flattened from [H, W, C]: the engine holds it in C, H, W order (Keras: H, W, C). */
  readonly flat?: readonly [number, number, number];
}

/** What a Keras mapping's up-front check sees (before any weight is read). */
export interface KerasLayerInfo {
  /** The class name, aliases resolved (MaxPool2D is MaxPooling2D). */
  readonly className: string;
  readonly name: string;
  readonly config: Readonly<Record<string, unknown>>;
  /** The layer computes the model's output and nothing else reads it (where a softmax may be removed). */
  readonly isFinal: boolean;
}

/** One Keras layer being imported. Every error names the layer. */
export interface KerasLayer extends KerasLayerInfo {
  /** Its input tensors, in call order. */
  readonly ins: readonly KerasTensor[];
  /** Its single input; an error when it has several. */
  input(): KerasTensor;
  /** The shape of an image tensor [H, W, C]; an error for a vector. */
  image(t: KerasTensor): [number, number, number];
  /** Throws an import error naming the layer. */
  error(message: string): never;
  /** The layer's weight "<layer name>/<param>" (dequantized), checked to have `shape` when given. */
  weight(param: string, shape?: readonly number[]): Float32Array;
  /** A zeroed float32 array for a parameter the mapping builds (a transposed kernel), within the memory budget. */
  alloc(count: number, what: string): Float32Array;
  /** Reserves memory for `count` values of `bytes` bytes the mapping is about to allocate. */
  charge(count: number, what: string, bytes?: number): void;
  /** A layer name not used yet, from `base` ("<layer>_pad", "<layer>_reshape"). */
  unique(base: string): string;
  /**
   * Emits an engine layer computing a tensor of Keras shape `shape`; named after the Keras layer unless
   * options.name says otherwise (a second layer of a mapping takes unique(...)).
   */
  emit(
    op: OpType,
    inputs: readonly KerasTensor[],
    attrs: Record<string, AttrValue>,
    params: Record<string, Tensor>,
    shape: readonly number[],
    options?: { readonly name?: string; readonly flat?: readonly [number, number, number] },
  ): KerasTensor;
  /**
   * Applies a Keras `activation` config value (a name, or a serialised activation object) to `x`: the identity for
   * none and "linear", a layer named "<layer>_<activation>" otherwise, or (own: an Activation layer) named after the
   * layer. A softmax is removed at the end of the model (with a note) and refused elsewhere.
   */
  activation(x: KerasTensor, act: unknown, own?: boolean): KerasTensor;
  /** The engine layer that computes a tensor, if a layer does (not the model input). */
  producer(t: KerasTensor): PendingLayer | undefined;
  /** A note shown to the user with the model. */
  note(message: string): void;
}

/** How a Keras layer class is imported (declared under `keras` by an op, or in tfjs/keras-layers.ts). */
export interface KerasMapping {
  /** What of the Keras layer is supported (config options, shapes), for the generated operator table. */
  readonly limits: string;
  /** The engine layers it may become, for the table (default: the declaring op's kind; [] for none). */
  readonly layers?: readonly OpType[];
  /** Layers that read several inputs (merges); any other layer is refused with more than one. */
  readonly merge?: boolean;
  /**
   * Config problems found before any weight is read, reported together with every other unsupported layer of the
   * model: `report` takes a label such as "ReLU with a threshold".
   */
  check?(layer: KerasLayerInfo, report: (label: string) => void): void;
  map(layer: KerasLayer): KerasTensor;
}
