/**
 * One run of a Program on host memory: the flow both CPU backends share (the float64 reference, ./cpu-backend.ts,
 * and the float32 cpu-fast, ./fast-backend.ts). They differ only in how a step executes and how a tensor is read
 * back; the order (control, hook factors, cached forward pass, reusable relevance segments, cached denominators) lives here once.
 */
import type { Program, TensorRef } from '../program';
import type { Step } from '../kernels/steps';
import { checkHookScales, runContext, seedCode, type RunRequest, type RunResult, type SharedForward } from '../runner';

export interface HostRun {
  readonly program: Program;
  readonly shared: SharedForward<unknown>;
  /** A tensor's values, writable (a prefix of its storage where buffers are shared by lifetime). */
  get(ref: TensorRef): { [i: number]: number; set(values: ArrayLike<number>): void };
  /** A tensor's values as a fresh Float32Array. */
  read(ref: TensorRef): Float32Array;
  exec(step: Step): void;
  /** Param steps the runner ran before this run (RunResult.work.paramSteps). */
  readonly paramSteps?: number;
}

export function runOnHost(h: HostRun, request: RunRequest): RunResult {
  const p = h.program;
  if (request.input.length !== p.input.size) throw new RangeError(`input has ${request.input.length} values, the model takes ${p.input.size}`);
  const control = h.get(p.control);
  control[0] = request.target;
  control[1] = request.contrastTarget;
  control[2] = seedCode(request);
  if (!request.forwardOnly) {
    checkHookScales(p, request);
    (p.hookScales ?? []).forEach((ref, i) => h.get(ref).set(request.hookScales![i]!));
  }
  const forward = !h.shared.holds(request.input);
  if (forward) {
    h.get(p.input).set(request.input);
    for (const step of p.forwardSteps) h.exec(step);
    h.shared.remember(request.input);
  }
  const read = (ref: TensorRef) => h.read(ref);
  const paramSteps = h.paramSteps ?? 0;
  if (request.forwardOnly) return { logits: read(p.outputs.logits), relevance: new Float32Array(0), target: -1, layers: [], work: { forward, relevanceSteps: 0, paramSteps } };
  const context = runContext(request);
  const skip = h.shared.reusableSegments(p, request.input, context);
  const from = skip < p.segments.length ? p.segments[skip]!.start : p.relevanceSteps.length;
  // Denominator steps whose values the cache holds for this input are skipped (Program.denominators).
  const plan = h.shared.denominators.plan(p, from);
  h.shared.invalidateRelevance();
  for (let i = from; i < p.relevanceSteps.length; i++) if (!plan.skip[i]) h.exec(p.relevanceSteps[i]!);
  h.shared.denominators.computed(p, plan.parts);
  h.shared.ran(p, context);
  return {
    logits: read(p.outputs.logits),
    relevance: read(p.outputs.relevance),
    target: h.get(p.outputs.target)[0]!,
    layers: request.layerRelevance ? p.outputs.layers.map((l) => read(l.ref)) : [],
    ...(p.outputs.hooks ? { hooks: p.outputs.hooks.map((hk) => ({ activation: read(hk.activation), relevance: read(hk.relevance) })) } : {}),
    work: { forward, relevanceSteps: p.relevanceSteps.length - from, denominatorSteps: plan.denominatorSteps, cachedSteps: plan.cachedSteps, paramSteps },
  };
}
