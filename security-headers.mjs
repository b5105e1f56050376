// The HTTP headers the app is served with: one list, used by `vite preview` and the dev server (vite.config.ts), by
// the browser tests (e2e/app-csp.spec.ts) and documented for deployments in docs/security.md ("Deployment
// headers"). Plain JavaScript (types in security-headers.d.mts) so that Vite's config loader reads it as it is.

/**
 * The page's Content Security Policy: scripts, workers and connections from its own origin only, so that the
 * browser itself guarantees that nothing (model, image, explanation) leaves the page, and no JavaScript is made
 * from strings (no 'unsafe-eval': the ONNX decoder is static code, see scripts/gen-onnx-proto.ts; eval and
 * new Function stay refused). 'wasm-unsafe-eval' allows WebAssembly compilation only (the fast CPU backend's SIMD
 * GEMM, bundled in the app's own script, src/engine/wasm/gemm-wasm.ts), not JavaScript eval (docs/security.md).
 * `worker-src 'self'` covers the engine worker and the GEMM helpers it starts (src/engine/wasm/gemm-worker.ts): both
 * same-origin module scripts, never blob: or data: URLs.
 * The built index.html also carries it as a meta tag; `frame-ancestors` only works as a header, so only the header
 * has it.
 */
export const CSP_DIRECTIVES = Object.freeze([
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "connect-src 'self'",
  "img-src 'self' blob: data:",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'none'",
]);

/** The policy as the built page's meta tag carries it. */
export const CONTENT_SECURITY_POLICY = CSP_DIRECTIVES.join('; ');

/** The policy as an HTTP header: the meta tag's, plus what only a header can say (no framing by other sites). */
export const CONTENT_SECURITY_POLICY_HEADER = [...CSP_DIRECTIVES, "frame-ancestors 'none'"].join('; ');

/**
 * Every header the app is served with. COOP + COEP make the page cross-origin isolated (`crossOriginIsolated`),
 * which SharedArrayBuffer needs (the fast CPU backend's GEMM helpers share the engine worker's WebAssembly memory:
 * without isolation it runs on one thread); everything the app loads is its own origin's, so `require-corp` blocks
 * nothing.
 */
export const SECURITY_HEADERS = Object.freeze({
  'Content-Security-Policy': CONTENT_SECURITY_POLICY_HEADER,
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
});

/**
 * The dev server's nonce for the inline script and styles it injects (React fast refresh's preamble, CSS as <style>
 * elements). Fixed, so it protects nothing: development only; built pages have no inline script or style at all.
 */
export const DEV_CSP_NONCE = 'lrp-lens-dev';

/** The headers for `vite` (dev): the same, with the policy allowing the dev server's nonce for scripts and styles. */
export function devSecurityHeaders() {
  const csp = CONTENT_SECURITY_POLICY_HEADER.replace(/\b(script-src|style-src) 'self'/g, `$1 'self' 'nonce-${DEV_CSP_NONCE}'`);
  return { ...SECURITY_HEADERS, 'Content-Security-Policy': csp };
}
