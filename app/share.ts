/**
 * Share links in the app (docs/share-links.md): the mapping between the store and a ShareState
 * (src/share/share-state.ts), the address bar that follows the state, opening a link (on load and on hashchange),
 * the prompt for a user's own model with its SHA-256 check, and "Copy share link".
 *
 * - The state lives in the URL fragment, which browsers never send to a server. The address bar follows the state
 *   with history.replaceState, debounced (FOLLOW_DEBOUNCE_MS): never one history entry per change.
 * - The image travels as the model saw it: 8-bit RGB at the model's input resolution (the worker's `seenPixels`);
 *   a built-in sample photo is named instead.
 * - A user's model travels as its main file's name and the SHA-256 of its files (modelFilesSha256); the receiver
 *   is asked for the files, and a different file opens with a visible warning.
 * - Opening a link never throws: a link that cannot be read gives linkError (an alert) and the app keeps, or opens,
 *   its defaults; parts of a link that do not fit the model are left out and named (linkNotes).
 */
import { create } from 'zustand';
import { decodeShareState, encodeShareState } from '../src/share/share-codec';
import { fitLinkOverrides } from '../src/share/link-overrides';
import { ShareLinkError, linkVersion, type ShareImage, type ShareModel, type ShareState } from '../src/share/share-state';
import type { RuleParams } from '../src/rules/rules';
import { chooseBuiltin, chooseSample, engineClient, openedModelFiles, openImagePixels, openModelFiles, start, type StartOptions } from './actions';
import type { ModelInfo, SeenPixels } from './protocol';
import { customRuleSpecs, defineLinkRules, presetParams, toAssignment, validateAssignment } from './rules-state';
import { conceptReader, runComparison } from './evaluation';
import { baselineOf, compareMethodFrom, type CompareMethod } from './compare-methods';
import { update, useStore, type AppState, type ComparedRules, type LayerOverride } from './store';

/** The address bar is updated this long after the last change. */
export const FOLLOW_DEBOUNCE_MS = 300;

// ---------------------------------------------------------------------------------------------------------------
// What the share UI shows (its own small store: the app's slices stay as they are)

export interface ModelCheck {
  /** The files opened are the ones the link was made with (same SHA-256). */
  readonly ok: boolean;
  readonly expectedName: string;
  readonly expectedSha256: string;
  readonly actualName: string;
  readonly actualSha256: string;
}

export type CopyState =
  | { readonly state: 'working' }
  /** Copied to the clipboard, or (manual) shown in a field for the user to copy. */
  | { readonly state: 'copied' | 'manual'; readonly link: string }
  | { readonly state: 'error'; readonly message: string };

export interface ShareUiState {
  /** Why the link being opened could not be opened (shown as an alert). */
  readonly linkError: string | null;
  /** Parts of an opened link that did not fit the model and were left out, or were changed. */
  readonly linkNotes: readonly string[];
  /** A link made with the user's own model, waiting for its files. */
  readonly pending: { readonly name: string; readonly sha256: string } | null;
  readonly modelCheck: ModelCheck | null;
  readonly copy: CopyState | null;
}

const initialUi: ShareUiState = { linkError: null, linkNotes: [], pending: null, modelCheck: null, copy: null };

export const useShareUi = create<ShareUiState>()(() => initialUi);

export function dismissShareMessages(): void {
  useShareUi.setState({ linkError: null, linkNotes: [], modelCheck: null });
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A name from a link, shortened and quoted for a message (React shows it as text, never as HTML). */
const quote = (s: string): string => `“${s.length > 60 ? `${s.slice(0, 57)}…` : s}”`;

function list(items: readonly string[]): string {
  const shown = items.slice(0, 8);
  return shown.join(', ') + (items.length > shown.length ? ` and ${items.length - shown.length} more` : '');
}

// ---------------------------------------------------------------------------------------------------------------
// SHA-256 of a model's files

export interface NamedBytes {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/**
 * The bytes a model's SHA-256 is taken over: the main model file's (the .onnx, or the TF.js model.json), then each
 * side file's (external data, weight shards, anything else opened with it) in name order (JavaScript string
 * order, by UTF-16 code units), with nothing in between. The CLI (src/cli/link.ts) hashes the same way.
 */
export function modelHashOrder<T extends { readonly name: string }>(files: readonly T[], main: string): T[] {
  const first = files.find((f) => f.name === main);
  const rest = files.filter((f) => f !== first).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return first ? [first, ...rest] : rest;
}

const hex = (bytes: ArrayBuffer): string => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');

export async function sha256Hex(parts: readonly Uint8Array[]): Promise<string> {
  const total = parts.reduce((s, p) => s + p.length, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return hex(await crypto.subtle.digest('SHA-256', all));
}

/** SHA-256 (hex) of a model's files, as modelHashOrder says. */
export async function modelFilesSha256(files: readonly File[], main: string): Promise<string> {
  const ordered = modelHashOrder(files, main);
  return sha256Hex(await Promise.all(ordered.map(async (f) => new Uint8Array(await f.arrayBuffer()))));
}

const hashes = new WeakMap<readonly File[], Map<string, Promise<string>>>();

function cachedHash(files: readonly File[], main: string): Promise<string> {
  let byMain = hashes.get(files);
  if (!byMain) hashes.set(files, (byMain = new Map()));
  let h = byMain.get(main);
  if (!h) {
    h = modelFilesSha256(files, main);
    byMain.set(main, h);
  }
  return h;
}

// ---------------------------------------------------------------------------------------------------------------
// The store -> a ShareState

/**
 * A state, or why there is none: `unshareable` when the state exists but no link can hold it (the address then
 * drops its fragment), not when nothing is open yet (a link waiting for its model's files stays in the address).
 */
type Built = { readonly state: ShareState } | { readonly error: string; readonly unshareable: boolean } | 'busy';

let pixelCache: { readonly key: string; readonly pixels: Promise<SeenPixels | null> } | null = null;

function seenPixels(s: AppState): Promise<SeenPixels | null> {
  const key = `${s.model.current?.id}|${s.model.version}|${s.image.version}`;
  if (pixelCache?.key !== key) pixelCache = { key, pixels: engineClient().seenPixels() };
  return pixelCache.pixels;
}

const sameSnapshot = (a: AppState, b: AppState): boolean =>
  a.model.current === b.model.current && a.model.version === b.model.version && a.image.version === b.image.version;

/** The current state as a share link holds it; 'busy' while a model or image is loading. */
export async function currentShareState(): Promise<Built> {
  const s = useStore.getState();
  const model = s.model.current;
  const image = s.image.current;
  if (s.model.loading || s.image.loading) return 'busy';
  if (!model) return { error: 'no model is open', unshareable: false };
  if (!image) return { error: 'no image is chosen', unshareable: false };
  if (image.tensor) return { error: 'the image is a .npy tensor, which a link cannot carry (links carry photos)', unshareable: true };

  let shareModel: ShareModel;
  if (model.builtin) {
    shareModel = { kind: 'builtin', id: model.id };
  } else {
    const files = openedModelFiles();
    if (!files.length) return { error: 'the files of this model are not at hand any more: open them again', unshareable: true };
    shareModel = { kind: 'user', name: model.modelFile, sha256: await cachedHash(files, model.modelFile) };
  }
  let shareImage: ShareImage;
  if (s.image.sample) {
    shareImage = { kind: 'sample', id: s.image.sample };
  } else {
    const pixels = await seenPixels(s);
    if (!sameSnapshot(s, useStore.getState())) return 'busy';
    if (!pixels) return { error: `this model's input [${model.inputShape.join(', ')}] is not an image`, unshareable: true };
    shareImage = { kind: 'pixels', width: pixels.width, height: pixels.height, rgb: pixels.rgb };
  }
  const { rules, view, evaluation } = s;
  const shareOverrides = (o: Readonly<Record<string, LayerOverride>>) =>
    Object.fromEntries(Object.entries(o).map(([layer, r]) => [layer, { rule: r.rule, params: r.params }]));
  const b = evaluation.compareWith;
  // The compare view travels while it is the one shown; so does the concept chosen in the channel view.
  const compare = evaluation.tab === 'compare'
    ? { compare: { preset: b.preset, overrides: shareOverrides(b.overrides), label: b.kind === 'snapshot' ? b.label : null, settings: { ...evaluation.settings } } }
    : {};
  // The sides' methods travel with the compare view when either is a gradient baseline (version 3).
  const baselineA = baselineOf(evaluation.compareMethods.a);
  const baselineB = baselineOf(evaluation.compareMethods.b);
  const compareMethods =
    evaluation.tab === 'compare' && (baselineA || baselineB) ? { compareMethods: { ...(baselineA ? { a: baselineA } : {}), ...(baselineB ? { b: baselineB } : {}) } } : {};
  const chosen = evaluation.tab === 'channels' ? evaluation.concept : null;
  // Only a concept of this model (one chosen on another model stays behind when the model changes).
  const reader = chosen ? conceptReader(model, chosen.layer) : null;
  const concept = chosen && reader && 'layer' in reader && chosen.channel < reader.channels ? { concept: { layer: chosen.layer, channel: chosen.channel } } : {};
  // The definitions of the custom rules the link's rules use (its own and the comparison's) travel with it.
  const used = [...Object.values(rules.overrides), ...(evaluation.tab === 'compare' ? Object.values(b.overrides) : [])].map((o) => o.rule);
  const specs = customRuleSpecs(used);
  const ruleDefs = specs.length ? { ruleDefs: specs } : {};
  return {
    state: {
      version: linkVersion({ ...compare, ...concept, ...compareMethods, ...ruleDefs }),
      model: shareModel,
      image: shareImage,
      target: rules.target,
      contrast: rules.contrast,
      preset: rules.preset,
      presetParams: presetParams(rules.preset, model.card),
      overrides: shareOverrides(rules.overrides),
      mergeBatchNorm: s.model.mergeBatchNorm,
      view: { colormap: view.colormap, opacity: view.opacity, clip: view.clip, clipPercentile: view.clipPercentile, inspect: view.inspect },
      ...compare,
      ...compareMethods,
      ...concept,
      ...ruleDefs,
    },
  };
}

/** The fragment for a state, checked by decoding it again: what cannot be opened is never handed out. */
function encodeChecked(state: ShareState): { fragment: string } | { error: string } {
  try {
    const fragment = encodeShareState(state);
    decodeShareState(fragment);
    return { fragment };
  } catch (e) {
    return { error: e instanceof ShareLinkError ? e.message : `the state could not be encoded (${message(e)})` };
  }
}

/** The page's address with this fragment (and without ?model= and ?image=, which the fragment replaces). */
function addressWith(fragment: string): URL {
  const url = new URL(window.location.href);
  url.searchParams.delete('model');
  url.searchParams.delete('image');
  url.hash = fragment ? `#${fragment}` : '';
  return url;
}

// ---------------------------------------------------------------------------------------------------------------
// The address bar follows the state

let followTimer: ReturnType<typeof setTimeout> | null = null;
let followGeneration = 0;
/** While a link is being applied, the address keeps it. */
let restoring = false;
/** The fragment last written to (or opened from) the address bar. */
let lastFragment: string | null = null;

function writeAddress(fragment: string): void {
  lastFragment = fragment;
  const url = addressWith(fragment);
  if (url.href !== window.location.href) window.history.replaceState(window.history.state, '', url);
}

function scheduleFollow(): void {
  if (followTimer !== null) clearTimeout(followTimer);
  followTimer = setTimeout(() => {
    followTimer = null;
    void follow();
  }, FOLLOW_DEBOUNCE_MS);
}

async function follow(): Promise<void> {
  if (restoring) return;
  const generation = ++followGeneration;
  let built: Built;
  try {
    built = await currentShareState();
  } catch {
    return; // the worker failed (its message is shown where it matters); the address stays as it is
  }
  if (generation !== followGeneration || restoring || built === 'busy') return;
  if ('error' in built && !built.unshareable) return;
  const encoded = 'state' in built ? encodeChecked(built.state) : built;
  // A state no link can hold: the address drops its fragment rather than keep one that opens something else.
  writeAddress('fragment' in encoded ? encoded.fragment : '');
}

// ---------------------------------------------------------------------------------------------------------------
// Opening a link

/** A share link's state, its problem, or null when the fragment is not a share link at all. */
export function parseShareFragment(hash: string): { state: ShareState } | { error: string } | null {
  const fragment = hash.startsWith('#') ? hash.slice(1) : hash;
  if (!/^s\d/.test(fragment)) return null;
  try {
    return { state: decodeShareState(fragment) };
  } catch (e) {
    return { error: e instanceof ShareLinkError ? e.message : 'the link could not be read' };
  }
}

function linkFailed(why: string, fallback: string): void {
  const text = why.charAt(0).toUpperCase() + why.slice(1);
  useShareUi.setState({ linkError: `This share link cannot be opened: ${text}. ${fallback}`, linkNotes: [], pending: null, modelCheck: null });
}

/** Sorted-key JSON, to compare parameter sets. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The overrides of a link (A's, or the comparison's B) that fit the model; the others are left out and named in
 * `notes` (`whose` opens the note: "The link", "The link's comparison").
 */
function fittingOverrides(model: ModelInfo, preset: string, overrides: ShareState['overrides'], notes: string[], whose: string): Record<string, LayerOverride> {
  const rules = useStore.getState().rules;
  const asOverride = (o: ShareState['overrides'][string]): LayerOverride => ({ rule: o.rule, params: o.params as RuleParams });
  const fit = fitLinkOverrides(overrides, new Set(model.layers.map((l) => l.name)), (layer, o) =>
    validateAssignment(model, toAssignment({ ...rules, preset, overrides: Object.fromEntries([[layer, asOverride(o)]]) }, model)),
  );
  const missing = fit.missing.map(quote);
  const misfit = fit.misfit.map(({ layer, rule, problem }) => `${quote(rule)} for ${quote(layer)} (${problem.length > 120 ? `${problem.slice(0, 117)}…` : problem})`);
  if (missing.length) notes.push(`${whose} sets rules for layers this model does not have, which were left out: ${list(missing)}.`);
  if (misfit.length) notes.push(`Rules in ${whose.charAt(0).toLowerCase()}${whose.slice(1)} that do not fit this model were left out: ${list(misfit)}.`);
  return Object.fromEntries(fit.kept.map(([layer, o]) => [layer, asOverride(o)]));
}

/** Sets the link's compare view (B's rules and the pixel-flipping settings) and shows the Compare tab. */
function applyComparison(state: ShareState, model: ModelInfo, notes: string[]): void {
  const c = state.compare;
  if (!c) return;
  const overrides = fittingOverrides(model, c.preset, c.overrides, notes, "The link's comparison");
  const compareWith: ComparedRules = c.label === null
    ? { kind: 'preset', label: c.preset, preset: c.preset, overrides }
    : { kind: 'snapshot', label: c.label, preset: c.preset, overrides };
  const side = model.inputShape.length === 4 ? Math.max(model.inputShape[2]!, model.inputShape[3]!) : 0;
  let settings = c.settings;
  if (side && settings.patch > side) {
    notes.push(`The link's comparison uses ${settings.patch} x ${settings.patch} patches, larger than this model's ${side}-pixel input; 8 x 8 patches are used.`);
    settings = { ...settings, patch: Math.min(8, side) };
  }
  // Each side's method: a baseline the link names, else its LRP rules (an unknown method or a parameter out of
  // range is named, and that side uses its rules).
  const methodOf = (side: 'a' | 'b', current: CompareMethod): CompareMethod => {
    const m = state.compareMethods?.[side];
    if (m && m.method === null) {
      notes.push(`The link's method of ${side.toUpperCase()} ${m.refused}; it was left out, and ${side.toUpperCase()} uses ${side === 'a' ? "the link's" : "the comparison's"} LRP rules.`);
    }
    return compareMethodFrom(m && m.method !== null ? m : null, current);
  };
  update('evaluation', (e) => ({
    tab: 'compare' as const,
    compareWith,
    compareMethods: { a: methodOf('a', e.compareMethods.a), b: methodOf('b', e.compareMethods.b) },
    snapshot: compareWith.kind === 'snapshot' ? compareWith : e.snapshot,
    settings,
  }));
}

/**
 * Shows the link's concept: the Channels tab, on a layer that reads the concept layer's output, with the concept
 * chosen (its map is then computed with the others). A layer the model does not have, or a channel it does not
 * have, is left out and named; the Channels tab still opens.
 */
function applyConcept(state: ShareState, model: ModelInfo, notes: string[]): void {
  const c = state.concept;
  if (!c) {
    if (useStore.getState().evaluation.concept) update('evaluation', { concept: null });
    return;
  }
  const found = conceptReader(model, c.layer);
  if ('error' in found) {
    notes.push(
      found.error === 'no layer'
        ? `The link's concept is a channel of layer ${quote(c.layer)}, which this model does not have; it was left out.`
        : `The link's concept is a channel of layer ${quote(c.layer)}, whose output has no channels the Channels tab shows; it was left out.`,
    );
    update('evaluation', { tab: 'channels' as const, concept: null });
    return;
  }
  if (c.channel >= found.channels) {
    notes.push(`The link's concept, channel ${c.channel} of ${quote(c.layer)}, is not a channel of that layer (0 to ${found.channels - 1}); it was left out.`);
    update('evaluation', { tab: 'channels' as const, channelsLayer: found.reader, concept: null });
    return;
  }
  update('evaluation', { tab: 'channels' as const, channelsLayer: found.reader, concept: { layer: c.layer, channel: c.channel } });
}

/** Runs the link's comparison once its model and image are open (the view it reproduces shows one). */
function runLinkComparison(state: ShareState): void {
  const s = useStore.getState();
  if (state.compare && s.model.current && s.image.current && s.evaluation.tab === 'compare') void runComparison();
}

/**
 * Sets the link's rules, target and view on the open model. Call it right after the model opened (in the same
 * task), so that the first explanation already uses them. Layers and rules that do not fit are left out and named.
 */
function applyRulesAndView(state: ShareState, notes: string[]): void {
  const s = useStore.getState();
  const model = s.model.current;
  if (!model) return;
  const layers = new Map(model.layers.map((l) => [l.name, l]));
  // The link's custom rules first: its overrides (and its comparison's) may name them.
  const undefinedRules = defineLinkRules(state.ruleDefs);
  if (undefinedRules) notes.push(`The link's custom rules could not be defined (${undefinedRules}); the layers that use them were left out.`);
  const kept = fittingOverrides(model, state.preset, state.overrides, notes, 'The link');
  const mine = presetParams(state.preset, model.card);
  if (Object.keys(state.presetParams).length && canonical(state.presetParams) !== canonical(mine)) {
    notes.push(`The link's preset parameters (ZBox bounds) differ from those of this model's preprocessing, which are used.`);
  }
  const classOk = (c: number | null, what: string): number | null => {
    if (c === null || c < model.classes) return c;
    notes.push(`The link's ${what} (class ${c}) is not a class of this model (0 to ${model.classes - 1}); it was left out.`);
    return null;
  };
  const target = classOk(state.target, 'target');
  const contrast = classOk(state.contrast, 'contrast class');
  let inspect = state.view.inspect;
  if (inspect !== null && !layers.has(inspect)) {
    notes.push(`The link inspects layer ${quote(inspect)}, which this model does not have.`);
    inspect = null;
  }
  update('rules', { preset: state.preset, overrides: kept, target, contrast, transient: false });
  update('view', { ...state.view, inspect });
  applyComparison(state, model, notes);
  applyConcept(state, model, notes);
}

function sampleKnown(id: string): boolean {
  return !!useStore.getState().status.catalog?.samples.some((s) => s.file === id);
}

async function applyImage(state: ShareState, notes: string[]): Promise<void> {
  const image = state.image;
  if (image.kind === 'sample') {
    if (!sampleKnown(image.id)) {
      notes.push(`The link's sample photo ${quote(image.id)} is not one this LRP Lens has; the image was left as it is.`);
      return;
    }
    const s = useStore.getState().image;
    if (s.sample === image.id && s.current) return;
    await chooseSample(image.id);
    return;
  }
  await openImagePixels(image, `shared image (${image.width} x ${image.height})`);
}

/**
 * When the link's image replaces the current one, the page lets go of the current one first: no explanation
 * then runs on the old image with the new model or rules; the first one is the link's.
 */
function holdImage(state: ShareState): void {
  const s = useStore.getState().image;
  const next = state.image;
  const replaced = next.kind === 'pixels' || (next.id !== s.sample && sampleKnown(next.id));
  if (replaced && s.current) update('image', { current: null });
}

function checkImageSize(state: ShareState, model: ModelInfo, notes: string[]): void {
  if (state.image.kind !== 'pixels') return;
  const { width, height } = model.card.input;
  if (state.image.width !== width || state.image.height !== height) {
    notes.push(`The link's image is ${state.image.width} x ${state.image.height} pixels; this model takes ${width} x ${height}, so it was resized.`);
  }
}

/** The state a link is waiting to apply until the user opens its model's files. */
let pendingState: ShareState | null = null;
let defaults: StartOptions = { backend: 'auto', model: null, sample: null };

/** Opens the defaults (the page's ?model= and ?image=, else the catalog's) where nothing is open. */
async function openDefaults(): Promise<void> {
  const { status, model, image } = useStore.getState();
  const catalog = status.catalog;
  if (!catalog) return;
  const sample = defaults.sample ?? catalog.defaultSample;
  if (!image.current && !image.loading && sample) await chooseSample(sample);
  if (!model.current && !model.loading) await chooseBuiltin(defaults.model ?? catalog.defaultModel);
}

async function applyShareState(state: ShareState): Promise<void> {
  useShareUi.setState({ linkError: null, linkNotes: [], pending: null, modelCheck: null });
  pendingState = null;
  const { status } = useStore.getState();
  if (!status.backend) return; // the engine did not start: the status line says why
  const notes: string[] = [];

  if (state.model.kind === 'builtin') {
    const id = state.model.id;
    const builtins = status.catalog?.builtins ?? [];
    if (!builtins.some((m) => m.id === id)) {
      linkFailed(`its model ${quote(id)} is not one of this LRP Lens's built-in models (${builtins.map((m) => m.id).join(', ')})`, 'The app opened with its defaults instead.');
      await openDefaults();
      return;
    }
    holdImage(state);
    const m = useStore.getState().model;
    if (m.current?.id !== id || m.current.mergeBatchNorm !== state.mergeBatchNorm) {
      update('model', { mergeBatchNorm: state.mergeBatchNorm });
      if (!(await chooseBuiltin(id))) {
        linkFailed(`its model ${quote(id)} did not open (the model panel says why)`, 'Choose a model and an image to go on.');
        await openDefaults();
        return;
      }
    }
    applyRulesAndView(state, notes);
    checkImageSize(state, useStore.getState().model.current!, notes);
    await applyImage(state, notes);
    if (!useStore.getState().image.current) await openDefaults();
    useShareUi.setState({ linkNotes: notes });
    runLinkComparison(state);
    return;
  }

  // A user's own model: the files already open may be the ones; otherwise ask for them.
  const current = useStore.getState().model.current;
  const files = openedModelFiles();
  if (current && !current.builtin && files.length && current.modelFile === state.model.name) {
    const hash = await cachedHash(files, current.modelFile);
    if (hash === state.model.sha256 && current.mergeBatchNorm === state.mergeBatchNorm) {
      holdImage(state);
      applyRulesAndView(state, notes);
      checkImageSize(state, current, notes);
      await applyImage(state, notes);
      useShareUi.setState({ linkNotes: notes });
      runLinkComparison(state);
      return;
    }
  }
  pendingState = state;
  useShareUi.setState({ pending: { name: state.model.name, sha256: state.model.sha256 } });
  // The image is shown while the model's files are awaited.
  await applyImage(state, notes);
  useShareUi.setState({ linkNotes: notes });
}

let queue: Promise<void> = Promise.resolve();

/** Applies a link's state after whatever is being applied now; never rejects. */
function openShareState(state: ShareState): Promise<void> {
  queue = queue
    .then(async () => {
      restoring = true;
      try {
        await applyShareState(state);
      } finally {
        restoring = false;
        scheduleFollow();
      }
    })
    .catch((e: unknown) => linkFailed(`something went wrong while opening it (${message(e)})`, 'The app keeps its current state.'));
  return queue;
}

/**
 * The files of the user's model a link was made with, opened through its prompt: opens them, applies the link,
 * and compares their SHA-256 with the link's (a different file opens with a warning, never silently).
 */
export function openLinkModelFiles(files: readonly File[]): Promise<void> {
  const state = pendingState;
  if (!state || state.model.kind !== 'user' || !files.length) return Promise.resolve();
  const expected = state.model;
  queue = queue
    .then(async () => {
      restoring = true;
      try {
        update('model', { mergeBatchNorm: state.mergeBatchNorm });
        if (!(await openModelFiles(files))) return; // the model panel says why; the prompt stays
        const notes: string[] = [];
        applyRulesAndView(state, notes);
        const model = useStore.getState().model.current!;
        checkImageSize(state, model, notes);
        pendingState = null;
        useShareUi.setState({ pending: null, linkNotes: notes });
        const actual = await cachedHash(openedModelFiles(), model.modelFile);
        useShareUi.setState({
          modelCheck: { ok: actual === expected.sha256, expectedName: expected.name, expectedSha256: expected.sha256, actualName: model.modelFile, actualSha256: actual },
        });
        runLinkComparison(state);
      } finally {
        restoring = false;
        scheduleFollow();
      }
    })
    .catch((e: unknown) => linkFailed(`its model could not be checked (${message(e)})`, 'The model you opened is shown.'));
  return queue;
}

export function dismissPendingModel(): void {
  pendingState = null;
  useShareUi.setState({ pending: null });
  void queue.then(openDefaults);
}

function onHashChange(event: HashChangeEvent): void {
  // The event's address, not window.location: a follow() that wrote the address (replaceState) between the paste and
  // this event would otherwise hide the pasted link, which then went unopened.
  const fragment = new URL(event.newURL).hash.slice(1);
  if (fragment === lastFragment) return;
  const parsed = parseShareFragment(fragment);
  if (!parsed) return;
  lastFragment = fragment;
  followGeneration++; // a follow() still waiting for the worker must not write the state before the link over it
  if ('error' in parsed) {
    linkFailed(parsed.error, 'The app keeps its current state.');
    return;
  }
  void openShareState(parsed.state);
}

// ---------------------------------------------------------------------------------------------------------------
// Start

/**
 * Starts the app: with a share link in the address, its state (the engine starts with nothing open, then the
 * link's model and image open); otherwise, or when the link cannot be read, the defaults. Then the address bar
 * follows the state, and links pasted into it (hashchange) are opened.
 */
export async function startWithShareLinks(options: StartOptions): Promise<void> {
  defaults = options;
  const parsed = parseShareFragment(window.location.hash);
  window.addEventListener('hashchange', onHashChange);
  useStore.subscribe((s, prev) => {
    const e = s.evaluation;
    const p = prev.evaluation;
    const compareChanged =
      e.tab !== p.tab || e.compareWith !== p.compareWith || e.compareMethods !== p.compareMethods || e.settings !== p.settings || e.concept !== p.concept;
    if (s.model !== prev.model || s.image !== prev.image || s.rules !== prev.rules || s.view !== prev.view || compareChanged) scheduleFollow();
  });
  if (parsed && 'state' in parsed) {
    lastFragment = window.location.hash.slice(1);
    restoring = true;
    try {
      await start({ ...options, model: '', sample: '' });
    } finally {
      restoring = false;
    }
    await openShareState(parsed.state);
    return;
  }
  if (parsed) linkFailed(parsed.error, 'The app opened with its defaults instead.');
  await start(options);
}

// ---------------------------------------------------------------------------------------------------------------
// Copy share link

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The link for the current state, written to the clipboard (or shown for copying when the browser refuses). */
export async function copyShareLink(): Promise<void> {
  useShareUi.setState({ copy: { state: 'working' } });
  try {
    let built: Built = 'busy';
    for (let i = 0; i < 600 && built === 'busy'; i++) {
      built = await currentShareState();
      if (built === 'busy') await sleep(100);
    }
    if (built === 'busy') built = { error: 'the model or image is still loading', unshareable: false };
    const encoded = 'state' in built ? encodeChecked(built.state) : built;
    if ('error' in encoded) {
      useShareUi.setState({ copy: { state: 'error', message: `No link can hold this state: ${encoded.error}.` } });
      return;
    }
    writeAddress(encoded.fragment);
    const link = addressWith(encoded.fragment).href;
    try {
      if (!navigator.clipboard?.writeText) throw new Error('no clipboard');
      await navigator.clipboard.writeText(link);
      useShareUi.setState({ copy: { state: 'copied', link } });
    } catch {
      useShareUi.setState({ copy: { state: 'manual', link } });
    }
  } catch (e) {
    useShareUi.setState({ copy: { state: 'error', message: `The link could not be made: ${message(e)}.` } });
  }
}

/** "12,345 characters (12.3 kB)" */
export function linkSize(link: string): string {
  return `${link.length.toLocaleString('en')} characters (${(link.length / 1000).toFixed(1)} kB)`;
}
