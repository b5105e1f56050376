/**
 * `lrp-lens explain`: one explanation of a model's decision on a photo (or an input array), from the command line.
 * Reads the model's files (and a card.json beside it), decodes and preprocesses the photo as the card says,
 * explains the chosen (default: top) class with a composite plus per-layer overrides, and writes the heatmap PNG
 * and/or the raw relevance.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { BackendKind, LoadedModel } from '../engine/api';
import { foldBatchNorm } from '../engine/canonicalize';
import { shapeSize, type Graph } from '../engine/graph';
import { createEngine, type Engine } from '../engine/index';
import { encodeNpy, parseNpy, toFloat32, type NpyArray } from '../engine/io/npy';
import { onnxExternalFiles } from '../engine/onnx/import-onnx';
import { looksLikeTfjsModel, tfjsWeightFiles } from '../engine/tfjs/import-tfjs';
import { openModelFiles, type ModelFile } from '../models/builtin';
import { heatmapRgba, channelSum } from '../models/heatmap';
import { preprocess, resizeRgba } from '../models/image';
import { checkCardFitsGraph, defaultCard, graphClasses, graphInputSize, inputBounds, parseModelCard, type ModelCard } from '../models/model-card';
import type { LayerRuleEntry, RuleAssignment } from '../rules/assignment';
import { resolveAssignment } from '../engine/rule-assignment';
import { composites, findComposite } from '../rules/composites';
import type { ExplainCommand } from './args';
import { decodeImage, encodePng } from './image-io';

export const DEFAULT_COMPOSITE = 'EpsilonPlusFlat';

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
  readonly composite: string;
  readonly rules: readonly LayerRuleEntry[];
  readonly relevanceSum: number;
  readonly heatmap?: string;
  readonly relevanceOut?: string;
  readonly timings: { readonly loadMs: number; readonly explainMs: number };
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
  const path = cmd.model;
  const dir = dirname(path);
  const name = basename(path);
  const bytes = await readBytes(path, 'the model ');
  const files: ModelFile[] = [{ name, bytes }];
  const head = new TextDecoder().decode(bytes.subarray(0, 4096));
  const isJson = /\.json$/i.test(name) || /^\s*\{/.test(head);
  if (isJson) {
    if (cmd.modelData !== undefined) throw new ExplainError('--model-data is for ONNX models; a TF.js model.json finds its weight files beside it');
    const text = new TextDecoder().decode(bytes);
    if (!looksLikeTfjsModel(text)) return files; // openModelFiles says what it is not
    // Shards that are missing are left out: the importer reports unsupported layers first, then them.
    for (const shard of tfjsWeightFiles(text)) {
      const p = join(dir, shard);
      if (existsSync(p)) files.push({ name: shard, bytes: await readBytes(p) });
      else missingShards.push(shard);
    }
    return files;
  }
  const locations = onnxExternalFiles(bytes);
  if (cmd.modelData !== undefined) {
    const data = await readBytes(cmd.modelData, 'the model data ');
    files.push({ name: basename(cmd.modelData), bytes: data });
    // The model refers to its data by the name it was saved with; the file given stands for it.
    for (const loc of locations) if (basename(loc) !== basename(cmd.modelData) && locations.length === 1) files.push({ name: loc, bytes: data });
    return files;
  }
  for (const loc of locations) {
    const p = join(dir, loc);
    if (!existsSync(p)) throw new ExplainError(`${name} keeps its weights in ${loc}, which is not beside it: pass it with --model-data`);
    files.push({ name: loc, bytes: await readBytes(p) });
  }
  return files;
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
  if (cmd.image !== undefined) {
    const size = graphInputSize(graph);
    if (!size.image) {
      throw new ExplainError(`the model takes ${shapeSize(shape)} features [${shape.join(', ')}], not an image: give its input with --input <x.npy>`);
    }
    const img = decodeImage(await readBytes(cmd.image, 'the image '), cmd.image);
    // As the app does: the image the model sees is rounded to 8-bit RGB at the input size first, so the app, its
    // share links and the CLI give one photo the same input.
    const seen = resizeRgba(img, card.input.width, card.input.height, card.preprocessing.resize);
    return { x: preprocess(seen, card), info: { file: cmd.image, kind: 'image', shape, imageSize: [img.width, img.height] } };
  }
  const file = cmd.input!;
  let arr: NpyArray;
  try {
    arr = parseNpy(await readBytes(file, 'the input '));
  } catch (e) {
    if (e instanceof ExplainError) throw e;
    throw new ExplainError(`${file}: ${message(e)}`);
  }
  const got = arr.shape;
  const same = (a: readonly number[]): boolean => a.length === got.length && a.every((d, i) => d === got[i]);
  if (!same(shape) && !same(shape.slice(1))) {
    throw new ExplainError(`${file} has shape [${arr.shape.join(', ')}]; the model takes [${shape.join(', ')}]`);
  }
  return { x: toFloat32(arr), info: { file, kind: 'npy', shape } };
}

/** WebGPU on a hardware adapter; the CPU backend when there is none or only a software one (SwiftShader). */
export async function chooseBackend(wanted: BackendKind | 'auto', verbose: (s: string) => void): Promise<{ backend: BackendKind; gpu?: GPU }> {
  if (wanted === 'cpu') return { backend: 'cpu' };
  try {
    const { createNodeGpu } = await import('../node/node-gpu');
    const gpu = await createNodeGpu();
    if (wanted === 'webgpu') return { backend: 'webgpu', gpu };
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    const info = adapter?.info;
    const text = [info?.vendor, info?.architecture, info?.device, info?.description].join(' ').toLowerCase();
    const software = !adapter || text.includes('swiftshader') || (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true;
    if (software) {
      verbose('backend: only a software WebGPU adapter here; the CPU backend is faster (pass --backend webgpu to use it anyway)');
      return { backend: 'cpu' };
    }
    return { backend: 'webgpu', gpu };
  } catch (e) {
    if (wanted === 'webgpu') throw new ExplainError(`WebGPU is not available: ${message(e)}`);
    verbose(`backend: no WebGPU (${message(e)}); using the CPU backend`);
    return { backend: 'cpu' };
  }
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

/** The rule assignment: the composite (ZBox bounds from the card's input range) plus the --rule overrides. */
export function assignmentFor(cmd: ExplainCommand, card: ModelCard): { composite: string; assignment: RuleAssignment; layers: LayerRuleEntry[] } {
  const name = cmd.composite ?? DEFAULT_COMPOSITE;
  const comp = findComposite(name);
  if (!comp) throw new ExplainError(`unknown composite "${name}" (known: ${composites.map((c) => c.id).join(', ')})`);
  const { low, high } = inputBounds(card);
  const bound = (v: number[]): number | number[] => (v.every((x) => x === v[0]) ? v[0]! : v);
  const layers: LayerRuleEntry[] = cmd.rules.map((r) => {
    const params: Record<string, unknown> = { ...r.params };
    if (r.rule === 'zbox') {
      params.low ??= bound(low);
      params.high ??= bound(high);
    }
    return { layer: r.layer, rule: r.rule, ...params } as LayerRuleEntry;
  });
  const assignment: RuleAssignment = {
    preset: comp.id,
    ...(comp.params.includes('low') ? { presetParams: { low: bound(low), high: bound(high) } } : {}),
    ...(layers.length > 0 ? { layers } : {}),
  };
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
  const missingShards: string[] = [];
  const files = await readModelFiles(cmd, missingShards);
  let opened: ReturnType<typeof openModelFiles>;
  try {
    opened = openModelFiles(files);
  } catch (e) {
    if (missingShards.length > 0 && e instanceof Error && / missing: /.test(e.message)) throw new ExplainError(`${message(e)} (not found in ${dirname(cmd.model)})`);
    throw e;
  }
  const given = await readCard(cmd);
  let graph = opened.graph;
  const card = given?.card ?? defaultCard(graph, basename(cmd.model), opened.format, files.map((f) => f.name));
  try {
    checkCardFitsGraph(card, graph);
  } catch (e) {
    throw new ExplainError(message(e));
  }
  const { composite, assignment, layers } = assignmentFor(cmd, card);
  const namedBatchNorm = layers.some((l) => graph.nodes.some((n) => n.name === l.layer && n.op === 'batchnorm'));
  // Zennit's composites explain the model with BatchNorm merged into the layer before it; Captum keeps it.
  if (composite !== 'captum-default' && !namedBatchNorm) {
    const folded = foldBatchNorm(graph);
    if (folded.nodes.length !== graph.nodes.length) verbose(`BatchNorm merged into the layer before it (${graph.nodes.length - folded.nodes.length} layers)`);
    graph = folded;
  }
  try {
    resolveAssignment(graph, assignment); // every rule exists and fits its layer, before any compute
  } catch (e) {
    throw new ExplainError(message(e));
  }
  const classes = graphClasses(graph);
  if (cmd.target !== undefined && cmd.target >= classes) throw new ExplainError(`--target ${cmd.target} is not a class of this model (0 to ${classes - 1})`);
  const { backend, gpu } = await chooseBackend(cmd.backend, verbose);
  const engine = await createEngine(gpu ? { backend, gpu } : { backend });
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

/**
 * Runs one explanation. `log` receives verbose lines (stderr). Throws ExplainError (and import/decode errors)
 * with one-line messages for anything wrong with the inputs.
 */
export async function runExplain(cmd: ExplainCommand, log: (line: string) => void = () => undefined): Promise<ExplainReport> {
  const session = await openSession(cmd, log);
  const { graph, card, model, composite, assignment, layers, backend, loadMs } = session;
  try {
    const { x, info } = await readInput(cmd, graph, card);
    const t1 = performance.now();
    const e = await model.explain(x, { ...(cmd.target !== undefined ? { target: cmd.target } : {}), rules: assignment, layerRelevance: false });
    const explainMs = performance.now() - t1;

    const probs = softmax(e.logits);
    const order = [...probs.keys()].sort((a, b) => probs[b]! - probs[a]! || a - b);
    const label = (i: number): string => card.classes[i] ?? `class ${i}`;
    const top = order.slice(0, cmd.top).map((c, i) => ({ rank: i + 1, class: c, label: label(c), probability: probs[c]!, logit: e.logits[c]! }));
    let relevanceSum = 0;
    for (const v of e.relevance) relevanceSum += v;

    if (cmd.out !== undefined) await writeBytes(cmd.out, encodePng(heatmapRgba(channelSum(e.relevance, e.inputShape))));
    if (cmd.relevanceOut !== undefined) await writeBytes(cmd.relevanceOut, encodeNpy(e.relevance, e.inputShape));

    return {
      model: session.modelInfo,
      backend,
      input: info,
      notes: session.notes,
      top,
      explained: { class: e.target, label: label(e.target), logit: e.logits[e.target]!, probability: probs[e.target]! },
      composite,
      rules: layers,
      relevanceSum,
      ...(cmd.out !== undefined ? { heatmap: cmd.out } : {}),
      ...(cmd.relevanceOut !== undefined ? { relevanceOut: cmd.relevanceOut } : {}),
      timings: { loadMs, explainMs },
    };
  } finally {
    session.dispose();
  }
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
  lines.push(`Explained: class ${r.explained.class} "${r.explained.label}" (logit ${r.explained.logit.toFixed(4)}) with ${r.composite}${rules}`);
  lines.push(`Relevance sum: ${r.relevanceSum.toPrecision(6)}`);
  if (r.heatmap !== undefined) lines.push(`Heatmap: ${r.heatmap}`);
  if (r.relevanceOut !== undefined) lines.push(`Relevance: ${r.relevanceOut}`);
  return lines;
}
