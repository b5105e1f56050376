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
  /** The seed at the output: the target logit (default) or 1 (the gradient). */
  readonly seed?: 'logit' | 'one';
  /** The factors of the program's scaling hooks (Program.hookScales), in that order. */
  readonly hookScales?: readonly Float32Array[];
}

/** The seed mode as the control tensor's third int: 0 the target logit, 1 one. */
export function seedCode(request: RunRequest): number {
  return request.seed === 'one' ? 1 : 0;
}

/** Checks that a request brings one factor array of the right size per scaling hook of the program. */
export function checkHookScales(program: Program, request: RunRequest): void {
  const wanted = program.hookScales ?? [];
  const given = request.hookScales ?? [];
  if (given.length !== wanted.length) throw new RangeError(`the program has ${wanted.length} scaling hooks, the request gives ${given.length}`);
  wanted.forEach((ref, i) => {
    if (given[i]!.length !== ref.size) throw new RangeError(`hook ${i}: ${given[i]!.length} factors for ${ref.size}`);
  });
}

export interface RunResult {
  readonly logits: Float32Array;
  readonly relevance: Float32Array;
  readonly target: number;
  /** In the order of program.outputs.layers; empty when not requested. */
  readonly layers: readonly Float32Array[];
  /** Per program.outputs.hooks entry: its activation and relevance; empty for forward-only runs. */
  readonly hooks?: readonly { readonly activation: Float32Array; readonly relevance: Float32Array }[];
  /** What was recomputed: the forward pass or not, and how many of the relevance steps. */
  readonly work: { readonly forward: boolean; readonly relevanceSteps: number; readonly gpuMs?: number | null };
}

import type { Program, Segment } from './program';

export interface ProgramRunner {
  readonly program: Program;
  run(request: RunRequest): Promise<RunResult>;
  /** Several explanations at once, equal to run() on each in turn (the GPU runner: one queue submission). */
  runMany?(requests: readonly RunRequest[]): Promise<RunResult[]>;
  dispose(): void;
}

/**
 * The state one model's programs share on a backend: the forward pass and every value's relevance (see
 * Program.forwardTensors), plus what they currently hold, so that an explanation with other rules for the same
 * input skips the forward pass and the layers above the first changed one.
 */
export class SharedForward<Storage> {
  private input: Float32Array | null = null;
  /** The relevance segments last run, with their context (target, contrast); null when nothing is valid. */
  private chain: { context: string; segments: readonly Segment[] } | null = null;

  constructor(readonly storage: Storage) {}

  holds(input: Float32Array): boolean {
    const held = this.input;
    if (!held || held.length !== input.length) return false;
    for (let i = 0; i < held.length; i++) if (held[i] !== input[i] && !(Number.isNaN(held[i]) && Number.isNaN(input[i]))) return false;
    return true;
  }

  remember(input: Float32Array): void {
    if (!this.holds(input)) this.chain = null;
    this.input = input.slice();
  }

  forget(): void {
    this.input = null;
    this.chain = null;
  }

  /**
   * How many leading segments of `program` can be skipped: those equal to the last run's (same input and
   * context), cut back so that no value written by a skipped segment is also written by a segment that runs now
   * or that ran after the cut last time (accumulated sums would otherwise count twice).
   */
  reusableSegments(program: Program, input: Float32Array, context: string): number {
    const last = this.chain;
    if (!last || last.context !== context || !this.holds(input)) return 0;
    // A program that scales relevance at a hook recomputes every segment (its factors are per run; see ran()).
    if (program.hookScales?.length) return 0;
    const now = program.segments;
    let p = 0;
    while (p < now.length && p < last.segments.length && now[p]!.key === last.segments[p]!.key) p++;
    for (; p > 0; p--) {
      const skipped = new Set(now.slice(0, p).flatMap((s) => s.writes));
      const later = [...now.slice(p), ...last.segments.slice(p)];
      if (!later.some((s) => s.writes.some((id) => skipped.has(id)))) break;
    }
    return p;
  }

  ran(program: Program, context: string): void {
    // After a run that scaled relevance at a hook, the relevance held matches no program's unscaled segments.
    this.chain = program.hookScales?.length ? null : { context, segments: program.segments };
  }

  /** Forward-only runs leave relevance as it was; a failed run leaves it unknown. */
  invalidateRelevance(): void {
    this.chain = null;
  }
}

/** What a run's relevance depends on besides the input and the rules. */
export function runContext(request: RunRequest): string {
  return `${request.target}/${request.contrastTarget}${request.seed === 'one' ? '/one' : ''}`;
}
