#!/usr/bin/env node
// Runs a command with the environment Dawn for Node needs on a machine without a GPU (see dawn-env.mjs):
//   node scripts/with-dawn-env.mjs vitest run tests/unit
// Local binaries (node_modules/.bin) are found first; the exit code and termination signals are forwarded.
import { spawn } from 'node:child_process';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { softwareVulkanEnv } from './dawn-env.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node scripts/with-dawn-env.mjs <command> [args...]');
  process.exit(2);
}

const env = { ...process.env, ...softwareVulkanEnv() };
const pathKey = Object.keys(env).find((k) => k.toUpperCase() === 'PATH') ?? 'PATH';
env[pathKey] = [join(root, 'node_modules', '.bin'), env[pathKey]].filter(Boolean).join(delimiter);

const child = spawn(command, args, { stdio: 'inherit', env, shell: process.platform === 'win32' });

const forwarded = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
const forward = (signal) => {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
};
for (const signal of forwarded) process.on(signal, forward);

child.on('error', (err) => {
  console.error(`with-dawn-env: cannot run ${command}: ${err.message}`);
  process.exit(127);
});
child.on('exit', (code, signal) => {
  for (const s of forwarded) process.off(s, forward);
  if (signal) {
    // Die by the same signal so that our parent sees what happened to the child.
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});
