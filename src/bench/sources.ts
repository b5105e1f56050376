/**
 * The models the benchmark knows: the synthetic VGG16 / ResNet-50 (and their tiny presets) and the built-in demo
 * models read from files. Reading files is left to the caller (Node: the file system, browser: fetch).
 */
import type { Graph } from '../engine/graph';
import { importOnnx, onnxExternalFiles } from '../engine/onnx/import-onnx';
import { importTfjs, tfjsWeightFiles } from '../engine/tfjs/import-tfjs';
import { foldBatchNorm } from '../engine/canonicalize';
import { SYNTHETIC_MODELS } from './models';
import type { BenchModelSource } from './run-bench';
import { ModelFilesMissing, type ModelFileReader } from './model-files';

export type { ModelFileReader } from './model-files';

async function need(read: ModelFileReader, path: string, where: string): Promise<Uint8Array> {
  const bytes = await read(path);
  if (!bytes) throw new ModelFilesMissing(`model files not found (${path} under ${where})`);
  return bytes;
}

const decoder = new TextDecoder();

interface BuiltinSpec {
  readonly name: string;
  readonly description: string;
  readonly quick: boolean;
  load(read: (file: string) => Promise<Uint8Array>): Promise<Graph>;
}

/** A TF.js layers model: model.json and the weight shards its manifest names. */
async function loadTfjs(read: (file: string) => Promise<Uint8Array>): Promise<Graph> {
  const text = decoder.decode(await read('model.json'));
  const shards = new Map<string, Uint8Array>();
  for (const file of tfjsWeightFiles(text)) shards.set(file, await read(file));
  return importTfjs({ name: 'model.json', text }, shards);
}

/**
 * The app's built-in demo models (public/models/<name>/, the same files as ../shared/models/<name>/), imported
 * with the engine's importers; BatchNorm is folded as Zennit's canonizer does.
 */
const BUILTINS: readonly BuiltinSpec[] = [
  {
    name: 'tinyvgg',
    description: 'built-in TinyVGG (CNN Explainer, TF.js, pretrained), 64x64',
    quick: false,
    load: loadTfjs,
  },
  {
    name: 'darknet-tiny',
    description: 'built-in Darknet tiny (ImageNet, TF.js, pretrained), 224x224',
    quick: false,
    load: loadTfjs,
  },
  {
    name: 'resnet20-cifar10',
    description: 'built-in ResNet-20 (CIFAR-10, ONNX, pretrained), 32x32',
    // 81 MFLOP per forward pass: one EpsilonPlusFlat explanation took 14 s on SwiftShader (2 cores), too slow
    // for the one-minute quick run; `--quick --model resnet20-cifar10` still runs it with 3 runs.
    quick: false,
    async load(read) {
      const bytes = await read('resnet20_cifar10.onnx');
      const data = await read('resnet20_cifar10.onnx.data');
      return importOnnx({ name: 'resnet20_cifar10.onnx', bytes }, new Map([['resnet20_cifar10.onnx.data', data]]));
    },
  },
];

/** Built-in demo models read through `read`; `where` names the searched folders in messages. */
export function builtinSources(read: ModelFileReader, where: string): BenchModelSource[] {
  return BUILTINS.map((spec) => ({
    name: spec.name,
    description: spec.description,
    quick: spec.quick,
    full: true,
    async load(): Promise<Graph> {
      const graph = await spec.load((file) => need(read, `${spec.name}/${file}`, where));
      return foldBatchNorm(graph);
    },
  }));
}

export function syntheticSources(): BenchModelSource[] {
  return SYNTHETIC_MODELS.map((m) => ({
    name: m.name,
    description: m.description,
    quick: m.quick,
    full: m.full ?? !m.quick,
    load: async () => m.build(),
    loadShapes: async () => m.build({ random: false }),
  }));
}

/** Whether a --model value names a model file rather than a known model. */
export function isModelFile(name: string): boolean {
  return /\.onnx$/i.test(name) || /(^|[\\/])model\.json$/i.test(name);
}

/**
 * A model file given on the command line: an ONNX file (with the external-data files it names, from its folder)
 * or a TF.js model.json (with its weight shards). `read` takes a path relative to the file's folder.
 */
export function modelFileSource(path: string, read: (file: string) => Promise<Uint8Array | null>): BenchModelSource {
  const base = path.split(/[\\/]/).pop() ?? path;
  const get = async (file: string) => need(read, file, path);
  return {
    name: base,
    description: `${path} (BatchNorm merged)`,
    quick: false,
    full: false,
    async load(): Promise<Graph> {
      if (/\.json$/i.test(base)) return foldBatchNorm(await loadTfjs(get));
      const bytes = await get(base);
      const side = new Map<string, Uint8Array>();
      for (const file of onnxExternalFiles(bytes)) side.set(file, await get(file));
      return foldBatchNorm(importOnnx({ name: base, bytes }, side));
    },
  };
}

/**
 * The models to run: those named (in that order), else the default set of the quick or the full benchmark. A name
 * that is a model file (`.onnx`, `model.json`) is loaded from that file through `fileSource`.
 */
export function selectModels(
  all: readonly BenchModelSource[],
  names: readonly string[] | undefined,
  quick: boolean,
  fileSource?: (path: string) => BenchModelSource,
): BenchModelSource[] {
  if (names && names.length) {
    return names.map((name) => {
      if (fileSource && isModelFile(name.trim())) return fileSource(name.trim());
      const found = all.find((m) => m.name === name.trim());
      if (!found) throw new RangeError(`unknown model "${name}" (models: ${all.map((m) => m.name).join(', ')})`);
      return found;
    });
  }
  return all.filter((m) => (quick ? m.quick : m.full));
}
