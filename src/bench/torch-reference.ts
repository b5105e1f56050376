/**
 * The PyTorch reference timings of the benchmark (`--torch`, Node only): scripts/torch-bench.py times the forward
 * pass and the forward pass plus the input gradient of the same architecture and input size, so that the fast
 * CPU backend's ratio to PyTorch is measured in one run. Skipped, with the reason, where python3 has no torch.
 */
import { execFile } from 'node:child_process';

export interface TorchTiming {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export interface TorchRow {
  readonly model: string;
  /** PyTorch's version and intra-op threads, or why there is no row. */
  readonly note: string;
  readonly forward: TorchTiming | null;
  readonly forwardGradient: TorchTiming | null;
}

/** The benchmark models scripts/torch-bench.py builds. */
export const TORCH_MODELS: readonly string[] = ['resnet18-112', 'resnet50-112', 'resnet50'];

const PYTHON = '/usr/bin/python3';

function run(args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((done, fail) => {
    execFile(PYTHON, args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) fail(new Error(`${(stderr || error.message).trim().split('\n').pop() ?? error.message}`));
      else done(stdout);
    });
  });
}

/** Whether torch imports (null) or why not. */
export async function torchProblem(): Promise<string | null> {
  try {
    await run(['-c', 'import torch'], 60_000);
    return null;
  } catch (e) {
    return `no PyTorch (${PYTHON} -c "import torch": ${(e as Error).message})`;
  }
}

/** `threads`: torch.set_num_threads (the cpu-fast backend's thread count, for a like-for-like ratio). */
export async function torchTimings(script: string, model: string, runs: number, warmup: number, threads: number, timeoutMs = 600_000): Promise<TorchRow> {
  try {
    const out = JSON.parse(await run([script, model, '--runs', String(runs), '--warmup', String(warmup), '--threads', String(threads)], timeoutMs)) as {
      torch: string;
      threads: number;
      forward: TorchTiming;
      'forward+gradient': TorchTiming;
    };
    return { model, note: `PyTorch ${out.torch}, ${out.threads} thread${out.threads === 1 ? '' : 's'}`, forward: out.forward, forwardGradient: out['forward+gradient'] };
  } catch (e) {
    return { model, note: `failed: ${(e as Error).message}`, forward: null, forwardGradient: null };
  }
}
