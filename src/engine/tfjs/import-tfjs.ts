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
 * Layer classes are looked up in the Keras table (./keras-table.ts), built from the ops' `keras` declarations and
 * ./keras-layers.ts; each mapping sees the layer through the KerasLayer context (ops/import-context.ts) that this
 * importer implements.
 *
 * Every problem is a ModelImportError naming the file; unsupported layers are reported all at once, before any
 * weight is read.
 */
import type { AttrValue, Graph, GraphNode } from '../graph';
import { ModelImportError } from '../onnx/import-onnx';
import { AllocationBudget, IMPORT_LIMITS, ImportLimitError, brief, clipName, hasUnsafeChars, inputProblem, shapeProblem } from '../onnx/limits';
import type { KerasLayer, KerasLayerInfo, KerasTensor } from '../ops/import-context';
import { WeightStore, WeightsError, missingShards, parseWeightsManifest } from './weights';
import { KERAS_TABLE } from './keras-table';
import { activationName, kerasActivation } from './keras-layers';
import { channelsFirst } from './keras-helpers';

export { samePadding } from './keras-helpers';

/** Keras layer classes the importer maps (anything else is reported as unsupported). */
export const SUPPORTED_TFJS_LAYERS: readonly string[] = [...KERAS_TABLE.keys()];

/** A node or tensor index in an inbound reference: a number (absent: 0); anything else is NaN, never converted. */
function refIndex(v: unknown): number {
  if (v === undefined || v === null) return 0;
  return typeof v === 'number' ? v : NaN;
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

interface LayerSpec {
  readonly className: string;
  readonly name: string;
  readonly config: Record<string, unknown>;
  /** Inbound tensors of its single call (empty for inputs). */
  readonly inbound: readonly InboundRef[];
}

type KTensor = KerasTensor;

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

class TfjsImporter {
  private readonly nodes: GraphNode[] = [];
  private readonly used = new Set<string>();
  private readonly notes: string[] = [];
  private weights!: WeightStore;
  /** The engine layer computing each value. */
  private readonly producers = new Map<string, GraphNode>();
  /** The file was written by Keras 3 (hard_sigmoid is relu6(x + 3) / 6 there). */
  private keras3 = false;

  /** Per base name, the suffix unique() tries next (keeps naming linear). */
  private readonly nextSuffix = new Map<string, number>();

  constructor(
    private readonly file: string,
    private readonly shards: ReadonlyMap<string, Uint8Array>,
    private readonly budget: AllocationBudget,
  ) {}

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
    this.keras3 = typeof topology.keras_version === 'string' && /^3\./.test(topology.keras_version);
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
      try {
        if (layer.className === 'InputLayer') {
          const t = this.inputTensor(layer);
          inputName = layer.name;
          inputShape = this.engineShape(t.shape);
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
    layers: LayerSpec[];
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
      const layers: LayerSpec[] = [];
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
    const layers = body.layers.map((l, i): LayerSpec => {
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
  private reachable(layers: readonly LayerSpec[], output: InboundRef): LayerSpec[] {
    const byName = new Map(layers.map((l) => [l.name, l]));
    const state = new Map<string, 1 | 2>();
    const order: LayerSpec[] = [];
    const stack: [LayerSpec, number][] = [[byName.get(output.layer)!, 0]];
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
  private checkSupported(order: readonly LayerSpec[], isFinal: (l: LayerSpec) => boolean): void {
    const problems = new Map<string, string[]>();
    const add = (label: string, name: string): void => {
      const list = problems.get(label) ?? [];
      list.push(name);
      problems.set(label, list);
    };
    for (const l of order) {
      const entry = KERAS_TABLE.get(l.className);
      if (!entry) {
        add(l.className, l.name);
        continue;
      }
      const info: KerasLayerInfo = { className: l.className, name: l.name, config: l.config, isFinal: isFinal(l) };
      if (channelsFirst(info)) add(`${l.className} (channels_first)`, l.name);
      entry.mapping.check?.(info, (label) => add(label, l.name));
    }
    if (problems.size > 0) {
      const parts = [...problems].map(([label, names]) => `${label} ${describeLayers(names)}`);
      throw new TfjsError(`unsupported Keras layers: ${parts.join(', ')}`);
    }
  }

  // ---- graph building

  private engineShape(shape: readonly number[]): number[] {
    if (shape.length === 3) return [1, shape[2]!, shape[0]!, shape[1]!];
    if (shape.length === 1) return [1, shape[0]!];
    throw new TfjsError(`tensors of shape [${shape.join(', ')}] are not supported (only images H x W x C and feature vectors)`);
  }

  private unique(base: string): string {
    let n = base;
    let k = this.nextSuffix.get(base) ?? 1;
    for (; this.used.has(n); k++) n = `${base}_${k}`;
    this.nextSuffix.set(base, k);
    this.used.add(n);
    return n;
  }

  private inputTensor(layer: LayerSpec): KTensor {
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

  /** One layer through its table mapping, seen through the KerasLayer context. */
  private layer(spec: LayerSpec, ins: readonly KTensor[], isFinal: boolean): KTensor {
    const mapping = KERAS_TABLE.get(spec.className)?.mapping;
    if (!mapping) throw new TfjsError('is not supported');
    if (!mapping.merge && ins.length !== 1) throw new TfjsError(`takes one input, got ${ins.length}`);
    return mapping.map(this.context(spec, ins, isFinal));
  }

  private context(spec: LayerSpec, ins: readonly KTensor[], isFinal: boolean): KerasLayer {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const im = this;
    const error = (message: string): never => {
      throw new TfjsError(message);
    };
    const ctx: KerasLayer = {
      className: spec.className,
      name: spec.name,
      config: spec.config,
      isFinal,
      ins,
      input: () => (ins.length === 1 ? ins[0]! : error(`takes one input, got ${ins.length}`)),
      image(t) {
        if (t.shape.length !== 3) error(`needs an image input (H x W x C), got shape [${t.shape.join(', ')}]`);
        return t.shape as [number, number, number];
      },
      error,
      weight(param, shape) {
        const full = `${spec.name}/${param}`;
        const w = im.weights.find(full);
        if (!w) return error(`its weight "${full}" is not in the weightsManifest`);
        if (shape && (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i]))) {
          error(`its weight "${full}" has shape [${w.shape.join(', ')}], [${shape.join(', ')}] expected`);
        }
        return w.data;
      },
      alloc(count, what) {
        im.budget.reserve(count, 4, what);
        return new Float32Array(count);
      },
      charge: (count, what, bytes = 4) => im.budget.reserve(count, bytes, what),
      unique: (base) => im.unique(base),
      emit(op, inputs, attrs, params, shape, options = {}) {
        im.engineShape(shape);
        const name = options.name ?? spec.name;
        im.nodes.push({ name, op, inputs: inputs.map((t) => t.value), output: name, attrs, params });
        im.producers.set(name, im.nodes[im.nodes.length - 1]!);
        return { value: name, shape: [...shape], ...(options.flat ? { flat: options.flat } : {}) };
      },
      activation: (x, act, own = false) => im.activation(ctx, x, act, own),
      producer(t) {
        const n = im.producers.get(t.value);
        return n ? { op: n.op, inputs: [...n.inputs], output: n.output, attrs: { ...n.attrs }, params: { ...n.params } } : undefined;
      },
      note: (message) => im.notes.push(message),
    };
    return ctx;
  }

  /** An activation given by name; `own`: the activation is the layer itself (an Activation layer). */
  private activation(layer: KerasLayer, x: KTensor, act: unknown, own: boolean): KTensor {
    if (act === undefined || act === null) return x;
    const name = activationName(act);
    const a = kerasActivation(name);
    if (!a) return layer.error(`activation "${name}" is not supported`);
    if (name === 'softmax') {
      if (!layer.isFinal) layer.error('a softmax is only supported at the end of the model');
      this.notes.push(`The final softmax (layer "${layer.name}") was removed: explanations start from the logits before the softmax.`);
      return x;
    }
    if (!a.op) return x;
    const nodeName = own ? layer.name : this.unique(`${layer.name}_${name}`);
    let attrs: Record<string, AttrValue> = a.attrs?.(this.keras3) ?? {};
    // A serialised activation object may carry GELU's approximate flag.
    if (a.op === 'gelu' && isObject(act) && isObject(act.config) && act.config.approximate === true) attrs = { approximate: 'tanh' };
    return layer.emit(a.op, [x], attrs, {}, x.shape, { name: nodeName, ...(x.flat ? { flat: x.flat } : {}) });
  }
}
