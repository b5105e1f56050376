// The app: index.html at the repository root loads /app/main.tsx; `npm run build` writes dist/app.
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';
import { CONTENT_SECURITY_POLICY, DEV_CSP_NONCE, SECURITY_HEADERS, devSecurityHeaders } from './security-headers.mjs';

// The Content Security Policy and the other headers (cross-origin isolation) live in ./security-headers.mjs: one list
// for the built page's meta tag, `vite preview`, the dev server and docs/security.md's deployment table.
export { CONTENT_SECURITY_POLICY } from './security-headers.mjs';

/**
 * The built page's policy as a meta tag too, for hosts that cannot set headers. Built pages only: the dev server
 * injects inline script (React's fast refresh), which its header allows by a nonce (devSecurityHeaders).
 */
function contentSecurityPolicy(): Plugin {
  return {
    name: 'lrp-lens-csp',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: CONTENT_SECURITY_POLICY }, injectTo: 'head-prepend' }],
    },
  };
}

/**
 * `vite preview` serves a file it has no type for as text and gzips it on the fly: a model's weights (TF.js shards
 * have no extension; .onnx, .onnx.data) cost the preview server about 0.15 s of CPU per darknet-tiny load, on the
 * same cores as the page. Static hosts serve them as application/octet-stream, uncompressed (docs/security.md,
 * "Deployment"); so does the preview server, so that what it measures is what users get.
 */
function modelFilesAsBinary(): Plugin {
  return {
    name: 'lrp-lens-model-files',
    configurePreviewServer(server) {
      server.middlewares.use((req, res, next) => {
        const path = (req.url ?? '').split('?')[0]!;
        if (path.startsWith('/models/') && !/\.(json|txt|md)$/.test(path) && !/\/LICENSE$/.test(path)) res.setHeader('Content-Type', 'application/octet-stream');
        next();
      });
    },
  };
}

export default defineConfig(({ command, isPreview }) => ({
  root: '.',
  plugins: [react(), contentSecurityPolicy(), modelFilesAsBinary()],
  publicDir: 'public',
  // The engine worker (app/engine-worker.ts) is an ES module worker that shares chunks with the page.
  worker: { format: 'es' },
  // Dev only: Vite puts this nonce on the inline script and styles it injects, which the dev policy allows.
  ...(command === 'serve' && !isPreview ? { html: { cspNonce: DEV_CSP_NONCE } } : {}),
  server: {
    port: 5173,
    host: 'localhost',
    headers: devSecurityHeaders(),
  },
  preview: {
    port: 4173,
    host: 'localhost',
    headers: { ...SECURITY_HEADERS },
  },
  build: {
    outDir: 'dist/app',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
}));
