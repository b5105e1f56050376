/**
 * The GEMM helpers' protocol, one for Node's worker_threads and browsers' Web Workers (./fast-wasm.ts starts them):
 * each helper has its own instance of the shared-memory GEMM (assembly/gemm.ts) over the arena's shared
 * WebAssembly.Memory and a small control block, an Int32Array on a SharedArrayBuffer of CONTROL_BYTES:
 *
 * - [0]: the request's sequence number; the caller writes the arguments, then increments it and notifies;
 * - [1]: non-zero ends the helper's loop (set before the last increment);
 * - [2..12]: the GEMM's 11 arguments (m, n, k, a, ars, acs, b, ldb, c, ldc, accumulate);
 * - [13]: the sequence number of the last request the helper finished (notified); the caller waits on it.
 */

/** Bytes of a helper's control block. */
export const CONTROL_BYTES = 16 * 4;

export type GemmFn = (m: number, n: number, k: number, a: number, ars: number, acs: number, b: number, ldb: number, c: number, ldc: number, accumulate: number) => void;

/**
 * A helper's loop: wait for a new sequence number in c[0], run the GEMM whose arguments are in c[2..12], publish the
 * sequence number in c[13]; c[1] != 0 ends it. Self-contained (no outside names): Node's helpers run it from its
 * source text (`gemmLoop.toString()`, ./fast-wasm.ts), browsers' import it (./gemm-worker.ts).
 */
export function gemmLoop(c: Int32Array, gemm: GemmFn): void {
  let seen = 0;
  for (;;) {
    Atomics.wait(c, 0, seen);
    seen = Atomics.load(c, 0);
    if (c[1] !== 0) break;
    gemm(c[2]!, c[3]!, c[4]!, c[5]!, c[6]!, c[7]!, c[8]!, c[9]!, c[10]!, c[11]!, c[12]!);
    Atomics.store(c, 13, seen);
    Atomics.notify(c, 13);
  }
}

/** How long a browser helper waits for the next GEMM blocked (Atomics.wait) before it waits without blocking. */
export const BLOCKING_WAIT_MS = 5;

/**
 * gemmLoop for a browser helper, on the same control block: between bursts of GEMMs the helper waits with
 * Atomics.waitAsync, so that its event loop keeps running (devtools and test drivers can reach it; the browser can
 * end it); within a burst (a request less than BLOCKING_WAIT_MS after the last) it waits blocked, as Node's helpers
 * do, which wakes sooner. Where Atomics.waitAsync is missing, gemmLoop. `done` runs when told to end.
 */
export function gemmServe(c: Int32Array, gemm: GemmFn, done: () => void): void {
  const waitAsync = (Atomics as { waitAsync?: (a: Int32Array, i: number, v: number) => { async: boolean; value: Promise<unknown> | string } }).waitAsync;
  if (typeof waitAsync !== 'function') {
    gemmLoop(c, gemm);
    done();
    return;
  }
  let seen = 0;
  const serve = (): void => {
    for (;;) {
      if (Atomics.wait(c, 0, seen, BLOCKING_WAIT_MS) === 'timed-out') {
        const w = waitAsync(c, 0, seen);
        if (w.async) {
          void (w.value as Promise<unknown>).then(serve);
          return;
        }
      }
      seen = Atomics.load(c, 0);
      if (c[1] !== 0) {
        done();
        return;
      }
      gemm(c[2]!, c[3]!, c[4]!, c[5]!, c[6]!, c[7]!, c[8]!, c[9]!, c[10]!, c[11]!, c[12]!);
      Atomics.store(c, 13, seen);
      Atomics.notify(c, 13);
    }
  };
  serve();
}

/** What a browser helper is sent to start: the shared-memory GEMM module, the arena's memory, its control block. */
export interface GemmHelperStart {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly control: SharedArrayBuffer;
}

/** A browser helper's answer to its start message, just before it enters gemmLoop. */
export type GemmHelperReady = { readonly ok: true } | { readonly ok: false; readonly error: string };
