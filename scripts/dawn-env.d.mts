export declare const CHROMIUM_LIB_DIR: string;
export declare const SWIFTSHADER_ICD: string;
export declare const SYSTEM_ICD_DIRS: readonly string[];
export declare const DAWN_NODE_FLAGS: readonly string[];
/** The environment variable that records the Vulkan driver choice ('system' or 'swiftshader'). */
export declare const VULKAN_CHOICE: string;

export interface DawnEnvFs {
  exists?: (path: string) => boolean;
  hasFiles?: (dir: string) => boolean;
  /** Whether Dawn gets an adapter from the system's Vulkan drivers (default: asked in a child process). */
  systemHasAdapter?: () => boolean;
}

export declare function systemVulkanHasAdapter(env?: NodeJS.ProcessEnv): boolean;
export declare function softwareVulkanEnv(env?: NodeJS.ProcessEnv, fs?: DawnEnvFs): NodeJS.ProcessEnv | null;
