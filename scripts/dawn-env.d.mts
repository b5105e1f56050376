export declare const CHROMIUM_LIB_DIR: string;
export declare const SWIFTSHADER_ICD: string;
export declare const SYSTEM_ICD_DIRS: readonly string[];
export declare const DAWN_NODE_FLAGS: readonly string[];

export interface DawnEnvFs {
  exists?: (path: string) => boolean;
  hasFiles?: (dir: string) => boolean;
}

export declare function softwareVulkanEnv(env?: NodeJS.ProcessEnv, fs?: DawnEnvFs): NodeJS.ProcessEnv | null;
