/**
 * The WASM side of the fast CPU backend: one instance of the float32 SIMD GEMM (assembly/gemm.ts, compiled into
 * ./gemm-wasm.ts) and its linear memory, laid out as [reserved 64 KiB | persistent blocks | scratch]. Persistent
 * blocks (a convolution's weights with the rule's modifier applied) are allocated once and kept; the scratch region
 * after them holds one kernel call's im2col matrix and GEMM output. Growing the memory detaches old views, so
 * callers take `f32` after their last `alloc` / `scratch` of a call.
 */
import { GEMM_SHARED_WASM_BASE64, GEMM_WASM_BASE64 } from './gemm-wasm';

type GemmFn = (m: number, n: number, k: number, a: number, ars: number, acs: number, b: number, ldb: number, c: number, ldc: number, accumulate: number) => void;

const PAGE = 65536;
const RESERVED = PAGE;

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

let compiled: Promise<WebAssembly.Module> | null = null;
let compiledShared: Promise<WebAssembly.Module> | null = null;

/** Node's worker_threads Worker, as much of it as the pool uses. */
interface NodeWorker {
  unref(): void;
  terminate(): Promise<number>;
  once(event: 'online' | 'error', listener: (e?: unknown) => void): void;
}
type WorkerConstructor = new (code: string, options: { eval: true; workerData: unknown }) => NodeWorker;

/** worker_threads where this is Node (process.getBuiltinModule: no import, so browser bundles are unaffected). */
function nodeWorker(): WorkerConstructor | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const mod = proc?.getBuiltinModule?.('node:worker_threads') as { Worker?: WorkerConstructor } | undefined;
  return mod?.Worker ?? null;
}

/** The cores this process may use, in Node (os.availableParallelism); 1 elsewhere. */
export function nodeCores(): number {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const os = proc?.getBuiltinModule?.('node:os') as { availableParallelism?: () => number; cpus?: () => unknown[] } | undefined;
  return Math.max(1, os?.availableParallelism?.() ?? os?.cpus?.().length ?? 1);
}

/**
 * A worker's loop: wait for a new sequence number in control[0], run the GEMM whose arguments are in control[2..12]
 * on its own instance over the shared memory, publish the sequence number in control[13]. control[1] != 0 ends it.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control } = workerData;
const gemm = new WebAssembly.Instance(module, { env: { memory } }).exports.gemm;
const c = new Int32Array(control);
let seen = 0;
for (;;) {
  Atomics.wait(c, 0, seen);
  seen = Atomics.load(c, 0);
  if (c[1] !== 0) break;
  gemm(c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12]);
  Atomics.store(c, 13, seen);
  Atomics.notify(c, 13);
}`;

/** Worker threads that each run a share of a GEMM's rows, synchronously for the caller (Atomics.wait). */
class GemmThreads {
  private readonly controls: Int32Array[];

  private constructor(private readonly workers: NodeWorker[], controls: SharedArrayBuffer[]) {
    this.controls = controls.map((b) => new Int32Array(b));
  }

  get size(): number {
    return this.workers.length;
  }

  static async start(count: number, module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<GemmThreads | null> {
    const Worker = nodeWorker();
    if (!Worker || count < 1) return null;
    const controls = Array.from({ length: count }, () => new SharedArrayBuffer(16 * 4));
    const workers = controls.map((control) => new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, control } }));
    try {
      await Promise.all(workers.map((w) => new Promise<void>((ok, fail) => {
        w.once('online', () => ok());
        w.once('error', (e) => fail(e instanceof Error ? e : new Error(String(e))));
      })));
    } catch {
      for (const w of workers) void w.terminate();
      return null;
    }
    for (const w of workers) w.unref();
    const threads = new GemmThreads(workers, controls);
    // One empty round trip: a worker that cannot run (no instance) must not leave a later GEMM waiting forever.
    for (let i = 0; i < count; i++) {
      threads.post(i, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
      if (!threads.finish(i, 10_000)) {
        threads.dispose();
        return null;
      }
    }
    return threads;
  }

  post(i: number, args: readonly number[]): void {
    const c = this.controls[i]!;
    for (let j = 0; j < 11; j++) c[2 + j] = args[j]!;
    Atomics.store(c, 0, c[0]! + 1);
    Atomics.notify(c, 0);
  }

  /** Waits until worker i has finished its last post; false on timeout. */
  finish(i: number, timeoutMs = Infinity): boolean {
    const c = this.controls[i]!;
    const want = Atomics.load(c, 0);
    const until = performance.now() + timeoutMs;
    for (;;) {
      const done = Atomics.load(c, 13);
      if (done === want) return true;
      const left = until - performance.now();
      if (left <= 0) return false;
      Atomics.wait(c, 13, done, Math.min(left, 1000));
    }
  }

  dispose(): void {
    this.controls.forEach((c, i) => {
      c[1] = 1;
      Atomics.store(c, 0, c[0]! + 1);
      Atomics.notify(c, 0);
      void this.workers[i]!.terminate();
    });
  }
}

/** Whether this environment runs WASM SIMD (the module validates only where f32x4 is supported). */
export function wasmSimdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(decodeBase64(GEMM_WASM_BASE64));
  } catch {
    return false;
  }
}

export class WasmArena {
  private top = RESERVED;
  private view: Float32Array;
  private readonly memory: WebAssembly.Memory;
  private readonly gemmFn: GemmFn;
  private threads: GemmThreads | null = null;

  private constructor(instance: WebAssembly.Instance) {
    const exports = instance.exports as { memory: WebAssembly.Memory; gemm: GemmFn };
    this.memory = exports.memory;
    this.gemmFn = exports.gemm;
    this.ensure(RESERVED + PAGE);
    this.view = new Float32Array(this.memory.buffer);
  }

  /**
   * `threads` > 1: GEMMs are split by rows over that many threads (this one and threads - 1 worker threads on a
   * shared memory), in Node only (worker_threads); elsewhere, or when the workers do not start, one thread.
   */
  static async create(threads = 1): Promise<WasmArena> {
    if (threads > 1 && typeof SharedArrayBuffer !== 'undefined' && nodeWorker()) {
      try {
        compiledShared ??= WebAssembly.compile(decodeBase64(GEMM_SHARED_WASM_BASE64));
        const module = await compiledShared;
        // A shared memory reserves its maximum (4 GiB of address space) up front; where that fails, one thread.
        const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
        const arena = new WasmArena(await WebAssembly.instantiate(module, { env: { memory } }));
        arena.threads = await GemmThreads.start(threads - 1, module, memory);
        if (arena.threads) return arena;
      } catch {
        // one thread, below
      }
    }
    compiled ??= WebAssembly.compile(decodeBase64(GEMM_WASM_BASE64));
    return new WasmArena(await WebAssembly.instantiate(await compiled, {}));
  }

  /** Threads a GEMM runs on. */
  get threadCount(): number {
    return 1 + (this.threads?.size ?? 0);
  }

  /** Ends the worker threads (the arena stays usable, on one thread). */
  dispose(): void {
    this.threads?.dispose();
    this.threads = null;
  }

  /** The whole memory as floats (index = byte address / 4); valid until the next alloc or scratch. */
  get f32(): Float32Array {
    if (this.view.buffer !== this.memory.buffer) this.view = new Float32Array(this.memory.buffer);
    return this.view;
  }

  /** Bytes of linear memory in use by persistent blocks. */
  get persistentBytes(): number {
    return this.top - RESERVED;
  }

  private ensure(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / PAGE));
  }

  /** A persistent block of `floats` floats (16-byte aligned); returns its byte address. */
  alloc(floats: number): number {
    const at = this.top;
    this.top = at + Math.ceil((floats * 4) / 16) * 16;
    this.ensure(this.top);
    return at;
  }

  /** Scratch for one call: byte addresses of blocks of the given float counts, after the persistent blocks. */
  scratch(...floats: number[]): number[] {
    let at = this.top;
    const out: number[] = [];
    for (const f of floats) {
      out.push(at);
      at += Math.ceil((f * 4) / 16) * 16;
    }
    this.ensure(at);
    return out;
  }

  /** C[i*ldc + j] (+)= sum_k A[i*ars + k*acs] * B[k*ldb + j]; a, b, c byte addresses, strides in floats. */
  gemm(m: number, n: number, k: number, a: number, ars: number, acs: number, b: number, ldb: number, c: number, ldc: number, accumulate: boolean): void {
    if (m === 0 || n === 0) return;
    const acc = accumulate ? 1 : 0;
    const threads = this.threads;
    if (threads && m >= 8 && m * n * k >= 1 << 18) {
      // Rows in blocks of a multiple of 4 (whole register tiles): the workers take the first ones, this thread the rest.
      const rows = Math.ceil(m / (threads.size + 1) / 4) * 4;
      let posted = 0;
      for (let i = 0; i < threads.size && (i + 1) * rows < m; i++, posted++) {
        threads.post(i, [rows, n, k, a + i * rows * ars * 4, ars, acs, b, ldb, c + i * rows * ldc * 4, ldc, acc]);
      }
      const from = posted * rows;
      this.gemmFn(m - from, n, k, a + from * ars * 4, ars, acs, b, ldb, c + from * ldc * 4, ldc, acc);
      for (let i = 0; i < posted; i++) threads.finish(i);
      return;
    }
    this.gemmFn(m, n, k, a, ars, acs, b, ldb, c, ldc, acc);
  }
}
