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
import { defaultGemmThreads, WasmArena } from '../wasm/fast-wasm';
import { fastKernelFor, type FastContext, type FastMemory } from './fast-kernels';

/** The forward state of every program of one graph, and the WASM arena they share (its cached weights). */
export interface FastStore {
  tensors: Float32Array[];
  /**
   * The relevance temporaries, by tensor id, shared by all programs of the model: a run writes each temporary before
   * it reads it (buffer-reuse.ts) and runs are synchronous, one at a time, so no program sees another's values. A
   * program made for a rule change (compiled or patched: ../program-patch.ts) then allocates nothing.
   */
  scratch: Float32Array[];
  context: FastContext | null;
  /** The context being made (its arena's threads starting): runners created meanwhile wait for the same one. */
  pending: Promise<FastContext> | null;
}
export type FastSharedForward = SharedForward<FastStore>;

export const createFastSharedForward = (): FastSharedForward => new SharedForward<FastStore>({ tensors: [], scratch: [], context: null, pending: null });

const allocate = (t: Program['tensors'][number]) => (t.data ? Float32Array.from(t.data) : new Float32Array(t.size));

let threadsForNew: number | null = null;

/**
 * How many threads the GEMMs of cpu-fast models loaded from now on use: null (the default) every core of the
 * machine (Node: os.availableParallelism; a browser: navigator.hardwareConcurrency, where the page is cross-origin
 * isolated and the engine runs in a worker, else 1), 1 the calling thread alone; more than 1 runs helper threads
 * (worker_threads, Web Workers) on a shared WASM memory (../wasm/fast-wasm.ts). Returns the previous value.
 */
export function setFastCpuThreads(threads: number | null): number | null {
  const before = threadsForNew;
  threadsForNew = threads === null ? null : Math.max(1, Math.floor(threads));
  return before;
}

/** An arena started by startFastCpuThreads and not yet used by a model. */
let spare: { threads: number; arena: WasmArena } | null = null;

/** The threads a model loaded now gets (setFastCpuThreads, else every core). */
const threadsWanted = (): number => threadsForNew ?? defaultGemmThreads();

/**
 * Starts the GEMM threads of the next cpu-fast model now and says how many run and, where fewer than asked for, why:
 * the app's status line, before a model loads. The next model takes them, so nothing starts twice.
 */
export async function startFastCpuThreads(): Promise<{ threads: number; note: string | null }> {
  const threads = threadsWanted();
  if (spare?.threads !== threads) {
    spare?.arena.dispose();
    spare = { threads, arena: await WasmArena.create(threads) };
  }
  return { threads: spare.arena.threadCount, note: spare.arena.threadNote };
}

/** A new model's arena: the spare one where its thread count is still the one wanted. */
async function newArena(): Promise<WasmArena> {
  const threads = threadsWanted();
  const s = spare;
  spare = null;
  if (s?.threads === threads) return s.arena;
  s?.arena.dispose();
  return WasmArena.create(threads);
}

/** Ends the worker threads of a model's shared state (cpu-fast models' dispose). */
export function disposeFastShared(shared: FastSharedForward): void {
  shared.storage.context?.arena.dispose();
  // Threads still starting end once they have started.
  if (!shared.storage.context) void shared.storage.pending?.then((c) => c.arena.dispose(), () => undefined);
  shared.storage.context = null;
  shared.storage.pending = null;
  shared.storage.tensors.length = 0;
  shared.storage.scratch.length = 0;
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
    // Cached denominators and modified parameters live in shared caches (one storage per key, across programs).
    const cached = shared.denominators.acquire(program, allocate, 4);
    const modified = shared.modified.acquire(program, allocate, 4);
    const scratch = shared.storage.scratch;
    const temporary = (t: Program['tensors'][number]): Float32Array => {
      if (t.kind !== 'temp' || t.data) return allocate(t);
      const held = scratch[t.id];
      if (held && held.length >= t.size) return held;
      return (scratch[t.id] = new Float32Array(Math.max(t.size, held?.length ?? 0)));
    };
    this.memory = [...forward, ...program.tensors.slice(program.forwardTensors).map((t) => cached.get(t.id) ?? modified.get(t.id) ?? temporary(t))];
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
    const store = own.storage;
    store.pending ??= newArena().then((arena) => (store.context = { arena, weights: new WeakMap(), buffers: [] }));
    const context = store.context ?? (await store.pending);
    return new FastCpuProgramRunner(program, own, context, !shared);
  }

  private exec(step: Step): void {
    const fast = fastKernelFor(step);
    if (fast) fast(step, this.mem, this.context);
    // The reference code reads and writes the float32 arrays as it would float64 ones.
    else kernelFor(step).cpu(step, this.mem as unknown as CpuMemory);
  }

  async run(request: RunRequest): Promise<RunResult> {
    // The modified parameters no other program of the model has computed yet (ModifiedParamCache).
    let paramSteps = 0;
    if (!this.paramsReady) {
      const steps = this.program.paramSteps;
      for (const i of this.shared.modified.pending(this.program)) {
        this.exec(steps[i]!);
        paramSteps++;
      }
      this.shared.modified.computed(this.program);
      this.paramsReady = true;
    }
    return runOnHost(
      { program: this.program, shared: this.shared, paramSteps, get: (ref) => this.mem.get(ref), read: (ref) => this.mem.get(ref).slice(), exec: (step) => this.exec(step) },
      request,
    );
  }

  dispose(): void {
    if (this.memory.length) {
      this.shared.denominators.release(this.program);
      this.shared.modified.release(this.program);
    }
    this.memory.length = 0;
    if (this.ownsShared) disposeFastShared(this.shared);
  }
}
