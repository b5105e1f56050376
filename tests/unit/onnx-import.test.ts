import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import type { Graph, GraphNode } from '../../src/engine/graph';
import { toFloat64, parseNpy } from '../../src/engine/io/npy';
import { parseNpz } from '../../src/engine/io/npz';
import { ModelImportError, importOnnx, onnxExternalFiles, scopeFromNodeName } from '../../src/engine/onnx/import-onnx';
import { onnxProto } from '../../src/engine/onnx/onnx-schema';

// shared/ sits beside the repository (CI clones the repo elsewhere with shared next to it).
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const goldens = resolve(repoRoot, '..', 'shared', 'goldens');
const read = (rel: string): Uint8Array => new Uint8Array(readFileSync(resolve(goldens, rel)));

interface ManifestLayer {
  name: string;
  type: string;
  kernel?: number | number[];
  stride?: number | number[];
  padding?: number | number[];
}
interface ManifestModel {
  input_shape: number[];
  layers: ManifestLayer[];
  onnx: { file: string; data: string; ops: string[] };
  onnx_legacy: { file: string; ops: string[] };
  onnx_bn?: { file: string; ops: string[] };
  weights: string;
  input: string;
  logits: string;
}
const manifest = JSON.parse(new TextDecoder().decode(read('cases.json'))) as { models: Record<string, ManifestModel> };
const resnetManifest = JSON.parse(new TextDecoder().decode(read('resnet/cases.json'))) as {
  models: { resnet20: { onnx: { file: string; data: string }; onnx_legacy: { file: string }; input: string; logits: string } };
};

function load(dir: string, file: string, data?: string): Graph {
  const side = new Map<string, Uint8Array>();
  if (data) side.set(data, read(`${dir}${data}`));
  return importOnnx({ name: file, bytes: read(`${dir}${file}`) }, side);
}

// ---------------------------------------------------------------------------------------------------------------
// A float64 reference forward pass over the Graph IR, to check imported graphs against the goldens' logits.

interface Arr {
  shape: number[];
  data: Float64Array;
}
const nums = (v: unknown): number[] => v as number[];

function forward(graph: Graph, input: Float64Array): Float64Array {
  const values = new Map<string, Arr>([[graph.input.name, { shape: [...graph.input.shape], data: input }]]);
  for (const node of graph.nodes) {
    const x = values.get(node.inputs[0]!)!;
    expect(x, `input of ${node.name}`).toBeDefined();
    values.set(node.output, step(node, x, node.inputs[1] ? values.get(node.inputs[1])! : undefined));
  }
  return values.get(graph.output)!.data;
}

function step(node: GraphNode, x: Arr, y: Arr | undefined): Arr {
  const a = node.attrs;
  switch (node.op) {
    case 'relu':
      return { shape: x.shape, data: x.data.map((v) => Math.max(v, 0)) };
    case 'reshape':
      return { shape: nums(a.shape), data: x.data };
    case 'add':
      return { shape: x.shape, data: x.data.map((v, i) => v + y!.data[i]!) };
    case 'linear': {
      const w = node.params.weight!;
      const [O, I] = w.shape as [number, number];
      const out = new Float64Array(O);
      for (let o = 0; o < O; o++) {
        let s = node.params.bias ? node.params.bias.data[o]! : 0;
        for (let i = 0; i < I; i++) s += w.data[o * I + i]! * x.data[i]!;
        out[o] = s;
      }
      return { shape: [1, O], data: out };
    }
    case 'batchnorm': {
      const [, C, H = 1, W = 1] = x.shape as [number, number, number?, number?];
      const { gamma, beta, mean, var: v } = node.params;
      const eps = a.epsilon as number;
      const out = new Float64Array(x.data.length);
      for (let c = 0; c < C; c++) {
        const k = gamma!.data[c]! / Math.sqrt(v!.data[c]! + eps);
        for (let i = 0; i < H * W; i++) out[c * H * W + i] = (x.data[c * H * W + i]! - mean!.data[c]!) * k + beta!.data[c]!;
      }
      return { shape: x.shape, data: out };
    }
    case 'globalavgpool': {
      const [, C, H, W] = x.shape as [number, number, number, number];
      const out = new Float64Array(C);
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let i = 0; i < H * W; i++) s += x.data[c * H * W + i]!;
        out[c] = s / (H * W);
      }
      return { shape: [1, C, 1, 1], data: out };
    }
    case 'pad': {
      const p = nums(a.pads);
      const shape = x.shape.map((d, i) => d + p[i]! + p[i + 4]!);
      const out = new Float64Array(shape.reduce((m, d) => m * d, 1));
      const [, C, H, W] = x.shape as [number, number, number, number];
      const [, , OH, OW] = shape as [number, number, number, number];
      for (let c = 0; c < C; c++)
        for (let h = 0; h < H; h++)
          for (let w = 0; w < W; w++) out[((c + p[1]!) * OH + h + p[2]!) * OW + w + p[3]!] = x.data[(c * H + h) * W + w]!;
      return { shape, data: out };
    }
    case 'slice': {
      // Starts, ends and steps of the axes listed; the others are taken whole.
      const st = x.shape.map(() => 0);
      const en = [...x.shape];
      const sp = x.shape.map(() => 1);
      nums(a.axes).forEach((axis, k) => {
        st[axis] = nums(a.starts)[k]!;
        en[axis] = nums(a.ends)[k]!;
        sp[axis] = nums(a.steps)[k]!;
      });
      const shape = x.shape.map((_, i) => Math.ceil((en[i]! - st[i]!) / sp[i]!));
      const [, C, H, W] = x.shape as [number, number, number, number];
      const [, OC, OH, OW] = shape as [number, number, number, number];
      const out = new Float64Array(OC * OH * OW);
      for (let c = 0; c < OC; c++)
        for (let h = 0; h < OH; h++)
          for (let w = 0; w < OW; w++) {
            const ic = st[1]! + c * sp[1]!;
            const ih = st[2]! + h * sp[2]!;
            const iw = st[3]! + w * sp[3]!;
            out[(c * OH + h) * OW + w] = x.data[(ic * H + ih) * W + iw]!;
          }
      expect(C).toBeGreaterThan(0);
      return { shape, data: out };
    }
    case 'conv2d':
    case 'maxpool2d':
    case 'avgpool2d': {
      const [, C, H, W] = x.shape as [number, number, number, number];
      const [kh, kw] = nums(a.kernel) as [number, number];
      const [sh, sw] = nums(a.stride) as [number, number];
      const [pt, pl, pb, pr] = nums(a.pads) as [number, number, number, number];
      const [dh, dw] = (a.dilation ? nums(a.dilation) : [1, 1]) as [number, number];
      const OH = Math.floor((H + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
      const OW = Math.floor((W + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
      const w = node.params.weight;
      const O = node.op === 'conv2d' ? w!.shape[0]! : C;
      const groups = (a.groups as number | undefined) ?? 1;
      const out = new Float64Array(O * OH * OW);
      for (let o = 0; o < O; o++)
        for (let oy = 0; oy < OH; oy++)
          for (let ox = 0; ox < OW; ox++) {
            let acc = node.op === 'maxpool2d' ? -Infinity : 0;
            let count = 0;
            const cs = node.op === 'conv2d' ? C / groups : 1;
            const c0 = node.op === 'conv2d' ? Math.floor(o / (O / groups)) * cs : o;
            for (let ci = 0; ci < cs; ci++)
              for (let ky = 0; ky < kh; ky++)
                for (let kx = 0; kx < kw; kx++) {
                  const iy = oy * sh - pt + ky * dh;
                  const ix = ox * sw - pl + kx * dw;
                  const inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
                  const v = inside ? x.data[((c0 + ci) * H + iy) * W + ix]! : 0;
                  if (node.op === 'conv2d') acc += v * w!.data[((o * cs + ci) * kh + ky) * kw + kx]!;
                  else if (node.op === 'maxpool2d') acc = inside ? Math.max(acc, v) : acc;
                  else {
                    acc += v;
                    if (inside || a.countIncludePad === 1) count++;
                  }
                }
            if (node.op === 'conv2d' && node.params.bias) acc += node.params.bias.data[o]!;
            if (node.op === 'avgpool2d') acc /= count;
            out[(o * OH + oy) * OW + ox] = acc;
          }
      return { shape: [1, O, OH, OW], data: out };
    }
    default:
      throw new Error(`reference forward has no ${node.op}`);
  }
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** Equal parameters: bit for bit, or to `tol` relative L2 (BatchNorm folded by two exporters rounds differently). */
function expectSameParams(a: GraphNode, b: GraphNode, tol = 0): void {
  expect(Object.keys(a.params).sort()).toEqual(Object.keys(b.params).sort());
  for (const k of Object.keys(a.params)) {
    expect(a.params[k]!.shape, `${a.name}.${k}`).toEqual(b.params[k]!.shape);
    if (tol === 0) expect(a.params[k]!.data, `${a.name}.${k}`).toEqual(b.params[k]!.data);
    else expect(relErr(a.params[k]!.data, b.params[k]!.data), `${a.name}.${k}`).toBeLessThan(tol);
  }
}

/** Same layers, attributes, parameters and wiring (value names may differ); names compared for weighted layers. */
function expectSameStructure(a: Graph, b: Graph, compareAllNames: boolean, tol = 0): void {
  expect(a.nodes.map((n) => n.op)).toEqual(b.nodes.map((n) => n.op));
  expect(a.input.shape).toEqual(b.input.shape);
  const idxA = new Map(a.nodes.map((n, i) => [n.output, i]));
  const idxB = new Map(b.nodes.map((n, i) => [n.output, i]));
  const wiring = (g: Graph, idx: Map<string, number>) =>
    g.nodes.map((n) => n.inputs.map((i) => (i === g.input.name ? 'input' : idx.get(i))));
  expect(wiring(a, idxA)).toEqual(wiring(b, idxB));
  expect(idxA.get(a.output)).toBe(a.nodes.length - 1);
  expect(idxB.get(b.output)).toBe(b.nodes.length - 1);
  a.nodes.forEach((n, i) => {
    const m = b.nodes[i]!;
    expect(n.attrs, n.name).toEqual(m.attrs);
    expectSameParams(n, m, tol);
    if (compareAllNames || n.op === 'linear' || n.op === 'conv2d') expect(n.name).toBe(m.name);
  });
}

const LAYER_OPS: Record<string, string | null> = {
  Linear: 'linear',
  Conv2d: 'conv2d',
  ReLU: 'relu',
  MaxPool2d: 'maxpool2d',
  AvgPool2d: 'avgpool2d',
  AdaptiveAvgPool2d: 'globalavgpool',
  Dropout: null,
  BatchNorm2d: null, // folded into the conv by both exporters
};

/** The layer list the TorchScript export should give: manifest layers, Dropout/BN gone, a reshape before the first Linear. */
function expectedLayers(m: ManifestModel): { name: string; op: string; layer?: ManifestLayer }[] {
  const out: { name: string; op: string; layer?: ManifestLayer }[] = [];
  let flat = m.input_shape.length === 2;
  for (const l of m.layers) {
    const op = LAYER_OPS[l.type];
    expect(op, l.type).not.toBeUndefined();
    if (!op) continue;
    if (op === 'linear' && !flat) {
      out.push({ name: 'reshape_0', op: 'reshape' });
      flat = true;
    }
    out.push({ name: l.name, op, layer: l });
  }
  return out;
}

const pair = (v: number | number[] | undefined, fallback: number): number[] =>
  v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : v;

describe.each(Object.keys(manifest.models))('golden model %s', (modelName) => {
  const m = manifest.models[modelName]!;
  const modern = load('', m.onnx.file, m.onnx.data);
  const legacy = load('', m.onnx_legacy.file);
  const weights = parseNpz(read(m.weights));
  const w64 = (k: string) => toFloat64(weights.get(k)!);

  it('imports the TorchScript export with PyTorch module names, ops and attrs from the manifest', () => {
    const exp = expectedLayers(m);
    expect(legacy.nodes.map((n) => n.name)).toEqual(exp.map((e) => e.name));
    expect(legacy.nodes.map((n) => n.op)).toEqual(exp.map((e) => e.op));
    expect(legacy.input).toEqual({ name: 'input', shape: m.input_shape });
    expect(legacy.output).toBe('logits');
    legacy.nodes.forEach((n, i) => {
      const l = exp[i]!.layer;
      if (n.op === 'conv2d') {
        expect(n.attrs.kernel).toEqual(pair(l!.kernel, 1));
        expect(n.attrs.stride).toEqual(pair(l!.stride, 1));
        const [ph, pw] = pair(l!.padding, 0);
        expect(n.attrs.pads).toEqual([ph, pw, ph, pw]);
        expect(n.attrs.dilation).toEqual([1, 1]);
        expect(n.attrs.groups).toBe(1);
      }
      if (n.op === 'maxpool2d' || n.op === 'avgpool2d') {
        expect(n.attrs.kernel).toEqual(pair(l!.kernel, 1));
        expect(n.attrs.stride).toEqual(pair(l!.stride, 1));
        expect(n.attrs.pads).toEqual([0, 0, 0, 0]);
      }
      if (n.op === 'avgpool2d') expect(n.attrs.countIncludePad).toBe(1);
    });
  });

  it('imports the new exporter (external data) to the same graph as the TorchScript exporter', () => {
    // Both exporters fold BatchNorm into the conv, each with its own float32 rounding.
    expectSameStructure(modern, legacy, false, m.onnx_bn ? 1e-6 : 0);
    // Layers without weights have no recoverable module name in the new exporter: "<op>_<k>".
    const relus = modern.nodes.filter((n) => n.op === 'relu').map((n) => n.name);
    expect(relus).toEqual(relus.map((_, k) => `relu_${k}`));
    expect(modern.input).toEqual(legacy.input);
    expect(modern.output).toBe('logits');
  });

  it('carries the weights of the .weights.npz (BatchNorm folded where the model has one)', () => {
    for (const n of legacy.nodes.filter((x) => x.op === 'linear' || x.op === 'conv2d')) {
      const w = n.params.weight!;
      const b = n.params.bias!;
      expect(w.shape).toEqual(weights.get(`${n.name}.weight`)!.shape);
      const bnName = m.layers[m.layers.findIndex((l) => l.name === n.name) + 1];
      if (bnName?.type === 'BatchNorm2d') {
        // Folded by the exporter: w * g / sqrt(var + eps), (b - mean) * g / sqrt(var + eps) + beta.
        const g = w64(`${bnName.name}.weight`);
        const beta = w64(`${bnName.name}.bias`);
        const mean = w64(`${bnName.name}.running_mean`);
        const v = w64(`${bnName.name}.running_var`);
        const k = Array.from(g, (gi, c) => gi / Math.sqrt(v[c]! + 1e-5));
        const per = w.data.length / k.length;
        const wRef = Array.from(w64(`${n.name}.weight`), (x, i) => x * k[Math.floor(i / per)]!);
        const bRef = Array.from(w64(`${n.name}.bias`), (x, c) => (x - mean[c]!) * k[c]! + beta[c]!);
        expect(relErr(w.data, wRef)).toBeLessThan(1e-6);
        expect(relErr(b.data, bRef)).toBeLessThan(1e-6);
      } else {
        expect(Array.from(w.data)).toEqual(Array.from(w64(`${n.name}.weight`)));
        expect(Array.from(b.data)).toEqual(Array.from(w64(`${n.name}.bias`)));
      }
    }
  });

  it('computes the golden logits (float64 reference forward)', () => {
    const x = toFloat64(parseNpy(read(m.input)));
    const logits = toFloat64(parseNpy(read(m.logits)));
    const tol = m.onnx_bn ? 1e-6 : 1e-12; // exporter-folded BatchNorm is float32 arithmetic (measured ~1.2e-7)
    expect(relErr(forward(legacy, x), logits)).toBeLessThan(tol);
    expect(relErr(forward(modern, x), logits)).toBeLessThan(tol);
  });

  it('lists the manifest ops in the ONNX files', () => {
    // Sanity on the goldens themselves: every op the manifest lists is one the importer knows.
    for (const op of [...m.onnx.ops, ...m.onnx_legacy.ops]) {
      expect(['Conv', 'Gemm', 'Relu', 'MaxPool', 'AveragePool', 'Reshape', 'Flatten', 'ReduceMean', 'GlobalAveragePool', 'BatchNormalization']).toContain(op);
    }
  });
});

describe('bncnn.bn.onnx (BatchNormalization kept)', () => {
  const g = load('', 'bncnn.bn.onnx');
  const weights = parseNpz(read('bncnn.weights.npz'));
  it('imports batchnorm layers named after the modules, with scale/shift per channel', () => {
    expect(g.nodes.map((n) => `${n.name}:${n.op}`)).toEqual([
      'conv1:conv2d',
      'bn1:batchnorm',
      'relu1:relu',
      'conv2:conv2d',
      'bn2:batchnorm',
      'relu2:relu',
      'gap:globalavgpool',
      'reshape_0:reshape',
      'fc:linear',
    ]);
    for (const bn of ['bn1', 'bn2']) {
      const n = g.nodes.find((x) => x.name === bn)!;
      expect(n.attrs.epsilon).toBeCloseTo(1e-5, 10);
      const gamma = toFloat64(weights.get(`${bn}.weight`)!);
      const beta = toFloat64(weights.get(`${bn}.bias`)!);
      const mean = toFloat64(weights.get(`${bn}.running_mean`)!);
      const v = toFloat64(weights.get(`${bn}.running_var`)!);
      const scale = Array.from(gamma, (x, c) => x / Math.sqrt(v[c]! + 1e-5));
      const shift = Array.from(beta, (x, c) => x - mean[c]! * scale[c]!);
      expect(n.params.scale!.shape).toEqual([gamma.length]);
      expect(relErr(n.params.scale!.data, scale)).toBeLessThan(1e-6);
      expect(relErr(n.params.shift!.data, shift)).toBeLessThan(1e-6);
      expect(Array.from(n.params.gamma!.data)).toEqual(Array.from(gamma));
      expect(Array.from(n.params.var!.data)).toEqual(Array.from(v));
    }
    const x = toFloat64(parseNpy(read('bncnn.input.npy')));
    expect(relErr(forward(g, x), toFloat64(parseNpy(read('bncnn.logits.npy'))))).toBeLessThan(1e-9);
  });
});

describe('resnet20 (pretrained CIFAR-10)', () => {
  const r = resnetManifest.models.resnet20;
  const modern = load('resnet/', r.onnx.file, r.onnx.data);
  const legacy = load('resnet/', r.onnx_legacy.file);

  it('imports both exports to the same structure: residual add, strided slice + channel pad shortcuts', () => {
    expectSameStructure(modern, legacy, false, 1e-6);
    const count = (g: Graph, op: string) => g.nodes.filter((n) => n.op === op).length;
    for (const g of [modern, legacy]) {
      expect(count(g, 'conv2d')).toBe(19);
      expect(count(g, 'linear')).toBe(1);
      expect(count(g, 'add')).toBe(9);
      expect(count(g, 'slice')).toBe(4);
      expect(count(g, 'pad')).toBe(2);
      expect(count(g, 'globalavgpool')).toBe(1);
      expect(count(g, 'reshape')).toBe(1);
      expect(g.nodes).toHaveLength(19 + 1 + 9 + 4 + 2 + 1 + 1 + 19);
    }
    const weighted = modern.nodes.filter((n) => n.op === 'conv2d' || n.op === 'linear').map((n) => n.name);
    expect(weighted.slice(0, 3)).toEqual(['conv1', 'blocks.0.conv1', 'blocks.0.conv2']);
    expect(weighted.at(-1)).toBe('linear');
  });

  it('resolves the shortcut: every 2nd pixel of H then W, channels zero-padded on both sides', () => {
    const slices = legacy.nodes.filter((n) => n.op === 'slice');
    expect(slices.map((n) => n.name)).toEqual(['blocks.3.slice', 'blocks.3.slice_1', 'blocks.6.slice', 'blocks.6.slice_1']);
    expect(slices[0]!.attrs).toEqual({ starts: [0], ends: [32], axes: [2], steps: [2] });
    expect(slices[1]!.attrs).toEqual({ starts: [0], ends: [32], axes: [3], steps: [2] });
    const pads = legacy.nodes.filter((n) => n.op === 'pad');
    expect(pads.map((n) => n.attrs.pads)).toEqual([
      [0, 8, 0, 0, 0, 8, 0, 0],
      [0, 16, 0, 0, 0, 16, 0, 0],
    ]);
    const names = legacy.nodes.map((n) => n.name);
    expect(names).toContain('blocks.3.pad');
    expect(names).toContain('blocks.3.add');
    expect(names).toContain('blocks.0.add');
    expect(names).toContain('blocks.0.relu2');
    expect(new Set(names).size).toBe(names.length);
  });

  it('computes the golden logits', () => {
    const x = toFloat64(parseNpy(read(`resnet/${r.input}`)));
    const logits = toFloat64(parseNpy(read(`resnet/${r.logits}`)));
    // BatchNorm was folded into the convs in float32 by the exporters (measured ~1.5e-7).
    expect(relErr(forward(modern, x), logits)).toBeLessThan(1e-6);
    expect(relErr(forward(legacy, x), logits)).toBeLessThan(1e-6);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Synthetic models, encoded with protobufjs.

const ModelProto = protobuf.parse(onnxProto).root.lookupType('onnx.ModelProto');

interface TNode {
  op: string;
  inputs: string[];
  outputs?: string[];
  name?: string;
  attrs?: Record<string, number | number[] | string | { tensor: ReturnType<typeof tensorProto> }>;
}

function tensorProto(name: string, dims: number[], values: number[], type: 'float' | 'int64' | 'float_data' | 'double' = 'float') {
  const base = { name, dims };
  if (type === 'float') return { ...base, dataType: 1, rawData: new Uint8Array(Float32Array.from(values).buffer) };
  if (type === 'float_data') return { ...base, dataType: 1, floatData: values };
  if (type === 'double') return { ...base, dataType: 11, doubleData: values };
  return { ...base, dataType: 7, int64Data: values };
}

function attrProto(name: string, v: NonNullable<TNode['attrs']>[string]) {
  if (typeof v === 'string') return { name, type: 3, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: 7, ints: v };
  if (typeof v === 'object') return { name, type: 4, t: v.tensor };
  return Number.isInteger(v) ? { name, type: 2, i: v } : { name, type: 1, f: v };
}

function encodeModel(spec: {
  inputs: { name: string; dims: (number | string)[] }[];
  outputs: string[];
  nodes: TNode[];
  inits?: ReturnType<typeof tensorProto>[];
}): Uint8Array {
  const vi = (name: string, dims: (number | string)[] = []) => ({
    name,
    type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
  const msg = ModelProto.fromObject({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: spec.nodes.map((n, i) => ({
        opType: n.op,
        name: n.name ?? `${n.op}_${i}`,
        input: n.inputs,
        output: n.outputs ?? [`${n.name ?? `${n.op}_${i}`}_out`],
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attrProto(k, v)),
      })),
      initializer: spec.inits ?? [],
      input: spec.inputs.map((i) => vi(i.name, i.dims)),
      output: spec.outputs.map((o) => vi(o)),
    },
  });
  return ModelProto.encode(msg).finish();
}

function importSynthetic(spec: Parameters<typeof encodeModel>[0], side?: Map<string, Uint8Array>): Graph {
  return importOnnx({ name: 'toy.onnx', bytes: encodeModel(spec) }, side);
}

function importError(f: () => unknown): ModelImportError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelImportError);
    expect((e as Error).name).toBe('ModelImportError');
    return e as ModelImportError;
  }
  throw new Error('expected a ModelImportError');
}

const seq = (n: number, f = (i: number) => (i % 7) - 3) => Array.from({ length: n }, (_, i) => f(i) / 4);

describe('operator mapping', () => {
  it('maps MatMul + Add with constants to one linear layer with the bias, weight transposed to [out, in]', () => {
    const g = importSynthetic({
      inputs: [{ name: 'x', dims: ['batch', 3] }],
      outputs: ['y'],
      nodes: [
        { op: 'MatMul', name: '/fc/MatMul', inputs: ['x', 'fc.weight'], outputs: ['m'] },
        { op: 'Add', name: '/fc/Add', inputs: ['fc.bias', 'm'], outputs: ['y'] },
      ],
      inits: [tensorProto('fc.weight', [3, 2], [1, 2, 3, 4, 5, 6]), tensorProto('fc.bias', [2], [0.5, -0.5])],
    });
    expect(g.input).toEqual({ name: 'x', shape: [1, 3] });
    expect(g.nodes).toHaveLength(1);
    const n = g.nodes[0]!;
    expect(n.name).toBe('fc');
    expect(n.op).toBe('linear');
    expect(n.params.weight!.shape).toEqual([2, 3]);
    expect(Array.from(n.params.weight!.data)).toEqual([1, 3, 5, 2, 4, 6]);
    expect(Array.from(n.params.bias!.data)).toEqual([0.5, -0.5]);
    expect(g.output).toBe('y');
    expect(n.output).toBe('y');
  });

  it('maps Gemm with transB=0, alpha and beta; removes Dropout/Identity and a final Softmax with a note', () => {
    const g = importSynthetic({
      inputs: [{ name: 'x', dims: [1, 2] }],
      outputs: ['p'],
      nodes: [
        { op: 'Identity', inputs: ['x'], outputs: ['x1'] },
        { op: 'Gemm', name: 'gemm', inputs: ['x1', 'W', 'C'], outputs: ['z'], attrs: { alpha: 2.5, beta: 0.5 } },
        { op: 'Dropout', inputs: ['z'], outputs: ['d', 'mask'] },
        { op: 'Softmax', inputs: ['d'], outputs: ['p'], attrs: { axis: 1 } },
      ],
      inits: [tensorProto('W', [2, 3], [1, 2, 3, 4, 5, 6], 'float_data'), tensorProto('C', [1, 3], [2, 4, 6], 'double')],
    });
    expect(g.nodes.map((n) => n.op)).toEqual(['linear']);
    const n = g.nodes[0]!;
    expect(n.inputs).toEqual(['x']);
    expect(n.name).toBe('linear_0');
    expect(Array.from(n.params.weight!.data)).toEqual([2.5, 10, 5, 12.5, 7.5, 15]);
    expect(Array.from(n.params.bias!.data)).toEqual([1, 2, 3]);
    expect(g.output).toBe('z');
    expect(g.notes?.join(' ')).toMatch(/explanations start from the logits before the final Softmax/);
  });

  it('resolves auto_pad SAME_UPPER / SAME_LOWER / VALID to explicit pads', () => {
    const conv = (autoPad: string, stride: number) =>
      importSynthetic({
        inputs: [{ name: 'x', dims: [1, 1, 5, 6] }],
        outputs: ['y'],
        nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: { auto_pad: autoPad, strides: [stride, stride] } }],
        inits: [tensorProto('w', [2, 1, 2, 3], seq(12))],
      }).nodes[0]!;
    // stride 1, kernel 2x3: total pad (1, 2); SAME_UPPER puts the extra at the end.
    expect(conv('SAME_UPPER', 1).attrs.pads).toEqual([0, 1, 1, 1]);
    expect(conv('SAME_LOWER', 1).attrs.pads).toEqual([1, 1, 0, 1]);
    expect(conv('VALID', 1).attrs.pads).toEqual([0, 0, 0, 0]);
    // stride 2 on 5x6: out 3x3, total pad (1, 1).
    expect(conv('SAME_UPPER', 2).attrs.pads).toEqual([0, 0, 1, 1]);
    const n = conv('NOTSET', 1);
    expect(n.attrs).toEqual({ kernel: [2, 3], stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1], groups: 1 });
    expect(n.params.bias).toBeUndefined();
  });

  it('maps ReduceMean(keepdims=0) to globalavgpool + reshape, and Flatten/Reshape to resolved shapes', () => {
    const g = importSynthetic({
      inputs: [{ name: 'x', dims: [1, 4, 3, 3] }],
      outputs: ['f'],
      nodes: [
        { op: 'Reshape', inputs: ['x', 'shp'], outputs: ['r'] },
        { op: 'Relu', inputs: ['r'], outputs: ['r2'] },
        { op: 'Flatten', inputs: ['r2'], outputs: ['fl'], attrs: { axis: 2 } },
        { op: 'Reshape', inputs: ['fl', 'back'], outputs: ['b'] },
        { op: 'ReduceMean', inputs: ['b'], outputs: ['m'], attrs: { axes: [-1, -2], keepdims: 0 } },
        { op: 'Gemm', inputs: ['m', 'W'], outputs: ['f'], attrs: { transB: 1 } },
      ],
      inits: [
        tensorProto('shp', [4], [0, 2, -1, 3], 'int64'),
        tensorProto('back', [4], [1, 4, 3, 3], 'int64'),
        tensorProto('W', [2, 4], seq(8)),
      ],
    });
    expect(g.nodes.map((n) => `${n.op}${n.attrs.shape ? JSON.stringify(n.attrs.shape) : ''}`)).toEqual([
      'reshape[1,2,6,3]',
      'relu',
      'reshape[2,18]',
      'reshape[1,4,3,3]',
      'globalavgpool',
      'reshape[1,4]',
      'linear',
    ]);
    expect(new Set(g.nodes.map((n) => n.name)).size).toBe(g.nodes.length);
  });

  it('maps Pad (attribute pads), Slice (negative indices, steps) and Add of computed values', () => {
    const g = importSynthetic({
      inputs: [{ name: 'x', dims: [1, 2, 8, 8] }],
      outputs: ['s'],
      nodes: [
        { op: 'Pad', inputs: ['x'], outputs: ['p'], attrs: { pads: [0, 1, 2, 0, 0, 1, 0, 3] } },
        { op: 'Slice', inputs: ['p', 'st', 'en', 'ax', 'sp'], outputs: ['sl'] },
        { op: 'Relu', inputs: ['sl'], outputs: ['r'] },
        { op: 'Add', inputs: ['sl', 'r'], outputs: ['s'] },
      ],
      inits: [
        tensorProto('st', [2], [-3, 1], 'int64'),
        tensorProto('en', [2], [1e15, -1], 'int64'),
        tensorProto('ax', [2], [-1, 2], 'int64'),
        tensorProto('sp', [2], [1, 3], 'int64'),
      ],
    });
    expect(g.nodes.map((n) => n.op)).toEqual(['pad', 'slice', 'relu', 'add']);
    expect(g.nodes[0]!.attrs.pads).toEqual([0, 1, 2, 0, 0, 1, 0, 3]);
    // padded shape [1, 4, 10, 11]: H from 1 to 9 step 3 -> 3 rows; W from 8 to 11.
    expect(g.nodes[1]!.attrs).toEqual({ starts: [1, 8], ends: [9, 11], axes: [2, 3], steps: [3, 1] });
    expect(g.nodes[3]!.inputs).toEqual(['sl', 'r']);
  });

  it('folds the TorchScript exporter shape chain (Shape, Gather, Unsqueeze, Concat, Cast) into a reshape', () => {
    const g = importSynthetic({
      inputs: [{ name: 'x', dims: [1, 3, 2, 2] }],
      outputs: ['y'],
      nodes: [
        { op: 'Relu', name: '/act/Relu', inputs: ['x'], outputs: ['a'] },
        { op: 'Shape', inputs: ['a'], outputs: ['shape'] },
        { op: 'Constant', inputs: [], outputs: ['zero'], attrs: { value: { tensor: tensorProto('', [], [0], 'int64') } } },
        { op: 'Gather', inputs: ['shape', 'zero'], outputs: ['n'], attrs: { axis: 0 } },
        { op: 'Unsqueeze', inputs: ['n', 'axes0'], outputs: ['n1'] },
        { op: 'Constant', inputs: [], outputs: ['minus1'], attrs: { value_ints: [-1] } },
        { op: 'Concat', inputs: ['n1', 'minus1'], outputs: ['cat'], attrs: { axis: 0 } },
        { op: 'Cast', inputs: ['cat'], outputs: ['cat64'], attrs: { to: 7 } },
        { op: 'Reshape', name: '/Reshape', inputs: ['a', 'cat64'], outputs: ['flat'] },
        { op: 'Transpose', inputs: ['Wt'], outputs: ['W'], attrs: { perm: [1, 0] } },
        { op: 'Gemm', name: '/head/Gemm', inputs: ['flat', 'W'], outputs: ['y'], attrs: { transB: 1 } },
      ],
      inits: [tensorProto('axes0', [1], [0], 'int64'), tensorProto('head.weight', [12, 2], seq(24)), tensorProto('Wt', [12, 2], seq(24))],
    });
    expect(g.nodes.map((n) => `${n.name}:${n.op}`)).toEqual(['act:relu', 'reshape_0:reshape', 'head:linear']);
    expect(g.nodes[1]!.attrs.shape).toEqual([1, 12]);
    expect(g.nodes[2]!.params.weight!.shape).toEqual([2, 12]);
  });

  it('reads external data at its offset from the side file (by location or its base name)', () => {
    const payload = new Float32Array([99, 1, 2, 3, 4, 5, 6, 99]);
    const w = {
      name: 'fc.weight',
      dims: [2, 3],
      dataType: 1,
      dataLocation: 1,
      externalData: [
        { key: 'location', value: 'weights/toy.bin' },
        { key: 'offset', value: '4' },
        { key: 'length', value: '24' },
      ],
    } as unknown as ReturnType<typeof tensorProto>;
    const spec = {
      inputs: [{ name: 'x', dims: [1, 3] }],
      outputs: ['y'],
      nodes: [{ op: 'Gemm', inputs: ['x', 'fc.weight'], outputs: ['y'], attrs: { transB: 1 } }],
      inits: [w],
    };
    const g = importSynthetic(spec, new Map([['toy.bin', new Uint8Array(payload.buffer)]]));
    expect(Array.from(g.nodes[0]!.params.weight!.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(importError(() => importSynthetic(spec)).message).toBe(
      'toy.onnx keeps its weights in weights/toy.bin: open both files together',
    );
  });

  it('maps BatchNormalization on features, and Squeeze/Unsqueeze on computed values to reshapes', () => {
    const g = importSynthetic({
      inputs: [{ name: 'x', dims: [1, 2] }],
      outputs: ['y'],
      nodes: [
        { op: 'Gemm', inputs: ['x', 'W'], outputs: ['z'], attrs: { transB: 1 } },
        { op: 'BatchNormalization', name: '/bn/BatchNormalization', inputs: ['z', 'g', 'b', 'm', 'v'], outputs: ['n'], attrs: { epsilon: 0.25 } },
        { op: 'Unsqueeze', inputs: ['n', 'ax'], outputs: ['u'] },
        { op: 'Squeeze', inputs: ['u'], outputs: ['y'], attrs: { axes: [2, 3] } },
      ],
      inits: [
        tensorProto('W', [2, 2], [1, 0, 0, 1]),
        tensorProto('g', [2], [2, 3]),
        tensorProto('b', [2], [1, 0]),
        tensorProto('m', [2], [0.5, 1]),
        tensorProto('v', [2], [0.75, 2]),
        tensorProto('ax', [2], [2, 3], 'int64'),
      ],
    });
    expect(g.nodes.map((n) => `${n.name}:${n.op}`)).toEqual(['linear_0:linear', 'bn:batchnorm', 'reshape_0:reshape', 'reshape_1:reshape']);
    expect(g.nodes[2]!.attrs.shape).toEqual([1, 2, 1, 1]);
    expect(g.nodes[3]!.attrs.shape).toEqual([1, 2]);
    const bn = g.nodes[1]!;
    expect(Array.from(bn.params.scale!.data)).toEqual([2, 2]);
    expect(Array.from(bn.params.shift!.data)).toEqual([0, -2]);
    expect(bn.attrs.epsilon).toBe(0.25);
  });

  it('names layers after weights, else the exporter scope, else <op>_<k>, keeping names unique', () => {
    expect(scopeFromNodeName('/layer1/layer1.0/relu/Relu')).toBe('layer1.0.relu');
    expect(scopeFromNodeName('/relu1/Relu')).toBe('relu1');
    expect(scopeFromNodeName('/Flatten')).toBe('');
    expect(scopeFromNodeName('node_relu')).toBe('');
    // Nested containers (torchvision MobileNetV2, GoogLeNet): each segment is relative to where its chain started.
    expect(scopeFromNodeName('/features/features.1/conv/conv.0/conv.0.0/Conv')).toBe('features.1.conv.0.0');
    expect(scopeFromNodeName('/inception3a/branch2/branch2.1/conv/Conv')).toBe('inception3a.branch2.1.conv');
    expect(scopeFromNodeName('/stage2/stage2.0/branch2/branch2.0/Conv')).toBe('stage2.0.branch2.0');
    const g = importSynthetic({
      inputs: [{ name: 'x', dims: [1, 2] }],
      outputs: ['y3'],
      nodes: [
        { op: 'Gemm', name: '/a/Gemm', inputs: ['x', 'fc.weight'], outputs: ['y1'], attrs: { transB: 1 } },
        { op: 'Relu', name: '/fc/Relu', inputs: ['y1'], outputs: ['r1'] },
        { op: 'Gemm', name: 'g2', inputs: ['r1', 'fc.weight'], outputs: ['y2'], attrs: { transB: 1 } },
        { op: 'Relu', name: 'whatever', inputs: ['y2'], outputs: ['y3'] },
      ],
      inits: [tensorProto('fc.weight', [2, 2], [1, 0, 0, 1])],
    });
    expect(g.nodes.map((n) => n.name)).toEqual(['fc', 'fc_1', 'fc_2', 'relu_1']);
  });
});

describe('activations (issue 4: Clip/Relu6, LeakyRelu, Sigmoid, Tanh) and Transpose', () => {
  const act = (nodes: TNode[], inits: ReturnType<typeof tensorProto>[] = []) =>
    importSynthetic({ inputs: [{ name: 'x', dims: [1, 4] }], outputs: ['y'], nodes, inits });

  it('maps LeakyRelu (alpha, default 0.01), Sigmoid and Tanh', () => {
    const g = act([
      { op: 'LeakyRelu', name: '/act/LeakyRelu', inputs: ['x'], outputs: ['a'], attrs: { alpha: 0.2 } },
      { op: 'LeakyRelu', name: 'l2', inputs: ['a'], outputs: ['b'] },
      { op: 'Sigmoid', name: 's', inputs: ['b'], outputs: ['c'] },
      { op: 'Tanh', name: 't', inputs: ['c'], outputs: ['y'] },
    ]);
    expect(g.nodes.map((n) => [n.op, n.attrs])).toEqual([
      ['leakyrelu', { alpha: expect.closeTo(0.2, 7) }],
      ['leakyrelu', { alpha: expect.closeTo(0.01, 7) }],
      ['sigmoid', {}],
      ['tanh', {}],
    ]);
    expect(g.nodes[0]!.name).toBe('act');
  });

  it('maps Clip with bounds as attributes (opset < 11) or constant inputs; Clip(0, none) is a ReLU, no bounds nothing', () => {
    const g = act(
      [
        { op: 'Clip', name: 'relu6', inputs: ['x', 'zero', 'six'], outputs: ['a'] },
        { op: 'Clip', name: 'old', inputs: ['a'], outputs: ['b'], attrs: { min: -1.5, max: 2.5 } },
        { op: 'Clip', name: 'lower', inputs: ['b', 'minus'], outputs: ['c'] },
        { op: 'Clip', name: 'upper', inputs: ['c', '', 'six'], outputs: ['d'] },
        { op: 'Clip', name: 'relu', inputs: ['d', 'zero'], outputs: ['e'] },
        { op: 'Clip', name: 'none', inputs: ['e'], outputs: ['y'] },
      ],
      [tensorProto('zero', [], [0]), tensorProto('six', [], [6]), tensorProto('minus', [], [-3])],
    );
    expect(g.nodes.map((n) => [n.op, n.attrs])).toEqual([
      ['clip', { min: 0, max: 6 }],
      ['clip', { min: -1.5, max: 2.5 }],
      ['clip', { min: -3 }],
      ['clip', { max: 6 }],
      ['relu', {}],
    ]);
    expect(g.output).toBe('e');
    const bad = importError(() => act([{ op: 'Clip', name: 'c', inputs: ['x', 'six', 'zero'], outputs: ['y'] }], [tensorProto('zero', [], [0]), tensorProto('six', [], [6])]));
    expect(bad.message).toBe('toy.onnx: node "c" (Clip): min 6 is above max 0');
    const computed = importError(() => act([{ op: 'Relu', name: 'r', inputs: ['x'], outputs: ['m'] }, { op: 'Clip', name: 'c', inputs: ['x', 'm'], outputs: ['y'] }]));
    expect(computed.message).toMatch(/node "c" \(Clip\): the min bound \("m"\) must be a constant/);
  });

  it('folds a Transpose of a constant into the weight, and maps one of a computed value to a transpose layer', () => {
    const g = act(
      [
        { op: 'Transpose', name: 'tw', inputs: ['W'], outputs: ['Wt'], attrs: { perm: [1, 0] } },
        { op: 'MatMul', name: '/fc/MatMul', inputs: ['x', 'Wt'], outputs: ['y'] },
      ],
      [tensorProto('W', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8])],
    );
    // Wt = W^T is [4, 2]; the linear layer's weight is [out, in] = W.
    expect(g.nodes[0]!.params.weight).toEqual({ shape: [2, 4], data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) });
    const t = importSynthetic({
      inputs: [{ name: 'x', dims: [1, 2, 3, 3] }],
      outputs: ['y'],
      nodes: [
        { op: 'Transpose', name: 'nhwc', inputs: ['x'], outputs: ['t'], attrs: { perm: [0, 2, 3, 1] } },
        { op: 'Flatten', name: 'f', inputs: ['t'], outputs: ['y'] },
      ],
    });
    expect(t.nodes.map((n) => [n.op, n.attrs])).toEqual([
      ['transpose', { perm: [0, 2, 3, 1] }],
      ['reshape', { shape: [1, 18] }],
    ]);
  });

  it('lists the external data files a model refers to', () => {
    expect(onnxExternalFiles(read('cnn.onnx'))).toEqual(['cnn.onnx.data']);
    expect(onnxExternalFiles(read('cnn.legacy.onnx'))).toEqual([]);
    expect(onnxExternalFiles(new TextEncoder().encode('not a model'))).toEqual([]);
  });
});

describe('errors', () => {
  const cnn = read('cnn.legacy.onnx');

  it('rejects truncated and random bytes with a ModelImportError naming the file', () => {
    for (const bytes of [cnn.subarray(0, 1000), cnn.subarray(0, cnn.length - 7)]) {
      const e = importError(() => importOnnx({ name: 'cut.onnx', bytes }));
      expect(e.message).toMatch(/^cut\.onnx: /);
      expect(e.message).not.toMatch(/\n\s+at /);
    }
    let s = 12345;
    const random = Uint8Array.from({ length: 4096 }, () => ((s = (s * 1103515245 + 12345) >>> 0), s >>> 24));
    expect(importError(() => importOnnx({ name: 'noise.onnx', bytes: random })).message).toMatch(/^noise\.onnx: /);
    expect(importError(() => importOnnx({ name: 'empty.onnx', bytes: new Uint8Array(0) })).message).toMatch(/^empty\.onnx: not an ONNX model/);
    const text = new TextEncoder().encode('{"format": "layers-model", "modelTopology": {}}');
    expect(importError(() => importOnnx({ name: 'model.json', bytes: text })).message).toMatch(/^model\.json: /);
  });

  it('lists every unsupported operator with its nodes', () => {
    const e = importError(() =>
      importSynthetic({
        inputs: [{ name: 'x', dims: [1, 4] }],
        outputs: ['d'],
        nodes: [
          { op: 'Foo', name: 'a', inputs: ['x'] },
          { op: 'Relu', name: 'r', inputs: ['a_out'] },
          { op: 'Foo', name: 'b', inputs: ['r_out'] },
          { op: 'Bar', name: 'c', inputs: ['b_out'], outputs: ['d'] },
        ],
      }),
    );
    expect(e.message).toBe('toy.onnx: unsupported ONNX operators: Foo (nodes "a", "b"), Bar (node "c")');
  });

  it('reports foldable operators applied to computed values as unsupported', () => {
    const e = importError(() =>
      importSynthetic({
        inputs: [{ name: 'x', dims: [1, 4] }],
        outputs: ['y'],
        nodes: [
          { op: 'Pow', name: 'm', inputs: ['x', 'x'], outputs: ['sq'] },
          { op: 'Relu', name: 'r', inputs: ['sq'], outputs: ['y'] },
        ],
      }),
    );
    expect(e.message).toBe('toy.onnx: unsupported ONNX operators: Pow (node "m")');
  });

  it('asks for the side file when external weights are missing', () => {
    const e = importError(() => importOnnx({ name: 'cnn.onnx', bytes: read('cnn.onnx') }));
    expect(e.message).toBe('cnn.onnx keeps its weights in cnn.onnx.data: open both files together');
    const short = new Map([['cnn.onnx.data', read('cnn.onnx.data').subarray(0, 100)]]);
    expect(importError(() => importOnnx({ name: 'cnn.onnx', bytes: read('cnn.onnx') }, short)).message).toMatch(/cnn\.onnx\.data is too short/);
  });

  it('rejects graphs without a single input, transA and a mid-graph Softmax over another axis than the last; maps ceil_mode pools', () => {
    const two = importError(() =>
      importSynthetic({
        inputs: [
          { name: 'x', dims: [1, 2] },
          { name: 'y', dims: [1, 2] },
        ],
        outputs: ['z'],
        nodes: [{ op: 'Add', inputs: ['x', 'y'], outputs: ['z'] }],
      }),
    );
    expect(two.message).toMatch(/2 inputs \("x", "y"\)/);
    const none = importError(() =>
      importSynthetic({ inputs: [], outputs: ['z'], nodes: [{ op: 'Constant', inputs: [], outputs: ['z'], attrs: { value_ints: [1] } }] }),
    );
    expect(none.message).toMatch(/no input/);
    const batch = importError(() =>
      importSynthetic({ inputs: [{ name: 'x', dims: [8, 2] }], outputs: ['y'], nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }] }),
    );
    expect(batch.message).toMatch(/fixed batch of 8/);
    // Ceil mode that changes the output size: PyTorch's rule (extra end padding, never counted).
    const pool = importSynthetic({
      inputs: [{ name: 'x', dims: [1, 1, 5, 5] }],
      outputs: ['y'],
      nodes: [{ op: 'MaxPool', name: 'mp', inputs: ['x'], outputs: ['y'], attrs: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 } }],
    });
    expect(pool.nodes[0]).toMatchObject({ op: 'maxpool2d', attrs: { kernel: [2, 2], stride: [2, 2], ceilMode: 1 } });
    const transA = importError(() =>
      importSynthetic({
        inputs: [{ name: 'x', dims: [1, 2] }],
        outputs: ['y'],
        nodes: [{ op: 'Gemm', inputs: ['x', 'W'], outputs: ['y'], attrs: { transA: 1 } }],
        inits: [tensorProto('W', [2, 2], [1, 2, 3, 4])],
      }),
    );
    expect(transA.message).toMatch(/transA=1 is not supported/);
    const softmax = importError(() =>
      importSynthetic({
        inputs: [{ name: 'x', dims: [1, 2] }],
        outputs: ['y'],
        nodes: [
          { op: 'Softmax', name: 'sm', inputs: ['x'], outputs: ['s'], attrs: { axis: 0 } },
          { op: 'Relu', inputs: ['s'], outputs: ['y'] },
        ],
      }),
    );
    // Inside the graph only the last axis (attention weights, ops/softmax.ts).
    expect(softmax.message).toMatch(/node "sm".*Softmax over axis 0 is not supported \(only the last axis\)/);
  });
});
