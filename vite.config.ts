// The app: index.html at the repository root loads /app/main.tsx; `npm run build` writes dist/app.
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

/**
 * The built page's Content Security Policy: scripts, workers and connections from its own origin only, so that the
 * browser itself guarantees that nothing (model, image, explanation) leaves the page. Built pages only: the dev
 * server injects an inline script (React's fast refresh) that such a policy would block.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self'",
  "connect-src 'self'",
  "img-src 'self' blob: data:",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'none'",
].join('; ');

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

export default defineConfig({
  root: '.',
  plugins: [react(), contentSecurityPolicy()],
  publicDir: 'public',
  // The engine worker (app/engine-worker.ts) is an ES module worker that shares chunks with the page.
  worker: { format: 'es' },
  server: {
    port: 5173,
    host: 'localhost',
  },
  preview: {
    port: 4173,
    host: 'localhost',
  },
  build: {
    outDir: 'dist/app',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
});
