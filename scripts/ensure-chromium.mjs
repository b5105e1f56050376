#!/usr/bin/env node
// Makes sure Debian's chromium is installed: the browser tests run in it, and its SwiftShader Vulkan driver
// gives Dawn for Node (the unit tests, the CLI) a WebGPU adapter on machines without a GPU.
// Installs it with apt-get when running as root; otherwise says how to install it and fails.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export const CHROMIUM = '/usr/bin/chromium';

// Someone who points the browser tests at another Chromium (playwright.config.ts reads LRP_LENS_CHROMIUM) has one.
const custom = process.env.LRP_LENS_CHROMIUM;
if (custom && existsSync(custom)) process.exit(0);

function run(cmd, args) {
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

if (!existsSync(CHROMIUM)) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    console.error(
      `ensure-chromium: ${CHROMIUM} is missing. Browser tests and WebGPU without a GPU need Debian's chromium: ` +
        'run `sudo apt-get install chromium`, then try again.',
    );
    process.exit(1);
  }
  console.error('ensure-chromium: installing Debian chromium (apt-get install -y chromium)...');
  try {
    run('apt-get', ['update']);
    run('apt-get', ['install', '-y', 'chromium']);
  } catch (err) {
    console.error(`ensure-chromium: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
  if (!existsSync(CHROMIUM)) {
    console.error(`ensure-chromium: apt-get finished but ${CHROMIUM} is still missing`);
    process.exit(1);
  }
}
