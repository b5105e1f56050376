/**
 * What backend 'auto' runs on: the one policy the app, the CLI and the library share (createEngine applies it).
 * A hardware WebGPU adapter; else (a software adapter such as SwiftShader, no adapter, no WebGPU, a device that
 * fails to start) the fast float32 CPU backend, which gives the first heatmap sooner than a software WebGPU
 * (docs/performance.md); else, where WebAssembly SIMD is missing or blocked, the float64 CPU backend.
 */

/** The parts of GPUAdapterInfo that name an adapter (Dawn in Node and browsers fill different ones). */
export interface AdapterNaming {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
  readonly isFallbackAdapter?: boolean;
}

const SOFTWARE_RENDERERS = /swiftshader|llvmpipe|lavapipe|softpipe|software|microsoft basic render|warp/i;

/** The adapter's name as its info gives it. */
export function adapterName(info: AdapterNaming | undefined): string {
  if (!info) return 'WebGPU adapter';
  return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'WebGPU adapter';
}

/** A CPU rasteriser posing as a GPU (SwiftShader, llvmpipe/lavapipe, WARP) or the browser's fallback adapter. */
export function isSoftwareAdapter(info: AdapterNaming | undefined): boolean {
  if (!info) return false;
  if (info.isFallbackAdapter) return true;
  return SOFTWARE_RENDERERS.test(adapterName(info));
}

/** Why 'auto' passed over an adapter it found: null for a hardware adapter it should use. */
export function softwareAdapterReason(info: AdapterNaming | undefined): string | null {
  return isSoftwareAdapter(info) ? `the WebGPU adapter is ${adapterName(info)}, a software renderer` : null;
}
