/**
 * The companion files a model file needs, as the model names them (relative to its folder): a TF.js model.json's
 * weight shards, or an .onnx's external-data files. Browser-safe (no Node imports): the Node reader
 * (src/node/model-files.ts, used by the CLI and `lrp-lens/node`) reads them from beside the model's path, the
 * library's URL loader (src/lib/sources.ts) fetches them from beside the model's URL.
 */
import { onnxExternalFiles } from '../engine/onnx/import-onnx';
import { looksLikeTfjsModel, tfjsWeightFiles } from '../engine/tfjs/import-tfjs';

export interface ModelCompanions {
  /**
   * 'tfjs': a TF.js layers model.json; its shards may be missing (the importer names the missing ones, after any
   * unsupported layer). 'onnx': anything else that is not JSON; every external-data file is required.
   * 'json': JSON that is not a TF.js layers model (openModelFiles says what it is).
   */
  readonly kind: 'tfjs' | 'onnx' | 'json';
  readonly files: readonly string[];
}

/** Which files beside `name` the model needs. */
export function modelCompanions(name: string, bytes: Uint8Array): ModelCompanions {
  const head = new TextDecoder().decode(bytes.subarray(0, 4096));
  if (/\.json$/i.test(name) || /^\s*\{/.test(head)) {
    const text = new TextDecoder().decode(bytes);
    return looksLikeTfjsModel(text) ? { kind: 'tfjs', files: tfjsWeightFiles(text) } : { kind: 'json', files: [] };
  }
  return { kind: 'onnx', files: onnxExternalFiles(bytes) };
}
