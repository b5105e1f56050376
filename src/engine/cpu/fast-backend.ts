/**
 * The fast CPU backend ('cpu-fast'): runs a Program like the float64 CPU backend (./cpu-backend.ts), with float32
 * memory. Convolutions and Linear layers, forward and relevance, run as the WASM SIMD GEMM of ./fast-kernels.ts;
 * every other kernel runs its float64 reference code on the float32 arrays (the references only index their
 * arrays, so they are generic over the typed array; their temporaries stay float64). The float64 backend remains
 * the reference the tests compare against.
 */
import type { Program, TensorRef } from '../program';
import { kernelFor } from '../kernels/registry';
import type { CpuMemory } from '../kernels/kernel';
import type { Step } from '../kernels/steps';
import { SharedForward, type ProgramRunner, type RunRequest, type RunResult } from '../runner';
import { runOnHost } from './run-on-host';
import { nodeCores, WasmArena } from '../wasm/fast-wasm';
import { fastKernelFor, type FastContext, type FastMemory } from './fast-kernels';

/** The forward state of every program of one graph, and the WASM arena they share (its cached weights). */
export interface FastStore {
  tensors: Float32Array[];
  context: FastContext | null;
}
export type FastSharedForward = SharedForward<FastStore>;

export const createFastSharedForward = (): FastSharedForward => new SharedForward<FastStore>({ tensors: [], context: null });

const allocate = (t: Program['tensors'][number]) => (t.data ? Float32Array.from(t.data) : new Float32Array(t.size));

let threadsForNew: number | null = null;

/**
 * How many threads the GEMMs of cpu-fast models loaded from now on use: null (the default) every core of the
 * machine in Node (os.availableParallelism), 1 the calling thread alone; more than 1 runs worker threads on a shared
 * WASM memory, in Node only (elsewhere one thread). Returns the previous value.
 */
export function setFastCpuThreads(threads: number | null): number | null {
  const before = threadsForNew;
  threadsForNew = threads === null ? null : Math.max(1, Math.floor(threads));
  return before;
}

/** Ends the worker threads of a model's shared state (cpu-fast models' dispose). */
export function disposeFastShared(shared: FastSharedForward): void {
  shared.storage.context?.arena.dispose();
  shared.storage.context = null;
  shared.storage.tensors.length = 0;
}

export class FastCpuProgramRunner implements ProgramRunner {
  private readonly memory: Float32Array[];
  private readonly mem: FastMemory;
  private paramsReady = false;

  private constructor(
    readonly program: Program,
    private readonly shared: FastSharedForward,
    private readonly context: FastContext,
    /** Created for this runner alone (a batch program): its threads end with it. */
    private readonly ownsShared: boolean,
  ) {
    const forward = shared.storage.tensors;
    if (forward.length === 0) forward.push(...program.tensors.slice(0, program.forwardTensors).map(allocate));
    this.memory = [...forward, ...program.tensors.slice(program.forwardTensors).map(allocate)];
    this.mem = {
      get: (ref: TensorRef) => {
        const m = this.memory[ref.id]!;
        return m.length === ref.size ? m : m.subarray(0, ref.size);
      },
      isParam: (ref: TensorRef) => program.tensors[ref.id]?.kind === 'param',
      storage: (ref: TensorRef) => this.memory[ref.id]!,
    };
  }

  static async create(program: Program, shared?: FastSharedForward): Promise<FastCpuProgramRunner> {
    const own = shared ?? createFastSharedForward();
    own.storage.context ??= { arena: await WasmArena.create(threadsForNew ?? nodeCores()), weights: new WeakMap(), buffers: [] };
    return new FastCpuProgramRunner(program, own, own.storage.context, !shared);
  }

  private exec(step: Step): void {
    const fast = fastKernelFor(step);
    if (fast) fast(step, this.mem, this.context);
    // The reference code reads and writes the float32 arrays as it would float64 ones.
    else kernelFor(step).cpu(step, this.mem as unknown as CpuMemory);
  }

  async run(request: RunRequest): Promise<RunResult> {
    if (!this.paramsReady) {
      for (const step of this.program.paramSteps) this.exec(step);
      this.paramsReady = true;
    }
    return runOnHost(
      { program: this.program, shared: this.shared, get: (ref) => this.mem.get(ref), read: (ref) => this.mem.get(ref).slice(), exec: (step) => this.exec(step) },
      request,
    );
  }

  dispose(): void {
    this.memory.length = 0;
    if (this.ownsShared) disposeFastShared(this.shared);
  }
}
