/**
 * The golden manifests (../shared/goldens/cases.json and friends; format in ../shared/goldens/README.md) and how
 * each case maps onto this engine: which model file to load, whether BatchNorm is folded, and the RuleAssignment
 * that reproduces the reference library's rules. Pure functions apart from loadManifest; no engine, no GPU.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { LayerRuleEntry, RuleAssignment } from '../rules/assignment';
import type { ParamValue, RuleParams } from '../rules/rules';

export interface GoldenModelFile {
  readonly file: string;
  /** External weights (the new exporter's side file), relative to the manifest folder. */
  readonly data?: string;
  readonly ops?: readonly string[];
}

export interface GoldenLayerInfo {
  readonly name: string;
  /** PyTorch module class: Linear, Conv2d, ReLU, MaxPool2d, BatchNorm2d, ... */
  readonly type: string;
  readonly [key: string]: unknown;
}

export interface GoldenModel {
  readonly input_shape?: readonly number[];
  readonly layers?: readonly GoldenLayerInfo[];
  readonly onnx?: GoldenModelFile;
  readonly onnx_legacy?: GoldenModelFile;
  readonly onnx_bn?: GoldenModelFile;
  readonly tfjs?: { readonly file: string };
  readonly input?: string;
  readonly logits?: string;
  readonly weights?: string;
  readonly [key: string]: unknown;
}

export interface GoldenRuleEntry {
  readonly layer: string;
  readonly rule: string;
  readonly [param: string]: unknown;
}

export type Bounds = number | readonly number[];

export interface GoldenCase {
  readonly id: string;
  readonly model: string;
  readonly reference: string;
  readonly target: number;
  /** Captum cases: one entry per Linear/Conv2d layer in execution order, then BatchNorm entries. */
  readonly rules?: readonly GoldenRuleEntry[];
  /** Zennit cases: a composite name or a single-rule name (Epsilon-1e-6, ZBox-first, ...). */
  readonly composite?: string;
  readonly batchnorm?: string | null;
  readonly zbox?: { readonly low: Bounds; readonly high: Bounds };
  readonly relevance: string;
  readonly layer_relevance?: string;
  readonly f32_rel_err?: number;
  /** tfjs cases carry their own input; the others use the model's. */
  readonly input?: string;
  readonly description?: string;
  readonly [key: string]: unknown;
}

export interface GoldenManifest {
  /** Absolute path of the manifest file. */
  readonly path: string;
  /** Absolute path of its folder; every file name in the manifest is relative to it. */
  readonly dir: string;
  readonly models: Readonly<Record<string, GoldenModel>>;
  readonly cases: readonly GoldenCase[];
}

export type BatchNormMode = 'layer' | 'merge';

export interface CasePlan {
  /** 'tfjs' for a TF.js layers model.json (its weight shards sit beside it); absent (or 'onnx') for ONNX. */
  readonly format?: 'onnx' | 'tfjs';
  /** Model file to load (.onnx or model.json), relative to the manifest folder. */
  readonly modelFile: string;
  /** Its external-data side file, relative to the manifest folder, when it has one. */
  readonly sideFile?: string;
  /** 'merge': fold BatchNorm into the preceding Linear/Conv before explaining. */
  readonly batchnorm: BatchNormMode;
  readonly assignment: RuleAssignment;
}

/** The layers of a loaded graph, as far as the mapping needs them (a Graph fits). */
export interface GraphInfo {
  readonly nodes: readonly { readonly name: string; readonly op: string }[];
}

export class GoldenCaseError extends Error {
  override name = 'GoldenCaseError';
}

const fail = (c: { id?: unknown } | undefined, msg: string): never => {
  throw new GoldenCaseError(c && typeof c.id === 'string' ? `${c.id}: ${msg}` : msg);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------------------------
// Manifest

/** Reads and validates a manifest. File names inside stay relative; `dir` is the folder they are relative to. */
export function loadManifest(path: string): GoldenManifest {
  const abs = resolve(path);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    throw new GoldenCaseError(`cannot read manifest ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new GoldenCaseError(`manifest ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return validateManifest(json, abs);
}

/** Checks the parts of a parsed manifest the runner relies on. */
export function validateManifest(json: unknown, path: string): GoldenManifest {
  const where = `manifest ${path}`;
  if (!isObject(json)) throw new GoldenCaseError(`${where}: expected a JSON object`);
  const { models, cases } = json;
  if (!isObject(models)) throw new GoldenCaseError(`${where}: "models" must be an object`);
  if (!Array.isArray(cases)) throw new GoldenCaseError(`${where}: "cases" must be a list`);
  const ids = new Set<string>();
  cases.forEach((c, i) => {
    if (!isObject(c)) throw new GoldenCaseError(`${where}: case ${i} is not an object`);
    if (typeof c.id !== 'string' || !c.id) throw new GoldenCaseError(`${where}: case ${i} has no "id"`);
    if (ids.has(c.id)) throw new GoldenCaseError(`${where}: duplicate case id "${c.id}"`);
    ids.add(c.id);
    if (typeof c.model !== 'string' || !isObject(models[c.model])) {
      throw new GoldenCaseError(`${where}: case "${c.id}" names model ${JSON.stringify(c.model)}, which the manifest does not define`);
    }
    if (typeof c.reference !== 'string') throw new GoldenCaseError(`${where}: case "${c.id}" has no "reference"`);
    if (typeof c.target !== 'number' || !Number.isInteger(c.target) || c.target < 0) {
      throw new GoldenCaseError(`${where}: case "${c.id}" has no valid "target"`);
    }
    if (typeof c.relevance !== 'string') throw new GoldenCaseError(`${where}: case "${c.id}" has no "relevance" file`);
  });
  return { path, dir: dirname(path), models: models as Record<string, GoldenModel>, cases: cases as GoldenCase[] };
}

export interface CaseSelection {
  readonly reference?: string;
  /** Substring of the case id. */
  readonly filter?: string;
}

export function selectCases(manifest: GoldenManifest, sel: CaseSelection = {}): GoldenCase[] {
  return manifest.cases.filter(
    (c) => (sel.reference === undefined || c.reference === sel.reference) && (sel.filter === undefined || c.id.includes(sel.filter)),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Pass criterion (README: relL2 over the whole input relevance; tolerance max(1e-4, 4 f32_rel_err), else 1e-3)

export function caseTolerance(c: Pick<GoldenCase, 'f32_rel_err'>): number {
  const e = c.f32_rel_err;
  return typeof e === 'number' && Number.isFinite(e) ? Math.max(1e-4, 4 * e) : 1e-3;
}

/** ||a - ref|| / ||ref|| in float64. 0 when both are zero, Infinity when only ref is; NaN anywhere gives NaN. */
export function relL2(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (a.length !== ref.length) throw new GoldenCaseError(`size mismatch: ${a.length} values against the reference's ${ref.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i]!;
    const d = a[i]! - r;
    diff += d * d;
    norm += r * r;
  }
  if (Number.isNaN(diff) || Number.isNaN(norm)) return NaN;
  if (norm === 0) return diff === 0 ? 0 : Infinity;
  return Math.sqrt(diff) / Math.sqrt(norm);
}

/** "1.23e-07": toExponential with a two-digit exponent, so the columns line up. */
export function formatSci(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const [mant, exp] = x.toExponential(2).split('e');
  const e = Number(exp);
  return `${mant}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Layer names

/**
 * Finds the graph layer a PyTorch module name refers to: the same name, or an ONNX scoped node name such as
 * "/bn1/BatchNormalization" or "/layer1/layer1.0/conv1/Conv". Returns undefined when none or several match.
 */
export function matchLayerName(names: readonly string[], torchName: string): string | undefined {
  if (names.includes(torchName)) return torchName;
  const hits = names.filter((name) => {
    const segs = name.replace(/^\//, '').split('/');
    if (segs.length > 1) segs.pop(); // the op type
    const last = segs[segs.length - 1];
    const prev = segs[segs.length - 2];
    return last === torchName || (prev !== undefined && `${prev}.${last}` === torchName) || segs.join('.') === torchName;
  });
  return hits.length === 1 ? hits[0] : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Case -> plan

const WEIGHTED_TYPES = new Set(['Linear', 'Conv2d']);
const isWeightedType = (type: string): boolean => WEIGHTED_TYPES.has(type);
const isBatchNormType = (type: string): boolean => /^BatchNorm/.test(type);
const isWeightedOp = (op: string): boolean => op === 'linear' || op === 'conv2d';

/** Models only available as TF.js (the tfjs manifest). */
// ---------------------------------------------------------------------------------------------------------------
// Per-layer relevance

/** One reference layer against the explanation's relevance at that layer's input. */
export interface LayerCheck {
  /** The reference's key (PyTorch module name). */
  readonly reference: string;
  /** The explanation's layer it maps to (undefined: none, or several). */
  readonly layer?: string;
  /** relL2 of the engine's relevance against the reference (NaN: sizes differ or no value). */
  readonly err: number;
  /** Compared (a pass criterion): false for a reference no layer maps to, or one that cannot be compared. */
  readonly compared: boolean;
  readonly note?: string;
}

/**
 * Compares the relevance at each layer's input with the reference's, for every reference layer that maps to a layer
 * of the explanation (matchLayerName). Where a layer's input also feeds other layers, the engine's relevance is the
 * whole tensor's (the sum over its consumers), while a reference may hold the whole tensor's (Zennit's hooks on the
 * tensor, the torchvision goldens) or only this layer's share (tests/fixtures/rule-checks: "the relevance each layer
 * hands to its input"). Such a layer is compared with its reference as it is, or else with the sum of the
 * references of every consumer of that input when each has one. When some consumer has no reference and the
 * reference is far from the whole tensor's relevance (relL2 above SHARE_THRESHOLD: a share, not the same quantity
 * off by rounding or a small error), the layer cannot be compared (compared: false, with a note); closer than that,
 * it is compared (and fails above the tolerance).
 */
export const SHARE_THRESHOLD = 0.25;

export function compareLayers(
  layers: readonly { readonly layer: string; readonly data: ArrayLike<number> }[],
  references: ReadonlyMap<string, Float64Array>,
  graph: { readonly nodes: readonly { readonly name: string; readonly inputs: readonly string[] }[] },
  tol: number,
): LayerCheck[] {
  const names = layers.map((l) => l.layer);
  const refOf = new Map<string, { key: string; data: Float64Array }>();
  const out: LayerCheck[] = [];
  for (const [key, data] of references) {
    const layer = matchLayerName(names, key);
    if (layer === undefined || refOf.has(layer)) {
      out.push({ reference: key, err: NaN, compared: false, note: layer === undefined ? 'no layer of the model matches this name' : `${layer} already matches another reference` });
    } else refOf.set(layer, { key, data });
  }
  const consumers = new Map<string, string[]>();
  for (const n of graph.nodes) for (const t of new Set(n.inputs)) consumers.set(t, [...(consumers.get(t) ?? []), n.name]);
  const nodeOf = new Map(graph.nodes.map((n) => [n.name, n]));
  const sizeNote = (n: number, m: number): string => `${n} values, the reference ${m}`;
  for (const l of layers) {
    const ref = refOf.get(l.layer);
    if (!ref) continue;
    const base = { reference: ref.key, layer: l.layer };
    if (l.data.length !== ref.data.length) {
      out.push({ ...base, err: NaN, compared: true, note: sizeNote(l.data.length, ref.data.length) });
      continue;
    }
    const err = relL2(l.data, ref.data);
    const input = nodeOf.get(l.layer)?.inputs[0];
    const others = (input !== undefined ? (consumers.get(input) ?? []) : []).filter((n) => n !== l.layer);
    if (others.length === 0 || err <= tol) {
      out.push({ ...base, err, compared: true, ...(others.length ? { note: `input shared with ${others.join(', ')}: the reference is the whole tensor's` } : {}) });
      continue;
    }
    const siblings = others.map((n) => refOf.get(n));
    if (siblings.every((r) => r !== undefined && r.data.length === ref.data.length)) {
      const sum = Float64Array.from(ref.data);
      for (const r of siblings) for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + r!.data[i]!;
      const errSum = relL2(l.data, sum);
      out.push({ ...base, err: Math.min(err, errSum), compared: true, note: `input shared with ${others.join(', ')}: compared with the sum of their references (relL2 ${formatSci(errSum)}; to its own ${formatSci(err)})` });
      continue;
    }
    const missing = others.filter((n) => !refOf.has(n));
    if (err <= SHARE_THRESHOLD) {
      out.push({ ...base, err, compared: true, note: `input shared with ${others.join(', ')}: compared as the whole tensor's relevance` });
      continue;
    }
    out.push({
      ...base,
      err,
      compared: false,
      note: `not compared: its input also feeds ${missing.join(', ')}, which has no reference, and the reference is not the whole tensor's relevance (relL2 ${formatSci(err)} > ${SHARE_THRESHOLD}): this layer's share, which the explanation does not hold`,
    });
  }
  return out;
}

export function isTfjsModel(model: GoldenModel): boolean {
  return model.tfjs !== undefined && !model.onnx && !model.onnx_legacy && !model.onnx_bn;
}

/** The input file of a case, relative to the manifest folder. */
export function caseInputFile(c: GoldenCase, model: GoldenModel): string {
  const input = c.input ?? model.input;
  if (typeof input !== 'string') return fail(c, `no input file (neither the case nor model "${c.model}" names one)`);
  return input;
}

function batchnormMode(c: GoldenCase): BatchNormMode {
  if (c.batchnorm === 'layer' || c.batchnorm === 'merge') return c.batchnorm;
  if (c.batchnorm === undefined || c.batchnorm === null) return c.reference === 'captum' ? 'layer' : 'merge';
  return fail(c, `unknown batchnorm mode ${JSON.stringify(c.batchnorm)} (expected "layer" or "merge")`);
}

function chooseModelFile(c: GoldenCase, model: GoldenModel, bn: BatchNormMode): GoldenModelFile {
  const hasBatchNorm = model.layers?.some((l) => isBatchNormType(l.type)) ?? false;
  let file: GoldenModelFile | undefined;
  if (bn === 'layer') {
    file = model.onnx_bn;
    // Both exporters fold BatchNorm; they are fine only when there is none to keep.
    if (!file && hasBatchNorm) return fail(c, `batchnorm "layer" needs BatchNorm as its own node, but model "${c.model}" has no onnx_bn file`);
    file ??= model.onnx_legacy ?? model.onnx;
  } else {
    file = model.onnx_legacy ?? model.onnx ?? model.onnx_bn;
  }
  if (!file || typeof file.file !== 'string') return fail(c, `model "${c.model}" has no ONNX file`);
  return file;
}

/** Names of the model's Linear/Conv2d layers in execution order, from the manifest or else from the graph. */
function weightedLayerNames(c: GoldenCase, model: GoldenModel, graph: GraphInfo | undefined): readonly string[] | undefined {
  if (model.layers) return model.layers.filter((l) => isWeightedType(l.type)).map((l) => l.name);
  if (graph) return graph.nodes.filter((n) => isWeightedOp(n.op)).map((n) => n.name);
  return undefined;
}

const finiteNumber = (c: GoldenCase, v: unknown, what: string): number =>
  typeof v === 'number' && Number.isFinite(v) ? v : fail(c, `${what} must be a number (got ${JSON.stringify(v)})`);

const bounds = (c: GoldenCase, v: unknown, what: string): Bounds => {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return v as number[];
  return fail(c, `${what} must be a number or a list of numbers (got ${JSON.stringify(v)})`);
};

function zboxParams(c: GoldenCase): { low: Bounds; high: Bounds } {
  if (!isObject(c.zbox)) return fail(c, 'ZBox needs the case\'s "zbox" bounds, which it does not give');
  return { low: bounds(c, c.zbox.low, 'zbox.low'), high: bounds(c, c.zbox.high, 'zbox.high') };
}

// ---- Captum

/** Captum rule name + manifest parameters -> our rule id + parameters. */
function captumRule(c: GoldenCase, entry: GoldenRuleEntry): { rule: string; params: Record<string, ParamValue> } {
  const { layer: _layer, rule, ...raw } = entry;
  const allowed: Record<string, readonly string[]> = {
    epsilon: ['epsilon'],
    gamma: ['gamma', 'zero_bias'],
    alpha1beta0: ['zero_bias'],
    identity: [],
  };
  const keys = allowed[rule];
  if (!keys) return fail(c, `unknown Captum rule "${rule}" on layer "${entry.layer}" (known: ${Object.keys(allowed).join(', ')})`);
  for (const k of Object.keys(raw)) {
    if (!keys.includes(k)) fail(c, `Captum rule "${rule}" on layer "${entry.layer}": unknown parameter "${k}"`);
  }
  const params: Record<string, ParamValue> = {};
  if (raw.epsilon !== undefined) params.epsilon = finiteNumber(c, raw.epsilon, `epsilon of layer "${entry.layer}"`);
  if (raw.gamma !== undefined) params.gamma = finiteNumber(c, raw.gamma, `gamma of layer "${entry.layer}"`);
  if (raw.zero_bias !== undefined) {
    if (typeof raw.zero_bias !== 'boolean') fail(c, `zero_bias of layer "${entry.layer}" must be true or false`);
    params.zeroBias = raw.zero_bias as boolean;
  }
  return { rule: `captum.${rule}`, params };
}

function captumAssignment(c: GoldenCase, model: GoldenModel, graph: GraphInfo | undefined): RuleAssignment {
  if (!Array.isArray(c.rules)) return fail(c, 'a Captum case needs a "rules" list');
  const weighted = weightedLayerNames(c, model, graph);
  const layers: LayerRuleEntry[] = [];
  let nextWeighted = 0;
  for (const entry of c.rules) {
    if (!isObject(entry) || typeof entry.layer !== 'string' || typeof entry.rule !== 'string') {
      return fail(c, 'each Captum rule entry needs a "layer" and a "rule"');
    }
    const { rule, params } = captumRule(c, entry as GoldenRuleEntry);
    const info = model.layers?.find((l) => l.name === entry.layer);
    let kind: 'weighted' | 'other';
    if (info) {
      kind = isWeightedType(info.type) ? 'weighted' : 'other';
    } else if (model.layers) {
      return fail(c, `Captum rule entry names layer "${entry.layer}", which model "${c.model}" does not have`);
    } else {
      // No layer list (TF.js manifests): ask the graph, else take it for a Linear/Conv2d entry.
      const graphName = graph && matchLayerName(graph.nodes.map((n) => n.name), entry.layer);
      const node = graphName === undefined ? undefined : graph?.nodes.find((n) => n.name === graphName);
      kind = !node || isWeightedOp(node.op) ? 'weighted' : 'other';
    }
    let selector: string;
    if (kind === 'weighted') {
      // The i-th Linear/Conv2d module is the i-th Gemm/Conv node, whatever the exporter named it.
      let index = weighted ? weighted.indexOf(entry.layer) : -1;
      if (index < 0) index = nextWeighted;
      nextWeighted = index + 1;
      if (weighted && index >= weighted.length) return fail(c, `more Linear/Conv2d rule entries than the model's ${weighted.length} such layers`);
      selector = `#${index}`;
    } else {
      // BatchNorm (and any pool) entries go by name; resolve the name against the graph when we have it.
      if (graph) {
        const name = matchLayerName(graph.nodes.map((n) => n.name), entry.layer);
        if (name === undefined) return fail(c, `no layer of the loaded graph corresponds to "${entry.layer}"`);
        selector = name;
      } else {
        selector = entry.layer;
      }
    }
    layers.push({ layer: selector, rule, ...params });
  }
  return { preset: 'captum-default', layers };
}

// ---- Zennit

const ZENNIT_COMPOSITES = new Set(['EpsilonPlus', 'EpsilonPlusFlat', 'EpsilonGammaBox', 'EpsilonAlpha2Beta1', 'EpsilonAlpha2Beta1Flat']);

const NUM = '([-+]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?)';

/** A Zennit single-rule name (Epsilon-1e-6, AlphaBeta-2-1, ZPlus, ...) -> our rule id and parameters. */
function zennitRule(c: GoldenCase, name: string): { rule: string; params: Record<string, ParamValue> } | undefined {
  let m: RegExpExecArray | null;
  if ((m = new RegExp(`^Epsilon-${NUM}$`).exec(name))) return { rule: 'epsilon', params: { epsilon: Number(m[1]) } };
  if (name === 'Epsilon') return { rule: 'epsilon', params: { epsilon: 1e-6 } };
  if ((m = new RegExp(`^Gamma-${NUM}$`).exec(name))) return { rule: 'gamma', params: { gamma: Number(m[1]) } };
  if ((m = new RegExp(`^AlphaBeta-${NUM}-${NUM}$`).exec(name))) return { rule: 'alphabeta', params: { alpha: Number(m[1]), beta: Number(m[2]) } };
  switch (name) {
    case 'ZPlus':
      return { rule: 'zplus', params: {} };
    case 'WSquare':
      return { rule: 'wsquare', params: {} };
    case 'Flat':
      return { rule: 'flat', params: {} };
    case 'ZBox':
      return { rule: 'zbox', params: zboxParams(c) };
    default:
      return undefined;
  }
}

function zennitAssignment(c: GoldenCase, model: GoldenModel, graph: GraphInfo | undefined): RuleAssignment {
  const name = c.composite;
  if (typeof name !== 'string') return fail(c, 'a Zennit case needs a "composite"');
  if (ZENNIT_COMPOSITES.has(name)) {
    const assignment: { preset: string; presetParams?: RuleParams } = { preset: name };
    if (c.zbox !== undefined) assignment.presetParams = zboxParams(c);
    return assignment;
  }
  const first = /^(.*)-first$/.exec(name);
  const rule = zennitRule(c, first ? first[1]! : name);
  if (!rule) return fail(c, `unknown Zennit composite or rule "${name}"`);
  for (const v of Object.values(rule.params)) {
    if (typeof v === 'number' && !Number.isFinite(v)) fail(c, `bad parameter in "${name}"`);
  }
  const weighted = weightedLayerNames(c, model, graph);
  if (!weighted) return fail(c, `cannot count the Linear/Conv2d layers of model "${c.model}": the manifest lists no layers`);
  if (weighted.length === 0) return fail(c, `model "${c.model}" has no Linear/Conv2d layer`);
  // Single-rule cases: no rule on activations or pools (they act through their gradient).
  const layers = weighted.map(
    (_, i): LayerRuleEntry => (!first || i === 0 ? { layer: `#${i}`, rule: rule.rule, ...rule.params } : { layer: `#${i}`, rule: 'epsilon', epsilon: 1e-6 }),
  );
  return { preset: 'gradient', layers };
}

// ---- LXT

const LXT_COMPOSITES = new Set(['cp-gamma', 'cp-epsilon', 'attnlrp']);

function lxtAssignment(c: GoldenCase): RuleAssignment {
  const name = c.composite;
  if (typeof name !== 'string' || !LXT_COMPOSITES.has(name)) return fail(c, `unknown LXT composite ${JSON.stringify(name)} (known: ${[...LXT_COMPOSITES].join(', ')})`);
  return { preset: name };
}

/**
 * Maps a manifest case to what the engine needs. `graph` (the loaded model) is optional: with it, BatchNorm entries
 * are resolved to the graph's layer names and models without a `layers` list can still be counted.
 * Throws GoldenCaseError with the reason for anything it cannot map (unknown rule, missing model file, ...).
 */
export function caseToAssignment(c: GoldenCase, model: GoldenModel, graph?: GraphInfo): CasePlan {
  const bn = batchnormMode(c);
  let format: 'onnx' | 'tfjs' = 'onnx';
  let file: GoldenModelFile;
  if (isTfjsModel(model)) {
    // TF.js layers models keep BatchNorm as its own layer, so both modes work from the one model.json.
    if (typeof model.tfjs?.file !== 'string') return fail(c, `model "${c.model}" has no TF.js file`);
    format = 'tfjs';
    file = { file: model.tfjs.file };
  } else {
    file = chooseModelFile(c, model, bn);
  }
  let assignment: RuleAssignment;
  if (c.reference === 'captum') assignment = captumAssignment(c, model, graph);
  // Our own float64 checks of rules Zennit has no counterpart for (tests/fixtures/rule-checks) name composites as
  // Zennit cases do.
  else if (c.reference === 'zennit' || c.reference === 'float64-rule-check') assignment = zennitAssignment(c, model, graph);
  // LXT (transformers): the composite names a preset (cp-gamma, cp-epsilon: CP-LRP, src/rules/composites.ts).
  // float64-attnlrp: tests/fixtures/attnlrp (scripts/fixtures/attnlrp-check.py), the attnlrp preset.
  else if (c.reference === 'lxt' || c.reference === 'float64-attnlrp') assignment = lxtAssignment(c);
  else return fail(c, `unknown reference "${c.reference}" (expected captum, zennit, lxt, float64-rule-check or float64-attnlrp)`);
  return {
    ...(format === 'tfjs' ? { format } : {}),
    modelFile: file.file,
    ...(file.data !== undefined ? { sideFile: file.data } : {}),
    batchnorm: bn,
    assignment,
  };
}
