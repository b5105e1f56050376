/**
 * Model cards: what a model needs besides its weights to explain a photo: input size, preprocessing, class names,
 * license and provenance. Built-in models ship one (public/models/<id>/card.json); a user's model gets
 * defaultCard(), which the user can edit. Framework-free and browser-safe.
 */
import type { Graph } from '../engine/graph';
import { inferShapes } from '../engine/compile';

export type ModelFormat = 'onnx' | 'tfjs';

export interface ModelCard {
  /** Short identifier, e.g. "darknet-tiny". */
  readonly id: string;
  /** Display name. */
  readonly name: string;
  readonly format: ModelFormat;
  /** The model's files (model.json + shards, or .onnx + .onnx.data), relative to the card. */
  readonly files: readonly string[];
  readonly input: {
    readonly width: number;
    readonly height: number;
    /** 3 (RGB) or 1 (greyscale). */
    readonly channels: number;
    /**
     * The layout the original model takes (TF.js: NHWC, PyTorch/ONNX: NCHW). Informational: importers turn every
     * model into one taking NCHW, and preprocess() always produces NCHW.
     */
    readonly layout: 'NCHW' | 'NHWC';
  };
  /** value = (pixel * scale - mean[c]) / std[c], pixel in 0..255; mean/std have one value or one per channel. */
  readonly preprocessing: {
    readonly scale: number;
    readonly mean: readonly number[];
    readonly std: readonly number[];
    /** 'stretch': the whole photo squeezed to the input size; 'center-crop': the largest centred crop of the input's aspect ratio. */
    readonly resize: 'stretch' | 'center-crop';
  };
  readonly classes: readonly string[];
  /** License name and the license file beside the model ('' when there is none). */
  readonly license: { readonly name: string; readonly file: string };
  /** Where the model comes from. */
  readonly source: string;
  readonly notes?: string;
  /**
   * What the classes cover, in a line the app shows beside the model (e.g. "10 Tiny ImageNet classes: …; no cat,
   * dog or person"): a photo of something else still gets one of them.
   */
  readonly classSummary?: string;
  /**
   * What the card only assumes (a user's model opened without a card.json: defaultCard): the preprocessing
   * (pixels / 255, mean 0, std 1, centre crop) and the class names ("class 0" …). Never read from a card file.
   */
  readonly assumed?: { readonly preprocessing: boolean; readonly classes: boolean };
}

export class ModelCardError extends Error {
  override name = 'ModelCardError';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Largest input side a card may declare (far beyond any classifier; keeps buffers sane). */
const MAX_SIDE = 8192;

/**
 * Bounds on a card's text (cards come with strangers' models; docs/security.md): far beyond any real card (ImageNet's
 * 1000 class names are 21 kB), small enough that nothing downstream (menus, lists, links) is swamped.
 */
export const CARD_LIMITS = {
  /** Characters of the card's JSON text. */
  maxTextChars: 16 * 2 ** 20,
  /** Class names. */
  maxClasses: 100_000,
  /** Characters of one class name, id, name, file name, source or license field. */
  maxStringChars: 1000,
  /** Characters of the notes. */
  maxNotesChars: 100_000,
  /** File names. */
  maxFiles: 1000,
} as const;

/** A short, single-line rendering of an untrusted value for a message: never the whole of it, never deep. */
function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  return typeof v;
}

/**
 * Validates a card (parsed JSON, or its text). Throws ModelCardError naming the first field that is wrong.
 * `where` prefixes messages (e.g. the card's file name).
 */
export function parseModelCard(json: unknown, where = 'model card'): ModelCard {
  let v = json;
  if (typeof v === 'string') {
    if (v.length > CARD_LIMITS.maxTextChars) {
      throw new ModelCardError(`${where}: ${v.length} characters, more than the ${CARD_LIMITS.maxTextChars} a card may have`);
    }
    try {
      v = JSON.parse(v) as unknown;
    } catch (e) {
      throw new ModelCardError(`${where}: not valid JSON (${(e as Error).message})`);
    }
  }
  const fail = (msg: string): never => {
    throw new ModelCardError(`${where}: ${msg}`);
  };
  if (!isObject(v)) return fail('expected a JSON object');
  const L = CARD_LIMITS;
  const str = (obj: Record<string, unknown>, key: string, path: string, allowEmpty = false): string => {
    const s = obj[key];
    if (typeof s !== 'string' || (!allowEmpty && s.trim() === '')) return fail(`"${path}" must be a ${allowEmpty ? '' : 'non-empty '}string`);
    if (s.length > L.maxStringChars) fail(`"${path}" has ${s.length} characters, more than the ${L.maxStringChars} allowed`);
    return s;
  };
  const list = (key: 'files' | 'classes', max: number, what: string): string[] => {
    const a = v[key];
    if (!Array.isArray(a) || a.length === 0 || !a.every((x) => typeof x === 'string' && (key === 'classes' || x.length > 0))) {
      return fail(`"${key}" must be a non-empty list of ${what}`);
    }
    if (a.length > max) fail(`"${key}" has ${a.length} entries, more than the ${max} allowed`);
    const long = (a as string[]).findIndex((x) => x.length > L.maxStringChars);
    if (long >= 0) fail(`"${key}[${long}]" has ${(a[long] as string).length} characters, more than the ${L.maxStringChars} allowed`);
    return [...(a as string[])];
  };
  const id = str(v, 'id', 'id');
  const name = str(v, 'name', 'name');
  const format = v.format;
  if (format !== 'onnx' && format !== 'tfjs') fail(`"format" must be "onnx" or "tfjs" (got ${shown(format)})`);
  const files = list('files', L.maxFiles, 'file names');

  const input = v.input;
  if (!isObject(input)) return fail('"input" must be an object with width, height, channels and layout');
  const side = (key: 'width' | 'height'): number => {
    const n = input[key];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_SIDE) fail(`"input.${key}" must be an integer from 1 to ${MAX_SIDE}`);
    return n as number;
  };
  const width = side('width');
  const height = side('height');
  const channels = input.channels;
  if (channels !== 1 && channels !== 3) fail(`"input.channels" must be 1 or 3 (got ${shown(channels)})`);
  const layout = input.layout;
  if (layout !== 'NCHW' && layout !== 'NHWC') fail(`"input.layout" must be "NCHW" or "NHWC" (got ${shown(layout)})`);

  const pre = v.preprocessing;
  if (!isObject(pre)) return fail('"preprocessing" must be an object with scale, mean, std and resize');
  const scale = pre.scale;
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) fail('"preprocessing.scale" must be a positive number');
  const perChannel = (key: 'mean' | 'std'): number[] => {
    const a = pre[key];
    const list = typeof a === 'number' ? [a] : a;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      return fail(`"preprocessing.${key}" must be a number or a list of numbers`);
    }
    if (list.length !== 1 && list.length !== channels) fail(`"preprocessing.${key}" must have 1 or ${channels as number} values (got ${list.length})`);
    if (key === 'std' && list.some((x) => x <= 0)) fail('"preprocessing.std" values must be positive');
    return list as number[];
  };
  const mean = perChannel('mean');
  const std = perChannel('std');
  const resize = pre.resize ?? 'center-crop';
  if (resize !== 'stretch' && resize !== 'center-crop') fail(`"preprocessing.resize" must be "stretch" or "center-crop" (got ${shown(resize)})`);

  const classes = list('classes', L.maxClasses, 'class names');
  const license = v.license;
  if (!isObject(license)) return fail('"license" must be an object with name and file');
  const licenseName = str(license, 'name', 'license.name');
  const licenseFile = str(license, 'file', 'license.file', true);
  const source = str(v, 'source', 'source', true);
  if (v.notes !== undefined && typeof v.notes !== 'string') fail('"notes" must be a string');
  if (typeof v.notes === 'string' && v.notes.length > L.maxNotesChars) fail(`"notes" has ${v.notes.length} characters, more than the ${L.maxNotesChars} allowed`);
  const classSummary = v.classSummary === undefined ? undefined : str(v, 'classSummary', 'classSummary');

  return {
    id,
    name,
    format: format as ModelFormat,
    files,
    input: { width, height, channels: channels as number, layout: layout as 'NCHW' | 'NHWC' },
    preprocessing: { scale: scale as number, mean, std, resize: resize as 'stretch' | 'center-crop' },
    classes,
    license: { name: licenseName, file: licenseFile },
    source,
    ...(typeof v.notes === 'string' ? { notes: v.notes } : {}),
    ...(classSummary !== undefined ? { classSummary } : {}),
  };
}

/** Number of classes (outputs) of a graph. */
export function graphClasses(graph: Graph): number {
  return inferShapes(graph).get(graph.output)![1]!;
}

/** The image size a graph takes: [1, C, H, W] -> C, H, W; a feature vector [1, F] -> F x 1, one channel. */
export function graphInputSize(graph: Graph): { width: number; height: number; channels: number; image: boolean } {
  const s = graph.input.shape;
  if (s.length === 4) return { width: s[3]!, height: s[2]!, channels: s[1]!, image: true };
  return { width: s[s.length - 1] ?? 1, height: 1, channels: 1, image: false };
}

function slug(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/\.(onnx|json)$/, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return s || 'model';
}

/** The preprocessing a model without a card gets: pixels / 255, mean 0, std 1, centre crop (a guess: `assumed`). */
export const DEFAULT_PREPROCESSING: ModelCard['preprocessing'] = { scale: 1 / 255, mean: [0], std: [1], resize: 'center-crop' };

/**
 * A card for a user's model: the input size from the graph, pixels / 255 with mean 0 and std 1, centre-cropped,
 * classes "class 0" .. "class N-1" (or `classes`, when a class list came with the model). `assumed` says which
 * of these are guesses.
 */
export function defaultCard(
  graph: Graph,
  name: string,
  format: ModelFormat = 'onnx',
  files: readonly string[] = [name],
  classes?: readonly string[],
): ModelCard {
  const { width, height, channels } = graphInputSize(graph);
  const n = graphClasses(graph);
  return {
    id: slug(name),
    name,
    format,
    files: [...files],
    input: { width, height, channels, layout: format === 'tfjs' ? 'NHWC' : 'NCHW' },
    preprocessing: { ...DEFAULT_PREPROCESSING, mean: [...DEFAULT_PREPROCESSING.mean], std: [...DEFAULT_PREPROCESSING.std] },
    classes: classes && classes.length === n ? [...classes] : Array.from({ length: n }, (_, i) => `class ${i}`),
    license: { name: 'unknown', file: '' },
    source: 'opened by the user',
    ...(graph.notes && graph.notes.length > 0 ? { notes: graph.notes.join(' ') } : {}),
    assumed: { preprocessing: true, classes: !(classes && classes.length === n) },
  };
}

/** Checks that a card describes this graph (input size and number of classes). Throws ModelCardError. */
export function checkCardFitsGraph(card: ModelCard, graph: Graph): void {
  const size = graphInputSize(graph);
  if (size.image && (size.width !== card.input.width || size.height !== card.input.height || size.channels !== card.input.channels)) {
    throw new ModelCardError(
      `the card of "${card.name}" says ${card.input.width}x${card.input.height}x${card.input.channels}, but the model takes ${size.width}x${size.height}x${size.channels} (width x height x channels)`,
    );
  }
  const n = graphClasses(graph);
  if (card.classes.length !== n) {
    throw new ModelCardError(`the card of "${card.name}" names ${card.classes.length} classes, but the model has ${n} outputs`);
  }
}

/** mean/std for channel c (one value serves every channel). */
export function channelValue(values: readonly number[], c: number): number {
  return values.length === 1 ? values[0]! : values[c]!;
}

/**
 * The range of preprocessed values per channel (pixel 0 and 255 through the card's preprocessing): the natural
 * ZBox bounds for the model's first layer.
 */
export function inputBounds(card: ModelCard): { low: number[]; high: number[] } {
  const low: number[] = [];
  const high: number[] = [];
  const { scale, mean, std } = card.preprocessing;
  for (let c = 0; c < card.input.channels; c++) {
    const m = channelValue(mean, c);
    const s = channelValue(std, c);
    low.push((0 * scale - m) / s);
    high.push((255 * scale - m) / s);
  }
  return { low, high };
}
