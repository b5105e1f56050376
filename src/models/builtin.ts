/**
 * The built-in pretrained models (public/models/<id>/, each with its license file and card.json) and opening a
 * set of model files, built-in or the user's: the format is recognised from the names and contents (ONNX with its
 * optional .onnx.data side file, or a TF.js model.json with its weight shards). Browser-safe: no Node imports;
 * the app fetches or drops files, the CLI reads them, and both hand the bytes to openModelFiles.
 */
import type { Graph } from '../engine/graph';
import { ModelImportError, importOnnx, onnxExternalFiles } from '../engine/onnx/import-onnx';
import { importTfjs, looksLikeTfjsModel, tfjsWeightFiles } from '../engine/tfjs/import-tfjs';
import { parseModelCard, type ModelCard, type ModelFormat } from './model-card';
import { ambiguousMessage, preferredOnnx } from './model-files';

export interface BuiltinModel {
  readonly id: string;
  readonly name: string;
  readonly format: ModelFormat;
  /** Files under public/models/<id>/ that make up the model (the first is the one to open). */
  readonly files: readonly string[];
  /** The model card beside them. */
  readonly card: 'card.json';
  /** The license file beside them. */
  readonly license: string;
}

const darknetShards = Array.from({ length: 31 }, (_, i) => `group${i + 1}-shard1of1`);

export const BUILTIN_MODELS: readonly BuiltinModel[] = [
  {
    id: 'darknet-tiny',
    name: 'Darknet Tiny (ImageNet)',
    format: 'tfjs',
    files: ['model.json', ...darknetShards],
    card: 'card.json',
    license: 'LICENSE',
  },
  {
    id: 'tinyvgg',
    // The menu's name: short enough for it (its card says which 10 classes: classSummary).
    name: 'TinyVGG (10 classes)',
    format: 'tfjs',
    files: ['model.json', 'group1-shard1of1.bin'],
    card: 'card.json',
    license: 'LICENSE',
  },
  {
    id: 'resnet20-cifar10',
    name: 'ResNet-20 (CIFAR-10)',
    format: 'onnx',
    files: ['resnet20_cifar10.onnx', 'resnet20_cifar10.onnx.data'],
    card: 'card.json',
    license: 'LICENSE',
  },
];

/** The same list (the name the app imports). */
export const builtinModels = BUILTIN_MODELS;

export const DEFAULT_MODEL_ID = 'darknet-tiny';

export function findBuiltinModel(id: string): BuiltinModel | undefined {
  return BUILTIN_MODELS.find((m) => m.id === id);
}

/** URL of a built-in model's file, relative to the app's base (Vite serves public/ at the root). */
export function builtinFileUrl(model: BuiltinModel, file: string, base = '/'): string {
  return `${base.endsWith('/') ? base : `${base}/`}models/${model.id}/${file}`;
}

/** The sample photos in public/samples, with their credits (public/samples/README.md). */
export const SAMPLE_IMAGES: readonly { readonly file: string; readonly title: string; readonly credit: string }[] = [
  { file: 'chelsea.png', title: 'Chelsea the cat', credit: 'Stefan van der Walt, CC0 (scikit-image sample data)' },
  { file: 'coffee.png', title: 'A cup of coffee', credit: 'Rachel Michetti, CC0, courtesy of Pikolo Espresso Bar (scikit-image sample data)' },
  { file: 'astronaut.png', title: 'Astronaut Eileen Collins', credit: 'NASA, public domain (scikit-image sample data)' },
  { file: 'rocket.jpg', title: 'A Falcon 9 launch', credit: 'SpaceX, public domain (scikit-image sample data)' },
];

// ---------------------------------------------------------------------------------------------------------------
// Opening model files

export interface ModelFile {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface OpenedModel {
  readonly graph: Graph;
  /** Importer notes for the user (e.g. a final softmax removed). */
  readonly notes: readonly string[];
  readonly format: ModelFormat;
  /** The file the model was read from (model.json or the .onnx). */
  readonly modelFile: string;
  /** A card.json among the files, when there was one. */
  readonly card?: ModelCard;
  /** The files read: the model file, the side files its weights are in, and card.json (as named in the input). */
  readonly used: readonly string[];
}

const baseName = (name: string): string => name.split(/[\\/]/).pop() ?? name;
const lower = (name: string): string => baseName(name).toLowerCase();

/** Protobuf ModelProto: starts with field 1 (ir_version, varint), or a graph/opset field. */
function looksLikeOnnx(bytes: Uint8Array): boolean {
  return bytes.length > 4 && (bytes[0] === 0x08 || bytes[0] === 0x3a || bytes[0] === 0x42 || bytes[0] === 0x12);
}

const decoder = new TextDecoder();

function jsonText(file: ModelFile): string | undefined {
  if (file.bytes.length === 0) return undefined;
  let i = 0;
  while (i < file.bytes.length && (file.bytes[i] === 0x20 || file.bytes[i] === 0x0a || file.bytes[i] === 0x0d || file.bytes[i] === 0x09 || file.bytes[i] === 0xef || file.bytes[i] === 0xbb || file.bytes[i] === 0xbf)) i++;
  if (file.bytes[i] !== 0x7b) return undefined; // '{'
  return decoder.decode(file.bytes);
}

/** Explains what a file that is not a model is, for the error message. */
function describeNonModel(name: string): string | undefined {
  const n = lower(name);
  if (/\.(h5|hdf5|keras)$/.test(n)) return `${baseName(name)} is a Keras file: convert it to a TF.js layers model (tensorflowjs_converter --input_format keras) and open model.json with its .bin files`;
  if (/\.(pt|pth|ckpt|safetensors)$/.test(n)) return `${baseName(name)} is a PyTorch checkpoint: export the model to ONNX (torch.onnx.export) and open the .onnx file`;
  if (/\.pb$/.test(n) || n === 'saved_model.pb') return `${baseName(name)} is a TensorFlow SavedModel: convert it from Keras to a TF.js layers model`;
  if (/\.tflite$/.test(n)) return `${baseName(name)} is a TensorFlow Lite model, which cannot be opened: use ONNX or a TF.js layers model`;
  return undefined;
}

/**
 * Opens a model from its files: an .onnx (plus the side files its weights live in) or a TF.js model.json (plus
 * the weight shards it lists); a card.json among them is read too. Throws ModelImportError with one clear message
 * (naming the file) when no model is found, a needed companion file is missing or the model cannot be imported.
 */
export function openModelFiles(files: readonly ModelFile[]): OpenedModel {
  if (files.length === 0) throw new ModelImportError('no files given: open an .onnx file, or a TF.js model.json with its weight files');
  const byName = new Map<string, Uint8Array>();
  for (const f of files) {
    byName.set(f.name, f.bytes);
    byName.set(baseName(f.name), f.bytes);
  }

  let card: ModelCard | undefined;
  const cardFile = files.find((f) => lower(f.name) === 'card.json');
  if (cardFile) {
    try {
      card = parseModelCard(decoder.decode(cardFile.bytes), baseName(cardFile.name));
    } catch (e) {
      throw new ModelImportError((e as Error).message);
    }
  }

  // TF.js: a JSON file with a modelTopology.
  const jsons = files.filter((f) => f !== cardFile && (lower(f.name).endsWith('.json') || jsonText(f) !== undefined));
  const tfjsModels = jsons.filter((f) => {
    const t = jsonText(f);
    return t !== undefined && looksLikeTfjsModel(t);
  });
  if (tfjsModels.length > 1) throw new ModelImportError(ambiguousMessage(tfjsModels.map((f) => f.name)));
  const tfjs = tfjsModels[0];
  // ONNX: by extension (of several, the one the others are variants of: model-files.ts), else by content (not JSON,
  // not a known side file).
  const onnxNamed = files.filter((f) => lower(f.name).endsWith('.onnx'));
  const preferred = onnxNamed.length > 0 ? preferredOnnx(onnxNamed.map((f) => f.name)) : null;
  if (onnxNamed.length > 1 && preferred === null) throw new ModelImportError(ambiguousMessage(onnxNamed.map((f) => f.name)));
  const onnx =
    onnxNamed.find((f) => f.name === preferred) ??
    files.find((f) => f !== cardFile && !jsons.includes(f) && !/\.(data|bin|json|png|jpe?g|txt|md)$/.test(lower(f.name)) && !/shard\d+of\d+$/.test(lower(f.name)) && looksLikeOnnx(f.bytes));
  const cardUsed = cardFile ? [cardFile.name] : [];

  if (tfjs && onnx) {
    throw new ModelImportError(`both an ONNX model (${baseName(onnx.name)}) and a TF.js model (${baseName(tfjs.name)}) were given: open one model at a time`);
  }
  if (tfjs) {
    // importTfjs reports unsupported layers first, then any weight file that is missing.
    const text = decoder.decode(tfjs.bytes);
    const graph = importTfjs({ name: baseName(tfjs.name), text }, byName);
    const shards = new Set(tfjsWeightFiles(text).flatMap((p) => [p, baseName(p)]));
    const used = [tfjs.name, ...files.filter((f) => f !== tfjs && (shards.has(f.name) || shards.has(baseName(f.name)))).map((f) => f.name), ...cardUsed];
    return { graph, notes: graph.notes ?? [], format: 'tfjs', modelFile: tfjs.name, used, ...(card ? { card } : {}) };
  }
  if (onnx) {
    const side = new Map<string, Uint8Array>();
    for (const f of files) if (f !== onnx) side.set(baseName(f.name), f.bytes);
    const used = [onnx.name];
    for (const loc of onnxExternalFiles(onnx.bytes)) {
      if (!byName.has(loc) && !byName.has(baseName(loc))) {
        throw new ModelImportError(`${baseName(onnx.name)} keeps its weights in ${loc}, which was not given: open both files together`);
      }
      side.set(loc, (byName.get(loc) ?? byName.get(baseName(loc)))!);
      const given = files.find((f) => f.name === loc || baseName(f.name) === baseName(loc));
      if (given && !used.includes(given.name)) used.push(given.name);
    }
    const graph = importOnnx({ name: baseName(onnx.name), bytes: onnx.bytes }, side);
    return { graph, notes: graph.notes ?? [], format: 'onnx', modelFile: onnx.name, used: [...used, ...cardUsed], ...(card ? { card } : {}) };
  }

  // No model: say what was given instead.
  for (const f of files) {
    const why = describeNonModel(f.name);
    if (why) throw new ModelImportError(why);
  }
  const names = files.map((f) => baseName(f.name));
  if (files.some((f) => lower(f.name).endsWith('.onnx.data') || lower(f.name).endsWith('.data'))) {
    throw new ModelImportError(`${names.join(', ')}: weights without their model; open the .onnx file together with its .data file`);
  }
  if (files.some((f) => /\.bin$|shard\d+of\d+$/.test(lower(f.name)))) {
    throw new ModelImportError(`${names.join(', ')}: TF.js weight files without their model.json; open model.json together with them`);
  }
  if (jsons.length > 0) {
    const j = jsons[0]!;
    const t = jsonText(j);
    if (t !== undefined && /"format"\s*:\s*"graph-model"/.test(t)) {
      throw new ModelImportError(`${baseName(j.name)} is a TF.js graph model (a converted SavedModel); only TF.js layers models (converted from Keras) can be opened`);
    }
    throw new ModelImportError(`${baseName(j.name)} is not a TF.js layers model (it has no "modelTopology")`);
  }
  throw new ModelImportError(`${names.join(', ')}: no model found; open an .onnx file, or a TF.js model.json with its weight files`);
}
