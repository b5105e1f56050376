#!/usr/bin/env node
// Runs the benchmark: `npm run bench -- [options]` (node scripts/bench.mjs --help for the options).
// src/bench/main.ts, bundled into dist/bench/bench.mjs and run over Dawn (see scripts/launch-bundle.mjs).
import { fileURLToPath } from 'node:url';
import { launchBundle } from './launch-bundle.mjs';

await launchBundle({
  name: 'bench',
  what: 'the benchmark',
  script: fileURLToPath(import.meta.url),
  bundle: 'dist/bench/bench.mjs',
  entry: 'src/bench/main.ts',
  config: 'vite.bench.config.ts',
});
