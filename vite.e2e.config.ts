// Pages for the browser tests (never part of the app's build): the engine harness and a bare WebGPU check,
// built into dist/e2e and served by `vite preview --config vite.e2e.config.ts`, which also serves the reference
// data of ../shared/goldens under /goldens/.
import { createReadStream, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Connect, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const goldensDir = resolve(here, process.env.LRP_LENS_GOLDENS ?? '../shared/goldens');

const contentTypes: Record<string, string> = {
  '.json': 'application/json',
  '.npy': 'application/octet-stream',
  '.npz': 'application/zip',
  '.onnx': 'application/octet-stream',
  '.data': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

function serveGoldens(req: IncomingMessage, res: ServerResponse, next: Connect.NextFunction): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (!url.pathname.startsWith('/goldens/')) return next();
  const file = resolve(goldensDir, decodeURIComponent(url.pathname.slice('/goldens/'.length)));
  let size: number;
  try {
    if (!file.startsWith(goldensDir + sep)) throw new Error('outside');
    const st = statSync(file);
    if (!st.isFile()) throw new Error('not a file');
    size = st.size;
  } catch {
    res.statusCode = 404;
    res.end(`not found: ${url.pathname}`);
    return;
  }
  res.setHeader('Content-Type', contentTypes[extname(file)] ?? 'application/octet-stream');
  res.setHeader('Content-Length', String(size));
  res.setHeader('Cache-Control', 'no-store');
  createReadStream(file).pipe(res);
}

function goldensPlugin(): Plugin {
  return {
    name: 'lrp-lens-goldens',
    configureServer(server) {
      server.middlewares.use(serveGoldens);
    },
    configurePreviewServer(server) {
      server.middlewares.use(serveGoldens);
    },
  };
}

export default defineConfig({
  root: '.',
  publicDir: false,
  plugins: [goldensPlugin()],
  server: { port: 4174, host: 'localhost' },
  preview: { port: 4174, host: 'localhost', strictPort: true },
  build: {
    outDir: 'dist/e2e',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    rolldownOptions: {
      input: {
        harness: resolve(here, 'e2e/engine-harness.html'),
        smoke: resolve(here, 'e2e/webgpu-smoke.html'),
      },
    },
  },
});
