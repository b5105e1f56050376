/**
 * The engine's public surface: load a Graph on a backend, then explain inputs. Framework-free; the app, the CLI,
 * the tests and the benchmark all go through here.
 */
import type { Graph, Shape } from './graph';
import type { RuleAssignment } from '../rules/assignment';

export type BackendKind = 'webgpu' | 'cpu';

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
   * program's relevance steps (the layers above the first changed rule are reused). */
  readonly work: { readonly forward: boolean; readonly relevanceSteps: number; readonly ofRelevanceSteps: number };
  readonly backend: BackendKind;
}

export interface ModelStats {
  readonly programs: number;
  readonly bufferBytes: number;
}

export interface LoadedModel {
  readonly graph: Graph;
  readonly backend: BackendKind;
  explain(input: Float32Array, options?: ExplainOptions): Promise<Explanation>;
  /** The forward pass alone: the logits. */
  forward(input: Float32Array): Promise<Float32Array>;
  /** The forward pass over n inputs laid end to end: n rows of logits (perturbation curves). */
  forwardBatch(inputs: Float32Array, n: number): Promise<Float32Array>;
  /** Memory the compiled programs hold on the backend, in bytes (GPU buffers, or CPU arrays). */
  stats(): ModelStats;
  dispose(): void;
}
