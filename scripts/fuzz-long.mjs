#!/usr/bin/env node
// The long fuzz run of issue 8 (docs/security.md): runs the fuzz tests (tests/unit/fuzz-onnx.test.ts,
// fuzz-tfjs.test.ts, images-hostile.test.ts) round after round, each round with a fresh random seed and FUZZ_RUNS
// times the CI budget, collecting one shrunk input per distinct kind of failure instead of stopping at the first.
//
//   node scripts/fuzz-long.mjs [--minutes 60] [--scale 20] [--out <dir>] [--time-ms 2000]
//
// Found inputs are written under --out/<kind>/ (onnx, tfjs, image; --out defaults to <tmp>/lrp-lens-fuzz, outside
// the repository) as corpus entries: after fixing the bug, move them to tests/fuzz/corpus/<kind>/ so that the test
// command replays them. A summary (rounds, inputs tried per property, failures) is printed and written to
// --out/report.json. Exits 1 when anything was found. --time-ms is the most one input may take (the CI tests use
// 1000; the default here leaves room for a machine busy with other work).
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
if (args.includes('--help') || args.includes('-h')) {
  console.log('usage: node scripts/fuzz-long.mjs [--minutes 60] [--scale 20] [--out <dir>] [--time-ms 2000]');
  process.exit(0);
}
const minutes = Number(opt('minutes', '60'));
const scale = Number(opt('scale', '20'));
const out = resolve(root, opt('out', join(tmpdir(), 'lrp-lens-fuzz')));
const timeMs = opt('time-ms', '2000');
if (!(minutes > 0) || !(scale > 0)) {
  console.error('fuzz-long: --minutes and --scale must be positive numbers');
  process.exit(2);
}
const files = ['tests/unit/fuzz-onnx.test.ts', 'tests/unit/fuzz-tfjs.test.ts', 'tests/unit/images-hostile.test.ts'];

mkdirSync(out, { recursive: true });
const started = Date.now();
const deadline = started + minutes * 60_000;
const totals = new Map(); // property -> { runs, ms, failures, kinds:Set }
const rounds = [];

function runRound(seed) {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['scripts/with-dawn-env.mjs', 'vitest', 'run', ...files], {
      cwd: root,
      env: { ...process.env, FUZZ_SEED: String(seed), FUZZ_RUNS: String(scale), FUZZ_COLLECT: '1', FUZZ_SAVE_DIR: out, FUZZ_TIME_MS: timeMs, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    child.on('close', (code) => done({ code, text }));
  });
}

while (Date.now() < deadline) {
  const seed = randomInt(0, 2 ** 31);
  const t0 = Date.now();
  const { code, text: raw } = await runRound(seed);
  // eslint-disable-next-line no-control-regex -- colour codes
  const text = raw.replace(/\x1b\[[0-9;]*m/g, '');
  const summaries = [...text.matchAll(/FUZZ-SUMMARY (\{.*\})/g)].map((m) => JSON.parse(m[1]));
  for (const s of summaries) {
    const t = totals.get(s.name) ?? { runs: 0, ms: 0, failures: 0, kinds: new Set() };
    t.runs += s.runs;
    t.ms += s.ms;
    t.failures += s.failures;
    for (const k of s.kinds) t.kinds.add(k);
    totals.set(s.name, t);
  }
  // Failures outside the fuzz properties (the limit tests, the corpus replay) show as a failing exit code.
  const failedTests = [...text.matchAll(/^\s*(?:×|FAIL)\s+(.*)$/gm)].map((m) => m[1].trim());
  rounds.push({ seed, seconds: Math.round((Date.now() - t0) / 1000), exit: code, failures: summaries.reduce((n, s) => n + s.failures, 0), failedTests });
  const mins = ((Date.now() - started) / 60_000).toFixed(1);
  console.log(`round ${rounds.length} (seed ${seed}): ${summaries.length} properties, ${summaries.reduce((n, s) => n + s.runs, 0)} inputs, ${rounds.at(-1).failures} failures, exit ${code}; ${mins} min so far`);
  for (const s of summaries) for (const k of s.kinds) console.log(`  ${s.name}: ${k}`);
  for (const line of text.split('\n').filter((l) => l.includes('property broken') || l.includes('input saved to'))) console.log(`  ${line.trim()}`);
  if (code !== 0 && rounds.at(-1).failures === 0) console.log(text.slice(-3000));
}

const report = {
  command: `node scripts/fuzz-long.mjs --minutes ${minutes} --scale ${scale} --time-ms ${timeMs}`,
  started: new Date(started).toISOString(),
  minutes: Math.round((Date.now() - started) / 600) / 100,
  rounds: rounds.length,
  properties: Object.fromEntries([...totals].map(([k, t]) => [k, { inputs: t.runs, seconds: Math.round(t.ms / 1000), failures: t.failures, kinds: [...t.kinds] }])),
  failingRounds: rounds.filter((r) => r.exit !== 0),
};
writeFileSync(join(out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report, null, 2));
process.exit(report.failingRounds.length > 0 ? 1 : 0);
