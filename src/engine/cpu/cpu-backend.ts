/**
 * The CPU backend: executes a Program's steps with the float64 kernel references. The reference for tests and
 * the fallback where a browser has no WebGPU.
 */
import type { Program, TensorRef } from '../program';
import { kernelFor } from '../kernels/registry';
import type { CpuMemory } from '../kernels/kernel';
import { checkHookScales, runContext, seedCode, SharedForward, type ProgramRunner, type RunRequest, type RunResult } from '../runner';

export type CpuSharedForward = SharedForward<Float64Array[]>;

const allocate = (t: Program['tensors'][number]) => (t.data ? Float64Array.from(t.data) : new Float64Array(t.size));

export class CpuProgramRunner implements ProgramRunner {
  private readonly memory: Float64Array[];
  private readonly mem: CpuMemory;
  private paramsReady = false;

  /** `shared` holds the forward state of every program of the same graph (see Program.forwardTensors). */
  constructor(
    readonly program: Program,
    private readonly shared: CpuSharedForward = new SharedForward<Float64Array[]>([]),
  ) {
    const forward = shared.storage;
    if (forward.length === 0) forward.push(...program.tensors.slice(0, program.forwardTensors).map(allocate));
    this.memory = [...forward, ...program.tensors.slice(program.forwardTensors).map(allocate)];
    // A tensor sharing storage by lifetime (buffer-reuse.ts) uses a prefix of it.
    this.mem = {
      get: (ref: TensorRef) => {
        const m = this.memory[ref.id]!;
        return m.length === ref.size ? m : m.subarray(0, ref.size);
      },
    };
  }

  async run(request: RunRequest): Promise<RunResult> {
    const p = this.program;
    if (!this.paramsReady) {
      for (const step of p.paramSteps) kernelFor(step).cpu(step, this.mem);
      this.paramsReady = true;
    }
    if (request.input.length !== p.input.size) throw new RangeError(`input has ${request.input.length} values, the model takes ${p.input.size}`);
    const control = this.mem.get(p.control);
    control[0] = request.target;
    control[1] = request.contrastTarget;
    control[2] = seedCode(request);
    if (!request.forwardOnly) {
      checkHookScales(p, request);
      (p.hookScales ?? []).forEach((ref, i) => this.mem.get(ref).set(request.hookScales![i]!));
    }
    const forward = !this.shared.holds(request.input);
    if (forward) {
      this.mem.get(p.input).set(request.input);
      for (const step of p.forwardSteps) kernelFor(step).cpu(step, this.mem);
      this.shared.remember(request.input);
    }
    const read = (ref: TensorRef) => Float32Array.from(this.mem.get(ref));
    if (request.forwardOnly) return { logits: read(p.outputs.logits), relevance: new Float32Array(0), target: -1, layers: [], work: { forward, relevanceSteps: 0 } };
    const context = runContext(request);
    const skip = this.shared.reusableSegments(p, request.input, context);
    const from = skip < p.segments.length ? p.segments[skip]!.start : p.relevanceSteps.length;
    this.shared.invalidateRelevance();
    for (const step of p.relevanceSteps.slice(from)) kernelFor(step).cpu(step, this.mem);
    this.shared.ran(p, context);
    return {
      logits: read(p.outputs.logits),
      relevance: read(p.outputs.relevance),
      target: this.mem.get(p.outputs.target)[0]!,
      layers: request.layerRelevance ? p.outputs.layers.map((l) => read(l.ref)) : [],
      ...(p.outputs.hooks ? { hooks: p.outputs.hooks.map((h) => ({ activation: read(h.activation), relevance: read(h.relevance) })) } : {}),
      work: { forward, relevanceSteps: p.relevanceSteps.length - from },
    };
  }

  dispose(): void {
    this.memory.length = 0;
  }
}
