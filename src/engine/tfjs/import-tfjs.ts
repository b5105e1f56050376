/**
 * TF.js layers model -> Graph importer. Reads a model.json (Keras 2.x / tf.keras layer configs, Sequential or
 * functional Model, as written by tensorflowjs_converter or TF.js's model.save) and its binary weight shards.
 *
 * TF.js computes in NHWC; the engine in NCHW. The Graph takes an NCHW input [1, C, H, W]; kernels are transposed
 * (Keras HWIO -> OIHW, depthwise H W C M -> [C*M, 1, H, W]), and the Dense layer after a Keras Flatten (which
 * flattens H, W, C) gets its weight columns reordered so that the engine's C, H, W flatten computes the same.
 * 'same' padding puts the odd pixel at the bottom/right, as in TensorFlow; for convolutions it becomes a zero Pad
 * layer before a 'valid' convolution (see explicitPad), for pools explicit pads of the pool. Activations inside
 * a layer's config become their own layers; a final softmax is removed (explanations start from the logits).
 *
 * Every problem is a ModelImportError naming the file; unsupported layers are reported all at once, before any
 * weight is read.
 */
import type { AttrValue, Graph, GraphNode, OpType, Tensor } from '../graph';
import { ModelImportError } from '../onnx/import-onnx';
import { AllocationBudget, IMPORT_LIMITS, ImportLimitError, brief, clipName, hasUnsafeChars, inputProblem, shapeProblem } from '../onnx/limits';
import { WeightStore, WeightsError, missingShards, parseWeightsManifest, type WeightTensor } from './weights';

/** Keras layer classes the importer maps (anything else is reported as unsupported). */
export const SUPPORTED_TFJS_LAYERS: readonly string[] = [
  'InputLayer',
  'Conv2D',
  'DepthwiseConv2D',
  'SeparableConv2D',
  'Dense',
  'Activation',
  'ReLU',
  'LeakyReLU',
  'Softmax',
  'BatchNormalization',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'Flatten',
  'Dropout',
  'SpatialDropout2D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'ZeroPadding2D',
  'Add',
];

/** Activation names (in a layer's `activation` or an Activation layer) the importer maps. */
const ACTIVATIONS = new Set(['linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'leaky_relu', 'softmax']);

/** A node or tensor index in an inbound reference: a number (absent: 0); anything else is NaN, never converted. */
function refIndex(v: unknown): number {
  if (v === undefined || v === null) return 0;
  return typeof v === 'number' ? v : NaN;
}

/** An activation's name: a string, or the class_name of a serialised activation object. */
function activationName(act: unknown): string {
  if (typeof act === 'string') return act;
  if (isObject(act) && typeof act.class_name === 'string') return act.class_name;
  return brief(act);
}

/** Class-name aliases written by some Keras versions. */
const CLASS_ALIASES: Record<string, string> = {
  Convolution2D: 'Conv2D',
  MaxPool2D: 'MaxPooling2D',
  AvgPool2D: 'AveragePooling2D',
  AveragePool2D: 'AveragePooling2D',
  GlobalAvgPool2D: 'GlobalAveragePooling2D',
  GlobalMaxPool2D: 'GlobalMaxPooling2D',
  SeparableConvolution2D: 'SeparableConv2D',
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A tensor reference in a functional model's inbound nodes. */
interface InboundRef {
  readonly layer: string;
  readonly node: number;
  readonly tensor: number;
}

interface KerasLayer {
  readonly className: string;
  readonly name: string;
  readonly config: Record<string, unknown>;
  /** Inbound tensors of its single call (empty for inputs). */
  readonly inbound: readonly InboundRef[];
}

/** A Keras tensor as the engine holds it. */
interface KTensor {
  /** Engine value name. */
  readonly value: string;
  /** Keras shape without the batch axis: [H, W, C] or [F]. */
  readonly shape: readonly number[];
  /** For a rank-1 tensor flattened from [H, W, C]: the engine holds it in C, H, W order (Keras: H, W, C). */
  readonly flat?: readonly [number, number, number];
}

class TfjsError extends Error {}

function stripExt(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  return base.replace(/\.json$/i, '');
}

function describeLayers(names: readonly string[]): string {
  const q = names.map((n) => `"${n}"`).join(', ');
  return names.length === 1 ? `(layer ${q})` : `(layers ${q})`;
}

/**
 * Imports a TF.js layers model. `shards` holds the binary weight files by name (the paths in the model.json's
 * weightsManifest, or their base names).
 */
export function importTfjs(modelJson: { name: string; text: string }, shards: ReadonlyMap<string, Uint8Array>): Graph {
  const file = modelJson.name;
  try {
    let fileBytes = modelJson.text.length;
    for (const b of shards.values()) fileBytes += b.byteLength;
    return new TfjsImporter(file, shards, new AllocationBudget(fileBytes)).run(modelJson.text);
  } catch (e) {
    if (e instanceof ModelImportError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof TfjsError || e instanceof WeightsError || e instanceof ImportLimitError) throw new ModelImportError(`${file}: ${msg}`);
    throw new ModelImportError(`${file}: could not import the model: ${msg}`, { cause: e });
  }
}

/** True when the text looks like a TF.js layers model.json (cheap check for format detection). */
export function looksLikeTfjsModel(text: string): boolean {
  return /^\s*\{/.test(text) && text.includes('"modelTopology"');
}

/** The weight files a model.json refers to (its weightsManifest paths), for readers that fetch them. */
export function tfjsWeightFiles(text: string): string[] {
  if (jsonShapeProblem(text)) return [];
  try {
    const json = JSON.parse(text) as unknown;
    if (!isObject(json)) return [];
    return [...new Set(parseWeightsManifest(json.weightsManifest).flatMap((g) => g.paths))];
  } catch {
    return [];
  }
}

/**
 * Why a model.json text is refused before parsing, or undefined: larger than maxJsonBytes, or nested deeper than
 * maxJsonDepth (Keras configs nest about ten levels; parsing and walking deeper structures only costs time).
 */
function jsonShapeProblem(text: string): string | undefined {
  const L = IMPORT_LIMITS;
  if (text.length > L.maxJsonBytes) return `the file is ${(text.length / 2 ** 20).toFixed(0)} MiB; a model.json of at most ${L.maxJsonBytes / 2 ** 20} MiB is supported (weights belong in the .bin files)`;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > L.maxJsonDepth) return `the JSON nests more than ${L.maxJsonDepth} levels deep`;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Config helpers

function pair(v: unknown, what: string, fallback?: number): [number, number] {
  if (v === undefined || v === null) {
    if (fallback !== undefined) return [fallback, fallback];
    throw new TfjsError(`${what} is missing`);
  }
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0] as number, v[1] as number];
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'number') return [v[0], v[0]];
  throw new TfjsError(`${what} ${brief(v)} should be one or two numbers`);
}

function positiveInts(v: readonly number[], what: string): void {
  if (!v.every((x) => Number.isInteger(x) && x > 0)) throw new TfjsError(`${what} [${v.join(', ')}] should be positive integers`);
}

/** TensorFlow's 'same' padding along one axis: [before, after], the odd pixel after. */
export function samePadding(size: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

function outSize(size: number, kernel: number, stride: number, before: number, after: number, dilation = 1): number {
  return Math.floor((size + before + after - dilation * (kernel - 1) - 1) / stride) + 1;
}

// ---------------------------------------------------------------------------------------------------------------

class TfjsImporter {
  private readonly nodes: GraphNode[] = [];
  private readonly used = new Set<string>();
  private readonly notes: string[] = [];
  private weights!: WeightStore;
  private layerName = '';
  private layerClass = '';

  /** Per base name, the suffix unique() tries next (keeps naming linear). */
  private readonly nextSuffix = new Map<string, number>();

  constructor(
    private readonly file: string,
    private readonly shards: ReadonlyMap<string, Uint8Array>,
    private readonly budget: AllocationBudget,
  ) {}

  /** Reserves memory for a weight array the importer is about to make (a transposed kernel, BatchNorm terms). */
  private alloc(n: number, what: string): Float32Array {
    this.budget.reserve(n, 4, what);
    return new Float32Array(n);
  }

  run(text: string): Graph {
    const shape = jsonShapeProblem(text);
    if (shape) throw new TfjsError(shape);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new TfjsError(`not a TF.js model: the file is not valid JSON (${(e as Error).message})`);
    }
    if (!isObject(json)) throw new TfjsError('not a TF.js model: expected a JSON object');
    if (json.format === 'graph-model' || (isObject(json.modelTopology) && isObject(json.modelTopology.node))) {
      throw new TfjsError('is a TF.js graph model (a converted SavedModel); only TF.js layers models (converted from Keras) are supported');
    }
    const topology = json.modelTopology;
    if (!isObject(topology)) throw new TfjsError('not a TF.js layers model: it has no "modelTopology"');
    const config = isObject(topology.model_config) ? topology.model_config : topology;
    if (typeof config.class_name !== 'string') throw new TfjsError('not a TF.js layers model: the topology has no model class_name');

    const { layers, inputs, outputs, modelName } = this.parseTopology(config);
    if (inputs.length !== 1) {
      throw new TfjsError(`the model has ${inputs.length} inputs${inputs.length ? ` (${inputs.map((n) => `"${n}"`).join(', ')})` : ''}; only models with a single input are supported`);
    }
    if (outputs.length === 0) throw new TfjsError('the model has no output');
    if (outputs.length > 1) this.notes.push(`The model has ${outputs.length} outputs; only the first, "${outputs[0]!.layer}", is explained.`);

    const order = this.reachable(layers, outputs[0]!);
    const consumers = new Map<string, number>();
    for (const l of order) for (const r of l.inbound) consumers.set(r.layer, (consumers.get(r.layer) ?? 0) + 1);
    const outputLayer = outputs[0]!.layer;
    this.checkSupported(order, (l) => l.name === outputLayer && !consumers.get(l.name));

    // Weights: every shard must be there, and hold what the manifest says.
    const groups = parseWeightsManifest(json.weightsManifest);
    const missing = missingShards(groups, this.shards);
    if (missing.length > 0) {
      const list = missing.length > 4 ? `${missing.slice(0, 3).join(', ')} and ${missing.length - 3} more` : missing.join(', ');
      const what = missing.length === 1 ? `the weight file ${list}, which is` : `${missing.length} weight files ${list}, which are`;
      throw new TfjsError(`needs ${what} missing: open model.json together with its weight files`);
    }
    this.weights = new WeightStore(groups, this.shards, this.budget);

    for (const l of layers) this.used.add(l.name);
    const tensors = new Map<string, KTensor>();
    let inputName = '';
    let inputShape: number[] = [];
    for (const layer of order) {
      this.layerName = layer.name;
      this.layerClass = layer.className;
      try {
        if (layer.className === 'InputLayer') {
          const t = this.inputTensor(layer);
          inputName = layer.name;
          inputShape = this.engineShape(t);
          tensors.set(layer.name, t);
          continue;
        }
        const ins = layer.inbound.map((r) => {
          const t = tensors.get(r.layer);
          if (!t) throw new TfjsError(`reads "${r.layer}", which is not computed before it`);
          return t;
        });
        if (ins.length === 0) throw new TfjsError('has no input');
        const isFinal = layer.name === outputLayer && !consumers.get(layer.name);
        const out = this.layer(layer, ins, isFinal);
        const bad = shapeProblem(out.shape, 'its output', false);
        if (bad) throw new TfjsError(bad);
        tensors.set(layer.name, out);
      } catch (e) {
        if (e instanceof TfjsError || e instanceof WeightsError || e instanceof ImportLimitError) {
          throw new TfjsError(`layer "${layer.name}" (${layer.className}): ${e.message}`);
        }
        throw e;
      }
    }
    const out = tensors.get(outputLayer);
    if (!out || !inputName) throw new TfjsError('the output does not depend on the input');
    if (out.value === inputName) throw new TfjsError('the model has no layers between its input and its output');
    if (out.shape.length !== 1 || out.flat) {
      throw new TfjsError(`the output "${outputLayer}" has shape [${out.shape.join(', ')}]; a classifier with one score per class is needed`);
    }
    const base = stripExt(this.file);
    return {
      name: base === 'model' && modelName ? clipName(modelName) : base,
      input: { name: inputName, shape: inputShape },
      output: out.value,
      nodes: this.nodes,
      ...(this.notes.length > 0 ? { notes: [...new Set(this.notes)] } : {}),
    };
  }

  // ---- topology

  private parseTopology(config: Record<string, unknown>): {
    layers: KerasLayer[];
    inputs: string[];
    outputs: InboundRef[];
    modelName: string;
  } {
    const cls = config.class_name as string;
    const body = config.config;
    if (cls === 'Sequential') {
      const list = Array.isArray(body) ? body : isObject(body) ? body.layers : undefined;
      if (!Array.isArray(list) || list.length === 0) throw new TfjsError('the Sequential model lists no layers');
      if (list.length > IMPORT_LIMITS.maxNodes) throw new TfjsError(`the model has ${list.length} layers; at most ${IMPORT_LIMITS.maxNodes} are supported`);
      const modelName = isObject(body) && typeof body.name === 'string' ? body.name : 'sequential';
      const raw = list.map((l, i) => this.rawLayer(l, i));
      const layers: KerasLayer[] = [];
      let prev: string;
      if (raw[0]!.className === 'InputLayer') {
        layers.push({ ...raw[0]!, inbound: [] });
        prev = raw[0]!.name;
        raw.shift();
      } else {
        const cfg = raw[0]!.config;
        const shape = cfg.batch_input_shape ?? cfg.batchInputShape ?? cfg.batch_shape ?? (Array.isArray(cfg.input_shape) ? [null, ...cfg.input_shape] : undefined);
        if (!Array.isArray(shape)) throw new TfjsError(`the first layer "${raw[0]!.name}" declares no input shape (batch_input_shape)`);
        prev = this.uniqueRaw('input', raw);
        layers.push({ className: 'InputLayer', name: prev, config: { batch_input_shape: shape }, inbound: [] });
      }
      for (const l of raw) {
        layers.push({ ...l, inbound: [{ layer: prev, node: 0, tensor: 0 }] });
        prev = l.name;
      }
      return { layers, inputs: [layers[0]!.name], outputs: [{ layer: prev, node: 0, tensor: 0 }], modelName };
    }
    if (cls !== 'Model' && cls !== 'Functional') throw new TfjsError(`the model class "${cls}" is not supported (Sequential or Model expected)`);
    if (!isObject(body) || !Array.isArray(body.layers)) throw new TfjsError(`the ${cls} lists no layers`);
    if (body.layers.length > IMPORT_LIMITS.maxNodes) throw new TfjsError(`the model has ${body.layers.length} layers; at most ${IMPORT_LIMITS.maxNodes} are supported`);
    const layers = body.layers.map((l, i): KerasLayer => {
      const raw = this.rawLayer(l, i);
      const nodes = isObject(l) ? l.inbound_nodes : undefined;
      if (nodes !== undefined && !Array.isArray(nodes)) throw new TfjsError(`layer "${raw.name}" has invalid inbound_nodes`);
      const list = (nodes ?? []) as unknown[];
      if (list.length > 1) throw new TfjsError(`layer "${raw.name}" is called ${list.length} times; shared layers are not supported`);
      const inbound = list.length === 0 ? [] : this.parseInbound(list[0], raw.name);
      for (const r of inbound) {
        if (r.node !== 0) throw new TfjsError(`layer "${raw.name}" reads call ${r.node} of "${r.layer}"; shared layers are not supported`);
      }
      return { ...raw, inbound };
    });
    const names = new Set<string>();
    for (const l of layers) {
      if (names.has(l.name)) throw new TfjsError(`two layers are named "${l.name}"`);
      names.add(l.name);
    }
    const refs = (v: unknown, what: string): InboundRef[] => {
      if (!Array.isArray(v)) throw new TfjsError(`the model's ${what} are not listed`);
      // [[name, node, tensor], ...] or, for a single one, [name, node, tensor].
      const list = typeof v[0] === 'string' ? [v] : v;
      return list.map((r) => {
        if (!Array.isArray(r) || typeof r[0] !== 'string') throw new TfjsError(`the model's ${what} are not valid`);
        if (!names.has(r[0])) throw new TfjsError(`the model's ${what} name layer "${r[0]}", which does not exist`);
        return { layer: r[0], node: refIndex(r[1]), tensor: refIndex(r[2]) };
      });
    };
    const inputs = refs(body.input_layers, 'inputs').map((r) => r.layer);
    const outputs = refs(body.output_layers, 'outputs');
    return { layers, inputs, outputs, modelName: typeof body.name === 'string' ? body.name : 'model' };
  }

  private uniqueRaw(base: string, raw: readonly { name: string }[]): string {
    let n = base;
    for (let k = 1; raw.some((l) => l.name === n); k++) n = `${base}_${k}`;
    return n;
  }

  private rawLayer(l: unknown, i: number): { className: string; name: string; config: Record<string, unknown> } {
    if (!isObject(l) || typeof l.class_name !== 'string') throw new TfjsError(`layer ${i} has no class_name`);
    const config = isObject(l.config) ? l.config : {};
    const name = typeof l.name === 'string' ? l.name : typeof config.name === 'string' ? config.name : `${l.class_name.toLowerCase()}_${i}`;
    // Layer names become the graph's layer names, shown in the app and printed by the CLI.
    if (hasUnsafeChars(name)) throw new TfjsError(`layer ${i} has a name with control characters ("${name.slice(0, 100)}")`);
    // Own properties only: "constructor" or "__proto__" as a class name must not find Object.prototype's.
    const alias = Object.hasOwn(CLASS_ALIASES, l.class_name) ? CLASS_ALIASES[l.class_name] : undefined;
    return { className: alias ?? l.class_name, name, config };
  }

  /** One call's inbound tensors: Keras 2 ([[name, node, tensor, kwargs], ...]) or Keras 3 ({args, kwargs}). */
  private parseInbound(node: unknown, layer: string): InboundRef[] {
    const refs: InboundRef[] = [];
    if (Array.isArray(node)) {
      for (const r of node) {
        if (!Array.isArray(r) || typeof r[0] !== 'string') throw new TfjsError(`layer "${layer}" has an invalid inbound node`);
        refs.push({ layer: r[0], node: refIndex(r[1]), tensor: refIndex(r[2]) });
      }
      return refs;
    }
    // Depth-first, in order, without recursion (the nesting comes from the file); Keras nests a few levels.
    const stack: { v: unknown; depth: number }[] = isObject(node) ? [{ v: node.args, depth: 0 }] : [];
    while (stack.length > 0) {
      const { v, depth } = stack.pop()!;
      if (depth > 32) throw new TfjsError(`layer "${layer}" has an inbound node nested too deeply`);
      const children = Array.isArray(v) ? v : isObject(v) ? undefined : [];
      if (children === undefined && isObject(v)) {
        const h = isObject(v.config) ? v.config.keras_history : undefined;
        if (Array.isArray(h) && typeof h[0] === 'string') refs.push({ layer: h[0], node: refIndex(h[1]), tensor: refIndex(h[2]) });
        else for (const x of Object.values(v).reverse()) stack.push({ v: x, depth: depth + 1 });
      } else if (children) for (const x of [...children].reverse()) stack.push({ v: x, depth: depth + 1 });
    }
    if (refs.length === 0) throw new TfjsError(`layer "${layer}" has an inbound node without tensors`);
    return refs;
  }

  /** Layers the output depends on, inputs first (depth-first, keeping the file's order where it is valid). */
  private reachable(layers: readonly KerasLayer[], output: InboundRef): KerasLayer[] {
    const byName = new Map(layers.map((l) => [l.name, l]));
    const state = new Map<string, 1 | 2>();
    const order: KerasLayer[] = [];
    const stack: [KerasLayer, number][] = [[byName.get(output.layer)!, 0]];
    state.set(output.layer, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const [l, k] = top;
      if (k < l.inbound.length) {
        top[1] = k + 1;
        const r = l.inbound[k]!;
        const p = byName.get(r.layer);
        if (!p) throw new TfjsError(`layer "${l.name}" reads "${r.layer}", which does not exist`);
        if (r.tensor !== 0) throw new TfjsError(`layer "${l.name}" reads output ${r.tensor} of "${r.layer}", which has only one`);
        const s = state.get(p.name);
        if (s === 1) throw new TfjsError(`the model has a cycle through layer "${p.name}"`);
        if (s === undefined) {
          state.set(p.name, 1);
          stack.push([p, 0]);
        }
      } else {
        state.set(l.name, 2);
        order.push(l);
        stack.pop();
      }
    }
    return order;
  }

  /** Reports every unsupported layer class (and unsupported activation or option) at once. */
  private checkSupported(order: readonly KerasLayer[], isFinal: (l: KerasLayer) => boolean): void {
    const problems = new Map<string, string[]>();
    const add = (label: string, name: string): void => {
      const list = problems.get(label) ?? [];
      list.push(name);
      problems.set(label, list);
    };
    const supported = new Set(SUPPORTED_TFJS_LAYERS);
    for (const l of order) {
      const c = l.config;
      if (!supported.has(l.className)) {
        add(l.className, l.name);
        continue;
      }
      if (c.data_format === 'channels_first') add(`${l.className} (channels_first)`, l.name);
      let act: unknown = l.className === 'Activation' ? c.activation : ['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'Dense'].includes(l.className) ? c.activation : undefined;
      if (l.className === 'Softmax') act = 'softmax';
      if (act !== undefined && act !== null) {
        const name = activationName(act);
        if (!ACTIVATIONS.has(name)) add(`activation "${name}"`, l.name);
        else if (name === 'softmax' && !isFinal(l)) add('softmax (not at the end)', l.name);
      }
      if (l.className === 'ReLU') {
        const t = c.threshold;
        if (typeof t === 'number' && t !== 0) add('ReLU with a threshold', l.name);
        const slope = c.negative_slope;
        const max = c.max_value;
        if (typeof slope === 'number' && slope !== 0 && typeof max === 'number') add('ReLU with both negative_slope and max_value', l.name);
      }
      if (l.className === 'Softmax' && c.axis !== undefined && c.axis !== -1 && !(Array.isArray(c.axis) && c.axis.length === 1 && c.axis[0] === -1)) {
        add('Softmax over an axis other than the last', l.name);
      }
    }
    if (problems.size > 0) {
      const parts = [...problems].map(([label, names]) => `${label} ${describeLayers(names)}`);
      throw new TfjsError(`unsupported Keras layers: ${parts.join(', ')}`);
    }
  }

  // ---- graph building

  private engineShape(t: KTensor): number[] {
    if (t.shape.length === 3) return [1, t.shape[2]!, t.shape[0]!, t.shape[1]!];
    if (t.shape.length === 1) return [1, t.shape[0]!];
    throw new TfjsError(`tensors of shape [${t.shape.join(', ')}] are not supported (only images H x W x C and feature vectors)`);
  }

  private unique(base: string): string {
    let n = base;
    let k = this.nextSuffix.get(base) ?? 1;
    for (; this.used.has(n); k++) n = `${base}_${k}`;
    this.nextSuffix.set(base, k);
    this.used.add(n);
    return n;
  }

  private emit(name: string, op: OpType, inputs: readonly KTensor[], attrs: Record<string, AttrValue>, params: Record<string, Tensor>): string {
    this.nodes.push({ name, op, inputs: inputs.map((t) => t.value), output: name, attrs, params });
    return name;
  }

  private weight(param: string, shape: readonly number[] | undefined): WeightTensor {
    const full = `${this.layerName}/${param}`;
    const w = this.weights.find(full);
    if (!w) throw new TfjsError(`its weight "${full}" is not in the weightsManifest`);
    if (shape && (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i]))) {
      throw new TfjsError(`its weight "${full}" has shape [${w.shape.join(', ')}], [${shape.join(', ')}] expected`);
    }
    return w;
  }

  private rank3(t: KTensor): [number, number, number] {
    if (t.shape.length !== 3) throw new TfjsError(`needs an image input (H x W x C), got shape [${t.shape.join(', ')}]`);
    return t.shape as [number, number, number];
  }

  private inputTensor(layer: KerasLayer): KTensor {
    const c = layer.config;
    const shape = c.batch_input_shape ?? c.batchInputShape ?? c.batch_shape;
    if (!Array.isArray(shape) || shape.length < 2) throw new TfjsError('declares no input shape (batch_input_shape)');
    const dims = shape.slice(1);
    if (dims.some((d) => d === null)) {
      const shown = shape.slice(0, 9).map((d) => (d === null ? 'null' : typeof d === 'number' ? String(d) : brief(d, 20)));
      throw new TfjsError(`the input has an unknown size ([${shown.join(', ')}]); a fixed input size is needed`);
    }
    if (!dims.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0)) throw new TfjsError(`the input shape ${brief(shape)} is not valid`);
    if (typeof shape[0] === 'number' && shape[0] > 1) throw new TfjsError(`the input has a fixed batch of ${shape[0]}; batch 1 or a free batch is needed`);
    if (dims.length !== 3 && dims.length !== 1) throw new TfjsError(`inputs of shape [${dims.join(', ')}] are not supported (an image H x W x C or a feature vector)`);
    if (c.dtype !== undefined && c.dtype !== 'float32') throw new TfjsError(`the input is ${brief(c.dtype)}; only float32 inputs are supported`);
    const tooBig = inputProblem([1, ...(dims as number[])], 'nhwc');
    if (tooBig) throw new TfjsError(tooBig);
    return { value: layer.name, shape: dims as number[] };
  }

  private layer(layer: KerasLayer, ins: readonly KTensor[], isFinal: boolean): KTensor {
    const c = layer.config;
    const x = ins[0]!;
    if (layer.className !== 'Add' && ins.length !== 1) throw new TfjsError(`takes one input, got ${ins.length}`);
    switch (layer.className) {
      case 'Conv2D':
        return this.activation(this.conv2d(layer, x), c.activation, isFinal, false);
      case 'DepthwiseConv2D':
        return this.activation(this.depthwise(layer, x), c.activation, isFinal, false);
      case 'SeparableConv2D':
        return this.activation(this.separable(layer, x), c.activation, isFinal, false);
      case 'Dense':
        return this.activation(this.dense(layer, x), c.activation, isFinal, false);
      case 'Activation':
        return this.activation(x, c.activation, isFinal, true);
      case 'Softmax':
        return this.activation(x, 'softmax', isFinal, true);
      case 'ReLU': {
        const slope = typeof c.negative_slope === 'number' ? c.negative_slope : 0;
        const max = typeof c.max_value === 'number' ? c.max_value : undefined;
        if (slope !== 0) return this.act(layer.name, 'leakyrelu', x, { alpha: slope });
        if (max !== undefined) return this.act(layer.name, 'clip', x, { min: 0, max });
        return this.act(layer.name, 'relu', x, {});
      }
      case 'LeakyReLU': {
        const alpha = typeof c.alpha === 'number' ? c.alpha : typeof c.negative_slope === 'number' ? c.negative_slope : 0.3;
        return this.act(layer.name, 'leakyrelu', x, { alpha });
      }
      case 'BatchNormalization':
        return this.batchnorm(layer, x);
      case 'MaxPooling2D':
      case 'AveragePooling2D':
        return this.pool(layer, x);
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D':
        return this.globalPool(layer, x);
      case 'Flatten':
        return this.flatten(layer, x);
      case 'Dropout':
      case 'SpatialDropout2D':
      case 'GaussianNoise':
      case 'GaussianDropout':
      case 'AlphaDropout':
        return x; // identity at inference
      case 'ZeroPadding2D':
        return this.zeroPad(layer, x);
      case 'Add':
        return this.add(layer, ins);
      default:
        throw new TfjsError('is not supported');
    }
  }

  /** An activation given by name; `own`: the activation is the layer itself (an Activation layer). */
  private activation(x: KTensor, act: unknown, isFinal: boolean, own: boolean): KTensor {
    if (act === undefined || act === null) return x;
    const name = activationName(act);
    if (name === 'linear') return x;
    const nodeName = own ? this.layerName : this.unique(`${this.layerName}_${name}`);
    switch (name) {
      case 'relu':
        return this.act(nodeName, 'relu', x, {});
      case 'relu6':
        return this.act(nodeName, 'clip', x, { min: 0, max: 6 });
      case 'sigmoid':
        return this.act(nodeName, 'sigmoid', x, {});
      case 'tanh':
        return this.act(nodeName, 'tanh', x, {});
      case 'leaky_relu':
        return this.act(nodeName, 'leakyrelu', x, { alpha: 0.2 });
      case 'softmax':
        if (!isFinal) throw new TfjsError('a softmax is only supported at the end of the model');
        this.notes.push(`The final softmax (layer "${this.layerName}") was removed: explanations start from the logits before the softmax.`);
        return x;
      default:
        throw new TfjsError(`activation "${name}" is not supported`);
    }
  }

  private act(name: string, op: OpType, x: KTensor, attrs: Record<string, AttrValue>): KTensor {
    this.engineShape(x);
    return { ...x, value: this.emit(name, op, [x], attrs, {}) };
  }

  private convGeometry(c: Record<string, unknown>, H: number, W: number, kernel: [number, number]) {
    const stride = pair(c.strides, 'strides', 1);
    const dilation = pair(c.dilation_rate, 'dilation_rate', 1);
    positiveInts(kernel, 'kernel_size');
    positiveInts(stride, 'strides');
    positiveInts(dilation, 'dilation_rate');
    const padding = c.padding ?? 'valid';
    let pads: [number, number, number, number];
    if (padding === 'valid') pads = [0, 0, 0, 0];
    else if (padding === 'same') {
      const [t, b] = samePadding(H, kernel[0], stride[0], dilation[0]);
      const [l, r] = samePadding(W, kernel[1], stride[1], dilation[1]);
      pads = [t, l, b, r];
    } else throw new TfjsError(`padding ${brief(padding)} is not supported ('same' or 'valid')`);
    const oh = outSize(H, kernel[0], stride[0], pads[0], pads[2], dilation[0]);
    const ow = outSize(W, kernel[1], stride[1], pads[1], pads[3], dilation[1]);
    if (oh < 1 || ow < 1) throw new TfjsError(`the window ${kernel[0]}x${kernel[1]} does not fit the ${H}x${W} input`);
    return { stride, dilation, pads, oh, ow };
  }

  /**
   * A convolution's 'same' padding as its own zero Pad layer ("<name>_pad") before a 'valid' convolution, the way
   * Keras models are written in PyTorch (ZeroPad2d + Conv2d) and the form the TF.js goldens are computed on: rules
   * that replace the input (Flat, WSquare, ZBox) then see the padded positions as inputs of the convolution.
   */
  private explicitPad(name: string, x: KTensor, pads: readonly number[]): KTensor {
    const [t, l, b, r] = pads as [number, number, number, number];
    if (t + l + b + r === 0) return x;
    const [H, W, C] = this.rank3(x);
    const value = this.emit(this.unique(`${name}_pad`), 'pad', [x], { pads: [0, 0, t, l, 0, 0, b, r] }, {});
    return { value, shape: [H + t + b, W + l + r, C] };
  }

  private conv2d(layer: KerasLayer, x: KTensor): KTensor {
    const c = layer.config;
    const [H, W, C] = this.rank3(x);
    const filters = c.filters;
    if (typeof filters !== 'number' || !Number.isInteger(filters) || filters < 1) throw new TfjsError('has no valid "filters"');
    const kernel = pair(c.kernel_size, 'kernel_size');
    const groups = typeof c.groups === 'number' ? c.groups : 1;
    if (!Number.isInteger(groups) || groups < 1 || C % groups !== 0 || filters % groups !== 0) {
      throw new TfjsError(`groups=${groups} does not divide ${C} input channels and ${filters} filters`);
    }
    const g = this.convGeometry(c, H, W, kernel);
    const input = this.explicitPad(layer.name, x, g.pads);
    const Ig = C / groups;
    const [kh, kw] = kernel;
    const k = this.weight('kernel', [kh, kw, Ig, filters]);
    // HWIO -> OIHW
    const w = this.alloc(filters * Ig * kh * kw, 'the kernel');
    for (let y = 0; y < kh; y++)
      for (let xx = 0; xx < kw; xx++)
        for (let i = 0; i < Ig; i++)
          for (let o = 0; o < filters; o++) w[((o * Ig + i) * kh + y) * kw + xx] = k.data[((y * kw + xx) * Ig + i) * filters + o]!;
    const params: Record<string, Tensor> = { weight: { shape: [filters, Ig, kh, kw], data: w } };
    if (c.use_bias !== false) params.bias = { shape: [filters], data: this.weight('bias', [filters]).data };
    const value = this.emit(layer.name, 'conv2d', [input], { kernel: [kh, kw], stride: g.stride, pads: [0, 0, 0, 0], dilation: g.dilation, groups }, params);
    return { value, shape: [g.oh, g.ow, filters] };
  }

  /** A depthwise convolution; its kernel [kh, kw, C, M] becomes [C*M, 1, kh, kw] (output channel c*M + m). */
  private depthwiseNode(name: string, x: KTensor, c: Record<string, unknown>, withBias: boolean): KTensor {
    const [H, W, C] = this.rank3(x);
    const kernel = pair(c.kernel_size, 'kernel_size');
    const M = typeof c.depth_multiplier === 'number' ? c.depth_multiplier : 1;
    if (!Number.isInteger(M) || M < 1) throw new TfjsError(`depth_multiplier ${M} should be a positive integer`);
    const g = this.convGeometry(c, H, W, kernel);
    const input = this.explicitPad(name, x, g.pads);
    const [kh, kw] = kernel;
    const k = this.weight('depthwise_kernel', [kh, kw, C, M]);
    const O = C * M;
    const w = this.alloc(O * kh * kw, 'the kernel');
    for (let y = 0; y < kh; y++)
      for (let xx = 0; xx < kw; xx++)
        for (let ch = 0; ch < C; ch++)
          for (let m = 0; m < M; m++) w[((ch * M + m) * kh + y) * kw + xx] = k.data[((y * kw + xx) * C + ch) * M + m]!;
    const params: Record<string, Tensor> = { weight: { shape: [O, 1, kh, kw], data: w } };
    if (withBias) params.bias = { shape: [O], data: this.weight('bias', [O]).data };
    const value = this.emit(name, 'conv2d', [input], { kernel: [kh, kw], stride: g.stride, pads: [0, 0, 0, 0], dilation: g.dilation, groups: C }, params);
    return { value, shape: [g.oh, g.ow, O] };
  }

  private depthwise(layer: KerasLayer, x: KTensor): KTensor {
    return this.depthwiseNode(layer.name, x, layer.config, layer.config.use_bias !== false);
  }

  /** SeparableConv2D: a depthwise convolution ("<name>_depthwise"), then a pointwise 1x1 convolution ("<name>"). */
  private separable(layer: KerasLayer, x: KTensor): KTensor {
    const c = layer.config;
    const d = this.depthwiseNode(this.unique(`${layer.name}_depthwise`), x, c, false);
    const filters = c.filters;
    if (typeof filters !== 'number' || !Number.isInteger(filters) || filters < 1) throw new TfjsError('has no valid "filters"');
    const [oh, ow, CM] = d.shape as [number, number, number];
    const k = this.weight('pointwise_kernel', [1, 1, CM, filters]);
    const w = this.alloc(filters * CM, 'the kernel');
    for (let i = 0; i < CM; i++) for (let o = 0; o < filters; o++) w[o * CM + i] = k.data[i * filters + o]!;
    const params: Record<string, Tensor> = { weight: { shape: [filters, CM, 1, 1], data: w } };
    if (c.use_bias !== false) params.bias = { shape: [filters], data: this.weight('bias', [filters]).data };
    const value = this.emit(layer.name, 'conv2d', [d], { kernel: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1], groups: 1 }, params);
    return { value, shape: [oh, ow, filters] };
  }

  /** For a tensor flattened from [H, W, C]: the Keras index of each engine (C, H, W order) feature. */
  private kerasIndex(t: KTensor): (e: number) => number {
    if (!t.flat) return (e) => e;
    const [H, W, C] = t.flat;
    return (e) => {
      const ch = Math.floor(e / (H * W));
      const hw = e - ch * H * W;
      return hw * C + ch;
    };
  }

  private dense(layer: KerasLayer, x: KTensor): KTensor {
    const c = layer.config;
    if (x.shape.length !== 1) {
      throw new TfjsError(`Dense on a tensor of shape [${x.shape.join(', ')}] is not supported (flatten or pool it to a vector first)`);
    }
    const F = x.shape[0]!;
    const units = c.units;
    if (typeof units !== 'number' || !Number.isInteger(units) || units < 1) throw new TfjsError('has no valid "units"');
    const k = this.weight('kernel', [F, units]);
    // Keras [in, out] -> [out, in]; after a Keras Flatten, column e (engine order) is Keras row kerasIndex(e).
    const kidx = this.kerasIndex(x);
    const w = this.alloc(units * F, 'the kernel');
    for (let e = 0; e < F; e++) {
      const row = kidx(e) * units;
      for (let o = 0; o < units; o++) w[o * F + e] = k.data[row + o]!;
    }
    const params: Record<string, Tensor> = { weight: { shape: [units, F], data: w } };
    if (c.use_bias !== false) params.bias = { shape: [units], data: this.weight('bias', [units]).data };
    return { value: this.emit(layer.name, 'linear', [x], {}, params), shape: [units] };
  }

  private batchnorm(layer: KerasLayer, x: KTensor): KTensor {
    const c = layer.config;
    const rank = x.shape.length;
    const axisRaw = Array.isArray(c.axis) && c.axis.length === 1 ? c.axis[0] : (c.axis ?? -1);
    const axis = typeof axisRaw === 'number' ? (axisRaw < 0 ? axisRaw + rank + 1 : axisRaw) : NaN;
    if (axis !== rank) throw new TfjsError(`normalising axis ${brief(c.axis)} is not supported (only the channel axis, -1)`);
    const C = x.shape[rank - 1]!;
    const epsilon = typeof c.epsilon === 'number' ? c.epsilon : 1e-3;
    // gamma, beta, mean, variance (reordered for a flattened input), scale and shift: six arrays of C.
    this.budget.reserve(C, 6 * 4, 'the normalisation terms');
    const gammaK = c.scale === false ? new Float32Array(C).fill(1) : this.weight('gamma', [C]).data;
    const betaK = c.center === false ? new Float32Array(C) : this.weight('beta', [C]).data;
    const meanK = this.weight('moving_mean', [C]).data;
    const varK = this.weight('moving_variance', [C]).data;
    // Per engine channel (a flattened tensor's features are in C, H, W order on the engine side).
    const kidx = this.kerasIndex(x);
    const reorder = (v: Float32Array): Float32Array => (x.flat ? Float32Array.from({ length: C }, (_, e) => v[kidx(e)]!) : v);
    const gamma = reorder(gammaK);
    const beta = reorder(betaK);
    const mean = reorder(meanK);
    const variance = reorder(varK);
    const scale = new Float32Array(C);
    const shift = new Float32Array(C);
    for (let i = 0; i < C; i++) {
      const s = gamma[i]! / Math.sqrt(variance[i]! + epsilon); // float64
      scale[i] = s;
      shift[i] = beta[i]! - mean[i]! * s;
    }
    const t = (d: Float32Array): Tensor => ({ shape: [C], data: d });
    const params = { scale: t(scale), shift: t(shift), gamma: t(gamma), beta: t(beta), mean: t(mean), var: t(variance) };
    return { ...x, value: this.emit(layer.name, 'batchnorm', [x], { epsilon }, params) };
  }

  private pool(layer: KerasLayer, x: KTensor): KTensor {
    const c = layer.config;
    const [H, W, C] = this.rank3(x);
    const kernel = pair(c.pool_size, 'pool_size', 2);
    const stride = c.strides === undefined || c.strides === null ? kernel : pair(c.strides, 'strides');
    const g = this.convGeometry({ ...c, strides: stride, dilation_rate: 1 }, H, W, kernel);
    const shape = [g.oh, g.ow, C];
    if (layer.className === 'MaxPooling2D') {
      const value = this.emit(layer.name, 'maxpool2d', [x], { kernel, stride: g.stride, pads: g.pads, dilation: [1, 1] }, {});
      return { value, shape };
    }
    if (g.pads.some((p) => p > 0)) {
      throw new TfjsError(
        `padding "same" pads this ${H}x${W} input by [${g.pads.join(', ')}] (top, left, bottom, right), and Keras then averages over the pixels inside the image only; the engine's average pool counts the padding, so this layer cannot be imported exactly`,
      );
    }
    const value = this.emit(layer.name, 'avgpool2d', [x], { kernel, stride: g.stride, pads: g.pads, countIncludePad: 1 }, {});
    return { value, shape };
  }

  private globalPool(layer: KerasLayer, x: KTensor): KTensor {
    const [H, W, C] = this.rank3(x);
    const keep = layer.config.keepdims === true;
    const pooled =
      layer.className === 'GlobalAveragePooling2D'
        ? this.emit(layer.name, 'globalavgpool', [x], {}, {})
        : this.emit(layer.name, 'maxpool2d', [x], { kernel: [H, W], stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1] }, {});
    const t: KTensor = { value: pooled, shape: [1, 1, C] };
    if (keep) return t;
    const value = this.emit(this.unique(`${layer.name}_reshape`), 'reshape', [t], { shape: [1, C] }, {});
    return { value, shape: [C] };
  }

  private flatten(layer: KerasLayer, x: KTensor): KTensor {
    if (x.shape.length === 1) return x;
    const [H, W, C] = this.rank3(x);
    const n = H * W * C;
    const value = this.emit(layer.name, 'reshape', [x], { shape: [1, n] }, {});
    // C, H, W (engine) and H, W, C (Keras) orders agree when there is one channel or one pixel.
    return H * W === 1 || C === 1 ? { value, shape: [n] } : { value, shape: [n], flat: [H, W, C] };
  }

  private zeroPad(layer: KerasLayer, x: KTensor): KTensor {
    const [H, W, C] = this.rank3(x);
    const p = layer.config.padding ?? 1;
    let t: number, b: number, l: number, r: number;
    if (typeof p === 'number') [t, b, l, r] = [p, p, p, p];
    else if (Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number')) [t, b, l, r] = [p[0], p[0], p[1], p[1]] as number[] as [number, number, number, number];
    else if (Array.isArray(p) && p.length === 2 && p.every((v) => Array.isArray(v) && v.length === 2)) [[t, b], [l, r]] = p as [[number, number], [number, number]];
    else throw new TfjsError(`padding ${brief(p)} is not valid`);
    const all = [t, b, l, r];
    if (!all.every((v) => Number.isSafeInteger(v) && v >= 0)) throw new TfjsError(`padding ${brief(p)} should be non-negative integers`);
    if (all.every((v) => v === 0)) return x;
    const value = this.emit(layer.name, 'pad', [x], { pads: [0, 0, t, l, 0, 0, b, r] }, {});
    return { value, shape: [H + t + b, W + l + r, C] };
  }

  private add(layer: KerasLayer, ins: readonly KTensor[]): KTensor {
    if (ins.length < 2) throw new TfjsError(`adds at least two inputs, got ${ins.length}`);
    const first = ins[0]!;
    for (const t of ins.slice(1)) {
      const same = t.shape.length === first.shape.length && t.shape.every((d, i) => d === first.shape[i]);
      if (!same) throw new TfjsError(`cannot add [${first.shape.join(', ')}] and [${t.shape.join(', ')}] (no broadcasting)`);
      if (JSON.stringify(t.flat) !== JSON.stringify(first.flat)) throw new TfjsError('adds vectors flattened from different shapes');
    }
    let acc = first;
    for (let i = 1; i < ins.length; i++) {
      const name = i === ins.length - 1 ? layer.name : this.unique(`${layer.name}_${i}`);
      acc = { ...first, value: this.emit(name, 'add', [acc, ins[i]!], {}, {}) };
    }
    return acc;
  }
}
