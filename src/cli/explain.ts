/**
 * `lrp-lens explain`: one explanation of a model's decision on a photo (or an input array), from the command line.
 * Reads the model's files (and a card.json beside it), decodes and preprocesses the photo as the card says,
 * explains the chosen (default: top) class with a composite plus per-layer overrides, and writes the heatmap PNG
 * and/or the raw relevance.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { BackendKind, Explanation, LayerRelevance, LoadedModel } from '../engine/api';
import { applyBatchNorm, mergeBatchNormByDefault } from '../session/batchnorm';
import { shapeSize, type Graph } from '../engine/graph';
import { createEngine, type Engine } from '../engine/index';
import { gradientTimesInput, inputGradient, integratedGradients, smoothGrad, type Attribution } from '../engine/attribution-methods';
import { explainConcept, type ConceptExplanation } from '../engine/concepts';
import { inferShapes } from '../engine/compile';
import { encodeNpy, parseNpy, toFloat32, type NpyArray } from '../engine/io/npy';
import type { ModelFile } from '../models/builtin';
import { ModelFileError, readClassListsBeside, readModelFilesAt } from '../node/model-files';
import { cardForFiles, importModelFiles, type ImportedModel } from '../session/open-model';
import { heatmapImage, type ColormapId } from '../models/colormap';
import { InputError, photoInput, tensorInput } from '../session/model-input';
import { checkCardFitsGraph, graphClasses, graphInputSize, parseModelCard, type ModelCard } from '../models/model-card';
import type { LayerRuleEntry, RuleAssignment } from '../rules/assignment';
import { resolveAssignment } from '../engine/rule-assignment';
import { presetAssignment, withCardBounds } from '../rules/preset-params';
import { composites, findComposite } from '../rules/composites';
import { CUSTOM_RULE_LIMITS, parseRuleDefinitionText, type CustomRuleSpec } from '../rules/custom-rules';
import { DEFAULT_COMPOSITE, orList, type ConceptChoice, type ExplainCommand, type MethodName } from './args';
import { decodeImage, encodePng } from './image-io';

export { DEFAULT_COMPOSITE };

/** A failure with a message meant for the user (one line, no stack). */
export class ExplainError extends Error {
  override name = 'ExplainError';
}

export interface ClassScore {
  readonly rank: number;
  readonly class: number;
  readonly label: string;
  readonly probability: number;
  readonly logit: number;
}

export interface ExplainReport {
  readonly model: { readonly file: string; readonly name: string; readonly format: 'onnx' | 'tfjs'; readonly layers: number; readonly card: 'built-in' | 'file' | 'default' };
  readonly backend: BackendKind;
  readonly input: { readonly file: string; readonly kind: 'image' | 'npy'; readonly shape: readonly number[]; readonly imageSize?: readonly [number, number] };
  readonly notes: readonly string[];
  readonly top: readonly ClassScore[];
  readonly explained: { readonly class: number; readonly label: string; readonly logit: number; readonly probability: number };
  /** Explained against this class (the relevance of the explained class minus this one's). */
  readonly contrastTarget?: number | null;
  readonly composite: string;
  readonly rules: readonly LayerRuleEntry[];
  /** BatchNorm layers merged into the layer before them, or kept (models with BatchNorm). */
  readonly batchnorm?: 'merged' | 'kept';
  readonly relevanceSum: number;
  readonly heatmap?: string;
  /** How --out was drawn: the colormap, the clip percentile (null: none) and the scale, +-vmax. */
  readonly heatmapView?: { readonly colormap: ColormapId; readonly clipPercentile: number | null; readonly vmax: number };
  readonly relevanceOut?: string;
  /** --layer-out: the relevance arriving at this layer's input. */
  readonly layerOut?: { readonly layer: string; readonly shape: readonly number[]; readonly file: string };
  /**
   * --method other than lrp: the gradient baseline and its settings (the relevance fields then hold its
   * attribution; composite is "gradient", the preset its gradients run under).
   */
  readonly method?: MethodReport;
  /** --concept: the channels kept and their share of the layer's relevance (before masking). */
  readonly concept?: ConceptReport;
  readonly timings: { readonly loadMs: number; readonly explainMs: number };
}

export interface MethodReport {
  readonly name: Exclude<MethodName, 'lrp'>;
  /** Gradients computed (explanations run). */
  readonly gradients: number;
  readonly samples?: number;
  readonly noiseLevel?: number;
  /** SmoothGrad's noise seed (--seed, default 0: a run reproduces). */
  readonly seed?: number;
  readonly steps?: number;
  /** Integrated Gradients' points: midpoint or trapezoid. */
  readonly integration?: 'midpoint' | 'trapezoid';
  /** 'zeros' or the .npy file. */
  readonly baseline?: string;
  /** Integrated Gradients: f(x) - f(baseline) and the attributions' sum minus it. */
  readonly completeness?: { readonly expected: number; readonly delta: number };
}

export interface ConceptReport {
  readonly layer: string;
  readonly channels: readonly number[];
  /** The layer's output channels (axis 1). */
  readonly layerChannels: number;
  /** The relevance of the concept's channels at the layer's output, and of all its channels. */
  readonly relevance: number;
  readonly layerRelevance: number;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

/** A file's bytes; ExplainError naming `what` (e.g. "the card ") and the path when it cannot be read. */
export async function readBytes(path: string, what = ''): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (code ?? message(e));
    throw new ExplainError(`cannot read ${what}${path}: ${why}`);
  }
}

export async function writeBytes(path: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeFile(path, bytes);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ExplainError(`cannot write ${path}: ${code === 'ENOENT' ? 'its folder does not exist' : (code ?? message(e))}`);
  }
}

/** The model's files: model.json and its shards, or the .onnx and its external data, read from beside it. */
export async function readModelFiles(cmd: Pick<ExplainCommand, 'model' | 'modelData'>, missingShards: string[]): Promise<ModelFile[]> {
  try {
    return await readModelFilesAt(cmd.model, { modelData: cmd.modelData, missingShards, dataOption: '--model-data' });
  } catch (e) {
    throw e instanceof ModelFileError ? new ExplainError(e.message) : e;
  }
}

/** The card: --card, else a card.json beside the model that lists the model's file, else undefined. */
export async function readCard(cmd: ExplainCommand): Promise<{ card: ModelCard; from: 'built-in' | 'file' } | undefined> {
  const parse = (bytes: Uint8Array, file: string): ModelCard => {
    try {
      return parseModelCard(new TextDecoder().decode(bytes), file);
    } catch (e) {
      throw new ExplainError(message(e));
    }
  };
  if (cmd.card !== undefined) return { card: parse(await readBytes(cmd.card, 'the card '), cmd.card), from: 'file' };
  const beside = join(dirname(cmd.model), 'card.json');
  if (!existsSync(beside)) return undefined;
  const card = parse(await readBytes(beside), beside);
  return card.files.includes(basename(cmd.model)) ? { card, from: 'built-in' } : undefined;
}

export async function readInput(cmd: ExplainCommand, graph: Graph, card: ModelCard): Promise<{ x: Float32Array; info: ExplainReport['input'] }> {
  const shape = graph.input.shape;
  try {
    if (cmd.image !== undefined) {
      if (!graphInputSize(graph).image) {
        throw new ExplainError(`the model takes ${shapeSize(shape)} features [${shape.join(', ')}], not an image: give its input with --input <x.npy>`);
      }
      const img = decodeImage(await readBytes(cmd.image, 'the image '), cmd.image);
      // src/session/model-input.ts: as the app does, so the app, its share links and the CLI give one photo one input.
      return { x: photoInput(img, graph, card).data, info: { file: cmd.image, kind: 'image', shape, imageSize: [img.width, img.height] } };
    }
    const file = cmd.input!;
    const arr = await readNpyFile(file, 'the input ');
    return { x: tensorInput(file, arr.shape, toFloat32(arr), graph), info: { file, kind: 'npy', shape } };
  } catch (e) {
    throw e instanceof InputError ? new ExplainError(e.message) : e;
  }
}

/**
 * Starts the engine on the asked-for backend; 'auto' is the engine's policy (src/engine/backend-choice.ts): WebGPU on
 * a hardware adapter, else the fast float32 CPU backend (it matches the float64 one within every golden's
 * tolerance), else the float64 one. Dawn is loaded only when WebGPU may be used; why it failed is the engine's
 * reason. `--backend cpu` asks for the float64 reference itself.
 */
export async function startEngine(wanted: BackendKind | 'auto', verbose: (s: string) => void): Promise<Engine> {
  let gpu: GPU | undefined;
  let gpuProblem: string | undefined;
  if (wanted === 'auto' || wanted === 'webgpu') {
    try {
      const { createNodeGpu } = await import('../node/node-gpu');
      gpu = await createNodeGpu();
    } catch (e) {
      gpuProblem = message(e);
    }
  }
  let engine: Engine;
  try {
    engine = await createEngine({ backend: wanted, ...(gpu ? { gpu } : {}), ...(gpuProblem !== undefined ? { gpuProblem } : {}) });
  } catch (e) {
    throw new ExplainError(wanted === 'webgpu' ? `WebGPU is not available: ${message(e).replace(/^WebGPU is not available: /, '')}` : message(e));
  }
  if (engine.reason !== null) verbose(`backend: ${engine.backend}, because ${engine.reason}${wanted === 'auto' && gpu ? ' (pass --backend webgpu to use WebGPU anyway)' : ''}`);
  return engine;
}

export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i]! - max);
    sum += out[i]!;
  }
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / sum;
  return out;
}

/**
 * The custom rules of --rule-def files (each one definition or a list), checked; ExplainError naming the file for
 * one that cannot be read, is not JSON (with the line and column) or is not a valid definition.
 */
export async function readRuleDefs(files: readonly string[]): Promise<CustomRuleSpec[]> {
  const specs: CustomRuleSpec[] = [];
  const from = new Map<string, string>();
  for (const file of files) {
    const bytes = await readBytes(file, 'the rule definitions ');
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new ExplainError(`--rule-def ${file}: not UTF-8 text`);
    }
    let defs;
    try {
      defs = parseRuleDefinitionText(text, file);
    } catch (e) {
      throw new ExplainError(`--rule-def ${message(e)}`);
    }
    for (const d of defs) {
      const earlier = from.get(d.id);
      if (earlier !== undefined) throw new ExplainError(`--rule-def ${file}: rule "${d.id}" is already defined in ${earlier}`);
      from.set(d.id, file);
      specs.push(d.spec);
    }
  }
  if (specs.length > CUSTOM_RULE_LIMITS.definitions) throw new ExplainError(`--rule-def: ${specs.length} rule definitions; at most ${CUSTOM_RULE_LIMITS.definitions}`);
  return specs;
}

/**
 * The rule assignment: the composite (ZBox bounds from the card's input range) plus the --rule overrides, and the
 * custom rules of --rule-def (`ruleDefs`, read by readRuleDefs).
 */
export function assignmentFor(
  cmd: ExplainCommand,
  card: ModelCard,
  ruleDefs: readonly CustomRuleSpec[] = [],
): { composite: string; assignment: RuleAssignment; layers: LayerRuleEntry[] } {
  const name = cmd.composite ?? DEFAULT_COMPOSITE;
  const comp = findComposite(name);
  if (!comp) throw new ExplainError(`unknown composite "${name}" (known: ${composites.map((c) => c.id).join(', ')})`);
  const layers: LayerRuleEntry[] = cmd.rules.map((r) => withCardBounds({ layer: r.layer, rule: r.rule, ...r.params } as LayerRuleEntry, card));
  const assignment = presetAssignment(comp.id, card, layers, ruleDefs);
  return { composite: comp.id, assignment, layers };
}

/** What a command needs before it explains: the model loaded on its backend, the card and the rules. */
export interface Session {
  readonly cmd: ExplainCommand;
  readonly graph: Graph;
  readonly card: ModelCard;
  readonly modelInfo: ExplainReport['model'];
  readonly notes: readonly string[];
  readonly composite: string;
  readonly assignment: RuleAssignment;
  readonly layers: readonly LayerRuleEntry[];
  /** BatchNorm merged or kept (undefined: the model has none). */
  readonly batchnorm?: 'merged' | 'kept';
  readonly backend: BackendKind;
  readonly engine: Engine;
  readonly model: LoadedModel;
  readonly loadMs: number;
  dispose(): void;
}

/** Opens the model, checks the card and the rules, and loads the model on the chosen backend. */
export async function openSession(cmd: ExplainCommand, log: (line: string) => void = () => undefined): Promise<Session> {
  const verbose = (s: string): void => {
    if (cmd.verbose) log(s);
  };
  const t0 = performance.now();
  const ruleDefs = await readRuleDefs(cmd.ruleDefFiles ?? []);
  const missingShards: string[] = [];
  const files = await readModelFiles(cmd, missingShards);
  const given = await readCard(cmd);
  // Without a card, a class list beside the model names the classes, as in the app (src/session/open-model.ts).
  const withLists = given ? files : [...files, ...(await readClassListsBeside(cmd.model)).filter((l) => !files.some((f) => f.name === l.name))];
  let opened: ImportedModel;
  try {
    opened = importModelFiles(withLists);
  } catch (e) {
    if (missingShards.length > 0 && e instanceof Error && / missing: /.test(e.message)) throw new ExplainError(`${message(e)} (not found in ${dirname(cmd.model)})`);
    throw e;
  }
  let graph = opened.graph;
  const card = given?.card ?? cardForFiles(graph, opened, withLists);
  try {
    checkCardFitsGraph(card, graph);
  } catch (e) {
    throw new ExplainError(message(e));
  }
  const { composite, assignment, layers } = assignmentFor(cmd, card, ruleDefs);
  // --batchnorm, as the app's BatchNorm choice; by default merged (src/session/batchnorm.ts, as the app and the
  // library), unless a --rule names a BatchNorm layer.
  const ruleLayers = layers.map((l) => l.layer);
  const merge = cmd.batchnorm !== undefined ? cmd.batchnorm === 'merge' : mergeBatchNormByDefault(graph, ruleLayers);
  const bn = applyBatchNorm(graph, merge);
  if (bn.batchNorms > 0) {
    const gone = ruleLayers.filter((name) => graph.nodes.some((n) => n.name === name && n.op === 'batchnorm') && !bn.graph.nodes.some((n) => n.name === name));
    if (gone.length > 0) {
      throw new ExplainError(`--rule names the BatchNorm layer "${gone[0]}", which --batchnorm merge merges into the layer before it: use --batchnorm keep to give it a rule`);
    }
    verbose(bn.note!);
  }
  const batchNorms = bn.batchNorms;
  graph = bn.graph;
  try {
    resolveAssignment(graph, assignment); // every rule exists and fits its layer, before any compute
  } catch (e) {
    throw new ExplainError(message(e));
  }
  const classes = graphClasses(graph);
  if (cmd.target !== undefined && cmd.target >= classes) throw new ExplainError(`--target ${cmd.target} is not a class of this model (0 to ${classes - 1})`);
  if (cmd.contrast !== undefined && cmd.contrast >= classes) throw new ExplainError(`--contrast ${cmd.contrast} is not a class of this model (0 to ${classes - 1})`);
  if (cmd.layer !== undefined && !graph.nodes.some((n) => n.name === cmd.layer)) throw unknownLayer(cmd.layer, graph.nodes.map((n) => n.name));
  if (cmd.concept !== undefined) checkConcept(cmd.concept, graph);
  const engine = await startEngine(cmd.backend, verbose);
  const backend = engine.backend;
  let model: LoadedModel;
  try {
    model = await engine.load(graph);
  } catch (e) {
    engine.dispose();
    throw e;
  }
  return {
    cmd,
    graph,
    card,
    modelInfo: { file: cmd.model, name: card.name, format: opened.format, layers: graph.nodes.length, card: given?.from ?? 'default' },
    notes: opened.notes,
    composite,
    assignment,
    layers,
    ...(batchNorms > 0 ? { batchnorm: merge ? ('merged' as const) : ('kept' as const) } : {}),
    backend,
    engine,
    model,
    loadMs: performance.now() - t0,
    dispose() {
      model.dispose();
      engine.dispose();
    },
  };
}

/** The engine's options for a command: target, contrast class, rules, and the layers' relevance when --layer asks. */
export function explainOptions(
  cmd: Pick<ExplainCommand, 'target' | 'contrast' | 'layer'>,
  rules: RuleAssignment,
): { target?: number; contrastTarget?: number; rules: RuleAssignment; layerRelevance: boolean } {
  return {
    ...(cmd.target !== undefined ? { target: cmd.target } : {}),
    ...(cmd.contrast !== undefined ? { contrastTarget: cmd.contrast } : {}),
    rules,
    layerRelevance: cmd.layer !== undefined,
  };
}

/** A contrast with the explained class itself (the top class, no --target) explains nothing: says so. */
export function warnContrast(e: Pick<Explanation, 'target'>, contrast: number | null | undefined, log: (line: string) => void): void {
  if (contrast !== undefined && contrast !== null && contrast === e.target) {
    log(`warning: the contrast class ${contrast} is the explained class: the relevance of a class against itself is 0`);
  }
}

/**
 * --concept's layer is a layer of the (BatchNorm-merged or not) graph and its channels are channels of that layer's
 * output (axis 1: NCHW channels, a Linear's features): ExplainError listing what exists otherwise.
 */
export function checkConcept(concept: ConceptChoice, graph: Graph): number {
  const node = graph.nodes.find((n) => n.name === concept.layer);
  if (!node) {
    const e = unknownLayer(concept.layer, graph.nodes.map((n) => n.name));
    throw new ExplainError(e.message.replace(/^--layer /, '--concept: layer '));
  }
  const shape = inferShapes(graph).get(node.output)!;
  const count = shape.length > 1 ? shape[1]! : 0;
  const bad = concept.channels.filter((c) => c >= count);
  if (count === 0 || bad.length > 0) {
    throw new ExplainError(
      `--concept: channel ${bad.join(', ')} is not a channel of "${concept.layer}": its output [${shape.join(', ')}] has ${count} channels along axis 1 (0 to ${count - 1})`,
    );
  }
  return count;
}

/** ExplainError for a --layer that is not among `names`, with the names that come close and the list. */
export function unknownLayer(name: string, names: readonly string[], what = 'a layer of this model'): ExplainError {
  const lower = name.toLowerCase();
  const near = names.filter((n) => n.toLowerCase().includes(lower) || lower.includes(n.toLowerCase())).slice(0, 5);
  const shown = names.length > 80 ? [...names.slice(0, 80), `... (${names.length} in all)`] : names;
  return new ExplainError(
    `--layer "${name}" is not ${what}${near.length ? `; did you mean ${orList(near.map((n) => `"${n}"`))}?` : '.'} The layers: ${shown.join(', ')}`,
  );
}

/** The relevance arriving at a layer's input (as Captum's LayerLRP), from an explanation with layerRelevance. */
export function layerRelevanceOf(e: Pick<Explanation, 'layers'>, name: string): LayerRelevance {
  const l = e.layers.find((x) => x.layer === name);
  if (!l) throw unknownLayer(name, e.layers.map((x) => x.layer), 'a layer this explanation has relevance for');
  return l;
}

/** Writes what the command asks for (--out, --relevance-out, --layer-out) and returns the report's fields for them. */
export async function writeOutputs(
  cmd: Pick<ExplainCommand, 'out' | 'relevanceOut' | 'layer' | 'layerOut'>,
  e: Pick<Explanation, 'relevance' | 'inputShape' | 'layers'>,
  view: { readonly colormap: ColormapId; readonly clipPercentile: number | null },
): Promise<Pick<ExplainReport, 'heatmap' | 'heatmapView' | 'relevanceOut' | 'layerOut'>> {
  const layer = cmd.layer !== undefined && cmd.layerOut !== undefined ? layerRelevanceOf(e, cmd.layer) : undefined;
  const out: { -readonly [K in keyof Pick<ExplainReport, 'heatmap' | 'heatmapView' | 'relevanceOut' | 'layerOut'>]: ExplainReport[K] } = {};
  if (cmd.out !== undefined) {
    // The page's canvas: src/models/colormap.ts with the same colormap and clip.
    const img = heatmapImage(e.relevance, e.inputShape, view.colormap, view.clipPercentile);
    await writeBytes(cmd.out, encodePng(img));
    out.heatmap = cmd.out;
    out.heatmapView = { colormap: view.colormap, clipPercentile: view.clipPercentile, vmax: img.vmax };
  }
  if (cmd.relevanceOut !== undefined) {
    await writeBytes(cmd.relevanceOut, encodeNpy(e.relevance, e.inputShape));
    out.relevanceOut = cmd.relevanceOut;
  }
  if (layer && cmd.layerOut !== undefined) {
    await writeBytes(cmd.layerOut, encodeNpy(layer.data, layer.shape));
    out.layerOut = { layer: layer.layer, shape: layer.shape, file: cmd.layerOut };
  }
  return out;
}

/**
 * Runs one explanation. `log` receives verbose lines (stderr). Throws ExplainError (and import/decode errors)
 * with one-line messages for anything wrong with the inputs.
 */
export async function runExplain(cmd: ExplainCommand, log: (line: string) => void = () => undefined): Promise<ExplainReport> {
  const session = await openSession(cmd, log);
  const { graph, card, model, composite, assignment, layers, backend, loadMs } = session;
  try {
    const { x, info } = await readInput(cmd, graph, card);
    const baseline = cmd.method === 'integrated-gradients' ? await readBaseline(cmd.methodOptions?.baseline, graph, x.length) : undefined;
    const t1 = performance.now();
    let e: Pick<Explanation, 'logits' | 'target' | 'relevance' | 'inputShape' | 'layers'>;
    let method: MethodReport | undefined;
    let concept: ConceptReport | undefined;
    if (cmd.method !== undefined && cmd.method !== 'lrp') {
      const a = await runMethod(model, x, cmd, baseline);
      e = { logits: a.attribution.logits, target: a.attribution.target, relevance: a.attribution.attribution, inputShape: graph.input.shape, layers: [] };
      method = a.report;
    } else if (cmd.concept !== undefined) {
      const c: ConceptExplanation = await explainConcept(model, x, { ...explainOptions(cmd, assignment), layer: cmd.concept.layer, channels: cmd.concept.channels });
      e = c;
      const layerRelevance = c.concept.channelRelevance.reduce((sum, v) => sum + v, 0);
      concept = { layer: c.concept.layer, channels: c.concept.channels, layerChannels: c.concept.channelRelevance.length, relevance: c.concept.relevance, layerRelevance };
    } else {
      e = await model.explain(x, explainOptions(cmd, assignment));
    }
    const explainMs = performance.now() - t1;
    warnContrast(e, cmd.contrast, log);

    const probs = softmax(e.logits);
    const order = [...probs.keys()].sort((a, b) => probs[b]! - probs[a]! || a - b);
    const label = (i: number): string => card.classes[i] ?? `class ${i}`;
    const top = order.slice(0, cmd.top).map((c, i) => ({ rank: i + 1, class: c, label: label(c), probability: probs[c]!, logit: e.logits[c]! }));
    let relevanceSum = 0;
    for (const v of e.relevance) relevanceSum += v;

    const outputs = await writeOutputs(cmd, e, { colormap: cmd.colormap, clipPercentile: cmd.clip });

    return {
      model: session.modelInfo,
      backend,
      input: info,
      notes: session.notes,
      top,
      explained: { class: e.target, label: label(e.target), logit: e.logits[e.target]!, probability: probs[e.target]! },
      ...(cmd.contrast !== undefined ? { contrastTarget: cmd.contrast } : {}),
      composite: method ? 'gradient' : composite,
      rules: method ? [] : layers,
      ...(session.batchnorm ? { batchnorm: session.batchnorm } : {}),
      relevanceSum,
      ...outputs,
      ...(method ? { method } : {}),
      ...(concept ? { concept } : {}),
      timings: { loadMs, explainMs },
    };
  } finally {
    session.dispose();
  }
}

/** --baseline of Integrated Gradients: zeros (undefined or 'zeros') or a .npy of the input's shape. */
export async function readBaseline(file: string | undefined, graph: Graph, size: number): Promise<Float32Array> {
  if (file === undefined || file === 'zeros') return new Float32Array(size);
  const arr = await readNpyFile(file, 'the baseline ');
  try {
    return tensorInput(`the baseline ${file}`, arr.shape, toFloat32(arr), graph);
  } catch (e) {
    throw e instanceof InputError ? new ExplainError(e.message) : e;
  }
}

/** A .npy file; ExplainError naming it (and `what`) when it cannot be read or parsed. */
async function readNpyFile(file: string, what: string): Promise<NpyArray> {
  try {
    return parseNpy(await readBytes(file, what));
  } catch (e) {
    if (e instanceof ExplainError) throw e;
    throw new ExplainError(`${file}: ${message(e)}`);
  }
}

/** The SmoothGrad seed without --seed (the engine's default): the same command gives the same attribution. */
export const SMOOTHGRAD_SEED = 0;

/** Runs a gradient baseline (--method) with the command's target, contrast and method options. */
export async function runMethod(
  model: LoadedModel,
  x: Float32Array,
  cmd: Pick<ExplainCommand, 'method' | 'methodOptions' | 'target' | 'contrast'>,
  baseline?: Float32Array,
): Promise<{ attribution: Attribution; report: MethodReport }> {
  const o = cmd.methodOptions ?? {};
  const common = { ...(cmd.target !== undefined ? { target: cmd.target } : {}), ...(cmd.contrast !== undefined ? { contrastTarget: cmd.contrast } : {}) };
  const guard = async (run: () => Promise<Attribution>): Promise<Attribution> => {
    try {
      return await run();
    } catch (e) {
      throw e instanceof RangeError ? new ExplainError(`--method ${cmd.method}: ${e.message}`) : e;
    }
  };
  switch (cmd.method) {
    case 'gradient': {
      const a = await guard(() => inputGradient(model, x, common));
      return { attribution: a, report: { name: 'gradient', gradients: a.gradients } };
    }
    case 'gradient-x-input': {
      const a = await guard(() => gradientTimesInput(model, x, common));
      return { attribution: a, report: { name: 'gradient-x-input', gradients: a.gradients } };
    }
    case 'smoothgrad': {
      const samples = o.samples ?? 25;
      const noiseLevel = o.noiseLevel ?? 0.15;
      const seed = o.seed ?? SMOOTHGRAD_SEED;
      const a = await guard(() => smoothGrad(model, x, { ...common, samples, noiseLevel, seed }));
      return { attribution: a, report: { name: 'smoothgrad', gradients: a.gradients, samples, noiseLevel, seed } };
    }
    case 'integrated-gradients': {
      const steps = o.steps ?? 50;
      const integration = o.integration ?? 'midpoint';
      const a = await guard(() => integratedGradients(model, x, { ...common, steps, rule: integration, ...(baseline ? { baseline } : {}) }));
      return {
        attribution: a,
        report: {
          name: 'integrated-gradients',
          gradients: a.gradients,
          steps,
          integration,
          baseline: o.baseline ?? 'zeros',
          ...(a.completeness ? { completeness: a.completeness } : {}),
        },
      };
    }
    default:
      throw new ExplainError(`--method ${String(cmd.method)} is not a gradient method`);
  }
}

const METHOD_NAMES: Record<MethodReport['name'], string> = {
  gradient: 'the gradient (saliency)',
  'gradient-x-input': 'gradient x input',
  smoothgrad: 'SmoothGrad',
  'integrated-gradients': 'Integrated Gradients',
};

/** "SmoothGrad (25 samples, noise level 0.15, seed 0)" and the like. */
export function describeMethod(m: MethodReport): string {
  if (m.name === 'smoothgrad') return `${METHOD_NAMES[m.name]} (${m.samples} samples, noise level ${m.noiseLevel}, seed ${m.seed})`;
  if (m.name === 'integrated-gradients') return `${METHOD_NAMES[m.name]} (${m.steps} steps, ${m.integration ?? 'midpoint'} rule, baseline ${m.baseline})`;
  return METHOD_NAMES[m.name];
}

const pct = (p: number): string => `${(100 * p).toFixed(p >= 0.9995 || p < 0.0005 ? 1 : 2)}%`;

/** The report as the lines `explain` prints. */
export function formatReport(r: ExplainReport): string[] {
  const lines: string[] = [];
  lines.push(`Model: ${r.model.name} (${r.model.file}, ${r.model.format}, ${r.model.layers} layers; ${r.model.card === 'default' ? 'default card' : 'card.json'}; backend ${r.backend})`);
  const size = r.input.imageSize ? `${r.input.imageSize[0]}x${r.input.imageSize[1]} photo -> ` : '';
  lines.push(`Input: ${r.input.file} (${size}[${r.input.shape.join(', ')}])`);
  for (const n of r.notes) lines.push(`Note: ${n}`);
  lines.push(`Top ${r.top.length}:`);
  const width = Math.max(...r.top.map((t) => t.label.length));
  for (const t of r.top) lines.push(`  ${String(t.rank).padStart(2)}. ${t.label.padEnd(width)}  ${pct(t.probability).padStart(7)}  (class ${t.class}, logit ${t.logit.toFixed(4)})`);
  const rules = r.rules.length > 0 ? ` + ${r.rules.map((l) => `${l.layer}=${l.rule}`).join(', ')}` : '';
  const how = r.method ? describeMethod(r.method) : `${r.composite}${rules}`;
  lines.push(`Explained: class ${r.explained.class} "${r.explained.label}" (logit ${r.explained.logit.toFixed(4)}) with ${how}`);
  if (r.method?.completeness) {
    const c = r.method.completeness;
    lines.push(`Completeness: f(x) - f(baseline) = ${c.expected.toPrecision(6)}, the attribution sums to ${(c.expected + c.delta).toPrecision(6)} (gap ${c.delta.toPrecision(3)}; more --steps shrink it)`);
  }
  if (r.concept) {
    const c = r.concept;
    const share = c.layerRelevance !== 0 ? ` (${(100 * (c.relevance / c.layerRelevance)).toFixed(1)}%)` : '';
    lines.push(
      `Concept: ${c.layer} channel${c.channels.length > 1 ? 's' : ''} ${c.channels.join(', ')} of ${c.layerChannels}: relevance ${c.relevance.toPrecision(6)} of the layer's ${c.layerRelevance.toPrecision(6)}${share}`,
    );
  }
  if (r.contrastTarget !== undefined && r.contrastTarget !== null) lines.push(`Contrast: minus the relevance of class ${r.contrastTarget}`);
  if (r.batchnorm !== undefined) lines.push(`BatchNorm: ${r.batchnorm === 'merged' ? 'merged into the layer before it' : 'kept as layers of their own'}`);
  lines.push(`${r.method ? 'Attribution' : 'Relevance'} sum: ${r.relevanceSum.toPrecision(6)}`);
  if (r.heatmap !== undefined) {
    const v = r.heatmapView;
    lines.push(`Heatmap: ${r.heatmap}${v ? ` (${v.colormap}, scale +-${v.vmax.toPrecision(3)}${v.clipPercentile !== null ? `, clipped at the ${v.clipPercentile} percentile of |relevance|` : ''})` : ''}`);
  }
  if (r.relevanceOut !== undefined) lines.push(`Relevance: ${r.relevanceOut}`);
  if (r.layerOut !== undefined) lines.push(`Layer relevance: ${r.layerOut.file} (the input of ${r.layerOut.layer}, [${r.layerOut.shape.join(', ')}])`);
  return lines;
}
