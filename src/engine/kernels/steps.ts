/**
 * Kernel steps: the instruction set shared by the backends. Each kind has one file in this folder with its
 * float64 CPU reference and its WebGPU spec (shader in src/shaders, bindings, dispatch size).
 */
import type { TensorRef } from '../program';
import type { InputModifier, OutputMask, ParamModifier } from '../../rules/rule-program';

/** Geometry of a (grouped) 2-D convolution over NCHW; Linear is the 1x1-on-1x1 case. */
/** A sliding window over an H x W plane giving OH x OW outputs: what convolutions and pools share. */
export interface WindowGeometry {
  readonly h: number;
  readonly w: number;
  readonly oh: number;
  readonly ow: number;
  readonly kh: number;
  readonly kw: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padTop: number;
  readonly padLeft: number;
  readonly dilH: number;
  readonly dilW: number;
}

export interface ConvGeometry extends WindowGeometry {
  readonly n: number;
  readonly c: number;
  readonly o: number;
  readonly groups: number;
}

/** A Linear layer as the conv steps see it: a 1x1 convolution of a 1x1 image, ungrouped and unpadded. */
export function isDense(g: ConvGeometry): boolean {
  return g.h === 1 && g.w === 1 && g.oh === 1 && g.ow === 1 && g.kh === 1 && g.kw === 1 && g.groups === 1 && g.padTop === 0 && g.padLeft === 0;
}

/**
 * Which GPU kernel runs a conv2d or conv2d-relevance step (the CPU reference is the same for all): absent, the
 * direct kernel (one invocation per element written); 'gemm', the tiled implicit GEMM; 'gemv', the
 * matrix-vector kernels of a Linear layer (1x1 on 1x1, ungrouped). Chosen by geometry in
 * ops/conv-shaped.ts.
 */
export type ConvVariant = 'gemm' | 'gemv';

/** out (+)= conv(input_mod(x), weight_mod(weight)) + bias */
export interface Conv2dStep {
  readonly kernel: 'conv2d';
  readonly geom: ConvGeometry;
  readonly x: TensorRef;
  readonly weight: TensorRef;
  /** The rule's weight modifier, applied as the kernel reads each weight (kernels/term-modifiers.ts). */
  readonly weightMod: ParamModifier;
  readonly bias: TensorRef | null;
  /** ZBox bounds, [low per input channel, high per input channel]; needed for input modifiers low/high. */
  readonly bounds: TensorRef | null;
  readonly inputMod: InputModifier;
  readonly out: TensorRef;
  readonly accumulate: boolean;
  readonly variant?: ConvVariant;
}

/** rin (+)= input_mod(x) * conv_transpose(s, weight_mod(weight)): the LRP "multiply" pass. */
export interface Conv2dRelevanceStep {
  readonly kernel: 'conv2d-relevance';
  readonly geom: ConvGeometry;
  readonly x: TensorRef;
  readonly weight: TensorRef;
  /** The rule's weight modifier, applied as the kernel reads each weight (kernels/term-modifiers.ts). */
  readonly weightMod: ParamModifier;
  readonly s: TensorRef;
  readonly bounds: TensorRef | null;
  readonly inputMod: InputModifier;
  readonly rin: TensorRef;
  readonly accumulate: boolean;
  readonly variant?: ConvVariant;
}

/** s = coefficient * mask(zref) * r / stab(z)   (no division when epsilon is null) */
export interface StabilizedDivideStep {
  readonly kernel: 'stabilized-divide';
  readonly r: TensorRef;
  readonly z: TensorRef;
  readonly zref: TensorRef;
  readonly s: TensorRef;
  readonly epsilon: number | null;
  readonly coefficient: number;
  readonly mask: OutputMask;
}

export interface ModifyParamsStep {
  readonly kernel: 'modify-params';
  readonly src: TensorRef;
  readonly dst: TensorRef;
  readonly mod: ParamModifier;
}

export type ElementwiseOp =
  | 'relu'
  | 'relu-gradient'
  | 'add'
  | 'multiply'
  | 'copy'
  | 'leaky-relu'
  | 'leaky-relu-gradient'
  | 'clip'
  | 'clip-gradient'
  | 'sigmoid'
  | 'sigmoid-gradient'
  | 'tanh'
  | 'tanh-gradient';

/**
 * out (+)= f(a, b). Forward activations read a; their "-gradient" forms multiply the relevance b by f'(a).
 * p0/p1: LeakyReLU's slope (p0), Clip's bounds (p0, p1).
 */
export interface ElementwiseStep {
  readonly kernel: 'elementwise';
  readonly op: ElementwiseOp;
  readonly a: TensorRef;
  readonly b: TensorRef | null;
  readonly out: TensorRef;
  readonly accumulate: boolean;
  readonly p0?: number;
  readonly p1?: number;
}

export interface PoolGeometry extends WindowGeometry {
  readonly n: number;
  readonly c: number;
}

export interface MaxPoolStep {
  readonly kernel: 'maxpool2d';
  readonly geom: PoolGeometry;
  readonly x: TensorRef;
  readonly out: TensorRef;
}

/**
 * Relevance of a max pool: each window's relevance goes to its maximum (the first one in scan order on ties),
 * scaled by a / stab(a) when epsilon is given (Captum's epsilon rule on a max pool), else unscaled (gradient).
 */
export interface MaxPoolRelevanceStep {
  readonly kernel: 'maxpool2d-relevance';
  readonly geom: PoolGeometry;
  readonly x: TensorRef;
  readonly r: TensorRef;
  readonly rin: TensorRef;
  readonly epsilon: number | null;
  readonly accumulate: boolean;
}

/**
 * out[c] = logit at the target (minus the contrast target's) else 0, or with seed mode one (control[2] = 1) 1 at the
 * target (-1 at the contrast target); chosen[0] = target used.
 */
export interface SeedStep {
  readonly kernel: 'seed-relevance';
  readonly logits: TensorRef;
  readonly control: TensorRef;
  readonly out: TensorRef;
  readonly chosen: TensorRef;
}

/**
 * Strided window copy over NCHW, for Pad and Slice and their relevance:
 * out[n,c,h,w] (+)= x[n, c*step_c + start_c, ...] when that index is inside x, else 0 (forward "gather"),
 * or, with inverse, out[i] = x[(i - start) / step] when (i - start) is a non-negative multiple of step.
 */
export interface WindowCopyStep {
  readonly kernel: 'window-copy';
  readonly x: TensorRef;
  readonly out: TensorRef;
  /** [n, c, h, w] of x and of out. */
  readonly inShape: readonly [number, number, number, number];
  readonly outShape: readonly [number, number, number, number];
  readonly start: readonly [number, number, number, number];
  readonly step: readonly [number, number, number, number];
  readonly inverse: boolean;
  readonly accumulate: boolean;
}

/**
 * Strided copy over up to 6 axes, for Transpose, Concat, Slice and Split and their relevance (kernels/strided-copy.ts):
 * for every index o of `shape`, out[dstOffset + sum o_a dstStrides_a] (+)= x[srcOffset + sum t_a srcStrides_a] with
 * t_a = (o_a - start_a) / step_a when every (o_a - start_a) is a non-negative multiple of step_a and t_a < count_a,
 * else 0. All per-axis lists have the rank of `shape`.
 */
export interface StridedCopyStep {
  readonly kernel: 'strided-copy';
  readonly x: TensorRef;
  readonly out: TensorRef;
  readonly shape: readonly number[];
  readonly dstOffset: number;
  readonly dstStrides: readonly number[];
  readonly srcOffset: number;
  readonly srcStrides: readonly number[];
  readonly start: readonly number[];
  readonly step: readonly number[];
  readonly count: readonly number[];
  readonly accumulate: boolean;
}

/** LayerNorm's tensor as [outer, features, inner]: the normalised axis in the middle; rows = outer * inner. */
export interface LayerNormGeometry {
  readonly outer: number;
  readonly features: number;
  readonly inner: number;
}

/** out = gamma * (x - mean) / sqrt(var + epsilon) + beta per row (kernels/layernorm.ts). */
export interface LayerNormStep {
  readonly kernel: 'layernorm';
  readonly geom: LayerNormGeometry;
  readonly x: TensorRef;
  readonly gamma: TensorRef;
  readonly beta: TensorRef;
  readonly epsilon: number;
  readonly out: TensorRef;
}

/**
 * rin (+)= LayerNorm relevance per row (kernels/layernorm.ts): 'epsilon', the epsilon rule with the std held constant
 * (bias: the rule's bias, null for 0; stabilizer: its epsilon); 'gradient', the vector-Jacobian product.
 */
export interface LayerNormRelevanceStep {
  readonly kernel: 'layernorm-relevance';
  readonly geom: LayerNormGeometry;
  readonly mode: 'epsilon' | 'gradient';
  readonly x: TensorRef;
  readonly gamma: TensorRef;
  readonly bias: TensorRef | null;
  readonly r: TensorRef;
  readonly rin: TensorRef;
  /** The layer's own epsilon (inside the square root). */
  readonly epsilon: number;
  readonly stabilizer: number;
  readonly accumulate: boolean;
}

/** Binary maps of the broadcast-binary kernel: a + b, a - b, a * b, a / b, and a alone (a broadcast copy). */
export type BroadcastBinaryOp = 'add' | 'subtract' | 'multiply' | 'divide' | 'first';

/**
 * out (+)= scale * f(a, b) with ONNX (numpy) broadcasting, rank up to 6 (kernels/broadcast-binary.ts): a and b
 * (their TensorRefs' shapes) broadcast to out's shape, right-aligned. b is null for 'first'.
 */
export interface BroadcastBinaryStep {
  readonly kernel: 'broadcast-binary';
  readonly op: BroadcastBinaryOp;
  readonly a: TensorRef;
  readonly b: TensorRef | null;
  readonly out: TensorRef;
  readonly scale: number;
  readonly accumulate: boolean;
}

/**
 * out (+)= scale * x summed over the positions that broadcast from each element of out (out's shape broadcasts to
 * x's, rank up to 6; kernels/sum-to-shape.ts): the relevance and gradient of a broadcast operand.
 */
export interface SumToShapeStep {
  readonly kernel: 'sum-to-shape';
  readonly x: TensorRef;
  readonly out: TensorRef;
  readonly scale: number;
  readonly accumulate: boolean;
}

export type ActivationFn = 'hard-sigmoid' | 'hard-swish' | 'silu' | 'gelu' | 'gelu-tanh' | 'erf';

/**
 * Activations of kernels/activation.ts: out = f(x), or with gradient out (+)= r * f'(x). alpha, beta: HardSigmoid's
 * clamp(alpha x + beta, 0, 1) (also inside HardSwish).
 */
export interface ActivationStep {
  readonly kernel: 'activation';
  readonly fn: ActivationFn;
  readonly gradient: boolean;
  readonly x: TensorRef;
  readonly r: TensorRef | null;
  readonly out: TensorRef;
  readonly accumulate: boolean;
  readonly alpha?: number;
  readonly beta?: number;
}

/**
 * Batched matrix product of two computed tensors (kernels/matmul.ts): out[b] (+)= op(A[b]) op(B[b]), op(A) [M, K]
 * (A stored [K, M] with transA), op(B) [K, N] (B stored [N, K] with transB); out [batch, M, N].
 */
export interface MatMulStep {
  readonly kernel: 'matmul';
  readonly a: TensorRef;
  readonly b: TensorRef;
  readonly out: TensorRef;
  readonly batch: number;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly transA: boolean;
  readonly transB: boolean;
  readonly accumulate: boolean;
}

/** Softmax over the last axis of x viewed as [rows, cols] (kernels/softmax.ts). */
export interface SoftmaxStep {
  readonly kernel: 'softmax';
  readonly x: TensorRef;
  readonly out: TensorRef;
  readonly rows: number;
  readonly cols: number;
}

export type Step =
  | Conv2dStep
  | Conv2dRelevanceStep
  | StabilizedDivideStep
  | ModifyParamsStep
  | ElementwiseStep
  | MaxPoolStep
  | MaxPoolRelevanceStep
  | SeedStep
  | WindowCopyStep
  | BroadcastBinaryStep
  | SumToShapeStep
  | ActivationStep
  | LayerNormStep
  | LayerNormRelevanceStep
  | StridedCopyStep
  | MatMulStep
  | SoftmaxStep;

export type StepKind = Step['kernel'];

export const inputModCode: Record<InputModifier, number> = { identity: 0, positive: 1, negative: 2, ones: 3, low: 4, high: 5 };
