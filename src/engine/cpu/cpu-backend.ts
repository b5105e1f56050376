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
    if (!this.paramsReady) {
      for (const step of this.program.paramSteps) kernelFor(step).cpu(step, this.mem);
      this.paramsReady = true;
    }
    return runOnHost(
      {
        program: this.program,
        shared: this.shared,
        get: (ref) => this.mem.get(ref),
        read: (ref) => Float32Array.from(this.mem.get(ref)),
        exec: (step) => kernelFor(step).cpu(step, this.mem),
      },
      request,
    );
  }

  dispose(): void {
    this.memory.length = 0;
  }
}
