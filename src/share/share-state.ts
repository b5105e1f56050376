/**
 * The state a share link carries (version 1). Everything a receiver needs to reproduce the sender's view: the
 * model (built-in id, or a user's file name and SHA-256), the image (a sample id, or the pixels the model saw), the
 * target, the rules (preset plus per-layer overrides), BatchNorm handling and the view settings.
 *
 * `validateShareState` checks every field's type and bounds; it is the only way a decoded object becomes a
 * ShareState, so nothing from a link reaches the app unchecked.
 */
import { findRule } from '../rules/rules';
import { findComposite } from '../rules/composites';

export const SHARE_VERSION = 1;

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

export interface ShareState {
  readonly version: typeof SHARE_VERSION;
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

/** Checks a decoded object (the JSON part of a link, plus its pixel bytes) and returns a typed ShareState. */
export function validateShareState(v: unknown, rgb: Uint8Array | null): ShareState {
  if (!isRecord(v)) fail('state', 'is not an object');
  if (v.version !== SHARE_VERSION) {
    if (typeof v.version === 'number' && v.version > SHARE_VERSION) {
      throw new ShareLinkError(`this link was made by a newer LRP Lens (link version ${v.version}; this one reads version ${SHARE_VERSION})`);
    }
    fail('version', 'is not one this LRP Lens knows');
  }
  onlyKeys(v, 'state', ['version', 'model', 'image', 'target', 'contrast', 'preset', 'presetParams', 'overrides', 'mergeBatchNorm', 'view']);
  const preset = text(v.preset, 'preset');
  if (!findComposite(preset)) fail('preset', `"${preset.slice(0, 40)}" is not a known preset`);
  if (!isRecord(v.overrides)) fail('overrides', 'is not an object');
  const entries = Object.entries(v.overrides);
  if (entries.length > SHARE_LIMITS.overrides) fail('overrides', `has more than ${SHARE_LIMITS.overrides} layers`);
  const overrideList: [string, ShareLayerRule][] = [];
  for (const [layer, o] of entries) {
    text(layer, 'layer name');
    if (!isRecord(o)) fail(`rule of layer "${layer.slice(0, 40)}"`, 'is not an object');
    onlyKeys(o, `rule of layer "${layer.slice(0, 40)}"`, ['rule', 'params']);
    const rule = text(o.rule, `rule of layer "${layer.slice(0, 40)}"`);
    if (!findRule(rule)) fail(`rule of layer "${layer.slice(0, 40)}"`, `"${rule.slice(0, 40)}" is not a known rule`);
    overrideList.push([layer, { rule, params: params(o.params ?? {}, `parameters of layer "${layer.slice(0, 40)}"`) }]);
  }
  const overrides = Object.fromEntries(overrideList);
  if (typeof v.mergeBatchNorm !== 'boolean') fail('BatchNorm setting', 'must be true or false');
  const view = v.view;
  if (!isRecord(view)) fail('view', 'is missing');
  onlyKeys(view, 'view', ['colormap', 'opacity', 'clip', 'clipPercentile', 'inspect']);
  if (!COLORMAPS.includes(view.colormap as never)) fail('colormap', `must be one of ${COLORMAPS.join(', ')}`);
  if (typeof view.clip !== 'boolean') fail('clip setting', 'must be true or false');
  const target = v.target === null ? null : integer(v.target, 'target', 0, SHARE_LIMITS.classIndex);
  const contrast = v.contrast === null ? null : integer(v.contrast, 'contrast target', 0, SHARE_LIMITS.classIndex);
  return {
    version: SHARE_VERSION,
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
  };
}
