/**
 * Buffer reuse by lifetime: the relevance pass's temporaries (each layer's stabilised denominator z and quotient s)
 * live only while their layer's relevance is computed, so tensors whose lifetimes do not overlap share storage.
 * On VGG16 that turns one z and one s per layer into a few buffers of the largest layer's size.
 *
 * Only temporaries that the relevance steps alone touch are shared. The forward state (input, parameters,
 * activations, every value's relevance, the chosen target) is shared between programs and kept for re-explanation;
 * modified parameters (w+, w-) are written once in the param phase and read throughout. Both keep their storage.
 *
 * A shared tensor is declared with the largest size among its members; a step's TensorRef keeps its own shape and
 * size, and kernels use those (never the storage's length), so a member uses a prefix of the storage. A member is
 * written before it is read within its lifetime (the first z term and every s overwrite), so what an earlier
 * member left there is never seen.
 */
import type { Program, TensorDecl, TensorRef } from './program';
import type { Step } from './kernels/steps';

const isRef = (v: unknown): v is TensorRef =>
  typeof v === 'object' && v !== null && typeof (v as TensorRef).id === 'number' && typeof (v as TensorRef).size === 'number' && Array.isArray((v as TensorRef).shape);

/** Every TensorRef a step names (fields, and refs inside arrays). */
export function stepRefs(step: Step): TensorRef[] {
  const out: TensorRef[] = [];
  for (const v of Object.values(step)) {
    if (isRef(v)) out.push(v);
    else if (Array.isArray(v)) for (const x of v) if (isRef(x)) out.push(x);
  }
  return out;
}

/** The step with its TensorRefs' ids replaced (shapes and sizes kept). */
function remapStep<S extends Step>(step: S, id: (old: number) => number): S {
  const map = (v: unknown): unknown => (isRef(v) ? { ...v, id: id(v.id) } : Array.isArray(v) ? v.map(map) : v);
  return Object.fromEntries(Object.entries(step).map(([k, v]) => [k, map(v)])) as unknown as S;
}

interface Lifetime {
  readonly id: number;
  readonly size: number;
  readonly first: number;
  last: number;
}

/**
 * The program with its relevance temporaries packed into shared storage by lifetime (first to last relevance step
 * that names them): greedy in order of first use, each one into the free storage whose size fits it best (the
 * smallest that holds it, else the largest, which grows). Step order and semantics are unchanged.
 */
export function reuseBuffersByLifetime(program: Program): Program {
  const pinned = new Set<number>();
  for (const step of [...program.paramSteps, ...program.forwardSteps]) for (const r of stepRefs(step)) pinned.add(r.id);
  const o = program.outputs;
  const hookRefs = (o.hooks ?? []).flatMap((h) => [h.activation, h.relevance]);
  for (const r of [o.logits, o.relevance, o.target, program.input, program.control, ...o.layers.map((l) => l.ref), ...hookRefs, ...(program.hookScales ?? [])]) pinned.add(r.id);
  const eligible = (t: TensorDecl) => t.id >= program.forwardTensors && t.kind === 'temp' && !t.data && !pinned.has(t.id);

  const lifetimes = new Map<number, Lifetime>();
  program.relevanceSteps.forEach((step, i) => {
    for (const r of stepRefs(step)) {
      const t = program.tensors[r.id]!;
      if (!eligible(t)) continue;
      const l = lifetimes.get(r.id);
      if (l) l.last = i;
      else lifetimes.set(r.id, { id: r.id, size: t.size, first: i, last: i });
    }
  });
  if (lifetimes.size < 2) return program;

  // Storage slots: each holds members with disjoint lifetimes; `free` is the step after which it can be reused.
  const slots: { size: number; free: number; members: number[] }[] = [];
  for (const l of [...lifetimes.values()].sort((a, b) => a.first - b.first || a.id - b.id)) {
    const free = slots.filter((s) => s.free < l.first);
    const fitting = free.filter((s) => s.size >= l.size).sort((a, b) => a.size - b.size)[0];
    const slot = fitting ?? free.sort((a, b) => b.size - a.size)[0];
    if (slot) {
      slot.size = Math.max(slot.size, l.size);
      slot.free = l.last;
      slot.members.push(l.id);
    } else {
      slots.push({ size: l.size, free: l.last, members: [l.id] });
    }
  }

  // New numbering: every kept tensor in its old order (the forward state keeps its ids), then the slots.
  const newId = new Map<number, number>();
  const tensors: TensorDecl[] = [];
  for (const t of program.tensors) {
    if (lifetimes.has(t.id)) continue;
    newId.set(t.id, tensors.length);
    tensors.push({ ...t, id: tensors.length });
  }
  for (const [k, slot] of slots.entries()) {
    const id = tensors.length;
    const labels = slot.members.map((m) => program.tensors[m]!.label);
    tensors.push({ id, size: slot.size, kind: 'temp', label: `scratch ${k} (${labels.length} temporaries: ${labels.slice(0, 3).join(', ')}${labels.length > 3 ? ', ...' : ''})` });
    for (const m of slot.members) newId.set(m, id);
  }
  const id = (old: number) => newId.get(old)!;
  const ref = (r: TensorRef): TensorRef => ({ ...r, id: id(r.id) });
  return {
    ...program,
    tensors,
    input: ref(program.input),
    control: ref(program.control),
    paramSteps: program.paramSteps.map((s) => remapStep(s, id)),
    forwardSteps: program.forwardSteps.map((s) => remapStep(s, id)),
    relevanceSteps: program.relevanceSteps.map((s) => remapStep(s, id)),
    segments: program.segments.map((s) => ({ ...s, writes: s.writes.map(id) })),
    outputs: {
      logits: ref(o.logits),
      relevance: ref(o.relevance),
      target: ref(o.target),
      layers: o.layers.map((l) => ({ layer: l.layer, ref: ref(l.ref) })),
      ...(o.hooks ? { hooks: o.hooks.map((h) => ({ layer: h.layer, activation: ref(h.activation), relevance: ref(h.relevance) })) } : {}),
    },
    ...(program.hookScales ? { hookScales: program.hookScales.map(ref) } : {}),
  };
}
