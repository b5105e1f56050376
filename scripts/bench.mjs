#!/usr/bin/env node
// Runs the benchmark: `npm run bench -- [options]` (node scripts/bench.mjs --help for the options).
//
// 1. Dawn for Node finds a Vulkan driver only through environment read at process start, and needs V8 flags that
//    only the command line can set (scripts/dawn-env.mjs); this re-executes Node once with both when they are
//    missing (SwiftShader's environment only on machines without a Vulkan driver of their own).
// 2. The benchmark is TypeScript (src/bench/main.ts) bundled by Vite into dist/bench/bench.mjs; when that bundle
//    is missing or older than its sources it is (re)built first.
// 3. The bundle runs on import and reads process.argv.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DAWN_NODE_FLAGS, softwareVulkanEnv } from './dawn-env.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const bundle = join(root, 'dist', 'bench', 'bench.mjs');
const REEXEC_MARK = 'LRP_LENS_DAWN_ENV';

function reexecWithDawnEnv(extraEnv, extraFlags) {
  const nodeArgs = [...process.execArgv, ...extraFlags, fileURLToPath(import.meta.url), ...process.argv.slice(2)];
  const child = spawn(process.execPath, nodeArgs, {
    stdio: 'inherit',
    env: { ...process.env, ...extraEnv, [REEXEC_MARK]: '1' },
  });
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  const forward = (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const s of signals) process.on(s, forward);
  child.on('error', (err) => {
    console.error(`bench: cannot start ${process.execPath}: ${err.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    for (const s of signals) process.off(s, forward);
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}

/** Newest modification time (ms) of the files the bundle is built from; 0 when the sources are not here. */
function newestSourceMtime() {
  let newest = 0;
  const visit = (path) => {
    let st;
    try {
      st = statSync(path);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(path)) visit(join(path, name));
    } else if (st.mtimeMs > newest) {
      newest = st.mtimeMs;
    }
  };
  for (const p of ['src', 'scripts/dawn-env.mjs', 'vite.bench.config.ts']) visit(join(root, p));
  return newest;
}

function needsBuild() {
  if (!existsSync(bundle)) return 'missing';
  if (!existsSync(join(root, 'src', 'bench', 'main.ts'))) return null;
  return newestSourceMtime() > statSync(bundle).mtimeMs ? 'stale' : null;
}

function buildBench(reason) {
  console.error(`bench: ${reason === 'missing' ? 'building' : 'rebuilding'} the benchmark into dist/bench (vite build --config vite.bench.config.ts)`);
  let viteBin = null;
  try {
    viteBin = join(dirname(createRequire(import.meta.url).resolve('vite/package.json')), 'bin', 'vite.js');
  } catch {
    // not resolvable from here: fall back to npx below
  }
  const args = ['build', '--config', 'vite.bench.config.ts', '--logLevel', 'warn'];
  const r = viteBin && existsSync(viteBin)
    ? spawnSync(process.execPath, [viteBin, ...args], { cwd: root, stdio: ['ignore', 2, 2] })
    : spawnSync('npx', ['--no-install', 'vite', ...args], { cwd: root, stdio: ['ignore', 2, 2] });
  if (r.error || r.status !== 0 || !existsSync(bundle)) {
    console.error(`bench: building the benchmark failed${r.error ? `: ${r.error.message}` : ''}`);
    process.exit(1);
  }
}

const dawnEnv = softwareVulkanEnv();
const missingFlags = DAWN_NODE_FLAGS.filter((flag) => !process.execArgv.includes(flag));
if (!process.env[REEXEC_MARK] && (dawnEnv || missingFlags.length > 0)) {
  reexecWithDawnEnv(dawnEnv ?? {}, missingFlags);
} else {
  delete process.env[REEXEC_MARK];
  const reason = needsBuild();
  if (reason) buildBench(reason);
  await import(pathToFileURL(bundle).href);
}
