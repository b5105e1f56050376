/**
 * `lrp-lens`: LRP explanations of ONNX and TF.js image classifiers, on WebGPU or the float64 CPU backend. This
 * entry runs anywhere (browsers through any bundler, Node, workers): models come from URLs or from their files'
 * bytes (File objects). `lrp-lens/node` adds file paths and Dawn's WebGPU for Node. Documented in docs/api.md.
 */
import { loadModelFiles } from './core.js';
import { LrpLensError } from './errors.js';
import { fetchModelFiles, readGivenFiles, toUrl } from './sources.js';
import type { LoadModelOptions, LrpModel, ModelFileInput, ModelSource } from './types.js';

export type * from './types.js';
export { LrpLensError } from './errors.js';
export { encodeNpy, parseNpy, PRESETS } from './core.js';

/**
 * Loads a model: from a URL (fetched with the .onnx's external data or the model.json's weight shards from beside
 * it), or from all of its files at once (File objects, or { name, bytes }).
 */
export async function loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<LrpModel> {
  const files = Array.isArray(source)
    ? await readGivenFiles(source as readonly ModelFileInput[])
    : typeof source === 'string' || source instanceof URL
      ? await fetchModelFiles(toUrl(source), options.fetch)
      : (() => {
          throw new LrpLensError('loadModel takes a URL, or the model files (File objects or { name, bytes })');
        })();
  const gpu = options.gpu ?? (typeof navigator !== 'undefined' ? (navigator as { gpu?: LoadModelOptions['gpu'] }).gpu : undefined);
  return loadModelFiles(files, options, gpu, gpu ? undefined : 'this environment has no WebGPU (navigator.gpu)');
}
