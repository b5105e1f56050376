// Builds the Node CLI (src/cli/main.ts) into one ES module, dist/cli/lrp-lens.mjs, run by bin/lrp-lens.mjs.
// Everything is bundled (the engine, shaders imported with `?raw`, protobufjs, fflate) except Node's built-in
// modules and 'webgpu', Dawn's native addon, which is loaded from node_modules at run time.
import { builtinModules } from 'node:module';
import { defineConfig } from 'vite';

const external = ['webgpu', /^node:/, ...builtinModules];

export default defineConfig({
  root: '.',
  publicDir: false,
  logLevel: 'warn',
  ssr: {
    target: 'node',
    noExternal: true,
    external: ['webgpu'],
  },
  build: {
    ssr: 'src/cli/main.ts',
    outDir: 'dist/cli',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    sourcemap: true,
    copyPublicDir: false,
    reportCompressedSize: false,
    rolldownOptions: {
      external,
      output: {
        format: 'es',
        entryFileNames: 'lrp-lens.mjs',
        chunkFileNames: 'chunks/[name]-[hash].mjs',
      },
    },
  },
});
