/**
 * WebGPU in Node through Dawn (npm `webgpu`). On a machine without a GPU the adapter comes from SwiftShader,
 * which needs the environment from ./dawn-env set before the process starts: run Node tools through
 * bin/lrp-lens.mjs or scripts/with-dawn-env.mjs (vitest), which take care of it.
 */
import { setFlagsFromString } from 'node:v8';
import { create, globals } from 'webgpu';
import { DAWN_NODE_FLAGS, softwareVulkanEnv } from './dawn-env';

export const NO_ADAPTER_MESSAGE =
  "no WebGPU adapter: install Debian's chromium package for SwiftShader, or run on a machine with a Vulkan GPU driver";

let globalsInstalled = false;

/** Puts Dawn's WebGPU globals (GPUBufferUsage, GPUMapMode, GPUShaderStage, ...) on globalThis once. */
export function installWebGpuGlobals(): void {
  if (globalsInstalled) return;
  const target = globalThis as Record<string, unknown>;
  for (const [name, value] of Object.entries(globals as Record<string, unknown>)) {
    if (!(name in target)) target[name] = value;
  }
  globalsInstalled = true;
}

/**
 * Best effort for processes not started with DAWN_NODE_FLAGS (see scripts/dawn-env.mjs): set them now. V8 reads
 * some flags only at start-up, so the launchers still pass them on the command line.
 */
function applyDawnNodeFlags(): void {
  for (const flag of DAWN_NODE_FLAGS) {
    if (!process.execArgv.includes(flag)) setFlagsFromString(flag);
  }
}

/**
 * Creates Dawn's GPU object on the Vulkan backend (without a backend option adapter requests crashed on some
 * machines) and checks that it offers an adapter. Throws with an actionable message when it does not.
 */
export async function createNodeGpu(): Promise<GPU> {
  applyDawnNodeFlags();
  installWebGpuGlobals();
  const gpu = create(['backend=vulkan']);
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    const missing = softwareVulkanEnv();
    const hint = missing
      ? ` (this process was started without ${Object.entries(missing)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}; start it through bin/lrp-lens.mjs or scripts/with-dawn-env.mjs)`
      : '';
    throw new Error(NO_ADAPTER_MESSAGE + hint);
  }
  return gpu;
}
