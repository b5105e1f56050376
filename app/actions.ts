/**
 * What the user does, as functions: each updates the store and, where the worker must know, calls the engine
 * client. Components call these; they never talk to the client themselves.
 */
import { encodeNpy } from '../src/engine/io/npy';
import type { ModelCard } from '../src/models/model-card';
import { ambiguousMessage, chooseModelFiles, skippedMessage } from '../src/models/model-files';
import type { ParamValue } from '../src/rules/rules';
import { findRule } from '../src/rules/rules';
import { EngineClient, type BackendPreference, type OpenResult, type Progress } from './engine-client';
import { effectiveRules, initialParams, withParam } from './rules-state';
import { initialState, update, useStore } from './store';
import type { ColormapId } from '../src/models/colormap';
import type { ImageSource } from './protocol';

let client: EngineClient | null = null;

export function engineClient(): EngineClient {
  client ??= new EngineClient();
  return client;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

const PROGRESS_LABEL: Record<Progress['phase'], string> = {
  download: 'Downloading',
  read: 'Reading',
  import: 'Importing',
  prepare: 'Compiling',
  evaluate: 'Evaluating',
  randomize: 'Randomising',
};

export function progressText(label: string, p: Progress | null): string {
  if (!p) return `Opening ${label}…`;
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  const amount = p.total > 0 ? ` ${mb(p.loaded)} of ${mb(p.total)}` : p.loaded > 0 ? ` ${mb(p.loaded)}` : '';
  return `${PROGRESS_LABEL[p.phase]} ${label}…${amount}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Start

export interface StartOptions {
  readonly backend: BackendPreference;
  /** A built-in model's id; null: the default; '': none (a share link opens its own). */
  readonly model: string | null;
  /** A sample photo's file name; null: the default; '': none. */
  readonly sample: string | null;
}

/** Reads ?model=, ?backend= and ?image= (a sample photo's file name; "none" for no image). */
export function startOptionsFromUrl(search: string): StartOptions {
  const q = new URLSearchParams(search);
  const backend = q.get('backend');
  const image = q.get('image');
  return {
    backend: backend === 'cpu' || backend === 'cpu-fast' || backend === 'webgpu' ? backend : 'auto',
    model: q.get('model') || null,
    sample: image === 'none' ? '' : image || null,
  };
}

export async function start(options: StartOptions): Promise<void> {
  const c = engineClient();
  c.onNotice((notice) => update('status', { notice }));
  update('status', { preference: options.backend, starting: true, error: null });
  let defaults = { model: '', sample: '' };
  try {
    const catalog = await c.catalog();
    if (catalog) {
      update('status', { catalog });
      defaults = { model: catalog.defaultModel, sample: catalog.defaultSample };
    }
    const backend = await c.init(options.backend);
    update('status', { backend, starting: false });
  } catch (e) {
    update('status', { starting: false, error: `The engine did not start: ${message(e)}` });
    return;
  }
  const modelId = options.model ?? defaults.model;
  const model = modelId ? chooseBuiltin(modelId) : Promise.resolve(false);
  const sample = options.sample ?? defaults.sample;
  if (sample) await chooseSample(sample);
  await model;
}

export async function setBackend(preference: BackendPreference): Promise<void> {
  update('status', { preference, starting: true, error: null });
  try {
    const backend = await engineClient().init(preference);
    update('status', { backend, starting: false });
    update('model', (m) => ({ version: m.version + 1 }));
  } catch (e) {
    update('status', { starting: false, error: `That backend did not start: ${message(e)}` });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Models

function applyOpened(r: OpenResult, keepRules: boolean): void {
  const { model } = useStore.getState();
  update('model', { current: r.model, version: model.version + 1, loading: null, error: null, mergeBatchNorm: r.model.mergeBatchNorm, filesNote: r.model.builtin ? null : model.filesNote });
  if (r.view) update('image', { view: r.view });
  if (!keepRules) update('rules', { ...initialState.rules, preset: useStore.getState().rules.preset });
  update('result', { current: null, error: null });
  update('view', { inspect: null });
}

async function openWith(label: string, open: (progress: (p: Progress) => void) => Promise<OpenResult | null>, keepRules = false): Promise<boolean> {
  update('model', { loading: { label, progress: null }, error: null });
  try {
    const r = await open((progress) => update('model', { loading: { label, progress } }));
    if (r) applyOpened(r, keepRules);
    return !!r;
  } catch (e) {
    // The previous model stays open in the worker: only the message changes.
    update('model', { loading: null, error: `${label} could not be opened: ${message(e)}` });
    return false;
  }
}

export function chooseBuiltin(id: string): Promise<boolean> {
  const merge = useStore.getState().model.mergeBatchNorm;
  return openWith(id, (p) => engineClient().openBuiltin(id, merge, p));
}

/** The files the open user's model came from (a share link carries their SHA-256); empty for a built-in one. */
let userModelFiles: readonly File[] = [];
export const openedModelFiles = (): readonly File[] => (useStore.getState().model.current?.builtin === false ? userModelFiles : []);

/** What a loading message calls a set of files: their names, or the model's and how many more. */
function filesLabel(model: string | null, names: readonly string[]): string {
  if (names.length <= 3) return names.join(', ');
  const first = model ?? names[0]!;
  return `${first} and ${names.length - 1} other files`;
}

/**
 * Opens a model from the files the user chose or dropped (a whole model folder is fine): which are used follows
 * src/models/model-files.ts (X.onnx over its variants X.<variant>.onnx; a LICENSE or README is not used; several
 * unrelated models are refused with a message naming them). The model's notes then name the files used and not used.
 */
export async function openModelFiles(files: readonly File[]): Promise<boolean> {
  if (!files.length) return false;
  const choice = chooseModelFiles(files.map((f) => f.name));
  if (choice.ambiguous) {
    update('model', { loading: null, error: `These files could not be opened: ${ambiguousMessage(choice.ambiguous)}.` });
    return false;
  }
  const send = files.filter((f) => choice.send.includes(f.name));
  if (!send.length) {
    update('model', { loading: null, error: `${files.map((f) => f.name).join(', ')}: no model among them; open an .onnx file (with its .onnx.data), or a TF.js model.json with its weight files` });
    return false;
  }
  const merge = useStore.getState().model.mergeBatchNorm;
  const label = filesLabel(choice.model, send.map((f) => f.name));
  const opened = await openWith(label, (p) => engineClient().openFiles(send, merge, p));
  if (opened) {
    userModelFiles = send;
    update('model', { filesNote: skippedMessage(choice.skipped) });
  }
  return opened;
}

export async function setMergeBatchNorm(merge: boolean): Promise<boolean> {
  update('model', { mergeBatchNorm: merge });
  const current = useStore.getState().model.current;
  if (!current) return false;
  const opened = await openWith(current.card.name, (p) => engineClient().reopen(merge, p));
  // Preprocessing the user set is no longer a guess, also after the model is opened again.
  if (opened && current.card.assumed && !current.card.assumed.preprocessing) {
    update('model', (m) => ({ current: m.current && { ...m.current, card: { ...m.current.card, assumed: current.card.assumed } } }));
  }
  return opened;
}

export async function setPreprocessing(preprocessing: ModelCard['preprocessing']): Promise<void> {
  const current = useStore.getState().model.current;
  if (!current) return;
  // Set by the user: no longer a guess (card.assumed).
  update('model', (m) => ({
    current: m.current && {
      ...m.current,
      card: { ...m.current.card, preprocessing, ...(m.current.card.assumed ? { assumed: { ...m.current.card.assumed, preprocessing: false } } : {}) },
    },
  }));
  try {
    const r = await engineClient().setPreprocessing(preprocessing);
    if (!r) return;
    update('model', (m) => ({ version: m.version + 1, error: null }));
    update('image', { view: r.view });
  } catch (e) {
    update('model', { error: `The preprocessing could not be applied: ${message(e)}` });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Images

async function setImage(source: ImageSource, sample: string | null = null): Promise<void> {
  update('image', { loading: source.name, error: null });
  try {
    const r = await engineClient().setImage(source);
    if (!r) return;
    update('image', (s) => ({ current: r.image, view: r.view, sample, version: s.version + 1, loading: null, error: null }));
    update('result', { current: null, error: null });
  } catch (e) {
    update('image', { loading: null, error: `${source.name} could not be used: ${message(e)}` });
  }
}

export function chooseSample(file: string): Promise<void> {
  return setImage({ kind: 'url', url: `/samples/${encodeURIComponent(file)}`, name: file }, file);
}

/** RGB pixels at the model's input resolution (a share link's image). */
export function openImagePixels(pixels: { width: number; height: number; rgb: Uint8Array }, name: string): Promise<void> {
  return setImage({ kind: 'pixels', ...pixels, name });
}

export function openImageFile(file: Blob, name: string): Promise<void> {
  return setImage({ kind: 'blob', blob: file, name });
}

// ---------------------------------------------------------------------------------------------------------------
// Rules and targets

export function setPreset(preset: string): void {
  update('rules', { preset, overrides: {}, transient: false });
}

export function setLayerRule(layer: string, ruleId: string): void {
  const model = useStore.getState().model.current;
  const rule = findRule(ruleId);
  if (!model || !rule) return;
  update('rules', (r) => ({ overrides: { ...r.overrides, [layer]: { rule: rule.id, params: initialParams(rule, model.card) } }, transient: false }));
}

export interface GroupRuleOutcome {
  /** Layers set to the rule. */
  readonly set: readonly string[];
  /** Layers the rule does not apply to, left as they were. */
  readonly skipped: readonly { readonly layer: string; readonly type: string }[];
}

/** Sets a rule on every layer of a group that it applies to (one store update); says which it set and skipped. */
export function setGroupRule(layers: readonly string[], ruleId: string): GroupRuleOutcome {
  const model = useStore.getState().model.current;
  const rule = findRule(ruleId);
  if (!model || !rule) return { set: [], skipped: [] };
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const set: string[] = [];
  const skipped: { layer: string; type: string }[] = [];
  for (const name of layers) {
    const layer = byName.get(name);
    if (!layer) continue;
    if (rule.appliesTo.includes(layer.cls)) set.push(name);
    else skipped.push({ layer: name, type: layer.op });
  }
  if (set.length) {
    const params = initialParams(rule, model.card);
    update('rules', (r) => ({
      overrides: { ...r.overrides, ...Object.fromEntries(set.map((name) => [name, { rule: rule.id, params }])) },
      transient: false,
    }));
  }
  return { set, skipped };
}

/** Sets one parameter of a layer's rule. `transient`: a slider still moving (slow models wait for the release). */
export function setLayerParam(layer: string, name: string, value: ParamValue, transient = false): void {
  const state = useStore.getState();
  const model = state.model.current;
  if (!model) return;
  const effective = effectiveRules(model, state.rules).get(layer);
  if (!effective) return;
  const current = state.rules.overrides[layer] ?? { rule: effective.rule.id, params: effective.params };
  update('rules', (r) => ({ overrides: { ...r.overrides, [layer]: withParam(current, name, value) }, transient }));
}

/** A slider was released: slow models compute now. */
export function commitParams(): void {
  if (useStore.getState().rules.transient) update('rules', { transient: false });
}

export function resetLayer(layer: string): void {
  update('rules', (r) => {
    const overrides = { ...r.overrides };
    delete overrides[layer];
    return { overrides, transient: false };
  });
}

export function setTarget(target: number | null): void {
  update('rules', (r) => ({ target, contrast: r.contrast === target ? null : r.contrast }));
}

export function setContrast(contrast: number | null): void {
  update('rules', { contrast });
}

// ---------------------------------------------------------------------------------------------------------------
// View

export function setColormap(colormap: ColormapId): void {
  update('view', { colormap });
}
export function setOpacity(opacity: number): void {
  update('view', { opacity });
}
export function setClip(clip: boolean, clipPercentile?: number): void {
  update('view', (v) => ({ clip, clipPercentile: clipPercentile ?? v.clipPercentile }));
}
export function inspectLayer(layer: string | null): void {
  update('view', { inspect: layer });
}

// ---------------------------------------------------------------------------------------------------------------
// Downloads

function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function baseName(): string {
  const { model, image, result } = useStore.getState();
  const m = model.current?.card.id ?? 'model';
  const i = (image.current?.name ?? 'image').replace(/\.[^.]*$/, '');
  return `${m}-${i}-class${result.current?.target ?? ''}`.replace(/[^\w.-]+/g, '_');
}

export function downloadHeatmap(canvas: HTMLCanvasElement): void {
  canvas.toBlob((blob) => blob && save(blob, `${baseName()}-relevance.png`), 'image/png');
}

export function downloadRelevance(): void {
  const r = useStore.getState().result.current;
  if (!r) return;
  const bytes = encodeNpy(r.relevance, r.inputShape);
  save(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }), `${baseName()}-relevance.npy`);
}
