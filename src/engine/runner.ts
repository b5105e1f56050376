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
  /**
   * What was recomputed: the forward pass or not; how many of the relevance steps, counted from the first segment
   * recomputed (layers above the first changed rule are reused); of those, how many were cached denominator steps
   * skipped (`cachedSteps`, Program.denominators) and how many denominator steps ran (`denominatorSteps`).
   */
  readonly work: {
    readonly forward: boolean;
    readonly relevanceSteps: number;
    readonly denominatorSteps?: number;
    readonly cachedSteps?: number;
    /** Param steps (modified parameters) this run computed: a program's first run computes those no other live
     * program of the model has (ModifiedParamCache); later runs none. */
    readonly paramSteps?: number;
    readonly gpuMs?: number | null;
  };
}

import type { Program, Segment, TensorDecl } from './program';
import type { Step } from './kernels/steps';

interface DenominatorEntry {
  /** Per tensor of the part, in the key's order (DenominatorPart.tensors). */
  readonly storage: unknown[];
  readonly bytes: number;
  /** The programs (runners) using it. */
  users: number;
  /** The input generation its values were computed for; -1: never. */
  computedFor: number;
}

/** The relevance steps one run executes: from `from`, without the cached denominator parts' steps. */
export interface DenominatorPlan {
  /** Per relevance step: 1 when it is skipped (its part is cached). */
  readonly skip: Uint8Array;
  /** The parts (indices in program.denominators) of the segments that run: cached, or computed by this run. */
  readonly parts: readonly number[];
  readonly denominatorSteps: number;
  readonly cachedSteps: number;
}

/**
 * Storage shared by the programs of one model, by key, each entry counted by the programs (runners) using it: what
 * no program uses any more is dropped. The base of the denominator and modified-parameter caches.
 */
class SharedEntries<E extends { readonly bytes: number; users: number }> {
  protected readonly entries = new Map<string, E>();

  /** The entry of `key` (made when missing), counted as used once more. */
  protected take(key: string, make: () => E): E {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = make();
      this.entries.set(key, entry);
    }
    entry.users++;
    return entry;
  }

  /** One user less; the entry when nothing uses it any more (then removed), else null. */
  protected drop(key: string): E | null {
    const entry = this.entries.get(key);
    if (!entry || --entry.users > 0) return null;
    this.entries.delete(key);
    return entry;
  }

  /** Bytes held (each shared entry once). */
  get bytes(): number {
    let sum = 0;
    for (const e of this.entries.values()) sum += e.bytes;
    return sum;
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * The cached denominator parts (Program.denominators) of one model's programs on one backend, keyed by the parts'
 * keys, so programs whose segments agree share one storage per part. An entry is valid for the input the model
 * holds when it was computed after that input's forward pass (the generation counts inputs); a new input, a failed
 * run or a batch invalidates every entry. Entries live as long as a program using them: runners acquire them when
 * created and release them when disposed (a model keeps 4 programs), so the cache holds at most the denominators
 * of the programs held.
 */
export class DenominatorCache extends SharedEntries<DenominatorEntry> {
  private generation = 0;

  /** The storage of a program's cached tensors, by storage id: shared with other programs' equal parts. */
  acquire<T>(program: Program, make: (t: TensorDecl) => T, bytesPer: number): Map<number, T> {
    const out = new Map<number, T>();
    for (const part of program.denominators ?? []) {
      const entry = this.take(part.key, () => {
        const decls = part.tensors.map((id) => program.tensors[id]!);
        return { storage: decls.map(make), bytes: decls.reduce((sum, t) => sum + t.size * bytesPer, 0), users: 0, computedFor: -1 };
      });
      part.tensors.forEach((id, k) => out.set(id, entry.storage[k] as T));
    }
    return out;
  }

  /** A disposed program's parts: storage no program uses any more is dropped (`destroy` frees it). */
  release<T>(program: Program, destroy?: (storage: T) => void): void {
    for (const part of program.denominators ?? []) {
      const entry = this.drop(part.key);
      if (entry && destroy) for (const s of entry.storage) destroy(s as T);
    }
  }

  /** Nothing cached is valid any more (a new input, a failed run, a batch). */
  invalidate(): void {
    this.generation++;
  }

  /** Which relevance steps a run from step `from` executes. */
  plan(program: Program, from: number): DenominatorPlan {
    const skip = new Uint8Array(program.relevanceSteps.length);
    const parts: number[] = [];
    let denominatorSteps = 0;
    let cachedSteps = 0;
    (program.denominators ?? []).forEach((part, k) => {
      if (program.segments[part.segment]!.start < from) return;
      parts.push(k);
      if (this.entries.get(part.key)?.computedFor === this.generation) {
        for (const i of part.steps) skip[i] = 1;
        cachedSteps += part.steps.length;
      } else {
        denominatorSteps += part.steps.length;
      }
    });
    return { skip, parts, denominatorSteps, cachedSteps };
  }

  /** After a successful run: the parts it ran or found cached hold the current input's values. */
  computed(program: Program, parts: readonly number[]): void {
    for (const k of parts) {
      const entry = this.entries.get(program.denominators![k]!.key);
      if (entry) entry.computedFor = this.generation;
    }
  }

}

interface ModifiedEntry {
  readonly storage: unknown;
  readonly bytes: number;
  /** The programs (runners) using it. */
  users: number;
  /** Whether its values have been computed (they depend on the parameters alone, never on the input). */
  computed: boolean;
}

let ownKeys = 0;

/**
 * Per param step of a program: the key of the modified parameter it writes (see ModifiedParamCache). By the param
 * steps' list, which a program patched from another shares with it (../program-patch.ts), along with its tensors.
 */
const modifiedKeys = new WeakMap<readonly Step[], readonly string[]>();

/**
 * The keys of a program's modified parameters, per param step: the source parameter (by its deduplication key and
 * size; a modified one by its own key; forward state by id, which every program of a graph numbers alike) and the
 * modifier. Equal keys mean equal values in any program of the same graph.
 */
export function modifiedParamKeys(program: Program): readonly string[] {
  let keys = modifiedKeys.get(program.paramSteps);
  if (keys) return keys;
  const byDst = new Map<number, string>();
  const name = (id: number): string => {
    const made = byDst.get(id);
    if (made !== undefined) return `(${made})`;
    const t = program.tensors[id]!;
    return t.kind === 'param' ? `p:${t.label}:${t.size}` : `f${id}`;
  };
  keys = program.paramSteps.map((step) => {
    // (Any other param step stays the program's own: a key no other program has, so it always runs.)
    if (step.kernel !== 'modify-params') return `own:${++ownKeys}`;
    const key = `${name(step.src.id)}|${JSON.stringify(step.mod)}|${step.dst.size}`;
    byDst.set(step.dst.id, key);
    return key;
  });
  modifiedKeys.set(program.paramSteps, keys);
  return keys;
}

/**
 * The modified parameters (w+, b+, a Gamma's w + gamma w+...: Program.paramSteps) of one model's programs on one
 * backend, keyed by source and modifier (modifiedParamKeys), so that a program compiled for a new rule assignment
 * reuses what an earlier program computed: its param steps run only for keys no live program holds. Entries live
 * as long as a program using them (runners acquire them when created and release them when disposed), so the cache
 * holds at most the modified parameters of the programs a model keeps, each once.
 */
export class ModifiedParamCache extends SharedEntries<ModifiedEntry> {

  /** The storage of a program's modified parameters, by storage id: shared with other programs' equal ones. */
  acquire<T>(program: Program, make: (t: TensorDecl) => T, bytesPer: number): Map<number, T> {
    const out = new Map<number, T>();
    const keys = modifiedParamKeys(program);
    program.paramSteps.forEach((step, i) => {
      if (step.kernel !== 'modify-params') return;
      const entry = this.take(keys[i]!, () => {
        const t = program.tensors[step.dst.id]!;
        return { storage: make(t), bytes: t.size * bytesPer, users: 0, computed: false };
      });
      out.set(step.dst.id, entry.storage as T);
    });
    return out;
  }

  /** The indices of the program's param steps whose values no program has computed yet, in order. */
  pending(program: Program): number[] {
    const keys = modifiedParamKeys(program);
    const out: number[] = [];
    keys.forEach((key, i) => {
      if (!this.entries.get(key)?.computed) out.push(i);
    });
    return out;
  }

  /** After the program's pending param steps ran (or were submitted, on a GPU queue): their values are there. */
  computed(program: Program): void {
    for (const key of modifiedParamKeys(program)) {
      const entry = this.entries.get(key);
      if (entry) entry.computed = true;
    }
  }

  /** A disposed program's modified parameters: storage no program uses any more is dropped (`destroy` frees it). */
  release<T>(program: Program, destroy?: (storage: T) => void): void {
    for (const key of modifiedParamKeys(program)) {
      const entry = this.drop(key);
      if (entry) destroy?.(entry.storage as T);
    }
  }
}

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
  /** Each layer's denominators for the input held (Program.denominators). */
  readonly denominators = new DenominatorCache();
  /** The programs' modified parameters (Program.paramSteps), computed once for all of them. */
  readonly modified = new ModifiedParamCache();

  constructor(readonly storage: Storage) {}

  holds(input: Float32Array): boolean {
    const held = this.input;
    if (!held || held.length !== input.length) return false;
    for (let i = 0; i < held.length; i++) if (held[i] !== input[i] && !(Number.isNaN(held[i]) && Number.isNaN(input[i]))) return false;
    return true;
  }

  remember(input: Float32Array): void {
    if (!this.holds(input)) {
      this.chain = null;
      this.denominators.invalidate();
    }
    this.input = input.slice();
  }

  forget(): void {
    this.input = null;
    this.chain = null;
    this.denominators.invalidate();
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
