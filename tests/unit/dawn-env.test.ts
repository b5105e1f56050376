/**
 * Which Vulkan driver Dawn for Node gets (scripts/dawn-env.mjs): SwiftShader when the machine has no Vulkan driver of
 * its own; the system's drivers when Dawn finds an adapter there; SwiftShader again when it does not (Mesa's
 * lavapipe, which Dawn refuses, or GPU drivers without their hardware).
 */
import { describe, expect, it } from 'vitest';
import { SWIFTSHADER_ICD, VULKAN_CHOICE, softwareVulkanEnv, systemVulkanHasAdapter } from '../../scripts/dawn-env.mjs';

const fsWith = (systemIcds: boolean, systemHasAdapter: () => boolean) => ({
  exists: (p: string) => p === SWIFTSHADER_ICD,
  hasFiles: () => systemIcds,
  systemHasAdapter,
});

describe('Vulkan driver choice for Dawn', () => {
  it('uses SwiftShader when the machine has no Vulkan driver, without probing', () => {
    let probed = false;
    const env = softwareVulkanEnv({}, fsWith(false, () => (probed = true)));
    expect(env).toMatchObject({ VK_ICD_FILENAMES: SWIFTSHADER_ICD, [VULKAN_CHOICE]: 'swiftshader' });
    expect(env!.LD_LIBRARY_PATH).toContain('/usr/lib/chromium');
    expect(probed).toBe(false);
  });

  it('keeps the system drivers when Dawn gets an adapter from them (a GPU)', () => {
    expect(softwareVulkanEnv({}, fsWith(true, () => true))).toEqual({ [VULKAN_CHOICE]: 'system' });
  });

  it('falls back to SwiftShader when the system drivers give no adapter (lavapipe only)', () => {
    expect(softwareVulkanEnv({}, fsWith(true, () => false))).toMatchObject({ VK_ICD_FILENAMES: SWIFTSHADER_ICD, [VULKAN_CHOICE]: 'swiftshader' });
  });

  it('probes once: a process started with the choice does not choose again', () => {
    const never = () => {
      throw new Error('probed');
    };
    expect(softwareVulkanEnv({ [VULKAN_CHOICE]: 'system' }, fsWith(true, never))).toBeNull();
    expect(softwareVulkanEnv({ VK_ICD_FILENAMES: '/x.json' }, fsWith(true, never))).toBeNull();
  });

  it('the probe answers on this machine', () => {
    // Whatever the drivers here, the probe must come back with a yes or no (not hang, not throw).
    expect(typeof systemVulkanHasAdapter()).toBe('boolean');
  }, 90_000);
});
