/**
 * The benchmark's Node entry point. Bundled by Vite (vite.bench.config.ts) into dist/bench/bench.mjs, which
 * scripts/bench.mjs runs (`npm run bench -- --quick`) and which runs on its own on a GPU machine
 * (`bash .gpu/on-gpu.sh dist/bench/bench.mjs ...`, see scripts/bench-device.sh). Runs on import, reads argv.
 *
 * Exit status: 0 done, 1 a model failed on a backend (the report lists it) or another error, 2 bad usage.
 * Built-in models whose files are absent are skipped without failing.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, platform, arch } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BackendKind } from '../engine/api';
import { createEngine, type Engine } from '../engine/index';
import { createNodeGpu } from '../node/node-gpu';
import { BENCH_USAGE, BenchUsageError, parseBenchArgs, resolveBackends } from './args';
import { describeModel, formatModelTable, formatReport, runBench, type BenchResult } from './run-bench';
import { formatPresetTable } from './counts';
import { builtinSources, modelFileSource, selectModels, syntheticSources } from './sources';
import { TORCH_MODELS, torchProblem, torchTimings } from './torch-reference';
import { setFastCpuThreads } from '../engine/cpu/fast-backend';
import { nodeCores } from '../engine/wasm/fast-wasm';

/** Dawn's GPU object, held for the life of the process (Node crashes when it is collected under a device). */
let nodeGpu: GPU | undefined;

function environment(): string {
  const c = cpus();
  return `Node ${process.version}, ${platform()} ${arch()}, ${c.length} CPU cores (${c[0]?.model.trim() ?? 'unknown'})`;
}

function flush(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((done) => {
    if (stream.destroyed || !stream.writable) return done();
    stream.write('', () => done());
  });
}

async function webgpuEngine(): Promise<Engine> {
  nodeGpu ??= await createNodeGpu();
  return createEngine({ backend: 'webgpu', gpu: nodeGpu });
}

async function main(argv: readonly string[]): Promise<number> {
  let args;
  try {
    args = parseBenchArgs(argv);
  } catch (e) {
    if (e instanceof BenchUsageError) {
      process.stderr.write(`bench: ${e.message}\n\n${BENCH_USAGE}\n`);
      return 2;
    }
    throw e;
  }
  if (args.help) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }

  const dirs = args.modelsDir !== undefined ? [args.modelsDir] : ['public/models', '../shared/models'];
  const read = async (path: string): Promise<Uint8Array | null> => {
    for (const dir of dirs) {
      try {
        return new Uint8Array(await readFile(join(dir, path)));
      } catch {
        // next folder
      }
    }
    return null;
  };
  const all = [...syntheticSources(), ...builtinSources(read, dirs.map((d) => resolve(d)).join(' or '))];
  let models;
  try {
    const fileSource = (path: string) =>
      modelFileSource(path, async (file) => {
        try {
          return new Uint8Array(await readFile(join(dirname(path), file)));
        } catch {
          return null;
        }
      });
    models = selectModels(all, args.models, args.quick, fileSource);
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    return 2;
  }

  if (args.counts) {
    const graphs = [];
    const infos = [];
    for (const m of models) {
      try {
        const graph = await (m.loadShapes ?? m.load)();
        graphs.push({ name: m.name, graph });
        infos.push(describeModel(m, graph));
      } catch (e) {
        process.stderr.write(`bench: ${m.name} skipped: ${(e as Error).message}\n`);
      }
    }
    process.stdout.write(`${formatModelTable(infos)}\n\n${formatPresetTable(graphs)}\n`);
    return 0;
  }

  // WebGPU first when it may be used: whether it is a software adapter decides the default backends.
  let gpuEngine: Promise<Engine> | undefined;
  let webgpu = { available: false, description: '' };
  if (args.backend !== 'cpu' && args.backend !== 'cpu-fast') {
    gpuEngine = webgpuEngine();
    try {
      webgpu = { available: true, description: (await gpuEngine).description };
    } catch (e) {
      if (args.backend === 'webgpu' || args.backend === 'both') {
        process.stderr.write(`bench: WebGPU is not available: ${(e as Error).message}\n`);
        return 1;
      }
      process.stderr.write(`bench: WebGPU is not available (${(e as Error).message}); running the CPU backend only\n`);
      gpuEngine = undefined;
    }
  }
  const backends = resolveBackends(args.backend, args.quick, webgpu);
  const save = async (result: BenchResult): Promise<void> => {
    if (args.json !== undefined) await writeFile(args.json, `${JSON.stringify(result, null, 2)}\n`);
    if (args.md !== undefined) await writeFile(args.md, formatReport(result));
  };
  if (gpuEngine && !backends.includes('webgpu')) (await gpuEngine).dispose();

  setFastCpuThreads(args.threads ?? null);
  const fastThreads = args.threads ?? nodeCores();
  const result = await runBench({
    models,
    backends,
    runs: args.runs,
    warmup: args.warmup,
    quick: args.quick,
    environment: `${environment()}${backends.includes('cpu-fast') ? `; cpu-fast on ${fastThreads} thread${fastThreads === 1 ? '' : 's'}` : ''}`,
    engine: (backend: BackendKind) => (backend === 'webgpu' ? (gpuEngine ?? webgpuEngine()) : createEngine({ backend })),
    log: (line) => process.stderr.write(`bench: [${(performance.now() / 1000).toFixed(1)} s] ${line}\n`),
    // Files are rewritten after every model: a process that dies later (a GPU driver fault) keeps what was measured.
    progress: (partial) => save(partial),
  });

  let final: BenchResult = result;
  if (args.torch) {
    const problem = await torchProblem();
    const script = fileURLToPath(new URL('../../scripts/torch-bench.py', import.meta.url));
    const rows = [];
    if (!problem) {
      for (const m of models.filter((m) => TORCH_MODELS.includes(m.name))) {
        process.stderr.write(`bench: [${(performance.now() / 1000).toFixed(1)} s] ${m.name}: PyTorch\n`);
        rows.push(await torchTimings(script, m.name, args.runs, args.warmup, fastThreads));
      }
    } else process.stderr.write(`bench: PyTorch reference skipped: ${problem}\n`);
    final = { ...result, torch: problem ? { rows, skipped: problem } : { rows } };
  }
  await save(final);
  process.stdout.write(formatReport(final));
  return result.rows.length > 0 && !result.skipped.some((s) => s.failed) ? 0 : 1;
}

// Output piped into a reader that stops early (| head): end quietly instead of crashing on EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw e;
  });
}

let code: number;
try {
  code = await main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  code = 1;
}
process.exitCode = code;
await Promise.all([flush(process.stdout), flush(process.stderr)]);
// Everything is written and the engines (and their GPU devices) are disposed. Dawn's native handles can keep
// the event loop alive; this timer does not hold the process, it only ends one that would otherwise linger.
setTimeout(() => process.exit(code), 500).unref();
