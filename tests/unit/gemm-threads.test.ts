/**
 * The fast CPU backend's GEMM helpers (src/engine/wasm/fast-wasm.ts, the protocol of gemm-protocol.ts): when a
 * browser may start them (a cross-origin isolated page, in a worker), and the browser path itself (Web Workers,
 * a start handshake, a bounded wait, one thread where they fail), run here with a stand-in for the browser's
 * Worker made of a Node worker_threads worker that speaks the same messages as src/engine/wasm/gemm-worker.ts.
 * Node's own helpers (worker_threads) are tested in cpu-fast-kernels.test.ts.
 */
import { Worker as NodeWorker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { browserThreadsUnavailable, defaultGemmThreads, nodeCores, WasmArena } from '../../src/engine/wasm/fast-wasm';
import { BLOCKING_WAIT_MS, gemmLoop, gemmServe } from '../../src/engine/wasm/gemm-protocol';
import { setFastCpuThreads, startFastCpuThreads } from '../../src/engine/cpu/fast-backend';

/** What src/engine/wasm/gemm-worker.ts does, for worker_threads: instantiate, answer, serve (gemmServe). */
const HELPER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const gemmLoop = ${gemmLoop.toString()};
const BLOCKING_WAIT_MS = ${BLOCKING_WAIT_MS};
// A browser's worker lives until ended; Node's ends when nothing but an Atomics.waitAsync is pending.
const alive = setInterval(() => undefined, 1 << 30);
parentPort.once('message', ({ module, memory, control }) => {
  if (workerData.mode === 'silent') return;
  let gemm;
  try {
    gemm = new WebAssembly.Instance(module, { env: { memory } }).exports.gemm;
  } catch (e) {
    parentPort.postMessage({ ok: false, error: e.message });
    return;
  }
  parentPort.postMessage({ ok: true });
  (${gemmServe.toString()})(new Int32Array(control), gemm, () => clearInterval(alive));
});
if (workerData.mode === 'throws') throw new Error('cannot load');`;

type Mode = 'ok' | 'silent' | 'throws';
const started: { url: string; type: string | undefined }[] = [];
const live = new Set<NodeWorker>();

/** A browser Worker's surface (what fast-wasm.ts uses), over worker_threads. */
function fakeWorker(mode: Mode) {
  return class FakeWebWorker {
    onmessage: ((e: { data: unknown }) => void) | null = null;
    onerror: ((e: { message: string; preventDefault(): void }) => void) | null = null;
    private readonly w: NodeWorker;

    constructor(url: URL, options?: { type?: string }) {
      started.push({ url: String(url), type: options?.type });
      this.w = new NodeWorker(HELPER_SOURCE, { eval: true, workerData: { mode } });
      live.add(this.w);
      this.w.unref();
      this.w.on('message', (data) => this.onmessage?.({ data }));
      this.w.on('error', (e: Error) => this.onerror?.({ message: e.message, preventDefault() {} }));
    }

    postMessage(message: unknown): void {
      this.w.postMessage(message);
    }

    terminate(): void {
      live.delete(this.w);
      void this.w.terminate();
    }
  };
}

/** This process as a browser's cross-origin isolated worker with `cores` cores (Node's worker_threads hidden). */
function asBrowserWorker(cores: number, mode: Mode = 'ok', isolated = true): void {
  const builtin = process.getBuiltinModule.bind(process);
  vi.spyOn(process, 'getBuiltinModule').mockImplementation(((id: string) => (id === 'node:worker_threads' ? undefined : builtin(id))) as typeof process.getBuiltinModule);
  vi.stubGlobal('Worker', fakeWorker(mode));
  vi.stubGlobal('crossOriginIsolated', isolated);
  vi.stubGlobal('DedicatedWorkerGlobalScope', function DedicatedWorkerGlobalScope() {});
  vi.stubGlobal('navigator', { hardwareConcurrency: cores });
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
  started.length = 0;
  for (const w of live) void w.terminate();
  live.clear();
});

/** C = A B on the arena, m x n from m x k and k x n, large enough to be split over the threads. */
function product(arena: WasmArena, a: Float32Array, b: Float32Array, m: number, n: number, k: number): Float32Array {
  const [aAt, bAt, cAt] = arena.scratch(m * k, k * n, m * n);
  const f = arena.f32;
  f.set(a, aAt! >> 2);
  f.set(b, bAt! >> 2);
  arena.gemm(m, n, k, aAt!, k, 1, bAt!, n, cAt!, n, false);
  return arena.f32.slice(cAt! >> 2, (cAt! >> 2) + m * n);
}

describe('where a browser may start GEMM helpers', () => {
  it('in Node: never (Node has its own helpers), every core by default', () => {
    expect(browserThreadsUnavailable()).toBe('no Web Workers here');
    expect(defaultGemmThreads()).toBe(nodeCores());
  });

  it('in a cross-origin isolated worker with several cores: hardwareConcurrency threads', () => {
    asBrowserWorker(6);
    expect(browserThreadsUnavailable()).toBeNull();
    expect(defaultGemmThreads()).toBe(6);
  });

  it('elsewhere one thread, saying why', () => {
    asBrowserWorker(4, 'ok', false);
    expect(browserThreadsUnavailable()).toBe('the page is not cross-origin isolated');
    expect(defaultGemmThreads()).toBe(4); // asked for; WasmArena.create gives one, saying why (below)
    vi.stubGlobal('crossOriginIsolated', true);
    vi.stubGlobal('DedicatedWorkerGlobalScope', undefined);
    expect(browserThreadsUnavailable()).toMatch(/not in a worker/);
    vi.stubGlobal('DedicatedWorkerGlobalScope', function DedicatedWorkerGlobalScope() {});
    vi.stubGlobal('navigator', { hardwareConcurrency: 1 });
    expect(browserThreadsUnavailable()).toBe('one core');
    expect(defaultGemmThreads()).toBe(1);
    vi.stubGlobal('navigator', undefined);
    expect(defaultGemmThreads()).toBe(1);
  });
});

describe('browser GEMM helpers (Web Workers, stood in for by worker_threads)', () => {
  it('start from the bundled module script, split the rows, and give the one-thread product bit for bit', async () => {
    asBrowserWorker(3);
    const arena = await WasmArena.create(3);
    expect(arena.threadCount).toBe(3);
    expect(arena.threadNote).toBeNull();
    expect(started).toHaveLength(2);
    for (const s of started) {
      expect(s.url).toMatch(/\/gemm-worker\.ts$/);
      expect(s.type).toBe('module');
    }
    const one = await WasmArena.create(1);
    expect(one.threadCount).toBe(1);
    const [m, n, k] = [61, 300, 97];
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.37));
    const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.11));
    expect(product(arena, a, b, m, n, k)).toEqual(product(one, a, b, m, n, k));
    arena.dispose();
    expect(live.size).toBe(0);
    // Disposed, the arena still computes, on its own thread.
    expect(product(arena, a, b, m, n, k)).toEqual(product(one, a, b, m, n, k));
  });

  it('helpers idle past the blocking wait (waiting without blocking) still take the next GEMM', async () => {
    asBrowserWorker(2);
    const arena = await WasmArena.create(2);
    const one = await WasmArena.create(1);
    const [m, n, k] = [40, 257, 64];
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
    for (let round = 0; round < 3; round++) {
      await new Promise((r) => setTimeout(r, 4 * BLOCKING_WAIT_MS));
      expect(product(arena, a, b, m, n, k)).toEqual(product(one, a, b, m, n, k));
    }
    arena.dispose();
  });

  it('a helper whose script fails: one thread, saying why', async () => {
    asBrowserWorker(2, 'throws');
    const arena = await WasmArena.create(2);
    expect(arena.threadCount).toBe(1);
    expect(arena.threadNote).toMatch(/GEMM worker did not start: .*cannot load/);
    expect(live.size).toBe(0);
  });

  it('helpers that never answer: one thread after the start bound (5 s), no retry', async () => {
    asBrowserWorker(3, 'silent');
    const t0 = performance.now();
    const arena = await WasmArena.create(3);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(4_900);
    expect(arena.threadCount).toBe(1);
    expect(arena.threadNote).toBe('the GEMM workers did not start within 5 s');
    expect(started).toHaveLength(2);
    expect(live.size).toBe(0);
  }, 30_000);

  it('a page that is not cross-origin isolated starts no worker', async () => {
    asBrowserWorker(4, 'ok', false);
    const arena = await WasmArena.create(4);
    expect(arena.threadCount).toBe(1);
    expect(arena.threadNote).toBe('the page is not cross-origin isolated');
    expect(started).toHaveLength(0);
  });

  it('startFastCpuThreads (the app status line) starts the default threads once, for the next model', async () => {
    asBrowserWorker(2);
    const before = setFastCpuThreads(null);
    try {
      expect(await startFastCpuThreads()).toEqual({ threads: 2, note: null });
      expect(await startFastCpuThreads()).toEqual({ threads: 2, note: null });
      expect(started).toHaveLength(1);
      setFastCpuThreads(1);
      expect(await startFastCpuThreads()).toEqual({ threads: 1, note: null });
      expect(live.size).toBe(0); // the two-thread spare was ended
    } finally {
      setFastCpuThreads(before);
    }
  });
});
