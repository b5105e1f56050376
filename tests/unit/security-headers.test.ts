/**
 * The app's headers (security-headers.mjs) are one list: what `vite preview` and the dev server send
 * (vite.config.ts), what the built page's meta tag says, and what docs/security.md tells deployments to send.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UserConfig, UserConfigFnObject } from 'vite';
import { describe, expect, it } from 'vitest';
import {
  CONTENT_SECURITY_POLICY,
  CONTENT_SECURITY_POLICY_HEADER,
  DEV_CSP_NONCE,
  SECURITY_HEADERS,
  devSecurityHeaders,
} from '../../security-headers.mjs';
import viteConfig from '../../vite.config';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function resolved(command: 'serve' | 'build', isPreview: boolean): Promise<UserConfig> {
  return (viteConfig as unknown as UserConfigFnObject)({ command, mode: 'production', isPreview });
}

describe('security headers', () => {
  it('the policy forbids eval and inline script (WebAssembly compilation only is allowed), and the header adds only frame-ancestors', () => {
    // 'wasm-unsafe-eval' (the fast CPU backend's WebAssembly) is the one keyword allowed; 'unsafe-eval' is not.
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/'unsafe-eval'|unsafe-inline|\*/);
    expect(CONTENT_SECURITY_POLICY).toMatch(/(^|; )script-src 'self' 'wasm-unsafe-eval'(;|$)/);
    expect(CONTENT_SECURITY_POLICY.match(/unsafe/g)).toHaveLength(1);
    expect(CONTENT_SECURITY_POLICY_HEADER).toBe(`${CONTENT_SECURITY_POLICY}; frame-ancestors 'none'`);
    expect(SECURITY_HEADERS).toMatchObject({
      'Content-Security-Policy': CONTENT_SECURITY_POLICY_HEADER,
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    });
  });

  it('vite preview sends them all; the dev server the same, its policy allowing only its nonce more', async () => {
    const preview = await resolved('serve', true);
    expect(preview.preview?.headers).toEqual(SECURITY_HEADERS);
    expect(preview.html?.cspNonce).toBeUndefined();
    const dev = await resolved('serve', false);
    expect(dev.server?.headers).toEqual(devSecurityHeaders());
    expect(dev.html?.cspNonce).toBe(DEV_CSP_NONCE);
    const devCsp = devSecurityHeaders()['Content-Security-Policy']!;
    expect(devCsp.replaceAll(` 'nonce-${DEV_CSP_NONCE}'`, '')).toBe(CONTENT_SECURITY_POLICY_HEADER);
    expect(devCsp).not.toMatch(/'unsafe-eval'|unsafe-inline/);
    const build = await resolved('build', false);
    expect(build.html?.cspNonce).toBeUndefined();
  });

  it('docs/security.md gives deployments the same headers (nginx and Netlify examples)', () => {
    const doc = readFileSync(resolve(repoRoot, 'docs', 'security.md'), 'utf8');
    const nginx = /```nginx\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    const netlify = /```\n(\/\*\n[\s\S]*?)```/.exec(doc)?.[1] ?? '';
    const nginxHeaders = Object.fromEntries([...nginx.matchAll(/^add_header (\S+) "(.*)" always;$/gm)].map((m) => [m[1], m[2]]));
    const netlifyHeaders = Object.fromEntries([...netlify.matchAll(/^ {2}([\w-]+): (.*)$/gm)].map((m) => [m[1], m[2]]));
    expect(nginxHeaders).toEqual(SECURITY_HEADERS);
    expect(netlifyHeaders).toEqual(SECURITY_HEADERS);
    for (const name of Object.keys(SECURITY_HEADERS)) expect(doc).toContain(`| \`${name}\` |`);
  });
});
