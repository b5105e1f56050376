// Builds the benchmark's Node entry (src/bench/main.ts) into one self-contained ES module, dist/bench/bench.mjs:
// the engine, its shaders (`?raw`) and protobufjs are bundled; only Node's built-in modules and 'webgpu' (Dawn's
// native addon, resolved from node_modules at run time) stay external. scripts/bench.mjs builds and runs it; on a
// GPU machine it runs alone (scripts/bench-device.sh).
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
    ssr: 'src/bench/main.ts',
    outDir: 'dist/bench',
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
        entryFileNames: 'bench.mjs',
        // One file: the bundle travels alone to the GPU machine.
        codeSplitting: false,
      },
    },
  },
});
