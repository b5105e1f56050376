/**
 * A program for new rules made from a compiled one, without compiling again: where the rules differ only in the
 * numbers of a few layers' rules (a slider's epsilon, a gamma), the new program is the old one with those layers'
 * steps carrying the new numbers. Compiling from scratch costs a few milliseconds per program (the denominator
 * analysis and buffer reuse run over every step: denominator.ts, buffer-reuse.ts), which is most of a
 * re-explanation of a small model on a fast backend; a patch re-emits only the changed layers' segments.
 *
 * Each changed layer's relevance is emitted again, after the old program's tensors, and compared with the old
 * segment step by step: the same kernels, the same fields, every tensor the same one (forward state, parameters,
 * modified parameters, relevance storage) or, for the new temporaries, consistently the old program's storage for
 * them (of at least their size); only numbers may differ, and not in the steps of a cached denominator part (its
 * cached values would then be stale). Anything else (another rule shape, a new parameter or modified parameter, a
 * layer that the old program does not reach, hooks) gives null, and the caller compiles. A patched program is the
 * one compileProgram gives for the new rules (tests/unit/program-patch.test.ts).
 */
import type { Graph, GraphNode } from './graph';
import { ops } from './ops/registry';
import type { RelevanceTarget } from './ops/op';
import { forwardPart, layerSegmentKey } from './compile';
import { modifiedParamKey, ProgramBuilder, type Program, type TensorRef } from './program';
import type { Step } from './kernels/steps';
import type { ResolvedLayerRule } from '../rules/assignment';
import { findBuiltinRule } from '../rules/rules';

/** Patches with more changed layers than this compile instead (a preset switch changes them all). */
const MAX_CHANGED_LAYERS = 8;

const isRef = (v: unknown): v is TensorRef =>
  typeof v === 'object' && v !== null && typeof (v as TensorRef).id === 'number' && typeof (v as TensorRef).size === 'number' && Array.isArray((v as TensorRef).shape);

const sameShape = (a: TensorRef, b: TensorRef) => a.size === b.size && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);

/**
 * Compares a re-emitted step with the old one. `fresh` ids (at or above `freshFrom`) are the new temporaries: each
 * maps to one old temporary (`map`, filled here). Numbers may differ unless `exact`. Returns whether they agree.
 */
function matches(now: unknown, old: unknown, freshFrom: number, map: Map<number, number>, base: Program, exact: boolean): boolean {
  if (isRef(now)) {
    if (!isRef(old) || !sameShape(now, old)) return false;
    if (now.id < freshFrom) return now.id === old.id;
    const to = map.get(now.id);
    if (to !== undefined) return to === old.id;
    const decl = base.tensors[old.id];
    if (!decl || old.id < base.forwardTensors || decl.kind !== 'temp' || decl.data || decl.size < now.size) return false;
    map.set(now.id, old.id);
    return true;
  }
  if (typeof now === 'number') return typeof old === 'number' && (!exact || Object.is(now, old));
  if (Array.isArray(now)) return Array.isArray(old) && now.length === old.length && now.every((v, i) => matches(v, old[i], freshFrom, map, base, exact));
  if (typeof now === 'object' && now !== null) {
    if (typeof old !== 'object' || old === null || Array.isArray(old)) return false;
    const keys = Object.keys(now);
    if (keys.length !== Object.keys(old).length) return false;
    return keys.every((k) => k in old && matches((now as Record<string, unknown>)[k], (old as Record<string, unknown>)[k], freshFrom, map, base, exact));
  }
  return now === old;
}

/** The step with its new temporaries' ids replaced by the old program's. */
function renamed<S>(v: S, freshFrom: number, map: ReadonlyMap<number, number>): S {
  if (isRef(v)) return (v.id < freshFrom ? v : { ...v, id: map.get(v.id)! }) as S;
  if (Array.isArray(v)) return v.map((x: unknown) => renamed(x, freshFrom, map)) as S;
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = renamed(x, freshFrom, map);
    return out as S;
  }
  return v;
}

/** What patching a program looks up, made once per program (a patched program's is derived from its base's). */
interface PatchIndex {
  /** Each layer segment's index, by its key. */
  readonly segmentAt: ReadonlyMap<string, number>;
  /** The segment that first writes each relevance storage: later writers accumulate (compile.ts, target()). */
  readonly firstWriter: ReadonlyMap<number, number>;
  /** The relevance steps of cached denominator parts: their numbers must not change. */
  readonly partSteps: ReadonlySet<number>;
  /** What the program deduplicates by: the forward parameters and its modified parameters. */
  readonly known: ReadonlyMap<string, TensorRef>;
}

const indexes = new WeakMap<Program, PatchIndex>();

function patchIndex(part: ReturnType<typeof forwardPart>, base: Program): PatchIndex {
  const held = indexes.get(base);
  if (held) return held;
  const firstWriter = new Map<number, number>();
  base.segments.forEach((s, i) => {
    for (const id of s.writes) if (!firstWriter.has(id)) firstWriter.set(id, i);
  });
  const known = new Map(part.builder.known());
  for (const step of base.paramSteps) if (step.kernel === 'modify-params') known.set(modifiedParamKey(step.src, step.mod), step.dst);
  const index: PatchIndex = {
    segmentAt: new Map(base.segments.map((s, i) => [s.key, i])),
    firstWriter,
    partSteps: new Set((base.denominators ?? []).flatMap((d) => d.steps)),
    known,
  };
  indexes.set(base, index);
  return index;
}

/**
 * The program for `rules`, made from `base` (compiled for `baseRules` on the same graph, without hooks), or null
 * where it cannot be (the caller compiles).
 */
export function patchProgram(graph: Graph, base: Program, baseRules: ReadonlyMap<string, ResolvedLayerRule>, rules: ReadonlyMap<string, ResolvedLayerRule>): Program | null {
  if (base.outputs.hooks?.length || base.hookScales?.length) return null;
  const changed: { node: GraphNode; rule: ResolvedLayerRule; oldKey: string; key: string }[] = [];
  for (const node of graph.nodes) {
    const rule = rules.get(node.name);
    const was = baseRules.get(node.name);
    if (!rule || !was) return null;
    // A built-in rule with the same parameters compiles to the same program (custom rules may be redefined).
    if (rule === was || (rule.rule === was.rule && findBuiltinRule(rule.rule) && JSON.stringify(rule.params) === JSON.stringify(was.params))) continue;
    const key = layerSegmentKey(node, rule);
    const oldKey = layerSegmentKey(node, was);
    if (key === oldKey) continue;
    changed.push({ node, rule, oldKey, key });
    if (changed.length > MAX_CHANGED_LAYERS) return null;
  }
  if (changed.length === 0) return base;

  const part = forwardPart(graph);
  const { segmentAt, firstWriter, partSteps, known } = patchIndex(part, base);

  const steps = [...base.relevanceSteps];
  const segments = [...base.segments];
  for (const { node, rule, oldKey, key } of changed) {
    const at = segmentAt.get(oldKey);
    if (at === undefined) return null; // the old program does not reach this layer
    const seg = base.segments[at]!;
    const b = ProgramBuilder.continuing({ tensors: base.tensors, paramSteps: base.paramSteps, forwardSteps: [] }, known);
    const freshFrom = b.tensors.length;
    const writtenHere = new Set<string>();
    const target = (i: number): RelevanceTarget => {
      const name = node.inputs[i]!;
      const ref = part.store.get(name)!;
      const accumulate = (firstWriter.get(ref.id) ?? Infinity) < at || writtenHere.has(name);
      writtenHere.add(name);
      return { ref, accumulate };
    };
    const pass = (i: number, ref: TensorRef) => {
      const shape = part.values.get(node.inputs[i]!)!.shape;
      const t = target(i);
      if (t.ref.id === ref.id) return;
      b.emit('relevance', { kernel: 'elementwise', op: 'copy', a: b.view(ref, shape), b: null, out: t.ref, accumulate: t.accumulate });
    };
    const r = part.store.get(node.output)!;
    const nonNegativeInputs = node.inputs.map((v) => part.nonNegative.has(v));
    ops[node.op].relevance({ node, inputs: node.inputs.map((v) => part.values.get(v)!), output: part.values.get(node.output)!, r, program: rule.program, b, nonNegativeInputs, target, pass });

    const emitted = b.relevanceSteps;
    if (emitted.length !== seg.end - seg.start || b.paramSteps.length !== base.paramSteps.length) return null;
    if (b.tensors.slice(freshFrom).some((t) => t.kind !== 'temp' || t.data)) return null;
    const map = new Map<number, number>();
    for (let i = 0; i < emitted.length; i++) {
      const now: Step = emitted[i]!;
      const old = base.relevanceSteps[seg.start + i]!;
      if (now.kernel !== old.kernel || !matches(now, old, freshFrom, map, base, partSteps.has(seg.start + i))) return null;
    }
    for (let i = 0; i < emitted.length; i++) steps[seg.start + i] = renamed(emitted[i]!, freshFrom, map);
    segments[at] = { ...seg, key };
  }
  const patched: Program = { ...base, relevanceSteps: steps, segments };
  // The patched program has the old one's tensors, parameters and denominators: its index differs in keys alone.
  const keys = new Map(segmentAt);
  for (const { oldKey } of changed) keys.delete(oldKey);
  for (const { oldKey, key } of changed) keys.set(key, segmentAt.get(oldKey)!);
  indexes.set(patched, { segmentAt: keys, firstWriter, partSteps, known });
  return patched;
}
