/**
 * The WASM side of the fast CPU backend: one instance of the float32 SIMD GEMM and the convolutions' im2col /
 * col2im (assembly/gemm.ts, assembly/im2col.ts, compiled into ./gemm-wasm.ts) and its linear memory, laid out as
 * [reserved 64 KiB | persistent blocks | scratch]. Persistent blocks (a convolution's weights with the rule's
 * modifier applied) are allocated once and kept; the scratch region after them holds one kernel call's input, im2col
 * matrix and GEMM output. Growing the memory detaches old views, so
 * callers take `f32` after their last `alloc` / `scratch` of a call.
 */
import { GEMM_SHARED_WASM_BASE64, GEMM_WASM_BASE64 } from './gemm-wasm';
import { CONTROL_BYTES, gemmLoop, type GemmFn, type GemmHelperReady, type GemmHelperStart } from './gemm-protocol';
import type { WindowGeometry } from '../kernels/steps';

const PAGE = 65536;
const RESERVED = PAGE;
/** How long helpers may take to start (a browser fetches and runs the helper's script) before one thread runs. */
const START_TIMEOUT_MS = 5_000;

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

let compiled: Promise<WebAssembly.Module> | null = null;
let compiledShared: Promise<WebAssembly.Module> | null = null;

/** A helper thread, as much of it as the pool uses: a Node worker_threads Worker or a browser Web Worker. */
interface Helper {
  terminate(): unknown;
}

/** Node's worker_threads Worker, as much of it as the pool uses. */
interface NodeWorker extends Helper {
  unref(): void;
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

/** True in the lrp-lens package's build (vite.lib.config.ts `define`); undefined elsewhere. */
declare const __LRP_LENS_PACKAGE__: boolean | undefined;

/**
 * Why a browser cannot run GEMM helpers here, or null where it can: helpers share the arena's memory
 * (SharedArrayBuffer, which needs a cross-origin isolated page: COOP + COEP headers, docs/security.md) and the
 * calling thread waits for them with Atomics.wait, which browsers allow in workers only (the app's engine worker),
 * never on a page's main thread.
 */
export function browserThreadsUnavailable(): string | null {
  // The lrp-lens package (vite.lib.config.ts defines this): a consumer's bundler does not carry the helper script
  // that `new URL('./gemm-worker.ts', import.meta.url)` names, so the package runs one thread in browsers.
  if (typeof __LRP_LENS_PACKAGE__ !== 'undefined' && __LRP_LENS_PACKAGE__) return 'the lrp-lens package runs one thread in browsers';
  const g = globalThis as { crossOriginIsolated?: boolean; DedicatedWorkerGlobalScope?: unknown; Worker?: unknown; navigator?: { hardwareConcurrency?: number } };
  if (typeof g.Worker !== 'function') return 'no Web Workers here';
  if (typeof SharedArrayBuffer === 'undefined' || g.crossOriginIsolated !== true) return 'the page is not cross-origin isolated';
  if (typeof g.DedicatedWorkerGlobalScope !== 'function') return 'not in a worker (Atomics.wait is refused on the main thread)';
  if ((g.navigator?.hardwareConcurrency ?? 1) < 2) return 'one core';
  return null;
}

/**
 * The default thread count of the fast CPU backend's GEMMs: every core; in Node os.availableParallelism(), in a
 * browser navigator.hardwareConcurrency (WasmArena.create runs one thread, and says why, where
 * browserThreadsUnavailable() does not allow helpers), else 1.
 */
export function defaultGemmThreads(): number {
  if (nodeWorker()) return nodeCores();
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.floor(cores));
}

/** Node's helper: gemmLoop (./gemm-protocol.ts) from its source text, on the module and memory of workerData. */
const NODE_WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control } = workerData;
const gemm = new WebAssembly.Instance(module, { env: { memory } }).exports.gemm;
(${gemmLoop.toString()})(new Int32Array(control), gemm);`;

/** Starts Node helpers; resolves when all are online. */
async function startNodeHelpers(Worker: WorkerConstructor, controls: readonly SharedArrayBuffer[], module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<Helper[]> {
  const workers = controls.map((control) => new Worker(NODE_WORKER_SOURCE, { eval: true, workerData: { module, memory, control } }));
  try {
    await Promise.all(workers.map((w) => new Promise<void>((ok, fail) => {
      w.once('online', () => ok());
      w.once('error', (e) => fail(e instanceof Error ? e : new Error(String(e))));
    })));
  } catch (e) {
    for (const w of workers) void w.terminate();
    throw e;
  }
  for (const w of workers) w.unref();
  return workers;
}

/**
 * Starts browser helpers: module Web Workers from ./gemm-worker.ts, a same-origin script the bundler emits (the
 * app's Content Security Policy allows workers from 'self' only); resolves when each has its GEMM instance.
 */
async function startBrowserHelpers(controls: readonly SharedArrayBuffer[], module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<Helper[]> {
  const workers: Worker[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    for (let i = 0; i < controls.length; i++) workers.push(new Worker(new URL('./gemm-worker.ts', import.meta.url), { type: 'module', name: `lrp-lens GEMM ${i + 1}` }));
    const started = Promise.all(workers.map((w, i) => new Promise<void>((ok, fail) => {
      w.onmessage = (e: MessageEvent<GemmHelperReady>) => (e.data.ok ? ok() : fail(new Error(`a GEMM worker could not instantiate the module: ${e.data.error}`)));
      w.onerror = (e) => {
        e.preventDefault();
        fail(new Error(`a GEMM worker did not start${e.message ? `: ${e.message}` : ''}`));
      };
      const start: GemmHelperStart = { module, memory, control: controls[i]! };
      w.postMessage(start);
    })));
    const late = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`the GEMM workers did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    });
    await Promise.race([started, late]);
  } catch (e) {
    for (const w of workers) w.terminate();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  for (const w of workers) w.onmessage = w.onerror = null;
  return workers;
}

/** Helper threads that each run a share of a GEMM's rows, synchronously for the caller (Atomics.wait). */
class GemmThreads {
  private readonly controls: Int32Array[];

  private constructor(private readonly helpers: Helper[], controls: readonly SharedArrayBuffer[]) {
    this.controls = controls.map((b) => new Int32Array(b));
  }

  get size(): number {
    return this.helpers.length;
  }

  /** `count` helpers on worker_threads (Node) or Web Workers (browsers); throws, saying why, where they do not start. */
  static async start(count: number, module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<GemmThreads> {
    const controls = Array.from({ length: count }, () => new SharedArrayBuffer(CONTROL_BYTES));
    const Worker = nodeWorker();
    const helpers = Worker ? await startNodeHelpers(Worker, controls, module, memory) : await startBrowserHelpers(controls, module, memory);
    const threads = new GemmThreads(helpers, controls);
    // One empty round trip: a helper that cannot run (no instance) must not leave a later GEMM waiting forever.
    for (let i = 0; i < count; i++) {
      threads.post(i, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
      if (!threads.finish(i, 10_000)) {
        threads.dispose();
        throw new Error('a GEMM helper did not answer within 10 s');
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

  /** Waits until helper i has finished its last post; false on timeout. */
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
      void this.helpers[i]!.terminate();
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

/** assembly/im2col.ts's exports: (source, channels, h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, destination). */
type WindowFn = (src: number, c: number, h: number, w: number, oh: number, ow: number, kh: number, kw: number, sh: number, sw: number, dh: number, dw: number, pt: number, pl: number, dst: number) => void;

export class WasmArena {
  private top = RESERVED;
  private view: Float32Array;
  private readonly memory: WebAssembly.Memory;
  private readonly gemmFn: GemmFn;
  private readonly im2colFn: WindowFn;
  private readonly col2imFn: WindowFn;
  private readonly addBiasFn: (c: number, rows: number, cols: number, bias: number) => void;
  private threads: GemmThreads | null = null;

  private constructor(instance: WebAssembly.Instance) {
    const exports = instance.exports as { memory: WebAssembly.Memory; gemm: GemmFn; im2col: WindowFn; col2im: WindowFn; addBias: WasmArena['addBiasFn'] };
    this.memory = exports.memory;
    this.gemmFn = exports.gemm;
    this.im2colFn = exports.im2col;
    this.col2imFn = exports.col2im;
    this.addBiasFn = exports.addBias;
    this.ensure(RESERVED + PAGE);
    this.view = new Float32Array(this.memory.buffer);
  }

  /**
   * `threads` > 1: GEMMs are split by rows over that many threads (this one and threads - 1 helpers on a shared
   * memory): worker_threads in Node, Web Workers in a browser's worker where browserThreadsUnavailable() allows
   * them. Where they cannot or do not start (within START_TIMEOUT_MS), one thread, and `threadNote` says why.
   */
  static async create(threads = 1): Promise<WasmArena> {
    let note: string | null = null;
    if (threads > 1) {
      const unavailable = nodeWorker() ? null : browserThreadsUnavailable();
      if (unavailable !== null) note = unavailable;
      else {
        try {
          compiledShared ??= WebAssembly.compile(decodeBase64(GEMM_SHARED_WASM_BASE64));
          const module = await compiledShared;
          // A shared memory reserves its maximum (4 GiB of address space) up front; where that fails, one thread.
          const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
          const arena = new WasmArena(await WebAssembly.instantiate(module, { env: { memory } }));
          arena.threads = await GemmThreads.start(threads - 1, module, memory);
          return arena;
        } catch (e) {
          note = (e as Error).message || String(e);
        }
      }
    }
    compiled ??= WebAssembly.compile(decodeBase64(GEMM_WASM_BASE64));
    const arena = new WasmArena(await WebAssembly.instantiate(await compiled, {}));
    arena.threadNote = note;
    return arena;
  }

  /** Why this arena runs on one thread though more were asked for (null: it got what it asked for). */
  threadNote: string | null = null;

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

  /**
   * im2col of `channels` planes at byte address x into dst: row ((ci * kh + ky) * kw + kx) holds the tap's input
   * for every output position (oh x ow), 0 in the padding.
   */
  im2col(x: number, channels: number, g: WindowGeometry, dst: number): void {
    this.im2colFn(x, channels, g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.strideH, g.strideW, g.dilH, g.dilW, g.padTop, g.padLeft, dst);
  }

  /** col2im, the transpose of im2col: the planes at byte address acc += the columns at src, per tap. */
  col2im(src: number, channels: number, g: WindowGeometry, acc: number): void {
    this.col2imFn(src, channels, g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.strideH, g.strideW, g.dilH, g.dilW, g.padTop, g.padLeft, acc);
  }

  /** c[r * cols + j] += bias[r] (byte addresses): a convolution's bias on its GEMM output, one row per channel. */
  addBias(c: number, rows: number, cols: number, bias: number): void {
    this.addBiasFn(c, rows, cols, bias);
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
