/**
 * The state a share link carries (versions 1 to 4: version 2 adds the compare view, version 3 the concept shown in
 * the Channels tab and the methods (gradient baselines) of the comparison's sides, version 4 the definitions of custom rules). Everything a receiver needs to reproduce the sender's view: the
 * model (built-in id, or a user's file name and SHA-256), the image (a sample id, or the pixels the model saw), the
 * target, the rules (preset plus per-layer overrides), BatchNorm handling, the view settings, and the compare view
 * when one is shown (B's rules and the pixel-flipping settings), and the concept (a channel of a layer) when one is
 * chosen.
 *
 * `validateShareState` checks every field's type and bounds; it is the only way a decoded object becomes a
 * ShareState, so nothing from a link reaches the app unchecked.
 */
import { findBuiltinRule } from '../rules/rules';
import { parseRuleDefinitions, type CustomRuleSpec } from '../rules/custom-rules';
import { findComposite } from '../rules/composites';
import { PERTURBATION_BASELINES, type PerturbationBaseline } from '../evaluation/pixel-flipping';

/** The newest link version this LRP Lens reads (and every one before it). */
export const SHARE_VERSION = 4;

export type ShareVersion = 1 | 2 | 3 | 4;

export type ShareModel =
  | { readonly kind: 'builtin'; readonly id: string }
  | { readonly kind: 'user'; readonly name: string; readonly sha256: string };

export type ShareImage =
  | { readonly kind: 'sample'; readonly id: string }
  /** RGB bytes, row-major, at the model's input resolution: exactly what the model saw. */
  | { readonly kind: 'pixels'; readonly width: number; readonly height: number; readonly rgb: Uint8Array };

export type ShareParamValue = number | boolean | readonly number[];

export interface ShareLayerRule {
  readonly rule: string;
  readonly params: Readonly<Record<string, ShareParamValue>>;
}


/**
 * The compare view (optional): B's rules (A is the state's own), and the pixel-flipping settings both curves use.
 * A link with one opens the Compare tab and runs the comparison.
 */
export interface ShareComparison {
  readonly preset: string;
  readonly overrides: Readonly<Record<string, ShareLayerRule>>;
  /** B's label when it is a snapshot of an earlier assignment; null when B is the preset itself. */
  readonly label: string | null;
  readonly settings: { readonly patch: number; readonly baseline: PerturbationBaseline; readonly steps: number };
}

/** Gradient baselines a side of the comparison can be instead of LRP rules (src/engine/attribution-methods.ts). */
export const COMPARE_METHODS = ['gradient', 'gradient-x-input', 'smoothgrad', 'integrated-gradients'] as const;
export type CompareBaseline = (typeof COMPARE_METHODS)[number];

/** The bounds of the baselines' parameters, in links and in the app's fields alike. */
export const COMPARE_METHOD_LIMITS = {
  /** SmoothGrad: noisy samples (whole number). */
  samples: { min: 1, max: 256 },
  /** SmoothGrad: noise standard deviation as a fraction of the input's range. */
  noiseLevel: { min: 0, max: 1 },
  /** Integrated Gradients: points of the Riemann sum (whole number). */
  steps: { min: 1, max: 256 },
} as const;

/** A side of the comparison computed by a gradient baseline (version 3); a side without one uses its LRP rules. */
export type ShareCompareMethod =
  | { readonly method: 'gradient' | 'gradient-x-input' }
  | { readonly method: 'smoothgrad'; readonly samples: number; readonly noiseLevel: number }
  | { readonly method: 'integrated-gradients'; readonly steps: number };

/**
 * A side's method as read from a link: the method, or why it was left out (an unknown method, a parameter out of
 * range): the app names the reason in a note, the side uses its LRP rules, and the rest of the link applies.
 */
export type ShareCompareMethodRead = ShareCompareMethod | { readonly method: null; readonly refused: string };

/**
 * The concept (CRP) chosen in the Channels tab (optional, version 3): channel `channel` of layer `layer`'s output.
 * A link with one opens the Channels tab with it selected. Whether the model has the layer and the channel is the
 * app's to check (share.ts): the decoder checks the types and bounds only.
 */
export interface ShareConcept {
  readonly layer: string;
  readonly channel: number;
}

export interface ShareState {
  /** The version the link was written in: linkVersion() when writing one. */
  readonly version: ShareVersion;
  readonly model: ShareModel;
  readonly image: ShareImage;
  /** null: the top class. */
  readonly target: number | null;
  /** null: no contrast. */
  readonly contrast: number | null;
  readonly preset: string;
  readonly presetParams: Readonly<Record<string, ShareParamValue>>;
  readonly overrides: Readonly<Record<string, ShareLayerRule>>;
  readonly mergeBatchNorm: boolean;
  readonly view: {
    readonly colormap: 'bwr' | 'seismic' | 'coldnhot' | 'magnitude';
    readonly opacity: number;
    readonly clip: boolean;
    readonly clipPercentile: number;
    readonly inspect: string | null;
  };
  /** Absent: no comparison is shown. */
  readonly compare?: ShareComparison;
  /** Absent: no concept is chosen (version 3). */
  readonly concept?: ShareConcept;
  /**
   * The method of each side of the comparison (version 3, only with `compare`): a gradient baseline instead of
   * the side's LRP rules (A's are the state's, B's the comparison's). A side absent: its LRP rules.
   */
  readonly compareMethods?: { readonly a?: ShareCompareMethodRead; readonly b?: ShareCompareMethodRead };
  /**
   * Custom rules (version 4): the definitions (src/rules/custom-rules.ts) of the custom rules the overrides (the
   * state's or the comparison's) name, checked as a rule definition file is. Absent: none.
   */
  readonly ruleDefs?: readonly CustomRuleSpec[];
}

/** Documented bounds: anything beyond them is refused before it is allocated or used. */
export const SHARE_LIMITS = {
  /** Characters of the fragment payload. */
  payloadChars: 2_000_000,
  /** Bytes after decompression. */
  inflatedBytes: 4_000_000,
  /** Image side in pixels. */
  imageSide: 1024,
  stringChars: 256,
  overrides: 2000,
  paramsPerRule: 16,
  boundsValues: 4096,
  classIndex: 1_000_000,
  /** Pixel flipping (the comparison): patch side and number of steps. */
  patch: 1024,
  steps: 256,
  /** A concept's channel index. */
  channel: 1_000_000,
  /** Custom rule definitions, and the characters of their JSON together. */
  ruleDefs: 16,
  ruleDefsChars: 32_000,
} as const;

export const COLORMAPS = ['bwr', 'seismic', 'coldnhot', 'magnitude'] as const;

export class ShareLinkError extends Error {
  override name = 'ShareLinkError';
}

function fail(path: string, what: string): never {
  throw new ShareLinkError(`the link's ${path} ${what}`);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function text(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, 'is not text');
  if (v.length === 0 || v.length > SHARE_LIMITS.stringChars) fail(path, `must have 1 to ${SHARE_LIMITS.stringChars} characters`);
  // Control characters have no place in names; everything else is shown as text, never as HTML.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) fail(path, 'contains control characters');
  return v;
}

function integer(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, `must be a whole number from ${min} to ${max}`);
  return v;
}

function finite(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(path, `must be a number from ${min} to ${max}`);
  return v;
}

function onlyKeys(v: Record<string, unknown>, path: string, keys: readonly string[]): void {
  for (const k of Object.keys(v)) if (!keys.includes(k)) fail(path, `has an unknown field "${k.slice(0, 40)}"`);
}

function params(v: unknown, path: string): Record<string, ShareParamValue> {
  if (!isRecord(v)) fail(path, 'is not an object');
  const entries = Object.entries(v);
  if (entries.length > SHARE_LIMITS.paramsPerRule) fail(path, `has more than ${SHARE_LIMITS.paramsPerRule} parameters`);
  // Built with fromEntries: keys such as "__proto__" become plain own properties, never a prototype.
  return Object.fromEntries(
    entries.map(([k, x]): [string, ShareParamValue] => {
      text(k, `${path} name`);
      if (typeof x === 'boolean') return [k, x];
      if (typeof x === 'number') return [k, finite(x, `${path}.${k}`, -1e30, 1e30)];
      if (Array.isArray(x)) {
        if (x.length === 0 || x.length > SHARE_LIMITS.boundsValues) fail(`${path}.${k}`, `must have 1 to ${SHARE_LIMITS.boundsValues} values`);
        return [k, x.map((y, i) => finite(y, `${path}.${k}[${i}]`, -1e30, 1e30))];
      }
      return fail(`${path}.${k}`, 'must be a number, true/false or a list of numbers');
    }),
  );
}

function model(v: unknown): ShareModel {
  if (!isRecord(v)) fail('model', 'is missing');
  if (v.kind === 'builtin') {
    onlyKeys(v, 'model', ['kind', 'id']);
    return { kind: 'builtin', id: text(v.id, 'model id') };
  }
  if (v.kind === 'user') {
    onlyKeys(v, 'model', ['kind', 'name', 'sha256']);
    const sha256 = text(v.sha256, 'model hash');
    if (!/^[0-9a-f]{64}$/.test(sha256)) fail('model hash', 'is not a SHA-256 in hex');
    return { kind: 'user', name: text(v.name, 'model name'), sha256 };
  }
  return fail('model kind', 'must be "builtin" or "user"');
}

function image(v: unknown, rgb: Uint8Array | null): ShareImage {
  if (!isRecord(v)) fail('image', 'is missing');
  if (v.kind === 'sample') {
    onlyKeys(v, 'image', ['kind', 'id']);
    return { kind: 'sample', id: text(v.id, 'sample id') };
  }
  if (v.kind === 'pixels') {
    onlyKeys(v, 'image', ['kind', 'width', 'height']);
    const width = integer(v.width, 'image width', 1, SHARE_LIMITS.imageSide);
    const height = integer(v.height, 'image height', 1, SHARE_LIMITS.imageSide);
    if (!rgb || rgb.length !== width * height * 3) fail('image', `must carry ${width * height * 3} bytes of pixels`);
    return { kind: 'pixels', width, height, rgb };
  }
  return fail('image kind', 'must be "sample" or "pixels"');
}

function presetName(v: unknown, path: string): string {
  const preset = text(v, path);
  if (!findComposite(preset)) fail(path, `"${preset.slice(0, 40)}" is not a known preset`);
  return preset;
}

/**
 * The link's custom rules: at most SHARE_LIMITS.ruleDefs of them, SHARE_LIMITS.ruleDefsChars characters of JSON in
 * all, each a valid definition (custom-rules.ts) whose id is no built-in rule's. Returns the checked definitions.
 */
function ruleDefsOf(v: unknown): CustomRuleSpec[] {
  if (!Array.isArray(v)) fail('rule definitions', 'are not a list');
  if (v.length === 0 || v.length > SHARE_LIMITS.ruleDefs) fail('rule definitions', `must be 1 to ${SHARE_LIMITS.ruleDefs}`);
  if (JSON.stringify(v).length > SHARE_LIMITS.ruleDefsChars) fail('rule definitions', `are longer than ${SHARE_LIMITS.ruleDefsChars} characters`);
  try {
    return parseRuleDefinitions(v, 'rule definitions').map((d) => d.spec);
  } catch (e) {
    throw new ShareLinkError(`the link's ${(e instanceof Error ? e.message : 'rule definitions are not valid').slice(0, 300)}`);
  }
}

/**
 * Per-layer rules; `path` names whose they are in messages ('' for the state's own, "comparison's " for B's).
 * `custom`: the ids of the link's custom rules, which the overrides may name besides the built-in ones.
 */
function overridesOf(v: unknown, path: string, custom: ReadonlySet<string> = new Set()): Record<string, ShareLayerRule> {
  if (!isRecord(v)) fail(`${path}overrides`, 'is not an object');
  const entries = Object.entries(v);
  if (entries.length > SHARE_LIMITS.overrides) fail(`${path}overrides`, `has more than ${SHARE_LIMITS.overrides} layers`);
  const overrideList: [string, ShareLayerRule][] = [];
  for (const [layer, o] of entries) {
    text(layer, `${path}layer name`);
    const where = `${path}rule of layer "${layer.slice(0, 40)}"`;
    if (!isRecord(o)) fail(where, 'is not an object');
    onlyKeys(o, where, ['rule', 'params']);
    const rule = text(o.rule, where);
    if (!findBuiltinRule(rule) && !custom.has(rule)) {
      fail(where, `"${rule.slice(0, 40)}" is not a known rule${custom.size ? '' : ' (a custom rule must be defined in the link)'}`);
    }
    overrideList.push([layer, { rule, params: params(o.params ?? {}, `${path}parameters of layer "${layer.slice(0, 40)}"`) }]);
  }
  // Built with fromEntries: a layer named "__proto__" becomes a plain own property, never a prototype.
  return Object.fromEntries(overrideList);
}

function comparison(v: unknown, custom: ReadonlySet<string>): ShareComparison {
  if (!isRecord(v)) fail('comparison', 'is not an object');
  onlyKeys(v, 'comparison', ['preset', 'overrides', 'label', 'settings']);
  const settings = v.settings;
  if (!isRecord(settings)) fail('comparison settings', 'are missing');
  onlyKeys(settings, 'comparison settings', ['patch', 'baseline', 'steps']);
  if (!PERTURBATION_BASELINES.includes(settings.baseline as never)) fail('comparison baseline', `must be one of ${PERTURBATION_BASELINES.join(', ')}`);
  return {
    preset: presetName(v.preset, "comparison's preset"),
    overrides: overridesOf(v.overrides, "comparison's ", custom),
    label: v.label === null ? null : text(v.label, 'comparison label'),
    settings: {
      patch: integer(settings.patch, 'comparison patch size', 1, SHARE_LIMITS.patch),
      baseline: settings.baseline as ShareComparison['settings']['baseline'],
      steps: integer(settings.steps, 'comparison steps', 1, SHARE_LIMITS.steps),
    },
  };
}

function concept(v: unknown): ShareConcept {
  if (!isRecord(v)) fail('concept', 'is not an object');
  onlyKeys(v, 'concept', ['layer', 'channel']);
  return { layer: text(v.layer, 'concept layer'), channel: integer(v.channel, 'concept channel', 0, SHARE_LIMITS.channel) };
}

const METHOD_NAMES: Record<CompareBaseline, string> = {
  gradient: 'Gradient',
  'gradient-x-input': 'Gradient x Input',
  smoothgrad: 'SmoothGrad',
  'integrated-gradients': 'Integrated Gradients',
};

/** One side's method: never throws; what does not fit is `refused`, with the reason (the rest of the link applies). */
export function compareMethodOf(v: unknown): ShareCompareMethodRead {
  const refused = (why: string) => ({ method: null, refused: why }) as const;
  if (!isRecord(v)) return refused('is not an object');
  const name = v.method;
  if (typeof name !== 'string' || !COMPARE_METHODS.includes(name as never)) {
    const shown = typeof name === 'string' ? `"${name.slice(0, 40)}"` : 'missing';
    return refused(`is ${shown}, not a method this LRP Lens knows (${COMPARE_METHODS.join(', ')})`);
  }
  const method = name as CompareBaseline;
  const keys = method === 'smoothgrad' ? ['method', 'samples', 'noiseLevel'] : method === 'integrated-gradients' ? ['method', 'steps'] : ['method'];
  const unknown = Object.keys(v).find((k) => !keys.includes(k));
  if (unknown !== undefined) return refused(`(${METHOD_NAMES[method]}) has an unknown parameter "${unknown.slice(0, 40)}"`);
  const L = COMPARE_METHOD_LIMITS;
  const whole = (x: unknown, b: { min: number; max: number }) => typeof x === 'number' && Number.isInteger(x) && x >= b.min && x <= b.max;
  if (method === 'smoothgrad') {
    if (!whole(v.samples, L.samples)) return refused(`(SmoothGrad) has samples ${String(v.samples).slice(0, 40)}, not a whole number from ${L.samples.min} to ${L.samples.max}`);
    const n = v.noiseLevel;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < L.noiseLevel.min || n > L.noiseLevel.max) {
      return refused(`(SmoothGrad) has noise level ${String(n).slice(0, 40)}, not a number from ${L.noiseLevel.min} to ${L.noiseLevel.max}`);
    }
    return { method, samples: v.samples as number, noiseLevel: n };
  }
  if (method === 'integrated-gradients') {
    if (!whole(v.steps, L.steps)) return refused(`(Integrated Gradients) has steps ${String(v.steps).slice(0, 40)}, not a whole number from ${L.steps.min} to ${L.steps.max}`);
    return { method, steps: v.steps as number };
  }
  return { method };
}

/** The comparison's methods: the object and its keys (a, b) are checked strictly, each side by compareMethodOf. */
function compareMethods(v: unknown): NonNullable<ShareState['compareMethods']> {
  if (!isRecord(v)) fail('compare methods', 'are not an object');
  onlyKeys(v, 'compare methods', ['a', 'b']);
  return { ...(v.a === undefined ? {} : { a: compareMethodOf(v.a) }), ...(v.b === undefined ? {} : { b: compareMethodOf(v.b) }) };
}

/**
 * The version a link of this state is written in: the lowest that holds it (3 only for a concept or compare methods, 2 only for a
 * comparison), so that a link without them still opens in a reader of version 1.
 */
export function linkVersion(state: Pick<ShareState, 'compare' | 'concept' | 'ruleDefs' | 'compareMethods'>): ShareVersion {
  return state.ruleDefs?.length ? 4 : state.concept || state.compareMethods ? 3 : state.compare ? 2 : 1;
}

/** Checks a decoded object (the JSON part of a link, plus its pixel bytes) and returns a typed ShareState. */
export function validateShareState(v: unknown, rgb: Uint8Array | null): ShareState {
  if (!isRecord(v)) fail('state', 'is not an object');
  if (v.version !== 1 && v.version !== 2 && v.version !== 3 && v.version !== 4) {
    if (typeof v.version === 'number' && v.version > SHARE_VERSION) {
      throw new ShareLinkError(`this link was made by a newer LRP Lens (link version ${v.version}; this one reads versions 1 to ${SHARE_VERSION})`);
    }
    fail('version', 'is not one this LRP Lens knows');
  }
  const version: ShareVersion = v.version;
  const fields = ['version', 'model', 'image', 'target', 'contrast', 'preset', 'presetParams', 'overrides', 'mergeBatchNorm', 'view'];
  onlyKeys(
    v,
    'state',
    version === 4
      ? [...fields, 'compare', 'concept', 'compareMethods', 'ruleDefs']
      : version === 3
        ? [...fields, 'compare', 'concept', 'compareMethods']
        : version === 2
          ? [...fields, 'compare']
          : fields,
  );
  if (v.compareMethods !== undefined && v.compare === undefined) fail('compare methods', 'come without a comparison');
  const preset = presetName(v.preset, 'preset');
  const ruleDefs = v.ruleDefs === undefined ? undefined : ruleDefsOf(v.ruleDefs);
  const custom = new Set((ruleDefs ?? []).map((d) => d.id));
  const overrides = overridesOf(v.overrides, '', custom);
  if (typeof v.mergeBatchNorm !== 'boolean') fail('BatchNorm setting', 'must be true or false');
  const view = v.view;
  if (!isRecord(view)) fail('view', 'is missing');
  onlyKeys(view, 'view', ['colormap', 'opacity', 'clip', 'clipPercentile', 'inspect']);
  if (!COLORMAPS.includes(view.colormap as never)) fail('colormap', `must be one of ${COLORMAPS.join(', ')}`);
  if (typeof view.clip !== 'boolean') fail('clip setting', 'must be true or false');
  const target = v.target === null ? null : integer(v.target, 'target', 0, SHARE_LIMITS.classIndex);
  const contrast = v.contrast === null ? null : integer(v.contrast, 'contrast target', 0, SHARE_LIMITS.classIndex);
  return {
    version,
    model: model(v.model),
    image: image(v.image, rgb),
    target,
    contrast,
    preset,
    presetParams: params(v.presetParams ?? {}, 'preset parameters'),
    overrides,
    mergeBatchNorm: v.mergeBatchNorm,
    view: {
      colormap: view.colormap as ShareState['view']['colormap'],
      opacity: finite(view.opacity, 'opacity', 0, 1),
      clip: view.clip,
      clipPercentile: finite(view.clipPercentile, 'clip percentile', 50, 100),
      inspect: view.inspect === null ? null : text(view.inspect, 'inspected layer'),
    },
    ...(v.compare === undefined ? {} : { compare: comparison(v.compare, custom) }),
    ...(v.concept === undefined ? {} : { concept: concept(v.concept) }),
    ...(v.compareMethods === undefined ? {} : { compareMethods: compareMethods(v.compareMethods) }),
    ...(ruleDefs === undefined ? {} : { ruleDefs }),
  };
}
