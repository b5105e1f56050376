/**
 * The CPU backend: executes a Program's steps with the float64 kernel references. The reference for tests and
 * the fallback where a browser has no WebGPU.
 */
import type { Program, TensorRef } from '../program';
import { kernelFor } from '../kernels/registry';
import type { CpuMemory } from '../kernels/kernel';
import { SharedForward, type ProgramRunner, type RunRequest, type RunResult } from '../runner';
import { runOnHost } from './run-on-host';

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
    // Cached denominators and modified parameters live in shared caches (one storage per key, across programs).
    const cached = shared.denominators.acquire(program, allocate, 8);
    const modified = shared.modified.acquire(program, allocate, 8);
    this.memory = [...forward, ...program.tensors.slice(program.forwardTensors).map((t) => cached.get(t.id) ?? modified.get(t.id) ?? allocate(t))];
    // A tensor sharing storage by lifetime (buffer-reuse.ts) uses a prefix of it.
    this.mem = {
      get: (ref: TensorRef) => {
        const m = this.memory[ref.id]!;
        return m.length === ref.size ? m : m.subarray(0, ref.size);
      },
    };
  }

  async run(request: RunRequest): Promise<RunResult> {
    // The modified parameters no other program of the model has computed yet (ModifiedParamCache).
    let paramSteps = 0;
    if (!this.paramsReady) {
      const steps = this.program.paramSteps;
      for (const i of this.shared.modified.pending(this.program)) {
        kernelFor(steps[i]!).cpu(steps[i]!, this.mem);
        paramSteps++;
      }
      this.shared.modified.computed(this.program);
      this.paramsReady = true;
    }
    return runOnHost(
      {
        program: this.program,
        paramSteps,
        shared: this.shared,
        get: (ref) => this.mem.get(ref),
        read: (ref) => Float32Array.from(this.mem.get(ref)),
        exec: (step) => kernelFor(step).cpu(step, this.mem),
      },
      request,
    );
  }

  dispose(): void {
    if (this.memory.length) {
      this.shared.denominators.release(this.program);
      this.shared.modified.release(this.program);
    }
    this.memory.length = 0;
  }
}
