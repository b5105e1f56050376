/** Command-line options of the benchmark (pure; ./main.ts runs them). */
import type { BackendKind } from '../engine/api';

export const BENCH_USAGE = `Usage: npm run bench -- [options]     (node scripts/bench.mjs [options])

Measures forward, full explanation (Captum epsilon, EpsilonPlusFlat), re-explanation after one layer's rule
changed, first (cold) explanation and peak GPU buffer memory per model; prints a Markdown table.

Options:
  --quick                  the tiny VGG16 / ResNet-50 presets (32x32, widths / 8), 3 runs: about a minute
                           on 2 CPU cores without a GPU
  --model <name,...>       models to run: vgg16, resnet50 (224x224, random weights; the default with the
                           built-ins), vgg16-tiny, resnet50-tiny, and the built-ins tinyvgg, darknet-tiny,
                           resnet20-cifar10 (read from public/models), or a model file: any ONNX file
                           (with its .onnx.data beside it) or a TF.js model.json, BatchNorm merged
  --backend <webgpu|cpu|cpu-fast|both>
                           default: both (webgpu and cpu) in quick mode when WebGPU is a software adapter
                           (SwiftShader), else webgpu; cpu-fast: the float32 WASM SIMD CPU backend
  --threads <N>            threads of the cpu-fast backend's GEMMs (default: every core; 1: no worker threads)
  --torch                  also time PyTorch's forward + input gradient of the same models (resnet18-112,
                           resnet50-112, resnet50) with scripts/torch-bench.py, where python3 has torch, on as
                           many threads as cpu-fast
  --runs <N>               timed runs per measurement (default 10, quick 3)
  --warmup <N>             untimed runs before them (default 2)
  --json <file>            also write the results as JSON
  --md <file>              also write the report (the Markdown printed on stdout) to a file
  --counts                 print the FLOP and byte counts of the models (and of one explanation per preset)
                           and exit: nothing runs
  --models-dir <dir>       where the built-in model files are (default: public/models, then ../shared/models)
  --help, -h               show this help`;

export class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

export interface BenchArgs {
  readonly help: boolean;
  readonly quick: boolean;
  readonly counts: boolean;
  /** Time PyTorch's forward + input gradient of the same models (scripts/torch-bench.py). */
  readonly torch: boolean;
  /** Threads of the cpu-fast backend (setFastCpuThreads); absent: every core. */
  readonly threads?: number;
  readonly models?: readonly string[];
  readonly backend?: BackendKind | 'both';
  readonly runs: number;
  readonly warmup: number;
  readonly json?: string;
  readonly md?: string;
  readonly modelsDir?: string;
}

function count(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new BenchUsageError(`${flag} takes a whole number of at least ${min}, got "${v}"`);
  return n;
}

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  let help = false;
  let quick = false;
  let counts = false;
  let torch = false;
  let threads: number | undefined;
  let models: string[] | undefined;
  let backend: BackendKind | 'both' | undefined;
  let runs: number | undefined;
  let warmup = 2;
  let json: string | undefined;
  let md: string | undefined;
  let modelsDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const flag = eq > 0 ? raw.slice(0, eq) : raw;
    const value = (): string => {
      if (eq > 0) return raw.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new BenchUsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--help':
      case '-h':
        help = true;
        break;
      case '--quick':
        quick = true;
        break;
      case '--counts':
        counts = true;
        break;
      case '--torch':
        torch = true;
        break;
      case '--threads':
        threads = count(flag, value(), 1);
        break;
      case '--model':
      case '--models':
        models = value().split(',').map((s) => s.trim()).filter(Boolean);
        if (!models.length) throw new BenchUsageError(`${flag} needs at least one model name`);
        break;
      case '--backend': {
        const v = value();
        if (v !== 'webgpu' && v !== 'cpu' && v !== 'cpu-fast' && v !== 'both') throw new BenchUsageError(`--backend must be webgpu, cpu, cpu-fast or both, got "${v}"`);
        backend = v;
        break;
      }
      case '--runs':
        runs = count(flag, value(), 1);
        break;
      case '--warmup':
        warmup = count(flag, value(), 0);
        break;
      case '--json':
        json = value();
        break;
      case '--md':
        md = value();
        break;
      case '--models-dir':
        modelsDir = value();
        break;
      default:
        throw new BenchUsageError(raw.startsWith('-') ? `unknown option "${raw}"` : `unexpected argument "${raw}"`);
    }
  }
  return {
    help,
    quick,
    counts,
    torch,
    ...(threads !== undefined ? { threads } : {}),
    runs: runs ?? (quick ? 3 : 10),
    warmup,
    ...(models ? { models } : {}),
    ...(backend ? { backend } : {}),
    ...(json !== undefined ? { json } : {}),
    ...(md !== undefined ? { md } : {}),
    ...(modelsDir !== undefined ? { modelsDir } : {}),
  };
}

/** A WebGPU adapter that is a CPU emulation (SwiftShader, llvmpipe/lavapipe), judged by its description. */
export function isSoftwareAdapter(description: string): boolean {
  return /swiftshader|llvmpipe|lavapipe|software|fallback/i.test(description);
}

/**
 * The backends to run: as asked, else both in quick mode on a machine whose WebGPU is emulated on the CPU (the
 * issue asks for both columns there), else webgpu; cpu alone when WebGPU is not available at all.
 */
export function resolveBackends(asked: BackendKind | 'both' | undefined, quick: boolean, webgpu: { available: boolean; description: string }): BackendKind[] {
  if (asked === 'both') return ['webgpu', 'cpu'];
  if (asked) return [asked];
  if (!webgpu.available) return ['cpu'];
  return quick && isSoftwareAdapter(webgpu.description) ? ['webgpu', 'cpu'] : ['webgpu'];
}
