/**
 * Buffer reuse by lifetime: the relevance pass's temporaries (each layer's stabilised denominator z and quotient s)
 * live only while their layer's relevance is computed, so tensors whose lifetimes do not overlap share storage.
 * On VGG16 that turns one z and one s per layer into a few buffers of the largest layer's size.
 *
 * Only temporaries that the relevance steps alone touch are shared, and not the cached denominators
 * (Program.denominators), which must survive until the next explanation. The forward state (input, parameters,
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

/** The step with its TensorRefs' ids replaced (shapes and sizes kept); the step itself where no id changes. */
function remapStep<S extends Step>(step: S, id: (old: number) => number): S {
  let changed = false;
  const map = (v: unknown): unknown => {
    if (isRef(v)) {
      const to = id(v.id);
      if (to === v.id) return v;
      changed = true;
      return { ...v, id: to };
    }
    return Array.isArray(v) ? v.map(map) : v;
  };
  const out: Record<string, unknown> = {};
  for (const k in step) out[k] = map(step[k]);
  return changed ? (out as S) : step;
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
  // (The forward steps name forward state alone, which is never shared.)
  for (const step of program.paramSteps) for (const r of stepRefs(step)) pinned.add(r.id);
  const o = program.outputs;
  const hookRefs = (o.hooks ?? []).flatMap((h) => [h.activation, h.relevance]);
  for (const part of program.denominators ?? []) for (const id of part.tensors) pinned.add(id);
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
    // (Declarations that keep their id are kept as they are: the forward state, and all before the first shared one.)
    tensors.push(t.id === tensors.length ? t : { ...t, id: tensors.length });
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
    // The forward state keeps its ids (every shared temporary comes after it), so the forward steps stay as they are.
    forwardSteps: program.forwardSteps,
    relevanceSteps: program.relevanceSteps.map((s) => remapStep(s, id)),
    segments: program.segments.map((s) => ({ ...s, writes: s.writes.map(id) })),
    ...(program.denominators ? { denominators: program.denominators.map((d) => ({ ...d, tensors: d.tensors.map(id) })) } : {}),
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
