// Shared launcher for Node entry points that run a Vite-bundled TypeScript program over Dawn (bin/lrp-lens.mjs,
// scripts/bench.mjs):
// 1. Dawn for Node finds a Vulkan driver only through environment read at process start, and needs V8 flags that
//    only the command line can set (scripts/dawn-env.mjs); the launcher re-executes Node once with both when they
//    are missing (SwiftShader's environment only on machines without a Vulkan driver of their own).
// 2. When the bundle is missing or older than its sources it is (re)built first with `vite build --config ...`.
// 3. The bundle runs on import and reads process.argv.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DAWN_NODE_FLAGS, softwareVulkanEnv } from './dawn-env.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const REEXEC_MARK = 'LRP_LENS_DAWN_ENV';

function reexecWithDawnEnv(name, script, extraEnv, extraFlags) {
  const nodeArgs = [...process.execArgv, ...extraFlags, script, ...process.argv.slice(2)];
  const child = spawn(process.execPath, nodeArgs, { stdio: 'inherit', env: { ...process.env, ...extraEnv, [REEXEC_MARK]: '1' } });
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  const forward = (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const s of signals) process.on(s, forward);
  child.on('error', (err) => {
    console.error(`${name}: cannot start ${process.execPath}: ${err.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    for (const s of signals) process.off(s, forward);
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}

/** Newest modification time (ms) of the files a bundle is built from; 0 when the sources are not here. */
function newestSourceMtime(config) {
  let newest = 0;
  const visit = (path) => {
    let st;
    try {
      st = statSync(path);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const entry of readdirSync(path)) visit(join(path, entry));
    } else if (st.mtimeMs > newest) {
      newest = st.mtimeMs;
    }
  };
  for (const p of ['src', 'scripts/dawn-env.mjs', config]) visit(join(root, p));
  return newest;
}

function build({ name, what, bundle, config }, reason) {
  console.error(`${name}: ${reason === 'missing' ? 'building' : 'rebuilding'} ${what} into ${dirname(bundle).slice(root.length + 1)} (vite build --config ${config})`);
  let viteBin = null;
  try {
    viteBin = join(dirname(createRequire(import.meta.url).resolve('vite/package.json')), 'bin', 'vite.js');
  } catch {
    // not resolvable from here: fall back to npx below
  }
  const args = ['build', '--config', config, '--logLevel', 'warn'];
  const r =
    viteBin && existsSync(viteBin)
      ? spawnSync(process.execPath, [viteBin, ...args], { cwd: root, stdio: ['ignore', 2, 2] })
      : spawnSync('npx', ['--no-install', 'vite', ...args], { cwd: root, stdio: ['ignore', 2, 2] });
  if (r.error || r.status !== 0 || !existsSync(bundle)) {
    console.error(`${name}: building ${what} failed${r.error ? `: ${r.error.message}` : ''}`);
    process.exit(1);
  }
}

/**
 * Runs `bundle` (built from `entry` by `config`) in a Node process set up for Dawn.
 * `script` is the launcher's own path, re-executed when the process lacks the Dawn environment or flags.
 */
export async function launchBundle({ name, what, script, bundle, entry, config }) {
  const dawnEnv = softwareVulkanEnv();
  const missingFlags = DAWN_NODE_FLAGS.filter((flag) => !process.execArgv.includes(flag));
  if (!process.env[REEXEC_MARK] && (dawnEnv || missingFlags.length > 0)) {
    reexecWithDawnEnv(name, script, dawnEnv ?? {}, missingFlags);
    return;
  }
  delete process.env[REEXEC_MARK]; // so that a launcher started by this process sets itself up again
  const absolute = join(root, bundle);
  const reason = !existsSync(absolute)
    ? 'missing'
    : existsSync(join(root, entry)) && newestSourceMtime(config) > statSync(absolute).mtimeMs
      ? 'stale'
      : null;
  if (reason) build({ name, what, bundle: absolute, config }, reason);
  await import(pathToFileURL(absolute).href);
}
