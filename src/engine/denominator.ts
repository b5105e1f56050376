/**
 * Denominator parts (Program.denominators): per relevance segment, the steps whose inputs are the forward state
 * alone, found by a dataflow analysis over the compiled steps (no op file takes part). For LRP rules those are each
 * layer's denominators z (ZPlus's forward with w+, Flat's forward of ones, Gamma's modified forward, a rescaling
 * of z) and whatever else a rule derives from the input and the parameters. They depend on neither the relevance
 * arriving at the layer, nor the target, contrast or seed mode, nor hook factors: only on the input, the layer and
 * its rule. The runners cache their results per input (SharedForward.denominators), so a re-explanation after a
 * change at the top layer recomputes below it only the steps that carry relevance.
 *
 * A step belongs to a part when every tensor it reads is static (a parameter, a modified parameter, the input, an
 * activation: written by no relevance step, neither the control tensor nor a hook's factors) or a cached temporary,
 * and everything it writes is a cached temporary. A cached temporary is a relevance temporary (no output, no
 * forward state) that only part steps write and that only one segment touches. The part's key is its steps with
 * their tensors named canonically (forward state by id, which every program of a graph shares; parameters by
 * their deduplication key; modified parameters by source and modifier; cached temporaries by order of appearance),
 * so equal keys mean equal values for the same input, in any program of the same graph.
 */
import type { DenominatorPart, Program, TensorRef } from './program';
import type { Step, StepKind } from './kernels/steps';
import { stepRefs } from './buffer-reuse';

/** The fields a step writes, per kernel (every other TensorRef field is read). */
const WRITES: { readonly [K in StepKind]: readonly string[] } = {
  conv2d: ['out'],
  'conv2d-relevance': ['rin'],
  'stabilized-divide': ['s'],
  'modify-params': ['dst'],
  elementwise: ['out'],
  maxpool2d: ['out'],
  'maxpool2d-relevance': ['rin'],
  'seed-relevance': ['out', 'chosen'],
  'window-copy': ['out'],
  'broadcast-binary': ['out'],
  'sum-to-shape': ['out'],
  activation: ['out'],
  layernorm: ['out'],
  'layernorm-relevance': ['rin'],
  'strided-copy': ['out'],
  matmul: ['out'],
  softmax: ['out'],
};

/** The storage ids a step writes. */
export function stepWrites(step: Step): number[] {
  const fields = step as unknown as Record<string, TensorRef | null | undefined>;
  const out: number[] = [];
  for (const f of WRITES[step.kernel]) {
    const ref = fields[f];
    if (ref) out.push(ref.id);
  }
  return out;
}

/** The storage ids a step reads (an accumulating step also reads what it writes). */
export function stepReads(step: Step): number[] {
  return readsOf(step, stepWrites(step));
}

function readsOf(step: Step, written: readonly number[]): number[] {
  const reads = stepRefs(step).map((r) => r.id).filter((id) => !written.includes(id));
  if ((step as { accumulate?: boolean }).accumulate === true) reads.push(...written);
  return reads;
}

/** The program with its denominator parts (Program.denominators) found. */
/**
 * Part keys by segment key, for one graph (compile.ts keeps one per graph): a segment's part is a function of the
 * graph and the segment's key (the layer, its compiled rule and hook), so a program compiled again with a layer
 * under a rule seen before reuses the key instead of serialising its steps again (this runs per new rule
 * assignment, so per re-explanation). A stored key is used only when the part has the same kernels in the same
 * order; the map is cleared when it grows past KEY_MEMO_LIMIT entries.
 */
export type PartKeyMemo = Map<string, { readonly kernels: string; readonly key: string }>;
const KEY_MEMO_LIMIT = 4096;

export function findDenominators(program: Program, memo?: PartKeyMemo): Program {
  const steps = program.relevanceSteps;
  if (steps.length === 0) return program;
  const o = program.outputs;
  const perRun = new Set<number>([program.control.id, ...(program.hookScales ?? []).map((r) => r.id)]);
  const pinned = new Set<number>([o.logits, o.relevance, o.target, program.input, program.control, ...o.layers.map((l) => l.ref), ...(o.hooks ?? []).flatMap((h) => [h.activation, h.relevance])].map((r) => r.id));
  const setup = new Map<number, Step>();
  for (const step of [...program.paramSteps, ...program.forwardSteps]) for (const id of stepWrites(step)) setup.set(id, step);
  // (Loops, not flatMap: this runs per compiled program, so per re-explanation with new rules.)
  const writes = steps.map(stepWrites);
  const relWritten = new Set<number>();
  for (const ws of writes) for (const id of ws) relWritten.add(id);
  const isStatic = (id: number): boolean => {
    if (relWritten.has(id) || perRun.has(id)) return false;
    const t = program.tensors[id]!;
    return t.kind === 'param' || id === program.input.id || setup.has(id) || (id < program.forwardTensors && !!t.data);
  };

  const segmentOf = new Int32Array(steps.length).fill(-1);
  program.segments.forEach((s, k) => segmentOf.fill(k, s.start, s.end));
  const reads = steps.map((step, i) => readsOf(step, writes[i]!));
  // Candidates: relevance temporaries; then drop, until nothing changes, those with a writer that is not a part step
  // or touched by more than one segment.
  const cached = new Set<number>();
  for (const ws of writes) for (const id of ws) {
    const t = program.tensors[id]!;
    if (id >= program.forwardTensors && t.kind === 'temp' && !t.data && !pinned.has(id) && !setup.has(id)) cached.add(id);
  }
  // The one segment that touches each candidate (-2: several).
  const touchedBy = new Map<number, number>();
  const touch = (id: number, seg: number) => {
    if (!cached.has(id)) return;
    const before = touchedBy.get(id);
    touchedBy.set(id, before === undefined || before === seg ? seg : -2);
  };
  steps.forEach((_, i) => {
    for (const id of reads[i]!) touch(id, segmentOf[i]!);
    for (const id of writes[i]!) touch(id, segmentOf[i]!);
  });
  for (const [id, seg] of touchedBy) if (seg === -2) cached.delete(id);
  const isPart = (i: number): boolean =>
    writes[i]!.length > 0 && writes[i]!.every((id) => cached.has(id)) && reads[i]!.every((id) => cached.has(id) || isStatic(id));
  for (let changed = true; changed; ) {
    changed = false;
    steps.forEach((_, i) => {
      if (isPart(i)) return;
      for (const id of writes[i]!) if (cached.delete(id)) changed = true;
    });
  }

  const canonical = new Map<number, string>();
  const paramName = (id: number): string => {
    const t = program.tensors[id]!;
    if (t.kind === 'param') return `p:${t.label}`;
    const made = setup.get(id);
    if (made && made.kernel === 'modify-params') return `m:${paramName(made.src.id)}:${JSON.stringify(made.mod)}`;
    return `f${id}`;
  };
  const parts: DenominatorPart[] = [];
  program.segments.forEach((seg, k) => {
    const own: number[] = [];
    for (let i = seg.start; i < seg.end; i++) if (isPart(i)) own.push(i);
    if (own.length === 0) return;
    const tensors: number[] = [];
    const local = new Map<number, number>();
    const name = (id: number): string => {
      if (cached.has(id)) {
        let n = local.get(id);
        if (n === undefined) local.set(id, (n = tensors.push(id) - 1));
        return `t${n}`;
      }
      let c = canonical.get(id);
      if (c === undefined) canonical.set(id, (c = id < program.forwardTensors && program.tensors[id]!.kind !== 'param' ? `f${id}` : paramName(id)));
      return c;
    };
    const kernels = own.map((i) => steps[i]!.kernel).join(',');
    const known = memo?.get(seg.key);
    if (known && known.kernels === kernels) {
      // The cached temporaries in the order the key names them (its fields in order, arrays item by item).
      const visit = (v: unknown): void => {
        if (isTensorRef(v)) {
          if (cached.has(v.id)) name(v.id);
        }
        else if (Array.isArray(v)) v.forEach(visit);
      };
      for (const i of own) {
        const step = steps[i]! as unknown as Record<string, unknown>;
        for (const f in step) visit(step[f]);
      }
      parts.push({ key: known.key, segment: k, steps: own, tensors });
      return;
    }
    // Each step as JSON with its tensors by canonical name (shapes kept): JSON.stringify without a replacer.
    const named = (v: unknown): unknown => (isTensorRef(v) ? `${name(v.id)} ${v.shape.join('x')}` : Array.isArray(v) ? v.map(named) : v);
    const key = own
      .map((i) => {
        const step = steps[i]! as unknown as Record<string, unknown>;
        const copy: Record<string, unknown> = {};
        for (const f in step) copy[f] = named(step[f]);
        return JSON.stringify(copy);
      })
      .join(';');
    if (memo) {
      if (memo.size >= KEY_MEMO_LIMIT) memo.clear();
      memo.set(seg.key, { kernels, key });
    }
    parts.push({ key, segment: k, steps: own, tensors });
  });
  return parts.length ? { ...program, denominators: parts } : program;
}

function isTensorRef(v: unknown): v is TensorRef {
  return typeof v === 'object' && v !== null && typeof (v as TensorRef).id === 'number' && typeof (v as TensorRef).size === 'number' && Array.isArray((v as TensorRef).shape);
}
