/**
 * An op: shape inference, the forward steps it emits, and the relevance steps it emits for a rule program.
 * The float64 CPU reference and GPU kernels live in ../kernels; ops only compose them.
 */
import type { GraphNode, OpType, Shape } from '../graph';
import type { ProgramBuilder, TensorRef } from '../program';
import type { RuleProgram } from '../../rules/rule-program';
import type { LayerClass } from '../../rules/rules';
import type { KerasMapping, OnnxMapping } from './import-context';

export interface ForwardContext {
  readonly node: GraphNode;
  readonly inputs: readonly TensorRef[];
  readonly outShape: Shape;
  readonly b: ProgramBuilder;
}

export interface RelevanceTarget {
  readonly ref: TensorRef;
  readonly accumulate: boolean;
}

export interface RelevanceContext {
  readonly node: GraphNode;
  readonly inputs: readonly TensorRef[];
  /** The node's forward output (pre-activation z for Linear/Conv). */
  readonly output: TensorRef;
  /** Relevance at the node's output, complete. */
  readonly r: TensorRef;
  readonly program: RuleProgram;
  readonly b: ProgramBuilder;
  /** Per input, whether it is never negative (OpDef.nonNegative, through the graph: after a ReLU). */
  readonly nonNegativeInputs: readonly boolean[];
  /** Where relevance for input i goes; the first writer overwrites, later writers accumulate. */
  target(i: number): RelevanceTarget;
  /** Relevance for input i is `ref` unchanged (reshaped to the input's shape). */
  pass(i: number, ref: TensorRef): void;
}

/**
 * Everything about one layer kind, in one file: how importers map onto it, its shape inference, the rule family it
 * belongs to, and the steps it emits. The registry (./registry.ts) lists them; the importers' tables and the
 * operator table in docs/operators.md are built from these declarations.
 */
export interface OpDef {
  readonly op: OpType;
  /** Which rules apply (rules/rules.ts appliesTo) and which one each composite picks. */
  readonly layerClass: LayerClass;
  /** One sentence for the operator table: what the layer computes and how relevance goes through it. */
  readonly summary: string;
  /** ONNX operator types imported as (or into) this layer, keyed by op type. */
  readonly onnx?: Readonly<Record<string, OnnxMapping>>;
  /** Keras layer classes (TF.js layers models) imported as (or into) this layer, keyed by class name. */
  readonly keras?: Readonly<Record<string, KerasMapping>>;
  /** Checks attributes, parameters and input shapes; throws a clear error naming the layer. */
  inferShape(node: GraphNode, inputShapes: readonly Shape[]): Shape;
  /**
   * Whether the output is never negative, given which inputs never are (absent: not known). A rule's terms on the
   * negative part of a weighted layer's input are zero there and are left out (conv-shaped.ts).
   */
  readonly nonNegative?: (node: GraphNode, nonNegativeInputs: readonly boolean[]) => boolean;
  forward(ctx: ForwardContext): TensorRef;
  relevance(ctx: RelevanceContext): void;
}

export class ShapeError extends Error {
  override name = 'ShapeError';
}

export function fail(node: GraphNode, message: string): never {
  throw new ShapeError(`layer "${node.name}" (${node.op}): ${message}`);
}

export function expectRank(node: GraphNode, shape: Shape, rank: number): void {
  if (shape.length !== rank) fail(node, `expects a rank-${rank} input, got [${shape.join(', ')}]`);
}

export function unsupportedRule(ctx: RelevanceContext): never {
  return fail(ctx.node, `rule program "${ctx.program.kind}" does not apply to this layer`);
}

/** OpDef.nonNegative of an op whose output is never negative (ReLU, Sigmoid). */
export const alwaysNonNegative = (): boolean => true;

/** No parameter of the node (a constant part, as a concatenated class token) has a negative value. */
const paramsNonNegative = (node: GraphNode): boolean => Object.values(node.params).every((t) => t.data.every((v) => v >= 0));

/** OpDef.nonNegative of an op whose outputs are some of its first input's values, or their mean (pools, reshapes). */
export const nonNegativeIfInput = (node: GraphNode, inputs: readonly boolean[]): boolean => inputs[0] === true && paramsNonNegative(node);

/** OpDef.nonNegative of an op whose output is never negative where none of its inputs is (sums, concatenation). */
export const nonNegativeIfAllInputs = (node: GraphNode, inputs: readonly boolean[]): boolean => inputs.length > 0 && inputs.every(Boolean) && paramsNonNegative(node);
