// Environment that lets Dawn for Node (npm `webgpu`) find a Vulkan driver on a machine without a GPU.
//
// Dawn dlopen()s libvulkan.so.1 and the Vulkan loader reads its driver list (ICDs) when the process starts,
// so these variables must be in place before Node starts: callers re-exec themselves (bin/lrp-lens.mjs) or
// start the child with them (scripts/with-dawn-env.mjs). Debian's chromium package ships both a Vulkan
// loader and SwiftShader (a CPU Vulkan driver) in /usr/lib/chromium.
//
// Plain JavaScript so that Node can run it without a build step; src/node/dawn-env.ts re-exports it for
// TypeScript callers.
import { existsSync, readdirSync } from 'node:fs';
import { delimiter } from 'node:path';

export const CHROMIUM_LIB_DIR = '/usr/lib/chromium';
export const SWIFTSHADER_ICD = `${CHROMIUM_LIB_DIR}/vk_swiftshader_icd.json`;
export const SYSTEM_ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d'];

/**
 * V8 flags for every Node process that drives Dawn. With V8's concurrent (background-thread) TurboFan
 * compilation on, Dawn over SwiftShader crashed or hung in about half of the runs of a bundled script
 * (SIGSEGV, SIGABRT "The futex facility returned an unexpected error code", or a pthread mutex assertion in
 * dawn::native::InstanceBase::ProcessEvents while awaiting mapAsync); with it off, 50 of 50 runs passed.
 * These are V8 flags, which NODE_OPTIONS refuses: pass them on the node command line (bin/lrp-lens.mjs does,
 * and vitest.config.ts gives them to its workers).
 */
export const DAWN_NODE_FLAGS = ['--no-concurrent-recompilation'];

function hasFiles(dir) {
  try {
    return readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

/**
 * The variables to add to `env` so that Dawn gets SwiftShader's Vulkan adapter, or null when nothing is
 * needed or possible: a driver is already chosen (VK_ICD_FILENAMES / VK_DRIVER_FILES set), the system has a
 * Vulkan driver of its own, or chromium's SwiftShader is not installed.
 *
 * @param {NodeJS.ProcessEnv} [env]
 * @param {{ exists?: (path: string) => boolean, hasFiles?: (dir: string) => boolean }} [fs] for tests
 * @returns {NodeJS.ProcessEnv | null}
 */
export function softwareVulkanEnv(env = process.env, fs = {}) {
  const exists = fs.exists ?? existsSync;
  const dirHasFiles = fs.hasFiles ?? hasFiles;
  if (env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES) return null;
  if (!exists(SWIFTSHADER_ICD)) return null;
  if (SYSTEM_ICD_DIRS.some((dir) => dirHasFiles(dir))) return null;
  const libPath = env.LD_LIBRARY_PATH ? env.LD_LIBRARY_PATH.split(delimiter).filter(Boolean) : [];
  if (!libPath.includes(CHROMIUM_LIB_DIR)) libPath.push(CHROMIUM_LIB_DIR);
  return { LD_LIBRARY_PATH: libPath.join(delimiter), VK_ICD_FILENAMES: SWIFTSHADER_ICD };
}
