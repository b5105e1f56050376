// Unit tests: `npm run test:unit` runs them through scripts/with-dawn-env.mjs, so that Dawn for Node gets
// SwiftShader's Vulkan driver on machines without a GPU.
import { defineConfig } from 'vitest/config';
import { DAWN_NODE_FLAGS } from './scripts/dawn-env.mjs';

export default defineConfig({
  test: {
    include: ['tests/unit/**/*.test.ts'],
    environment: 'node',
    // Child processes, not worker threads: Dawn's native addon and its threads stay one per test file.
    pool: 'forks',
    // V8 flags that keep Dawn over SwiftShader from crashing (see scripts/dawn-env.mjs).
    execArgv: [...DAWN_NODE_FLAGS],
    // Two cores and a CPU Vulkan driver: WebGPU tests are slow here.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
