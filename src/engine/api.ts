/**
 * The engine's public surface: load a Graph on a backend, then explain inputs. Framework-free; the app, the CLI,
 * the tests and the benchmark all go through here.
 */
import type { Graph, Shape } from './graph';
import type { RuleAssignment } from '../rules/assignment';

/**
 * 'webgpu'; 'cpu': the float64 reference (tests compare against it); 'cpu-fast': float32 on the CPU, convolutions
 * and Linear layers as a WASM SIMD GEMM (src/engine/cpu/fast-backend.ts).
 */
export type BackendKind = 'webgpu' | 'cpu' | 'cpu-fast';

export interface ExplainOptions {
  /** Class to explain; default: the top class. */
  readonly target?: number;
  /** Contrast: explain `target` against this class (relevance of target minus relevance of this one). */
  readonly contrastTarget?: number;
  readonly rules?: RuleAssignment;
  /** Read back the relevance arriving at every layer's input (default true). */
  readonly layerRelevance?: boolean;
  /** Cancels the explanation: it then rejects with an AbortError instead of resolving late. */
  readonly signal?: AbortSignal;
  /**
   * What the relevance pass starts from at the model output: 'logit' (default, LRP): the target's logit at the
   * target (minus the contrast target's at the contrast target); 'one': 1 at the target (-1 at the contrast target).
   * With 'one' and the 'gradient' preset, the input relevance is the gradient of the target logit (of the logit
   * difference with a contrast): what the gradient baselines (attribution-methods.ts) use.
   */
  readonly seed?: SeedMode;
  /**
   * Hooks at named layers (see LayerHook): each one reads back the layer's activation and the relevance arriving at
   * its output (Explanation.hooks), and may scale that relevance before the layer's rule passes it on. Both
   * backends run them the same way, as kernel steps (a broadcast multiply) of the compiled program.
   */
  readonly hooks?: readonly LayerHook[];
}

export type SeedMode = 'logit' | 'one';

/**
 * A hook at one layer. The relevance at the layer's output (what arrives from the layers above, summed over its
 * readers) is read back as it arrives; with `scale` it is then multiplied, before the layer's own rule propagates
 * it to the layer's inputs, by
 *   - one factor per channel along `axis` (scale.length = the output's extent along `axis`): masks (0/1) or weights
 *     channels; the form Concept Relevance Propagation uses (concepts.ts), or
 *   - one factor per element (scale.length = the output's size, row-major).
 * Every layer below then sees the scaled relevance (Explanation.relevance and Explanation.layers included).
 * No JS callback runs inside the pass: a caller that wants arbitrary changes reads the observation, computes its
 * factors and explains again with them.
 */
export interface LayerHook {
  /** The layer's name (a graph node name). */
  readonly layer: string;
  /** Factors for the relevance at the layer's output; absent: observe only. */
  readonly scale?: ArrayLike<number>;
  /** The channel axis of the layer's output for a per-channel scale (default 1: NCHW channels, a Linear's
   * features); negative counts from the end (-1 for a value in NHWC order or tokens [1, T, F]). */
  readonly axis?: number;
}

/** What a hook read back: the layer's output in the forward pass and the relevance arriving at it (not scaled). */
export interface HookObservation {
  readonly layer: string;
  readonly shape: Shape;
  readonly activation: Float32Array;
  readonly relevance: Float32Array;
}

export interface LayerRelevance {
  readonly layer: string;
  readonly shape: Shape;
  readonly data: Float32Array;
}

export interface Explanation {
  readonly logits: Float32Array;
  readonly target: number;
  /** Relevance of every input element; same shape as the input. */
  readonly relevance: Float32Array;
  readonly inputShape: Shape;
  /** Relevance arriving at the input of each layer that has a rule, in execution order. */
  readonly layers: readonly LayerRelevance[];
  /**
   * Set when some relevance is NaN or infinite (an overflow, or a user's epsilon of 0 meeting z = 0): the layer
   * whose input relevance first went bad, in the order relevance flows. Such a result must not be drawn.
   */
  readonly nonFinite: { readonly layer: string; readonly count: number } | null;
  /** Wall time of the call; GPU time of its compute pass where the adapter has timestamp queries. */
  readonly timings: { readonly totalMs: number; readonly gpuMs: number | null };
  /** What this explanation recomputed: the forward pass or not (cached for the same input), and how many of the
   * program's relevance steps (the layers above the first changed rule are reused); of those, `cachedSteps` were
   * skipped because their layer's denominators were cached for this input (src/engine/denominator.ts). `program`:
   * whether its program was compiled for it, patched from the last one (new numbers in a few layers' rules:
   * src/engine/program-patch.ts), or kept from an earlier explanation with the same rules. */
  readonly work: {
    readonly forward: boolean;
    readonly relevanceSteps: number;
    readonly ofRelevanceSteps: number;
    readonly cachedSteps?: number;
    readonly program?: 'compiled' | 'patched' | 'cached';
  };
  readonly backend: BackendKind;
  /** One per ExplainOptions.hooks entry, in that order; absent when no hooks were given. */
  readonly hooks?: readonly HookObservation[];
}

export interface ModelStats {
  readonly programs: number;
  /**
   * Bytes of the cached programs' tensors (float64 on the cpu backend, else float32): the forward state the programs
   * share once, plus each program's own (denominators, modified parameters, temporaries). An upper bound: programs
   * also share cached denominators and modified parameters, and cpu-fast its temporaries.
   */
  readonly bufferBytes: number;
}

export interface LoadedModel {
  readonly graph: Graph;
  readonly backend: BackendKind;
  explain(input: Float32Array, options?: ExplainOptions): Promise<Explanation>;
  /**
   * Several inputs explained with the same options (`targets`: one per input, overriding `target`; undefined: that
   * input's top class), equal to explain() on each in turn; on WebGPU in one queue submission and one readback
   * (src/engine/batch.ts explainBatch calls it).
   */
  explainMany?(inputs: readonly Float32Array[], options?: ExplainOptions & { readonly targets?: readonly (number | undefined)[] }): Promise<Explanation[]>;
  /** The forward pass alone: the logits. */
  forward(input: Float32Array): Promise<Float32Array>;
  /** The forward pass over n inputs laid end to end: n rows of logits (perturbation curves). */
  forwardBatch(inputs: Float32Array, n: number): Promise<Float32Array>;
  /** Memory the compiled programs hold on the backend, in bytes (GPU buffers, or CPU arrays). */
  stats(): ModelStats;
  dispose(): void;
}
