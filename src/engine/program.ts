/**
 * A compiled explanation is a Program: tensors plus three lists of kernel steps (derived parameters, forward,
 * relevance). Ops emit steps through ProgramBuilder; a backend executes them (the CPU backend directly in
 * float64, the WebGPU backend as dispatches of one submission). Steps name tensors by id, so one program serves
 * every input and target.
 */
import type { Shape, Tensor } from './graph';
import { shapeSize } from './graph';
import { paramModifierKey, type ParamModifier } from '../rules/rule-program';
import type { Step } from './kernels/steps';

export interface TensorRef {
  /** Storage id: views (reshapes) share the id of what they view. */
  readonly id: number;
  readonly shape: Shape;
  readonly size: number;
}

export type TensorKind = 'input' | 'param' | 'temp';

export interface TensorDecl {
  readonly id: number;
  readonly size: number;
  readonly kind: TensorKind;
  /** Initial contents of params and constants. */
  readonly data?: Float32Array;
  readonly label: string;
}

export interface ProgramOutputs {
  readonly logits: TensorRef;
  readonly relevance: TensorRef;
  /** One int: the class the seed chose (the top class when none was asked for). */
  readonly target: TensorRef;
  readonly layers: readonly { readonly layer: string; readonly ref: TensorRef }[];
  /** Per hook (compile.ts HookSite), in the order given: the layer's output and the relevance arriving at it. */
  readonly hooks?: readonly { readonly layer: string; readonly activation: TensorRef; readonly relevance: TensorRef }[];
}

/**
 * The relevance steps of one layer (or of the seed). Key: the layer and its compiled rule, so two programs whose
 * segments agree up to some point computed the same relevance up to there.
 */
export interface Segment {
  readonly key: string;
  /** Range in relevanceSteps. */
  readonly start: number;
  readonly end: number;
  /** Storage ids of the relevance tensors the segment writes. */
  readonly writes: readonly number[];
}

/**
 * The steps of one segment that depend on the forward state alone (denominator.ts): each layer's stabilised
 * denominators z and what else its rule computes from the input, parameters and modified parameters, never from
 * relevance, target or hook factors. Their results are cached per input: a program whose segment has a part with
 * the same key skips these steps while the model holds the same input (SharedForward.denominators).
 */
export interface DenominatorPart {
  /** The steps with their tensors canonicalised: two parts with equal keys compute equal values. */
  readonly key: string;
  /** Index in Program.segments. */
  readonly segment: number;
  /** Indices in relevanceSteps, ascending. */
  readonly steps: readonly number[];
  /** Storage ids of the temporaries the steps write (the cached values), in the key's canonical order. */
  readonly tensors: readonly number[];
}

export interface Program {
  readonly tensors: readonly TensorDecl[];
  /**
   * Tensors [0, forwardTensors) are the forward state (input, control, forward parameters and activations). They
   * are allocated before any rule is looked at, so every program of one graph numbers them identically and can
   * share them: a rule change then reuses the cached forward pass.
   */
  readonly forwardTensors: number;
  readonly input: TensorRef;
  /** Three ints written per explanation: target (-1 = top class), contrast target (-1 = none), seed mode (0 the
   * target logit, 1 one). */
  readonly control: TensorRef;
  /** The factors of the scaling hooks, written per explanation (RunRequest.hookScales), in the order of the hooks
   * that scale; absent or empty without such hooks. */
  readonly hookScales?: readonly TensorRef[];
  readonly paramSteps: readonly Step[];
  readonly forwardSteps: readonly Step[];
  readonly relevanceSteps: readonly Step[];
  /** relevanceSteps cut per layer, in the order they run (seed first). */
  readonly segments: readonly Segment[];
  /** Per segment that has any, its cached denominator part; absent or empty: nothing is cached. */
  readonly denominators?: readonly DenominatorPart[];
  readonly outputs: ProgramOutputs;
}

export type Phase = 'param' | 'forward' | 'relevance';

/** The key a modified parameter is deduplicated by: its source and modifier. */
export const modifiedParamKey = (source: TensorRef, mod: ParamModifier): string => `mod:${source.id}:${paramModifierKey(mod)}`;

export class ProgramBuilder {
  readonly tensors: TensorDecl[] = [];
  readonly paramSteps: Step[] = [];
  readonly forwardSteps: Step[] = [];
  readonly relevanceSteps: Step[] = [];
  private readonly byKey = new Map<string, TensorRef>();

  /**
   * A builder that goes on from what `from` built (its tensors and steps, copied) and deduplicates by the same keys:
   * compile.ts forks one graph's forward part per program, program-patch.ts re-emits a segment after a program's
   * tensors.
   */
  static continuing(from: { readonly tensors: readonly TensorDecl[]; readonly paramSteps: readonly Step[]; readonly forwardSteps: readonly Step[] }, known: Iterable<readonly [string, TensorRef]>): ProgramBuilder {
    const b = new ProgramBuilder();
    b.tensors.push(...from.tensors);
    b.paramSteps.push(...from.paramSteps);
    b.forwardSteps.push(...from.forwardSteps);
    for (const [k, ref] of known) b.byKey.set(k, ref);
    return b;
  }

  /** The parameters and modified parameters made so far, by the keys they are deduplicated by. */
  known(): IterableIterator<[string, TensorRef]> {
    return this.byKey.entries();
  }

  tensor(shape: Shape, label: string, kind: TensorKind = 'temp', data?: Float32Array): TensorRef {
    const id = this.tensors.length;
    const size = shapeSize(shape);
    if (data && data.length !== size) throw new Error(`${label}: ${data.length} values for shape [${shape.join(', ')}]`);
    this.tensors.push({ id, size, kind, label, ...(data ? { data } : {}) });
    return { id, shape, size };
  }

  /** A learned parameter or constant, uploaded once; deduplicated by key. */
  param(key: string, tensor: Tensor, shape: Shape = tensor.shape): TensorRef {
    const found = this.byKey.get(key);
    if (found) return found;
    const ref = this.tensor(shape, key, 'param', tensor.data);
    this.byKey.set(key, ref);
    return ref;
  }

  /** A parameter transformed by a rule's modifier, computed once per program in the param phase. */
  modified(source: TensorRef, mod: ParamModifier): TensorRef {
    if (mod.kind === 'affine' && mod.plain === 1 && mod.pos === 0 && mod.neg === 0) return source;
    const key = modifiedParamKey(source, mod);
    const found = this.byKey.get(key);
    if (found) return found;
    const ref = this.tensor(source.shape, key);
    this.paramSteps.push({ kernel: 'modify-params', src: source, dst: ref, mod });
    this.byKey.set(key, ref);
    return ref;
  }

  view(ref: TensorRef, shape: Shape): TensorRef {
    if (shapeSize(shape) !== ref.size) throw new Error(`cannot view ${ref.size} values as [${shape.join(', ')}]`);
    return { id: ref.id, shape, size: ref.size };
  }

  emit(phase: Phase, step: Step): void {
    (phase === 'param' ? this.paramSteps : phase === 'forward' ? this.forwardSteps : this.relevanceSteps).push(step);
  }
}
