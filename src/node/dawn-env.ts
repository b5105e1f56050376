/**
 * The environment Dawn for Node needs to find SwiftShader's Vulkan driver on a machine without a GPU.
 * The implementation is plain JavaScript (scripts/dawn-env.mjs) because the launchers that apply it run before
 * any build; this module is its typed entry point for TypeScript code.
 */
export { softwareVulkanEnv, CHROMIUM_LIB_DIR, DAWN_NODE_FLAGS, SWIFTSHADER_ICD, SYSTEM_ICD_DIRS } from '../../scripts/dawn-env.mjs';
