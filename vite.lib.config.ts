// Builds the `lrp-lens` package's library (docs/api.md) into dist/lib: two ES module entries, `index.js` (the
// `lrp-lens` entry: browsers through any bundler, Node, workers) and `node.js` (`lrp-lens/node`: file paths and
// Dawn's WebGPU), with the engine in shared chunks and its WGSL shaders inlined as strings (`?raw`). The package's
// dependencies (protobufjs, fflate, webgpu) and Node's built-in modules stay imports, resolved in the consumer's
// node_modules. The declarations (index.d.ts, node.d.ts, types.d.ts, ...) are emitted beside them from
// tsconfig.lib.json by the plugin below; they are self-contained (src/lib/types.ts), which the plugin checks.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { defineConfig, type Plugin } from 'vite';

const root = dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
const deps = Object.keys(pkg.dependencies ?? {});
const external = [...deps, ...deps.map((d) => new RegExp(`^${d}/`)), /^node:/, ...builtinModules];
const outDir = join(root, 'dist/lib');

/** Emits the declarations of src/lib/*.ts into dist/lib; fails the build on a type error or an import leaving src/lib. */
function declarations(): Plugin {
  return {
    name: 'lrp-lens-declarations',
    apply: 'build',
    closeBundle() {
      const configPath = join(root, 'tsconfig.lib.json');
      const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')); } });
      if (!parsed) throw new Error('cannot read tsconfig.lib.json');
      const program = ts.createProgram(parsed.fileNames, parsed.options);
      const libDir = join(root, 'src/lib');
      const problems: string[] = [];
      for (const d of ts.getPreEmitDiagnostics(program)) {
        const file = d.file?.fileName;
        if (file && !resolve(file).startsWith(libDir)) continue; // the rest of the tree is `npm run typecheck`'s
        problems.push(ts.formatDiagnostic(d, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' }).trim());
      }
      const written: string[] = [];
      program.emit(undefined, (fileName, text) => {
        const rel = relative(resolve(root, parsed.options.outDir!, 'lib'), fileName);
        if (rel.startsWith('..') || !rel.endsWith('.d.ts')) return; // declarations of the engine are not shipped
        for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
          if (!/^\.\/[\w-]+\.js$/.test(m[1]!)) problems.push(`src/lib/${rel}: the declaration imports ${m[1]}, outside the package's types (keep the public types in src/lib/types.ts)`);
        }
        const out = join(outDir, rel);
        mkdirSync(dirname(out), { recursive: true });
        writeFileSync(out, text);
        written.push(rel);
      }, undefined, true);
      if (problems.length > 0) throw new Error(`declarations of src/lib:\n${problems.join('\n')}`);
      if (!written.includes('index.d.ts') || !written.includes('node.d.ts')) throw new Error(`declarations of src/lib: index.d.ts and node.d.ts were not emitted (got ${written.join(', ')})`);
    },
  };
}

export default defineConfig({
  root: '.',
  publicDir: false,
  logLevel: 'warn',
  plugins: [declarations()],
  // src/engine/wasm/fast-wasm.ts: no browser GEMM helpers in the package (their script would not reach a consumer's bundle).
  define: { __LRP_LENS_PACKAGE__: 'true' },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    copyPublicDir: false,
    reportCompressedSize: false,
    lib: {
      entry: { index: 'src/lib/index.ts', node: 'src/lib/node.ts' },
      formats: ['es'],
    },
    rolldownOptions: {
      external,
      output: {
        entryFileNames: '[name].js',
        chunkFileNames: 'chunks/[name]-[hash].js',
      },
    },
  },
});
