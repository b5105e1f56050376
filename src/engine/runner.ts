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

/**
 * The forward state one model's programs share on a backend, and which input it currently holds, so that an
 * explanation with other rules (or another target) for the same input skips the forward pass.
 */
export class SharedForward<Storage> {
  private input: Float32Array | null = null;

  constructor(readonly storage: Storage) {}

  holds(input: Float32Array): boolean {
    const held = this.input;
    if (!held || held.length !== input.length) return false;
    for (let i = 0; i < held.length; i++) if (held[i] !== input[i] && !(Number.isNaN(held[i]) && Number.isNaN(input[i]))) return false;
    return true;
  }

  remember(input: Float32Array): void {
    this.input = input.slice();
  }

  forget(): void {
    this.input = null;
  }
}
