/**
 * `lrp-lens/node`: everything `lrp-lens` has, plus models from file paths (with the external data or weight
 * shards beside them), .npy files from paths, and WebGPU in Node through Dawn (the `webgpu` package, loaded only
 * when a WebGPU backend is tried). Documented in docs/api.md.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { DAWN_NODE_FLAGS, softwareVulkanEnv } from '../node/dawn-env';
import { ModelFileError, readModelFilesAt } from '../node/model-files';
import { encodeNpy, loadModelFiles, parseNpy } from './core.js';
import { LrpLensError } from './errors.js';
import { fetchModelFiles, readGivenFiles, type ModelFileBytes } from './sources.js';
import type { GpuLike, LoadModelOptions, LrpModel, ModelFileInput, ModelSource, NpyTensor } from './types.js';

export * from './index.js';

export interface NodeLoadModelOptions extends LoadModelOptions {
  /** The .onnx's external-data file, when it is not beside the model under the name the model gives it. */
  readonly modelData?: string;
}

let dawn: Promise<GpuLike> | null = null;

/** Dawn's WebGPU entry point, created once per process; rejects with the reason when it offers no adapter. */
function nodeGpu(): Promise<GpuLike> {
  dawn ??= import('../node/node-gpu').then((m) => m.createNodeGpu() as Promise<GpuLike>);
  return dawn;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

/**
 * Loads a model from a file path (an .onnx, or a TF.js model.json; the files it names are read from beside it), a
 * file: or http(s): URL, or its files' bytes. Backend 'auto' (default) uses WebGPU where Dawn finds an adapter.
 */
export async function loadModel(source: ModelSource, options: NodeLoadModelOptions = {}): Promise<LrpModel> {
  let files: ModelFileBytes[];
  if (Array.isArray(source)) {
    files = await readGivenFiles(source as readonly ModelFileInput[]);
  } else if (typeof source === 'string' || source instanceof URL) {
    const url = source instanceof URL ? source : /^(https?|file):\/\//i.test(source) ? new URL(source) : null;
    if (url && url.protocol !== 'file:') {
      files = await fetchModelFiles(url, options.fetch);
    } else {
      const path = url ? fileURLToPath(url) : (source as string);
      try {
        files = await readModelFilesAt(path, { modelData: options.modelData, dataOption: 'the modelData option' });
      } catch (e) {
        throw e instanceof ModelFileError ? new LrpLensError(e.message) : e;
      }
    }
  } else {
    throw new LrpLensError('loadModel takes a file path, a URL, or the model files (File objects or { name, bytes })');
  }
  const backend = options.backend ?? 'auto';
  let gpu = options.gpu;
  let problem: string | undefined;
  // Dawn only where WebGPU may be used: a CPU backend named outright never loads it (nor prints its warnings).
  if (!gpu && (backend === 'auto' || backend === 'webgpu')) {
    try {
      gpu = await nodeGpu();
    } catch (e) {
      // Dawn's hint names this repository's launchers; a package user starts the process with webgpuEnvironment().
      problem = message(e).replace(/; start it through bin\/lrp-lens\.mjs or scripts\/with-dawn-env\.mjs\)$/, "; start it with webgpuEnvironment()'s env and nodeArgs from lrp-lens/node)");
    }
  }
  return loadModelFiles(files, options, gpu, problem);
}

/** A .npy file read as float32. */
export async function readNpy(path: string): Promise<NpyTensor> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new LrpLensError(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (code ?? message(e))}`);
  }
  try {
    return parseNpy(bytes);
  } catch (e) {
    throw new LrpLensError(`${path}: ${message(e)}`);
  }
}

/** Writes a float32 .npy file (e.g. an explanation's relevance with its inputShape). */
export async function writeNpy(path: string, data: Float32Array, shape: readonly number[]): Promise<void> {
  await writeFile(path, encodeNpy(data, shape));
}

/**
 * What a Node process needs for Dawn to find a WebGPU adapter on a machine without a GPU driver of its own
 * (SwiftShader from Debian's chromium package): environment variables (null when none are needed or possible) and
 * V8 flags. Both must be in place when the process starts: use them to start a child process.
 */
export function webgpuEnvironment(): { readonly env: Readonly<Record<string, string>> | null; readonly nodeArgs: readonly string[] } {
  const env = softwareVulkanEnv();
  return { env: env ? (Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>) : null, nodeArgs: [...DAWN_NODE_FLAGS] };
}
