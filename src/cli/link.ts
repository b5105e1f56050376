/**
 * `lrp-lens explain --link <url>`: reproduces a share link's explanation (docs/share-links.md) from the command
 * line, as the page that opens the link computes it:
 *
 * - the model: a built-in one from public/models/<id>/ with its card.json, or the user's own (--model, with
 *   --model-data), whose files' SHA-256 is compared with the link's (a different file: a warning, never silently);
 *   its card is the one the page gives a model opened from files (the default card, or --card);
 * - BatchNorm merged into the layer before it, or kept, as the link says;
 * - the image: a sample photo from public/samples, or the pixels in the link; either way cropped and resized to
 *   the model's input size as 8-bit RGB, then normalised (as the app's engine worker does);
 * - the target, contrast class, preset (its ZBox bounds from the card) and per-layer rules; layers and rules that
 *   do not fit the model are left out with a warning, as the page leaves them out;
 * - --out draws the heatmap with the link's colormap and clip, exactly as the page's canvas (src/models/colormap.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetAssignment, presetParams } from '../rules/preset-params';
import { applyBatchNorm } from '../session/batchnorm';
import type { Graph } from '../engine/graph';
import { findBuiltinModel, openModelFiles, SAMPLE_IMAGES, type ModelFile } from '../models/builtin';
import { rgbToRgba, type RgbaImage } from '../models/image';
import { photoInput } from '../session/model-input';
import { checkCardFitsGraph, defaultCard, graphClasses, graphInputSize, parseModelCard, type ModelCard } from '../models/model-card';
import { type LayerRuleEntry, type RuleAssignment } from '../rules/assignment';
import { resolveAssignment } from '../engine/rule-assignment';
import { decodeShareState } from '../share/share-codec';
import { fitLinkOverrides } from '../share/link-overrides';
import { ShareLinkError, type ShareState } from '../share/share-state';
import type { ExplainLinkCommand } from './args';
import { startEngine, ExplainError, explainOptions, formatReport, readBytes, readModelFiles, softmax, unknownLayer, warnContrast, writeOutputs, type ExplainReport } from './explain';
import { decodeImage } from './image-io';

export interface LinkReport extends ExplainReport {
  readonly link: {
    readonly version: number;
    readonly model: { readonly kind: 'builtin'; readonly id: string } | { readonly kind: 'user'; readonly name: string; readonly sha256: string };
    readonly image: { readonly kind: 'sample'; readonly id: string } | { readonly kind: 'pixels'; readonly width: number; readonly height: number };
    readonly target: number | null;
    readonly contrast: number | null;
    readonly preset: string;
    readonly mergeBatchNorm: boolean;
    readonly view: ShareState['view'];
    /** A user's model: the SHA-256 of the files given, and whether it is the link's. */
    readonly modelCheck?: { readonly sha256: string; readonly matches: boolean };
    /** What the link holds that does not fit this model, and was left out (as the page leaves it out). */
    readonly warnings: readonly string[];
  };
  readonly contrastTarget: number | null;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

/** The package's root (where public/models is): above this module, in the sources and in the bundle alike. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'public', 'models'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return process.cwd();
}

/**
 * SHA-256 (hex) of a model's files as a share link records it: the main model file's bytes (the .onnx, or the
 * TF.js model.json), then each side file's in name order (JavaScript string order), nothing in between. The page
 * does the same (app/share.ts). A file given under two names (an ONNX model's data, --model-data) counts once.
 */
export function modelFilesSha256(files: readonly ModelFile[], main: string): string {
  const seen = new Set<Uint8Array>();
  const distinct = files.filter((f) => !seen.has(f.bytes) && !!seen.add(f.bytes));
  const first = distinct.find((f) => f.name === main);
  const rest = distinct.filter((f) => f !== first).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const hash = createHash('sha256');
  for (const f of first ? [first, ...rest] : rest) hash.update(f.bytes);
  return hash.digest('hex');
}


/** The link's text: the argument, or the contents of the file "@path" names. */
async function linkText(arg: string): Promise<string> {
  if (!arg.startsWith('@')) return arg;
  const path = arg.slice(1);
  if (existsSync(path) && statSync(path).size > 8_000_000) throw new ExplainError(`${path} is too large to hold a share link`);
  return new TextDecoder().decode(await readBytes(path, 'the link file ')).trim();
}

export function decodeLink(text: string): ShareState {
  try {
    return decodeShareState(text.trim());
  } catch (e) {
    throw new ExplainError(`the link cannot be opened: ${e instanceof ShareLinkError ? e.message : message(e)}`);
  }
}

const quote = (s: string): string => JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}...` : s);

interface LinkModel {
  readonly file: string;
  readonly files: ModelFile[];
  readonly card: ModelCard;
  readonly cardFrom: 'built-in' | 'file' | 'default';
  readonly graph: Graph;
  readonly format: 'onnx' | 'tfjs';
  readonly notes: readonly string[];
  readonly modelCheck?: { sha256: string; matches: boolean };
}

async function openLinkModel(cmd: ExplainLinkCommand, state: ShareState, root: string, warn: (s: string) => void): Promise<LinkModel> {
  if (state.model.kind === 'builtin') {
    const id = state.model.id;
    if (cmd.model !== undefined) throw new ExplainError(`--model is for links made with a model of the sender's own; this link names the built-in model ${quote(id)}`);
    const builtin = findBuiltinModel(id);
    if (!builtin) throw new ExplainError(`the link's model ${quote(id)} is not a built-in model of this lrp-lens`);
    const dir = join(root, 'public', 'models', id);
    const files: ModelFile[] = [];
    for (const name of builtin.files) files.push({ name, bytes: await readBytes(join(dir, name), 'the built-in model file ') });
    let card: ModelCard;
    try {
      card = parseModelCard(new TextDecoder().decode(await readBytes(join(dir, builtin.card), 'the model card ')), `${id}/${builtin.card}`);
    } catch (e) {
      throw e instanceof ExplainError ? e : new ExplainError(message(e));
    }
    const opened = openModelFiles(files);
    try {
      checkCardFitsGraph(card, opened.graph);
    } catch (e) {
      throw new ExplainError(message(e));
    }
    return { file: join(dir, builtin.files[0]!), files, card, cardFrom: 'built-in', graph: opened.graph, format: opened.format, notes: opened.notes };
  }

  const { name, sha256 } = state.model;
  if (cmd.model === undefined) {
    throw new ExplainError(`the link was made with a model of its sender's own, ${quote(name)} (SHA-256 ${sha256.slice(0, 12)}...): give its file with --model`);
  }
  const files = await readModelFiles({ model: cmd.model, modelData: cmd.modelData }, []);
  const opened = openModelFiles(files);
  const main = basename(opened.modelFile);
  const actual = modelFilesSha256(files, opened.modelFile);
  const matches = actual === sha256;
  if (!matches) {
    warn(
      `warning: this is not the file the link was made with: the link's model is ${quote(name)} with SHA-256 ${sha256}; ` +
        `${main} and its side files have SHA-256 ${actual}`,
    );
  } else if (main !== name) {
    warn(`note: the model file is named ${quote(main)}; the link calls it ${quote(name)} (same SHA-256)`);
  }
  let card: ModelCard;
  let cardFrom: LinkModel['cardFrom'] = 'default';
  if (cmd.card !== undefined) {
    try {
      card = parseModelCard(new TextDecoder().decode(await readBytes(cmd.card, 'the card ')), cmd.card);
    } catch (e) {
      throw e instanceof ExplainError ? e : new ExplainError(message(e));
    }
    cardFrom = 'file';
  } else {
    // As the page does for a model opened from files: a card.json among them, else the default card.
    card = opened.card ?? defaultCard(opened.graph, main, opened.format, files.map((f) => f.name));
  }
  try {
    checkCardFitsGraph(card, opened.graph);
  } catch (e) {
    throw new ExplainError(message(e));
  }
  return { file: cmd.model, files, card, cardFrom, graph: opened.graph, format: opened.format, notes: opened.notes, modelCheck: { sha256: actual, matches } };
}

/** The link's image as RGBA: a sample photo from public/samples, or its pixels. */
async function linkImage(state: ShareState, root: string): Promise<{ rgba: RgbaImage; file: string }> {
  const image = state.image;
  if (image.kind === 'sample') {
    if (!SAMPLE_IMAGES.some((s) => s.file === image.id)) {
      throw new ExplainError(`the link's sample photo ${quote(image.id)} is not one of lrp-lens's (${SAMPLE_IMAGES.map((s) => s.file).join(', ')})`);
    }
    const path = join(root, 'public', 'samples', image.id);
    try {
      return { rgba: decodeImage(await readBytes(path, 'the sample photo '), image.id), file: path };
    } catch (e) {
      throw e instanceof ExplainError ? e : new ExplainError(message(e));
    }
  }
  const { width, height, rgb } = image;
  return { rgba: rgbToRgba(width, height, rgb), file: `the link's pixels (${width}x${height})` };
}

/** The rule assignment the page makes of the link: its preset (ZBox bounds from the card) and the overrides that fit. */
function linkAssignment(state: ShareState, graph: Graph, card: ModelCard, warnings: string[]): { assignment: RuleAssignment; layers: LayerRuleEntry[] } {
  const params = presetParams(state.preset, card);
  // The link's custom rules (version 4) travel with the assignment, as every rule definition does.
  const base = presetAssignment(state.preset, card, [], state.ruleDefs ?? []);
  const entryOf = (layer: string, o: ShareState['overrides'][string]) => ({ layer, rule: o.rule, ...o.params }) as LayerRuleEntry;
  const fit = fitLinkOverrides(state.overrides, new Set(graph.nodes.map((n) => n.name)), (layer, o) => {
    try {
      resolveAssignment(graph, { ...base, layers: [entryOf(layer, o)] });
      return null;
    } catch (e) {
      return message(e);
    }
  });
  const layers = fit.kept.map(([layer, o]) => entryOf(layer, o));
  for (const { layer, rule, problem } of fit.misfit) warnings.push(`the rule ${quote(rule)} for layer ${quote(layer)} does not fit this model and was left out (${problem})`);
  if (fit.missing.length) warnings.push(`the link sets rules for layers this model does not have, which were left out: ${fit.missing.map(quote).join(', ')}`);
  const sorted = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort()) : x));
  if (Object.keys(state.presetParams).length && sorted(state.presetParams) !== sorted(params)) {
    warnings.push(`the link's preset parameters (ZBox bounds) ${sorted(state.presetParams)} differ from the card's ${sorted(params)}, which are used`);
  }
  return { assignment: { ...base, ...(layers.length ? { layers } : {}) }, layers };
}

/** Runs a share link's explanation. Throws ExplainError with one-line messages (a bad link, a missing model...). */
export async function runExplainLink(cmd: ExplainLinkCommand, log: (line: string) => void = () => undefined): Promise<LinkReport> {
  const verbose = (s: string): void => {
    if (cmd.verbose) log(s);
  };
  const t0 = performance.now();
  const state = decodeLink(await linkText(cmd.link));
  const root = packageRoot();
  const warnings: string[] = [];
  const warn = (s: string) => {
    warnings.push(s);
    log(s);
  };
  const m = await openLinkModel(cmd, state, root, warn);
  const { graph, note: batchNormNote } = applyBatchNorm(m.graph, state.mergeBatchNorm);
  if (batchNormNote) verbose(`${batchNormNote} (as the link says)`);

  const size = graphInputSize(graph);
  if (!size.image) throw new ExplainError(`the model takes [${graph.input.shape.join(', ')}], not an image: a share link's image cannot be its input`);
  const { rgba, file } = await linkImage(state, root);
  if (state.image.kind === 'pixels' && (state.image.width !== size.width || state.image.height !== size.height)) {
    warn(`note: the link's image is ${state.image.width}x${state.image.height}; the model takes ${size.width}x${size.height}, so it is resized`);
  }
  // As the page's engine worker (src/session/model-input.ts): the photo at the model's input size as 8-bit RGB, then normalised.
  const x = photoInput(rgba, graph, m.card).data;

  const ruleWarnings: string[] = [];
  const { assignment, layers } = linkAssignment(state, graph, m.card, ruleWarnings);
  for (const w of ruleWarnings) warn(`warning: ${w}`);
  if (state.compare) {
    const b = state.compare.label ?? state.compare.preset;
    const methods = Object.keys(state.compareMethods ?? {}).map((side) => side.toUpperCase());
    const baselines = methods.length ? ` (side ${methods.join(' and ')} by a gradient baseline: --method)` : '';
    warn(`note: the link also shows a comparison with ${quote(b)}${baselines}; explain --link reproduces the link's own LRP explanation (the page's main heatmap), the app the comparison`);
  }
  if (state.concept) {
    const { layer, channel } = state.concept;
    warn(`note: the link also shows the concept map of channel ${channel} of ${quote(layer)} (Channels tab); explain --link reproduces the main heatmap, --concept ${layer}:${channel} (without --link) gives that map`);
  }
  const classes = graphClasses(graph);
  const classOk = (c: number | null, what: string): number | null => {
    if (c === null || c < classes) return c;
    warn(`warning: the link's ${what} (class ${c}) is not a class of this model (0 to ${classes - 1}) and was left out`);
    return null;
  };
  const target = classOk(state.target, 'target');
  const contrast = classOk(state.contrast, 'contrast class');
  if (cmd.layer !== undefined && !graph.nodes.some((n) => n.name === cmd.layer)) throw unknownLayer(cmd.layer, graph.nodes.map((n) => n.name));

  const engine = await startEngine(cmd.backend, verbose);
  const backend = engine.backend;
  try {
    const model = await engine.load(graph);
    const loadMs = performance.now() - t0;
    const t1 = performance.now();
    const e = await model.explain(x, explainOptions({ target: target ?? undefined, contrast: contrast ?? undefined, layer: cmd.layer }, assignment));
    const explainMs = performance.now() - t1;
    model.dispose();
    warnContrast(e, contrast, warn);

    const probs = softmax(e.logits);
    const order = [...probs.keys()].sort((a, b) => probs[b]! - probs[a]! || a - b);
    const label = (i: number): string => m.card.classes[i] ?? `class ${i}`;
    const top = order.slice(0, cmd.top).map((c, i) => ({ rank: i + 1, class: c, label: label(c), probability: probs[c]!, logit: e.logits[c]! }));
    let relevanceSum = 0;
    for (const v of e.relevance) relevanceSum += v;

    // --out: the page's canvas, with the link's colormap and its scale (clipped or not).
    const outputs = await writeOutputs(cmd, e, { colormap: state.view.colormap, clipPercentile: state.view.clip ? state.view.clipPercentile : null });

    const { image } = state;
    return {
      model: { file: m.file, name: m.card.name, format: m.format, layers: graph.nodes.length, card: m.cardFrom },
      backend,
      input: { file, kind: 'image', shape: graph.input.shape, imageSize: [rgba.width, rgba.height] },
      notes: m.notes,
      top,
      explained: { class: e.target, label: label(e.target), logit: e.logits[e.target]!, probability: probs[e.target]! },
      contrastTarget: contrast,
      composite: state.preset,
      rules: layers,
      relevanceSum,
      ...outputs,
      timings: { loadMs, explainMs },
      link: {
        version: state.version,
        model: state.model,
        image: image.kind === 'sample' ? image : { kind: 'pixels', width: image.width, height: image.height },
        target: state.target,
        contrast: state.contrast,
        preset: state.preset,
        mergeBatchNorm: state.mergeBatchNorm,
        view: state.view,
        ...(m.modelCheck ? { modelCheck: m.modelCheck } : {}),
        warnings,
      },
    };
  } finally {
    engine.dispose();
  }
}

/** The report as `explain --link` prints it. */
export function formatLinkReport(r: LinkReport): string[] {
  const lines = formatReport(r);
  const { link } = r;
  const model = link.model.kind === 'builtin' ? `built-in ${link.model.id}` : `${link.model.name} (SHA-256 ${link.model.sha256.slice(0, 12)}...)`;
  const image = link.image.kind === 'sample' ? `sample ${link.image.id}` : `${link.image.width}x${link.image.height} pixels`;
  lines.unshift(`Link: version ${link.version}; model ${model}; image ${image}; BatchNorm ${link.mergeBatchNorm ? 'merged' : 'kept'}; view ${link.view.colormap}${link.view.clip ? `, clipped at the ${link.view.clipPercentile} percentile` : ''}`);
  if (link.modelCheck) lines.push(`Model files: SHA-256 ${link.modelCheck.matches ? 'matches the link' : 'DIFFERS from the link (this is not the file the link was made with)'}`);
  for (const w of link.warnings) lines.push(`Warning: ${w.replace(/^(warning|note): /, '')}`);
  return lines;
}
