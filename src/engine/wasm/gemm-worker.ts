/**
 * A browser GEMM helper (a module Web Worker started by ./fast-wasm.ts from the cpu-fast backend's thread, itself a
 * worker: Atomics.wait is refused on a page's main thread). It instantiates the shared-memory GEMM on the memory it
 * is sent, answers, and runs the protocol of ./gemm-protocol.ts (Node's helpers' loop, waiting without blocking
 * between bursts: gemmServe) until told to end.
 */
import { gemmServe, type GemmFn, type GemmHelperReady, type GemmHelperStart } from './gemm-protocol';

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<GemmHelperStart>) => void) | null;
  postMessage(message: GemmHelperReady): void;
};

scope.onmessage = (e) => {
  scope.onmessage = null;
  const { module, memory, control } = e.data;
  let gemm: GemmFn;
  try {
    gemm = (new WebAssembly.Instance(module, { env: { memory } }).exports as { gemm: GemmFn }).gemm;
  } catch (err) {
    scope.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
    return;
  }
  scope.postMessage({ ok: true });
  gemmServe(new Int32Array(control), gemm, () => self.close());
};
