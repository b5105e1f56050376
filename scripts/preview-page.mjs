// What the scripts that look at the built app share (screenshots.mjs, first-heatmap-threads.mjs): their options,
// `vite preview` serving dist/app, and headless Chromium (/usr/bin/chromium, or $LRP_LENS_CHROMIUM).
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The value after `--name` on the command line, or the fallback. */
export function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

async function waitForServer(url, ms = 60_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`no server at ${url}`);
}

/**
 * Serves dist/app on `port`, launches Chromium (with WebGPU unless `webgpu` is false) and runs `use(browser, base)`;
 * the browser and the server end with it.
 */
export async function withPreview(port, { webgpu = true } = {}, use) {
  const base = `http://localhost:${port}/`;
  const server = spawn('npx', ['vite', 'preview', '--port', String(port), '--strictPort'], { cwd: root, stdio: 'ignore', detached: true });
  let browser;
  try {
    await waitForServer(base);
    browser = await chromium.launch({
      executablePath: process.env.LRP_LENS_CHROMIUM ?? '/usr/bin/chromium',
      args: [...(webgpu ? ['--enable-unsafe-webgpu'] : []), '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    return await use(browser, base);
  } finally {
    await browser?.close();
    try {
      process.kill(-server.pid);
    } catch {
      // already gone
    }
  }
}
