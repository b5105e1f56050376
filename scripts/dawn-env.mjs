// Environment that lets Dawn for Node (npm `webgpu`) find a Vulkan driver on a machine without a GPU.
//
// Dawn dlopen()s libvulkan.so.1 and the Vulkan loader reads its driver list (ICDs) when the process starts,
// so these variables must be in place before Node starts: callers re-exec themselves (bin/lrp-lens.mjs) or
// start the child with them (scripts/with-dawn-env.mjs). Debian's chromium package ships both a Vulkan
// loader and SwiftShader (a CPU Vulkan driver) in /usr/lib/chromium.
//
// Plain JavaScript so that Node can run it without a build step; src/node/dawn-env.ts re-exports it for
// TypeScript callers.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * Set in the environment once the Vulkan driver is chosen ('system' or 'swiftshader'), so that processes started
 * with it (vitest workers, a re-executed CLI) do not probe again.
 */
export const VULKAN_CHOICE = 'LRP_LENS_VULKAN';

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
 * Whether Dawn gets an adapter from the system's Vulkan drivers, asked in a child process (the Vulkan loader reads
 * its driver list once per process). Mesa's lavapipe, installed with mesa-vulkan-drivers on many Linux machines
 * without a GPU, is such a driver that Dawn refuses ("shaderUniform*ArrayDynamicIndexing required").
 */
export function systemVulkanHasAdapter(env = process.env) {
  const probe = [
    "import { create, globals } from 'webgpu';",
    'Object.assign(globalThis, globals);',
    "const a = await create(['backend=vulkan']).requestAdapter();",
    "process.stdout.write(a ? 'adapter' : 'none');",
    'process.exit(0);',
  ].join(' ');
  const r = spawnSync(process.execPath, [...DAWN_NODE_FLAGS, '--input-type=module', '-e', probe], {
    cwd: root,
    env: { ...env, [VULKAN_CHOICE]: 'probe' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return r.status === 0 && r.stdout.trim() === 'adapter';
}

/**
 * The variables to add to `env` so that Dawn gets a Vulkan adapter, or null when nothing is needed or possible:
 * a driver is already chosen (VK_ICD_FILENAMES / VK_DRIVER_FILES set, or an earlier probe's choice), or chromium's
 * SwiftShader is not installed. Without system Vulkan drivers SwiftShader is used. With them, they are tried first
 * (a real GPU), and SwiftShader is used when Dawn finds no adapter there (lavapipe only, or drivers without their
 * hardware); the choice is recorded in LRP_LENS_VULKAN and said by `vulkanChoiceNote`.
 *
 * @param {NodeJS.ProcessEnv} [env]
 * @param {{ exists?: (path: string) => boolean, hasFiles?: (dir: string) => boolean, systemHasAdapter?: () => boolean }} [fs] for tests
 * @returns {NodeJS.ProcessEnv | null}
 */
export function softwareVulkanEnv(env = process.env, fs = {}) {
  const exists = fs.exists ?? existsSync;
  const dirHasFiles = fs.hasFiles ?? hasFiles;
  if (env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES || env[VULKAN_CHOICE]) return null;
  if (!exists(SWIFTSHADER_ICD)) return null;
  if (SYSTEM_ICD_DIRS.some((dir) => dirHasFiles(dir))) {
    const systemHasAdapter = fs.systemHasAdapter ?? (() => systemVulkanHasAdapter(env));
    if (systemHasAdapter()) return { [VULKAN_CHOICE]: 'system' };
  }
  const libPath = env.LD_LIBRARY_PATH ? env.LD_LIBRARY_PATH.split(delimiter).filter(Boolean) : [];
  if (!libPath.includes(CHROMIUM_LIB_DIR)) libPath.push(CHROMIUM_LIB_DIR);
  return { LD_LIBRARY_PATH: libPath.join(delimiter), VK_ICD_FILENAMES: SWIFTSHADER_ICD, [VULKAN_CHOICE]: 'swiftshader' };
}
