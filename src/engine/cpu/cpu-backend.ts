/**
 * The CPU backend: executes a Program's steps with the float64 kernel references. The reference for tests and
 * the fallback where a browser has no WebGPU.
 */
import type { Program, TensorRef } from '../program';
import { kernelFor } from '../kernels/registry';
import type { CpuMemory } from '../kernels/kernel';
import type { ProgramRunner, RunRequest, RunResult } from '../runner';

export class CpuProgramRunner implements ProgramRunner {
  private readonly memory: Float64Array[];
  private readonly mem: CpuMemory;
  private paramsReady = false;

  constructor(readonly program: Program) {
    this.memory = program.tensors.map((t) => (t.data ? Float64Array.from(t.data) : new Float64Array(t.size)));
    this.mem = { get: (ref: TensorRef) => this.memory[ref.id]! };
  }

  async run(request: RunRequest): Promise<RunResult> {
    const p = this.program;
    if (!this.paramsReady) {
      for (const step of p.paramSteps) kernelFor(step).cpu(step, this.mem);
      this.paramsReady = true;
    }
    if (request.input.length !== p.input.size) throw new RangeError(`input has ${request.input.length} values, the model takes ${p.input.size}`);
    this.mem.get(p.input).set(request.input);
    const control = this.mem.get(p.control);
    control[0] = request.target;
    control[1] = request.contrastTarget;
    for (const step of p.forwardSteps) kernelFor(step).cpu(step, this.mem);
    const read = (ref: TensorRef) => Float32Array.from(this.mem.get(ref));
    if (request.forwardOnly) return { logits: read(p.outputs.logits), relevance: new Float32Array(0), target: -1, layers: [] };
    for (const step of p.relevanceSteps) kernelFor(step).cpu(step, this.mem);
    return {
      logits: read(p.outputs.logits),
      relevance: read(p.outputs.relevance),
      target: this.mem.get(p.outputs.target)[0]!,
      layers: request.layerRelevance ? p.outputs.layers.map((l) => read(l.ref)) : [],
    };
  }

  dispose(): void {
    this.memory.length = 0;
  }
}
