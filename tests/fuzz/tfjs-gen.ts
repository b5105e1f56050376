/**
 * Inputs for the TF.js importer fuzz tests: the property check for one model.json with its shards, valid random
 * Keras models (Sequential or functional, every supported layer kind, quantized weights) built with
 * tests/fixtures/tfjs-builder.ts, and mutations of model.json (as JSON and as text) and of the weight shards.
 */
import fc from 'fast-check';
import { importTfjs, looksLikeTfjsModel, tfjsWeightFiles } from '../../src/engine/tfjs/import-tfjs';
import { buildTfjs, functional, sequential, type FunctionalLayer, type WeightInit } from '../fixtures/tfjs-builder';
import { checkImport, hostileValue, PropertyViolation, type Outcome, type TfjsCorpusEntry } from './harness';

/** The property for one model.json and its shards. */
export function checkTfjs(text: string, shards: ReadonlyMap<string, Uint8Array>, name = 'model.json'): Outcome {
  let files: unknown;
  try {
    looksLikeTfjsModel(text);
    files = tfjsWeightFiles(text);
  } catch (e) {
    throw new PropertyViolation(`tfjsWeightFiles threw ${(e as Error).message}`);
  }
  if (!Array.isArray(files) || !files.every((f) => typeof f === 'string')) throw new PropertyViolation('tfjsWeightFiles returned a non-list');
  for (const f of files as string[]) {
    if (f.startsWith('/') || f.split(/[\\/]/).includes('..') || /^[a-z][a-z0-9+.-]*:/i.test(f)) {
      throw new PropertyViolation(`tfjsWeightFiles lists "${f.slice(0, 80)}", which leaves the model's folder`);
    }
  }
  return checkImport(name, () => importTfjs({ name, text }, shards));
}

const base64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

/** A corpus entry holding everything inline. */
export function tfjsEntry(text: string, shards: ReadonlyMap<string, Uint8Array>, note?: string): { kind: 'tfjs'; entry: TfjsCorpusEntry } {
  const s: TfjsCorpusEntry['shards'] = {};
  for (const [k, v] of shards) s[k] = { base64: base64(v) };
  return { kind: 'tfjs', entry: { ...(note ? { note } : {}), model: text, shards: s } };
}

// ---------------------------------------------------------------------------------------------------------------
// Valid random Keras models

const layerStep = fc.record({ kind: fc.nat(), a: fc.nat(), b: fc.nat(), c: fc.nat() });
type LayerStep = typeof layerStep extends fc.Arbitrary<infer T> ? T : never;

export const kerasModel = fc.record({
  functional: fc.boolean(),
  h: fc.integer({ min: 1, max: 8 }),
  w: fc.integer({ min: 1, max: 8 }),
  c: fc.integer({ min: 1, max: 3 }),
  steps: fc.array(layerStep, { maxLength: 8 }),
  classes: fc.integer({ min: 1, max: 4 }),
  softmax: fc.boolean(),
  quant: fc.constantFrom(undefined, undefined, 'uint8' as const, 'uint16' as const, 'float16' as const),
  perShard: fc.integer({ min: 1, max: 4 }),
});
export type KerasSpec = typeof kerasModel extends fc.Arbitrary<infer T> ? T : never;

const vals = (n: number): number[] => Array.from({ length: n }, (_, i) => ((i * 5) % 9) / 6 - 0.6);

/** Builds a valid model following the shape; returns model.json text and shards. */
export function buildKeras(m: KerasSpec): { text: string; shards: Map<string, Uint8Array> } {
  const layers: FunctionalLayer[] = [];
  const weights: WeightInit[] = [];
  let shape: number[] = [m.h, m.w, m.c];
  let cur = 'input_1';
  layers.push({ class_name: 'InputLayer', name: cur, config: { batch_input_shape: [null, m.h, m.w, m.c], dtype: 'float32' }, inputs: [] });
  let k = 0;
  const layer = (class_name: string, config: Record<string, unknown>, inputs = [cur]): string => {
    const name = `${class_name.toLowerCase()}_${k++}`;
    layers.push({ class_name, name, config, inputs });
    cur = name;
    return name;
  };
  const w = (name: string, dims: number[]) => weights.push({ name, shape: dims, data: vals(dims.reduce((a, b) => a * b, 1)), ...(m.quant ? { quant: m.quant } : {}) });
  const add = (s: LayerStep): void => {
    if (shape.length === 3) {
      const [H, W, C] = shape as [number, number, number];
      const same = s.b % 2 === 0;
      switch (s.kind % 13) {
        case 0: {
          const f = 1 + (s.a % 3);
          const kk = Math.min(1 + (s.c % 3), same ? 3 : Math.min(H, W));
          const st = 1 + (s.c % 2);
          const n = layer('Conv2D', { filters: f, kernel_size: [kk, kk], strides: [st, st], padding: same ? 'same' : 'valid', activation: ['linear', 'relu', 'relu6', 'sigmoid'][s.a % 4] });
          w(`${n}/kernel`, [kk, kk, C, f]);
          w(`${n}/bias`, [f]);
          shape = same ? [Math.ceil(H / st), Math.ceil(W / st), f] : [Math.floor((H - kk) / st) + 1, Math.floor((W - kk) / st) + 1, f];
          return;
        }
        case 1: {
          const mult = 1 + (s.a % 2);
          const n = layer('DepthwiseConv2D', { kernel_size: [1, 1], depth_multiplier: mult, padding: 'valid', use_bias: true });
          w(`${n}/depthwise_kernel`, [1, 1, C, mult]);
          w(`${n}/bias`, [C * mult]);
          shape = [H, W, C * mult];
          return;
        }
        case 2: {
          const f = 1 + (s.a % 3);
          const n = layer('SeparableConv2D', { filters: f, kernel_size: [1, 1], padding: 'same' });
          w(`${n}/depthwise_kernel`, [1, 1, C, 1]);
          w(`${n}/pointwise_kernel`, [1, 1, C, f]);
          w(`${n}/bias`, [f]);
          shape = [H, W, f];
          return;
        }
        case 3: {
          if (s.c % 3 === 0) {
            const n = layer('LayerNormalization', { axis: -1, epsilon: 0.001 });
            for (const p of ['gamma', 'beta']) w(`${n}/${p}`, [C]);
            return;
          }
          const n = layer('BatchNormalization', { axis: -1, epsilon: 0.001 });
          for (const p of ['gamma', 'beta', 'moving_mean']) w(`${n}/${p}`, [C]);
          weights.push({ name: `${n}/moving_variance`, shape: [C], data: vals(C).map((v) => Math.abs(v) + 0.5) });
          return;
        }
        case 4: {
          const kk = Math.min(2, H, W);
          layer(s.a % 2 ? 'MaxPooling2D' : 'AveragePooling2D', { pool_size: [kk, kk], strides: [kk, kk], padding: 'valid' });
          shape = [Math.floor((H - kk) / kk) + 1, Math.floor((W - kk) / kk) + 1, C];
          return;
        }
        case 5: {
          const p = 1 + (s.a % 2);
          layer('ZeroPadding2D', { padding: [[p, p], [p, p]] });
          shape = [H + 2 * p, W + 2 * p, C];
          return;
        }
        case 6:
          layer('ReLU', s.a % 2 ? { max_value: 6 } : {});
          return;
        case 7:
          layer('LeakyReLU', { alpha: 0.1 });
          return;
        case 8:
          layer('Activation', { activation: ['relu', 'tanh', 'sigmoid', 'linear', 'hard_sigmoid', 'swish', 'gelu'][s.a % 7] });
          return;
        case 9:
          layer(['Dropout', 'SpatialDropout2D', 'GaussianNoise'][s.a % 3]!, { rate: 0.5 });
          return;
        case 10: {
          if (!m.functional) return;
          const before = cur;
          // A residual merge, a concatenation, or a squeeze-excitation style gate broadcast over H and W.
          const kind = s.c % 5;
          const r = kind === 4 ? layer('GlobalAveragePooling2D', { keepdims: s.b % 2 === 0 }) : layer('ReLU', {});
          layer(['Add', 'Multiply', 'Subtract', 'Concatenate', 'Multiply'][kind]!, {}, [before, r]);
          if (kind === 3) shape = [H, W, 2 * C];
          return;
        }
        case 11:
          layer(s.a % 2 ? 'GlobalAveragePooling2D' : 'GlobalMaxPooling2D', {});
          shape = [C];
          return;
        default:
          layer('Flatten', {});
          shape = [H * W * C];
          return;
      }
    }
    const F = shape[0]!;
    if (s.kind % 3 === 0) {
      const u = 1 + (s.a % 5);
      const n = layer('Dense', { units: u, activation: s.b % 2 ? 'relu' : 'linear' });
      w(`${n}/kernel`, [F, u]);
      w(`${n}/bias`, [u]);
      shape = [u];
    } else if (s.kind % 3 === 1) {
      const n = layer('BatchNormalization', { axis: -1 });
      for (const p of ['gamma', 'beta', 'moving_mean']) w(`${n}/${p}`, [F]);
      weights.push({ name: `${n}/moving_variance`, shape: [F], data: vals(F).map((v) => Math.abs(v) + 0.5) });
    } else layer('Dropout', { rate: 0.2 });
  };
  for (const s of m.steps) add(s);
  if (shape.length === 3) {
    layer('Flatten', {});
    shape = [shape[0]! * shape[1]! * shape[2]!];
  }
  const n = layer('Dense', { units: m.classes, activation: m.softmax ? 'softmax' : 'linear' });
  w(`${n}/kernel`, [shape[0]!, m.classes]);
  w(`${n}/bias`, [m.classes]);
  const topology = m.functional
    ? functional(layers, 'input_1', cur)
    : sequential(
        layers.slice(1).map((l, i) => ({
          class_name: l.class_name,
          config: { name: l.name, ...l.config, ...(i === 0 ? { batch_input_shape: [null, m.h, m.w, m.c] } : {}) },
        })),
      );
  const built = buildTfjs(topology, weights, { perShard: m.perShard });
  return { text: built.text, shards: built.shards };
}

// ---------------------------------------------------------------------------------------------------------------
// Weight manifest and shard mutations

export type ManifestMutation =
  | { readonly op: 'path'; readonly group: number; readonly path: string }
  | { readonly op: 'shape'; readonly group: number; readonly weight: number; readonly shape: unknown }
  | { readonly op: 'dtype'; readonly group: number; readonly weight: number; readonly dtype: unknown }
  | { readonly op: 'quantization'; readonly group: number; readonly weight: number; readonly q: unknown }
  | { readonly op: 'name'; readonly group: number; readonly weight: number; readonly name: unknown }
  | { readonly op: 'dropWeight'; readonly group: number; readonly weight: number }
  | { readonly op: 'dupWeight'; readonly group: number; readonly weight: number };

export const manifestMutation: fc.Arbitrary<ManifestMutation> = fc.oneof(
  fc.record({ op: fc.constant('path' as const), group: fc.nat(), path: fc.constantFrom('missing.bin', '../../../etc/passwd', '/etc/passwd', 'https://evil.example/w.bin', 'C:\\w.bin', 'sub/group1-shard1of1.bin', '', './group1-shard1of1.bin') }),
  fc.record({ op: fc.constant('shape' as const), group: fc.nat(), weight: fc.nat(), shape: fc.oneof(fc.constantFrom<unknown>([1e6, 1e6], [2 ** 31], [2 ** 53, 2], [-1, 3], [1.5], [], [0], null, 'x', [[1]], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [65536, 65536, 65536]), hostileValue) }),
  fc.record({ op: fc.constant('dtype' as const), group: fc.nat(), weight: fc.nat(), dtype: fc.constantFrom<unknown>('int32', 'bool', 'float16', 'complex64', 'string', 7, null) }),
  fc.record({
    op: fc.constant('quantization' as const),
    group: fc.nat(),
    weight: fc.nat(),
    q: fc.constantFrom<unknown>({ dtype: 'uint8', scale: 'INF', min: 0 }, { dtype: 'uint8', scale: 1e308, min: -1e308 }, { dtype: 'uint16' }, { dtype: 'float16', scale: 'x' }, { dtype: 'int4', scale: 1, min: 0 }, { dtype: 'uint8', scale: 0, min: 0 }, { dtype: 'uint8', scale: -1, min: 'INF' }, { dtype: 'float16' }, null, 'uint8', []),
  }),
  fc.record({ op: fc.constant('name' as const), group: fc.nat(), weight: fc.nat(), name: fc.constantFrom<unknown>('', '__proto__', '<script>alert(1)</script>', 'a/b/c', 7, null, 'x'.repeat(5000)) }),
  fc.record({ op: fc.constant('dropWeight' as const), group: fc.nat(), weight: fc.nat() }),
  fc.record({ op: fc.constant('dupWeight' as const), group: fc.nat(), weight: fc.nat() }),
);

/** Applies manifest mutations to a model.json text ("INF" stays a string: mutateJson, applied after, writes 1e999). */
export function mutateManifest(text: string, mutations: readonly ManifestMutation[]): string {
  const json = JSON.parse(text) as { weightsManifest?: { paths: unknown[]; weights: Record<string, unknown>[] }[] };
  const groups = json.weightsManifest ?? [];
  for (const m of mutations) {
    if (groups.length === 0) break;
    const g = groups[m.group % groups.length]!;
    if (m.op === 'path') {
      g.paths[m.group % Math.max(g.paths.length, 1)] = m.path;
      continue;
    }
    if (g.weights.length === 0) continue;
    const i = m.weight % g.weights.length;
    const w = g.weights[i]!;
    switch (m.op) {
      case 'shape':
        w.shape = structuredClone(m.shape);
        break;
      case 'dtype':
        w.dtype = m.dtype;
        break;
      case 'quantization':
        w.quantization = structuredClone(m.q);
        break;
      case 'name':
        w.name = m.name;
        break;
      case 'dropWeight':
        g.weights.splice(i, 1);
        break;
      case 'dupWeight':
        g.weights.splice(i, 0, structuredClone(w));
        break;
    }
  }
  return JSON.stringify(json);
}

export type ShardMutation =
  | { readonly op: 'truncate'; readonly which: number; readonly at: number }
  | { readonly op: 'drop'; readonly which: number }
  | { readonly op: 'extend'; readonly which: number; readonly by: number }
  | { readonly op: 'flip'; readonly which: number; readonly at: number };

export const shardMutation: fc.Arbitrary<ShardMutation> = fc.oneof(
  fc.record({ op: fc.constant('truncate' as const), which: fc.nat(), at: fc.nat() }),
  fc.record({ op: fc.constant('drop' as const), which: fc.nat() }),
  fc.record({ op: fc.constant('extend' as const), which: fc.nat(), by: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('flip' as const), which: fc.nat(), at: fc.nat() }),
);

export function mutateShards(shards: ReadonlyMap<string, Uint8Array>, mutations: readonly ShardMutation[]): Map<string, Uint8Array> {
  const out = new Map(shards);
  for (const m of mutations) {
    const names = [...out.keys()];
    if (names.length === 0) break;
    const name = names[m.which % names.length]!;
    const b = out.get(name)!;
    switch (m.op) {
      case 'truncate':
        out.set(name, b.subarray(0, b.length === 0 ? 0 : m.at % b.length));
        break;
      case 'drop':
        out.delete(name);
        break;
      case 'extend': {
        const e = new Uint8Array(b.length + m.by);
        e.set(b);
        out.set(name, e);
        break;
      }
      case 'flip': {
        if (b.length === 0) break;
        const c = Uint8Array.from(b);
        c[m.at % c.length]! ^= 0xff;
        out.set(name, c);
        break;
      }
    }
  }
  return out;
}

/**
 * A corpus entry for a mutated built-in model: shards that are the built-in's bytes (whole, cut or padded with
 * zeros) refer to it, the rest are inline.
 */
export function tfjsEntryFrom(id: string, seed: ReadonlyMap<string, Uint8Array>, text: string, shards: ReadonlyMap<string, Uint8Array>): { kind: 'tfjs'; entry: TfjsCorpusEntry } {
  const s: TfjsCorpusEntry['shards'] = {};
  for (const [name, b] of shards) {
    const orig = seed.get(name);
    if (orig && b.length <= orig.length && b.every((v, i) => v === orig[i])) s[name] = { ref: `${id}/${name}`, ...(b.length < orig.length ? { end: b.length } : {}) };
    else if (orig && b.length > orig.length && orig.every((v, i) => v === b[i]) && b.subarray(orig.length).every((v) => v === 0)) s[name] = { ref: `${id}/${name}`, pad: b.length - orig.length };
    else s[name] = { base64: base64(b) };
  }
  return { kind: 'tfjs', entry: { model: text, shards: s } };
}
