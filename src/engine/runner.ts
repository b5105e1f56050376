/** What a backend does with a compiled Program. */
export interface RunRequest {
  readonly input: Float32Array;
  /** -1: the top class. */
  readonly target: number;
  /** -1: no contrast. */
  readonly contrastTarget: number;
  readonly layerRelevance: boolean;
  /** Run the forward pass only and read back the logits. */
  readonly forwardOnly?: boolean;
}

export interface RunResult {
  readonly logits: Float32Array;
  readonly relevance: Float32Array;
  readonly target: number;
  /** In the order of program.outputs.layers; empty when not requested. */
  readonly layers: readonly Float32Array[];
}

import type { Program } from './program';

export interface ProgramRunner {
  readonly program: Program;
  run(request: RunRequest): Promise<RunResult>;
  dispose(): void;
}
