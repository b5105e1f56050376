#!/usr/bin/env node
// Launcher for the lrp-lens CLI (`npx lrp-lens ...`): src/cli/main.ts, bundled by Vite into dist/cli/lrp-lens.mjs
// (rebuilt when the sources are newer) and run over Dawn with the environment and V8 flags it needs
// (see scripts/launch-bundle.mjs).
import { fileURLToPath } from 'node:url';
import { launchBundle } from '../scripts/launch-bundle.mjs';

await launchBundle({
  name: 'lrp-lens',
  what: 'the CLI',
  script: fileURLToPath(import.meta.url),
  bundle: 'dist/cli/lrp-lens.mjs',
  entry: 'src/cli/main.ts',
  config: 'vite.cli.config.ts',
});
