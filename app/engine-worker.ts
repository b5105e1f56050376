/**
 * The engine worker: holds the engine, the current model, the current image and its preprocessed input, and
 * answers the page's requests (app/protocol.ts) one at a time, in order. Model import, image decoding,
 * preprocessing and the explanations (WebGPU or the CPU backend) all run here, off the page's thread.
 *
 * Superseded work is dropped: an explanation, image or model request that a newer one of the same kind has
 * already replaced is answered "superseded" without running, and a running explanation is aborted (the engine
 * then rejects instead of answering late).
 */
import { AbortError, createEngine, type Engine, type LoadedModel } from '../src/engine/index';
import { startFastCpuThreads } from '../src/engine/cpu/fast-backend';
import { applyBatchNorm } from '../src/session/batchnorm';
import { inferShapes } from '../src/engine/compile';
import { type Graph, type OpType, type Shape } from '../src/engine/graph';
import { parseNpy, toFloat32 } from '../src/engine/io/npy';
import { layerClassOf } from '../src/engine/ops/registry';
import { channelValue, checkCardFitsGraph, type ModelCard } from '../src/models/model-card';
import { checkImageFile, checkImageFileSize, cropRect, rgbToRgba, type RgbaImage } from '../src/models/image';
import { pixelFlipping } from '../src/evaluation/pixel-flipping';
import { modelRandomization } from '../src/evaluation/randomization';
import { catalog } from './catalog';
import { conceptMaps } from './concept-maps';
import { baselineMap } from './baseline-maps';
import { sumChannels } from '../src/models/colormap';
import { builtinCard, fetchBuiltinFiles, type ModelFile } from './models';
import { throttledProgress } from './progress-throttle';
import { cardForFiles, importModelFiles } from '../src/session/open-model';
import { photoInput, seenImage, tensorInput } from '../src/session/model-input';
import type {
  BackendInfo,
  BackendPreference,
  ConceptsRequest,
  ConceptsResult,
  ConceptUpdate,
  EvaluateRequest,
  EvaluateResult,
  ExplainRequest,
  ExplainResult,
  ImageInfo,
  ImageSource,
  ImageView,
  ModelInfo,
  OpenResult,
  PageMessage,
  Progress,
  SeenPixels,
  RandomizeRequest,
  RandomizeResult,
  Request,
  WorkerMessage,
} from './protocol';

const post = (message: WorkerMessage, transfer: Transferable[] = []) => self.postMessage(message, { transfer });

/** Longest side of the image the page displays. */
const VIEW_SIZE = 512;

interface CurrentModel {
  readonly info: ModelInfo;
  readonly graph: Graph;
  readonly loaded: LoadedModel;
  card: ModelCard;
  /** What it was opened from, to reopen it with another BatchNorm choice. */
  readonly source: { readonly files: readonly ModelFile[]; readonly builtin: string | null };
}

type CurrentImage =
  | { readonly kind: 'photo'; readonly name: string; readonly bitmap: ImageBitmap; readonly rgba: { width: number; height: number; data: Uint8ClampedArray } }
  | { readonly kind: 'tensor'; readonly name: string; readonly shape: readonly number[]; readonly data: Float32Array };

let engine: Engine | null = null;
let backendInfo: BackendInfo | null = null;
let model: CurrentModel | null = null;
let image: CurrentImage | null = null;
/** The model input for the current model, image and preprocessing; recomputed lazily. */
let input: { readonly data: Float32Array } | { readonly error: string } | null = null;

// ---------------------------------------------------------------------------------------------------------------
// Backend

/** The status line's name of the fast CPU backend (float32, WASM SIMD GEMM). */
const FAST_CPU = 'CPU (fast, WASM SIMD)';

/**
 * The fast CPU backend's GEMM threads, started now (the first model takes them), for the status line: "2 threads",
 * or "1 thread (why)" where helpers cannot run (a page that is not cross-origin isolated) or did not start.
 */
async function fastCpuThreads(): Promise<string> {
  const { threads, note } = await startFastCpuThreads();
  return `${threads} thread${threads === 1 ? '' : 's'}${note ? ` (${note})` : ''}`;
}

/**
 * Starts the engine. 'auto' is the engine's policy (src/engine/backend-choice.ts), which picks what gives the first
 * heatmap sooner here (README.md, "Backend"; docs/performance.md): a hardware WebGPU adapter; else (a software
 * adapter such as SwiftShader, or no WebGPU) the fast CPU backend where WebAssembly SIMD runs, else the float64 CPU
 * backend. An explicit choice is kept as it is (or fails, saying why).
 */
async function init(preference: BackendPreference): Promise<BackendInfo> {
  engine?.dispose();
  engine = null;
  const gpu = typeof navigator !== 'undefined' ? navigator.gpu : undefined;
  const onDeviceLost = (message: string) => post({ id: -1, kind: 'notice', message });
  engine = await createEngine({
    backend: preference,
    ...(gpu ? { gpu } : { gpuProblem: 'this browser has no WebGPU' }),
    onDeviceLost,
  });
  /** Why a CPU backend runs: the status line's text after "CPU…: ". */
  const why = engine.reason ?? 'chosen in the backend menu';
  backendInfo =
    engine.backend === 'webgpu'
      ? { backend: 'webgpu', description: `WebGPU: ${engine.description}` }
      : engine.backend === 'cpu-fast'
        ? { backend: 'cpu-fast', description: `${FAST_CPU}: ${why}; ${await fastCpuThreads()}` }
        : { backend: engine.backend, description: `CPU: ${why}` };
  // A model open on the old engine is reloaded on the new one.
  if (model) {
    const old = model;
    model = null;
    old.loaded.dispose();
    const loaded = await engine.load(old.graph);
    model = { ...old, loaded };
  }
  return backendInfo!;
}

// ---------------------------------------------------------------------------------------------------------------
// Models

/** Ops whose output keeps the channel axis where their first input has it (elementwise, or along the last axis). */
const KEEPS_CHANNELS_LAST: ReadonlySet<OpType> = new Set<OpType>([
  'linear',
  'layernorm',
  'relu',
  'leakyrelu',
  'clip',
  'sigmoid',
  'tanh',
  'hardsigmoid',
  'hardswish',
  'silu',
  'gelu',
  'erf',
  'add',
  'addconst',
  'scale',
  'mul',
  'div',
]);

/**
 * The values that are 4-D tensors in NHWC order: a transpose by [0, 2, 3, 1] of an NCHW value (a ConvNeXt block's
 * permute), and what elementwise or last-axis ops (LayerNorm, Linear, GELU) make of it, up to the permute back.
 */
function channelsLastValues(graph: Graph, shapes: ReadonlyMap<string, Shape>): Set<string> {
  const nhwc = new Set<string>();
  for (const n of graph.nodes) {
    const x = n.inputs[0];
    if (x === undefined || shapes.get(n.output)?.length !== 4) continue;
    if (n.op === 'transpose') {
      const perm = n.attrs.perm;
      if (!nhwc.has(x) && Array.isArray(perm) && perm.join(',') === '0,2,3,1') nhwc.add(n.output);
    } else if (nhwc.has(x) && KEEPS_CHANNELS_LAST.has(n.op) && shapes.get(x)?.length === 4) {
      nhwc.add(n.output);
    }
  }
  return nhwc;
}

function describe(graph: Graph): ModelInfo['layers'] {
  const shapes = inferShapes(graph);
  const nhwc = channelsLastValues(graph, shapes);
  return graph.nodes.map((n) => ({
    name: n.name,
    op: n.op,
    cls: layerClassOf(n.op),
    inputs: n.inputs,
    output: n.output,
    outputShape: shapes.get(n.output) ?? [],
    params: Object.values(n.params).reduce((s, t) => s + t.data.length, 0),
    ...(n.inputs[0] !== undefined && nhwc.has(n.inputs[0]) ? { inputChannelsLast: true } : {}),
  }));
}

async function openModel(
  files: readonly ModelFile[],
  builtin: string | null,
  card: ModelCard | null,
  mergeBatchNorm: boolean,
  progress: (p: Progress) => void,
): Promise<OpenResult> {
  if (!engine) throw new Error('the engine is not started');
  progress({ phase: 'import', loaded: 0, total: 0 });
  const imported = importModelFiles(files);
  const { graph, batchNorms, note: batchNormNote } = applyBatchNorm(imported.graph, mergeBatchNorm);
  const layers = describe(graph);
  const classes = inferShapes(graph).get(graph.output)![1]!;
  if (card) checkCardFitsGraph(card, graph);
  const modelCard = card ?? cardForFiles(graph, imported, files);
  progress({ phase: 'prepare', loaded: 0, total: 0 });
  const loaded = await engine.load(graph);

  const notes = [...imported.notes, ...(batchNormNote ? [batchNormNote] : [])];
  const id = builtin ?? `user:${files.map((f) => f.name).join('+')}`;
  const info: ModelInfo = {
    id,
    builtin: builtin !== null,
    card: modelCard,
    inputShape: graph.input.shape,
    classes,
    layers,
    skeleton: {
      name: graph.name,
      input: graph.input,
      output: graph.output,
      nodes: graph.nodes.map((n) => ({ name: n.name, op: n.op, inputs: n.inputs, output: n.output })),
    },
    notes,
    files: files.map((f) => f.name),
    modelFile: imported.modelFile.split(/[\\/]/).pop() ?? imported.modelFile,
    mergeBatchNorm,
    batchNorms,
  };
  // Only now, with everything in place, does the new model replace the old one.
  const old = model;
  model = { info, graph, loaded, card: modelCard, source: { files, builtin } };
  old?.loaded.dispose();
  input = null;
  const view = await makeView();
  return { model: info, view };
}

/** Reads the files in chunks, reporting the bytes read as they arrive (a 100 MB model takes a while to read). */
async function readFiles(files: readonly File[], progress: (p: Progress) => void): Promise<ModelFile[]> {
  const total = files.reduce((s, f) => s + f.size, 0);
  let loaded = 0;
  const out: ModelFile[] = [];
  for (const f of files) {
    progress({ phase: 'read', loaded, total, file: f.name });
    const bytes = new Uint8Array(f.size);
    let at = 0;
    const reader = f.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (at + value.length > bytes.length) throw new Error(`${f.name} changed while it was read`);
      bytes.set(value, at);
      at += value.length;
      progress({ phase: 'read', loaded: loaded + at, total, file: f.name });
    }
    if (at !== bytes.length) throw new Error(`${f.name} changed while it was read`);
    out.push({ name: f.name, bytes });
    loaded += f.size;
  }
  progress({ phase: 'read', loaded, total });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Images

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** Largest side of an image given as pixels (a share link's): as src/share/share-state.ts allows. */
const MAX_PIXELS_SIDE = 1024;

async function loadPixels(source: Extract<ImageSource, { kind: 'pixels' }>): Promise<CurrentImage> {
  const { width, height, rgb } = source;
  const side = (n: number) => Number.isInteger(n) && n >= 1 && n <= MAX_PIXELS_SIDE;
  if (!side(width) || !side(height) || rgb.length !== width * height * 3) throw new Error(`${source.name}: not ${width}x${height} RGB pixels`);
  const rgba = rgbToRgba(width, height, rgb);
  const bitmap = await createImageBitmap(new ImageData(rgba.data, width, height));
  return { kind: 'photo', name: source.name, bitmap, rgba };
}

async function loadImage(source: ImageSource): Promise<CurrentImage> {
  if (source.kind === 'pixels') return loadPixels(source);
  const blob = source.kind === 'blob' ? source.blob : await fetchBlob(source.url);
  // Size first, from the file's length, before a byte is read: a 2 GB "photo" is refused without reading it.
  checkImageFileSize(blob.size);
  const bytes = new Uint8Array(await blob.arrayBuffer());
  if (NPY_MAGIC.every((b, i) => bytes[i] === b)) {
    const array = parseNpy(bytes);
    return { kind: 'tensor', name: source.name, shape: array.shape, data: toFloat32(array) };
  }
  // The header's declared size is checked before the browser's decoder allocates for it (docs/security.md).
  const header = checkImageFile(bytes);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  } catch {
    throw new Error(`its ${header.format.toUpperCase()} header is whole, but this browser cannot decode the image (cut short or damaged?)`);
  }
  // A header that lies about its size is caught here, before the pixels are drawn or read (an EXIF rotation swaps them).
  const { width: w, height: h } = bitmap;
  if (!((w === header.width && h === header.height) || (w === header.height && h === header.width))) {
    bitmap.close();
    throw new Error(`its header says ${header.width}x${header.height} pixels, but it decodes to ${w}x${h}`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  const { data, width, height } = ctx.getImageData(0, 0, bitmap.width, bitmap.height, { colorSpace: 'srgb' });
  return { kind: 'photo', name: source.name, bitmap, rgba: { width, height, data } };
}

async function fetchBlob(url: string): Promise<Blob> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url}: ${response.status} ${response.statusText}`);
  return response.blob();
}

function imageInfo(img: CurrentImage): ImageInfo {
  if (img.kind === 'photo') return { name: img.name, width: img.rgba.width, height: img.rgba.height, tensor: false };
  const s = img.shape;
  return { name: img.name, width: s.at(-1) ?? s.length, height: s.length >= 2 ? s.at(-2)! : 1, tensor: true };
}

/** The model's spatial input size (NCHW), or null when its input is not an image. */
function inputSize(): { width: number; height: number; channels: number } | null {
  if (!model) return null;
  const s = model.graph.input.shape;
  if (s.length !== 4) return null;
  return { channels: s[1]!, height: s[2]!, width: s[3]! };
}

/** The image as the model sees it, cropped per the model card, at display size. */
async function makeView(): Promise<ImageView | null> {
  if (!image) return null;
  const size = inputSize();
  if (image.kind === 'tensor') return size ? tensorView(image.data, size) : null;
  const { bitmap } = image;
  const aspect = size ? size.width / size.height : bitmap.width / bitmap.height;
  const [sx, sy, sw, sh] = size
    ? cropRect(bitmap.width, bitmap.height, size.width, size.height, model!.card.preprocessing.resize)
    : [0, 0, bitmap.width, bitmap.height];
  const scale = VIEW_SIZE / Math.max(aspect, 1);
  const width = Math.round(aspect >= 1 ? VIEW_SIZE : scale * aspect);
  const height = Math.round(aspect >= 1 ? VIEW_SIZE / aspect : VIEW_SIZE);
  const view = await createImageBitmap(bitmap, sx, sy, sw, sh, { resizeWidth: width, resizeHeight: height, resizeQuality: 'high' });
  return { bitmap: view, width, height };
}

/** A preprocessed tensor shown as a picture: preprocessing undone per the model card, values clamped. */
async function tensorView(data: Float32Array, size: { width: number; height: number; channels: number }): Promise<ImageView | null> {
  const plane = size.width * size.height;
  if (data.length !== plane * size.channels) return null;
  const { scale, mean, std } = model!.card.preprocessing;
  const rgba = new Uint8ClampedArray(plane * 4);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const k = Math.min(c, size.channels - 1);
      const x = data[k * plane + i]!;
      rgba[i * 4 + c] = Math.round((x * channelValue(std, k) + channelValue(mean, k)) / scale);
    }
    rgba[i * 4 + 3] = 255;
  }
  const bitmap = await createImageBitmap(new ImageData(rgba, size.width, size.height));
  const zoom = Math.max(1, Math.floor(VIEW_SIZE / Math.max(size.width, size.height)));
  return { bitmap, width: size.width * zoom, height: size.height * zoom };
}

type SeenRgba = RgbaImage & { readonly data: Uint8ClampedArray };
let seen: { readonly image: CurrentImage; readonly card: ModelCard; readonly graph: Graph; readonly rgba: SeenRgba } | null = null;

/**
 * The photo as the model sees it: cropped and resized per the model card to the model's input size, rounded to
 * 8-bit RGB (opaque RGBA). Null without a photo or for a model whose input is not an image.
 */
function seenRgba(): SeenRgba | null {
  if (!model || !image || image.kind !== 'photo' || !inputSize()) return null;
  if (seen?.image !== image || seen.card !== model.card || seen.graph !== model.graph) {
    seen = { image, card: model.card, graph: model.graph, rgba: seenImage(image.rgba, model.graph, model.card) };
  }
  return seen.rgba;
}

function seenPixels(): { pixels: SeenPixels | null } {
  const rgba = seenRgba();
  if (!rgba) return { pixels: null };
  const n = rgba.width * rgba.height;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    rgb[3 * i] = rgba.data[4 * i]!;
    rgb[3 * i + 1] = rgba.data[4 * i + 1]!;
    rgb[3 * i + 2] = rgba.data[4 * i + 2]!;
  }
  return { pixels: { width: rgba.width, height: rgba.height, rgb } };
}

function currentInput(): Float32Array {
  if (!model) throw new Error('no model is open');
  if (!image) throw new Error('no image is chosen');
  if (!input) {
    try {
      // src/session/model-input.ts: one photo gives the app, its links and the CLI one input.
      if (image.kind === 'tensor') input = { data: tensorInput(image.name, image.shape, image.data, model.graph) };
      else {
        const photo = photoInput(image.rgba, model.graph, model.card);
        seen = { image, card: model.card, graph: model.graph, rgba: photo.seen };
        input = { data: photo.data };
      }
    } catch (e) {
      input = { error: (e as Error).message };
    }
  }
  if ('error' in input) throw new Error(input.error);
  return input.data;
}

// ---------------------------------------------------------------------------------------------------------------
// Explanations

let running: AbortController | null = null;

async function explain(request: ExplainRequest): Promise<{ value: ExplainResult; transfer: Transferable[] }> {
  if (!model) throw new Error('no model is open');
  const start = performance.now();
  const data = currentInput();
  const controller = new AbortController();
  running = controller;
  try {
    const e = await model.loaded.explain(data, {
      target: request.target,
      contrastTarget: request.contrastTarget,
      rules: request.rules,
      layerRelevance: true,
      signal: controller.signal,
    });
    // Copies: the engine may keep its arrays, and these are transferred to the page.
    const relevance = e.relevance.slice();
    const logits = e.logits.slice();
    const layers = e.layers.map((l) => ({ layer: l.layer, shape: l.shape, data: l.data.slice() }));
    const value: ExplainResult = {
      seq: request.seq,
      modelId: model.info.id,
      logits,
      target: e.target,
      contrastTarget: request.contrastTarget ?? null,
      relevance,
      inputShape: e.inputShape,
      layers,
      nonFinite: e.nonFinite,
      engineMs: e.timings.totalMs,
      workerMs: performance.now() - start,
      forwardReused: e.work ? !e.work.forward : false,
      backend: e.backend,
    };
    return { value, transfer: [relevance.buffer, logits.buffer, ...layers.map((l) => l.data.buffer)] };
  } finally {
    if (running === controller) running = null;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation (pixel flipping, comparison, model randomisation): long runs, cancelled by a newer request of their
// channel and by anything that changes the model or the image.

const evaluations = new Map<string, AbortController>();

function startEvaluation(channel: string): AbortController {
  evaluations.get(channel)?.abort();
  const controller = new AbortController();
  evaluations.set(channel, controller);
  return controller;
}

function endEvaluation(channel: string, controller: AbortController): void {
  if (evaluations.get(channel) === controller) evaluations.delete(channel);
}

/** Lets messages in (a cancel, a newer request) before the next step: CPU work does not yield by itself. */
const macrotask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** The model, with each batched forward pass starting after a macrotask, so that a run can be cancelled. */
function yieldingModel(loaded: LoadedModel): LoadedModel {
  return new Proxy(loaded, {
    get(target, key, receiver) {
      if (key === 'forwardBatch') {
        return async (inputs: Float32Array, n: number) => {
          await macrotask();
          return target.forwardBatch(inputs, n);
        };
      }
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
}

/** The engine, with each model load (one per randomisation step) starting after a macrotask. */
function yieldingEngine(e: Engine): Engine {
  return new Proxy(e, {
    get(target, key, receiver) {
      if (key === 'load') {
        return async (graph: Graph) => {
          await macrotask();
          return target.load(graph);
        };
      }
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
}

async function topClass(loaded: LoadedModel, data: Float32Array): Promise<number> {
  const logits = await loaded.forward(data);
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

async function evaluate(request: EvaluateRequest, progress: (p: Progress) => void): Promise<{ value: EvaluateResult; transfer: Transferable[] }> {
  if (!model) throw new Error('no model is open');
  const start = performance.now();
  const current = model;
  const data = currentInput();
  const channel = `evaluate:${request.channel}`;
  const controller = startEvaluation(channel);
  if (request.cancel) controller.abort();
  const { signal } = controller;
  const abort = () => new DOMException('the evaluation was cancelled', 'AbortError');
  try {
    if (signal.aborted) throw abort();
    // Every run explains the same class: the one asked for, else the top class.
    const target = request.target ?? (await topClass(current.loaded, data));
    const n = request.assignments.length;
    const runs: EvaluateResult['runs'][number][] = [];
    let regions = 0;
    for (const [i, rules] of request.assignments.entries()) {
      if (signal.aborted) throw abort();
      progress({ phase: 'evaluate', loaded: i, total: n });
      const method = request.methods?.[i] ?? null;
      // A gradient baseline (app/compare-methods.ts) reports each gradient: its share of the run is the first half
      // when pixel flipping follows.
      const share = request.settings ? 0.5 : 1;
      const { relevance, map } = method
        ? await baselineMap(current.loaded, data, current.graph.input.shape, method, {
            target,
            signal,
            pause: macrotask,
            onProgress: (done, total) => progress({ phase: 'evaluate', loaded: i + (share * done) / total, total: n }),
          }).then((b) => ({ relevance: b.attribution.attribution.slice(), map: b.map }))
        : await current.loaded.explain(data, { target, rules, layerRelevance: false, signal }).then((e) => {
            const r = e.relevance.slice();
            return { relevance: r, map: sumChannels(r, e.inputShape) };
          });
      if (!request.settings) {
        runs.push({ map, relevanceOrder: null, randomOrder: null });
        continue;
      }
      await macrotask();
      if (signal.aborted) throw abort();
      const pf = await pixelFlipping(yieldingModel(current.loaded), data, relevance, {
        target,
        ...request.settings,
        signal,
        onProgress: (done) => progress({ phase: 'evaluate', loaded: i + (method ? 0.5 + 0.5 * done : done), total: n }),
      });
      regions = pf.regions;
      runs.push({ map, relevanceOrder: pf.relevanceOrder, randomOrder: pf.randomOrder });
    }
    if (signal.aborted) throw abort();
    const value: EvaluateResult = { seq: request.seq, modelId: current.info.id, target, runs, regions, ms: performance.now() - start };
    return { value, transfer: runs.map((r) => r.map.data.buffer) };
  } finally {
    endEvaluation(channel, controller);
  }
}

async function randomize(request: RandomizeRequest, progress: (p: Progress) => void): Promise<{ value: RandomizeResult; transfer: Transferable[] }> {
  if (!model || !engine) throw new Error('no model is open');
  const start = performance.now();
  const current = model;
  const data = currentInput();
  const controller = startEvaluation('randomize');
  if (request.cancel) controller.abort();
  try {
    if (controller.signal.aborted) throw new DOMException('the check was cancelled', 'AbortError');
    const target = request.target ?? (await topClass(current.loaded, data));
    const steps = await modelRandomization(yieldingEngine(engine), current.graph, data, {
      target,
      rules: request.rules,
      signal: controller.signal,
      onProgress: (done) => progress({ phase: 'randomize', loaded: done, total: 1 }),
    });
    const width = current.graph.input.shape[3] ?? steps[0]?.heatmap.length ?? 0;
    const height = current.graph.input.shape[2] ?? 1;
    const value: RandomizeResult = {
      seq: request.seq,
      modelId: current.info.id,
      target,
      weightedLayers: steps.length - 1,
      steps: steps.map((s) => ({
        layer: s.layer,
        randomized: s.randomized,
        spearman: s.spearman,
        spearmanAbs: s.spearmanAbs,
        map: { width, height, data: Float32Array.from(s.heatmap) },
      })),
      ms: performance.now() - start,
    };
    return { value, transfer: value.steps.map((s) => s.map.data.buffer) };
  } finally {
    endEvaluation('randomize', controller);
  }
}

/**
 * The Channels tab's concept maps (app/concept-maps.ts): the ranking, then each channel's map as a 'partial'
 * message as it arrives. Cancelled like an evaluation (a newer request, a new model or image), and by an explanation.
 */
async function concepts(request: ConceptsRequest, partial: (u: ConceptUpdate) => void): Promise<{ value: ConceptsResult; transfer: Transferable[] }> {
  if (!model) throw new Error('no model is open');
  const start = performance.now();
  const current = model;
  const controller = startEvaluation('concepts');
  if (request.cancel) controller.abort();
  try {
    if (controller.signal.aborted) throw new DOMException('the concept maps were cancelled', 'AbortError');
    const data = currentInput();
    const { ranking, maps } = await conceptMaps(current.loaded, data, {
      layer: request.layer,
      axis: request.axis,
      top: request.top,
      extra: request.extra,
      rules: request.rules,
      ...(request.target !== undefined ? { target: request.target } : {}),
      ...(request.contrastTarget !== undefined ? { contrastTarget: request.contrastTarget } : {}),
      signal: controller.signal,
      pause: macrotask,
      onRanking: (r, total) => partial({ kind: 'ranking', ranking: r, total }),
      onMap: (map, done, total) => partial({ kind: 'map', map, done, total }),
    });
    const value: ConceptsResult = { seq: request.seq, modelId: current.info.id, ranking, maps, ms: performance.now() - start };
    return { value, transfer: maps.map((m) => m.map.data.buffer) };
  } finally {
    endEvaluation('concepts', controller);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The queue

const queue: PageMessage[] = [];
let pumping = false;

/** Requests that a later one of the same group makes pointless, if it has not started yet. */
const group = (r: Request): string | null =>
  r.type === 'explain'
    ? 'explain'
    : r.type === 'setImage'
      ? 'image'
      : r.type === 'setPreprocessing'
        ? 'preprocessing'
        : r.type === 'evaluate'
          ? `evaluate:${r.request.channel}`
          : r.type === 'randomize'
            ? 'randomize'
            : r.type === 'concepts'
              ? 'concepts'
              : null;

async function handle({ id, request }: PageMessage): Promise<void> {
  const progress = throttledProgress((p) => post({ id, kind: 'progress', progress: p }));
  const reply = (value: unknown, transfer: Transferable[] = []) => post({ id, kind: 'result', value }, transfer);
  const viewTransfer = (v: ImageView | null): Transferable[] => (v ? [v.bitmap] : []);
  switch (request.type) {
    case 'catalog':
      return reply(catalog);
    case 'init':
      return reply(await init(request.backend));
    case 'openBuiltin': {
      const { card, files } = await fetchBuiltinFiles(request.modelId, progress);
      const r = await openModel(files, request.modelId, card, request.mergeBatchNorm, progress);
      return reply(r, viewTransfer(r.view));
    }
    case 'openFiles': {
      const files = await readFiles(request.files, progress);
      const r = await openModel(files, null, null, request.mergeBatchNorm, progress);
      return reply(r, viewTransfer(r.view));
    }
    case 'reopen': {
      if (!model) throw new Error('no model is open');
      const { files, builtin } = model.source;
      const card = builtin ? await builtinCard(builtin) : model.card;
      const r = await openModel(files, builtin, card, request.mergeBatchNorm, progress);
      return reply(r, viewTransfer(r.view));
    }
    case 'setImage': {
      const next = await loadImage(request.source);
      if (image?.kind === 'photo') image.bitmap.close();
      image = next;
      input = null;
      const view = await makeView();
      return reply({ image: imageInfo(next), view }, viewTransfer(view));
    }
    case 'setPreprocessing': {
      if (!model) throw new Error('no model is open');
      model.card = { ...model.card, preprocessing: request.preprocessing };
      input = null;
      const view = await makeView();
      return reply({ view }, viewTransfer(view));
    }
    case 'seenPixels': {
      const value = seenPixels();
      return reply(value, value.pixels ? [value.pixels.rgb.buffer] : []);
    }
    case 'explain': {
      const { value, transfer } = await explain(request.request);
      return reply(value, transfer);
    }
    case 'evaluate': {
      const { value, transfer } = await evaluate(request.request, progress);
      return reply(value, transfer);
    }
    case 'randomize': {
      const { value, transfer } = await randomize(request.request, progress);
      return reply(value, transfer);
    }
    case 'concepts': {
      // Each map is copied (structured clone) as it arrives; the result transfers them all.
      const { value, transfer } = await concepts(request.request, (u) => post({ id, kind: 'partial', value: u }));
      return reply(value, transfer);
    }
  }
}

async function pump(): Promise<void> {
  if (pumping) return;
  pumping = true;
  try {
    while (queue.length) {
      // Let messages that arrived while the last request ran (CPU work blocks this thread) join the queue first.
      await new Promise((r) => setTimeout(r, 0));
      const item = queue.shift()!;
      const g = group(item.request);
      if (g && queue.some((q) => group(q.request) === g)) {
        post({ id: item.id, kind: 'superseded' });
        continue;
      }
      try {
        await handle(item);
      } catch (e) {
        if (e instanceof AbortError || (e as Error).name === 'AbortError') post({ id: item.id, kind: 'superseded' });
        else post({ id: item.id, kind: 'error', message: (e as Error).message ?? String(e), name: (e as Error).name ?? 'Error' });
      }
    }
  } finally {
    pumping = false;
  }
}

self.onmessage = (event: MessageEvent<PageMessage>) => {
  queue.push(event.data);
  // A newer explanation makes the running one pointless.
  const type = event.data.request.type;
  if (type === 'explain') running?.abort();
  // A newer evaluation of the same channel replaces a running one; a new model or image makes them all pointless.
  const request = event.data.request;
  if (request.type === 'evaluate') evaluations.get(`evaluate:${request.request.channel}`)?.abort();
  if (type === 'randomize') evaluations.get('randomize')?.abort();
  // The concept maps give way to a newer request of theirs and to an explanation (the main heatmap comes first).
  if (type === 'concepts' || type === 'explain') evaluations.get('concepts')?.abort();
  if (type === 'openBuiltin' || type === 'openFiles' || type === 'reopen' || type === 'setImage' || type === 'setPreprocessing' || type === 'init') {
    for (const c of evaluations.values()) c.abort();
  }
  void pump();
};
