/**
 * Kernel steps: the instruction set shared by the backends. Each kind has one file in this folder with its
 * float64 CPU reference and its WebGPU spec (shader in src/shaders, bindings, dispatch size).
 */
import type { TensorRef } from '../program';
import type { InputModifier, OutputMask, ParamModifier } from '../../rules/rule-program';

/** Geometry of a (grouped) 2-D convolution over NCHW; Linear is the 1x1-on-1x1 case. */
export interface ConvGeometry {
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly o: number;
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

export interface PoolGeometry {
  readonly n: number;
  readonly c: number;
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

/** out[c] = logit at the target (minus the contrast target's) else 0; chosen[0] = target used. */
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

export type Step =
  | Conv2dStep
  | Conv2dRelevanceStep
  | StabilizedDivideStep
  | ModifyParamsStep
  | ElementwiseStep
  | MaxPoolStep
  | MaxPoolRelevanceStep
  | SeedStep
  | WindowCopyStep;

export type StepKind = Step['kernel'];

export const inputModCode: Record<InputModifier, number> = { identity: 0, positive: 1, negative: 2, ones: 3, low: 4, high: 5 };
