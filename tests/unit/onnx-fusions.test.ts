/**
 * The ONNX import pre-pass (src/engine/onnx/onnx-fusions.ts): LayerNorm and exact GELU written out op by op become
 * single nodes, only when the intermediate values feed nothing else; then whole models through importOnnx (the
 * op table): the fused LayerNorm over the last axis and over the channels of NCHW, MatMul on [N, T, F], Gemm,
 * ONNX LayerNormalization (opset 17), and ReduceMean's errors. Imported graphs run on the CPU engine against a
 * float64 forward pass written here.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import type { ConstValue } from '../../src/engine/ops/import-context';
import { fuseOnnxPatterns, type FusionNode } from '../../src/engine/onnx/onnx-fusions';
import { ModelImportError, importOnnx } from '../../src/engine/onnx/import-onnx';
import { onnxProto } from '../../src/engine/onnx/onnx-schema';
import type { Graph } from '../../src/engine/graph';
import { parseNpy, toFloat64 } from '../../src/engine/io/npy';
import { cpuEngine, randomArray, relL2, rng } from './helpers/engines';

// ---------------------------------------------------------------------------------------------------------------
// Hand-built node lists.

const f32 = (values: number[], shape: number[] = [values.length]): ConstValue => ({ dtype: 1, shape, data: Float32Array.from(values) });
const nodeOf = (opType: string, input: string[], output: string, attribute: FusionNode['attribute'] = []): FusionNode => ({ opType, input, output: [output], name: `/m/${opType}_${output}`, attribute, domain: '' });
const axesAttr = (axes: number[]) => [{ name: 'axes', type: 7, ints: axes }];
const constNode = (output: string, value: number): FusionNode => ({ opType: 'Constant', input: [], output: [output], name: output, attribute: [{ name: 'value_float', type: 1, f: value }] });
const attr = (n: FusionNode, name: string) => n.attribute?.find((a) => a.name === name);

/** F.layer_norm as torch.onnx writes it below opset 17 (the exponent a Constant node, the rest initializers). */
function layerNormNodes(opts: { axes?: number[]; square?: 'pow' | 'mul'; affine?: boolean; epsOnLeft?: boolean } = {}): FusionNode[] {
  const axes = opts.axes ?? [-1];
  const nodes = [
    nodeOf('Relu', ['input'], 'x'),
    nodeOf('ReduceMean', ['x'], 'mean', axesAttr(axes)),
    nodeOf('Sub', ['x', 'mean'], 'd'),
    constNode('two', 2),
    opts.square === 'mul' ? nodeOf('Mul', ['d', 'd'], 'sq') : nodeOf('Pow', ['d', 'two'], 'sq'),
    nodeOf('ReduceMean', ['sq'], 'var', axesAttr(axes)),
    nodeOf('Add', opts.epsOnLeft ? ['eps', 'var'] : ['var', 'eps'], 've'),
    nodeOf('Sqrt', ['ve'], 'std'),
    nodeOf('Div', ['d', 'std'], 'norm'),
  ];
  if (opts.affine !== false) nodes.push(nodeOf('Mul', ['norm', 'ln.weight'], 'scaled'), nodeOf('Add', ['ln.bias', 'scaled'], 'y'));
  nodes.push(nodeOf('Relu', [opts.affine !== false ? 'y' : 'norm'], 'out'));
  return nodes;
}

const constants = new Map<string, ConstValue>([
  ['eps', f32([1e-5], [])],
  ['ln.weight', f32([1, 2, 3])],
  ['ln.bias', f32([0.1, 0.2, 0.3])],
  ['ln2d.weight', f32([1, 2, 3], [3, 1, 1])],
  ['wide', f32([1, 2, 3, 4], [2, 2])],
  ['sqrt2', f32([1.4142135381698608], [])],
  ['rsqrt2', f32([0.7071067690849304], [])],
  ['one', f32([1], [1])],
  ['half', f32([0.5], [])],
  ['notHalf', f32([0.49])],
]);
const lookup = (name: string) => constants.get(name);
const ops = (nodes: readonly FusionNode[]) => nodes.map((n) => n.opType);

describe('LayerNorm written out becomes one LayerNormalization node', () => {
  it('F.layer_norm over the last axis, with weight and bias (either operand order)', () => {
    for (const epsOnLeft of [false, true]) {
      const out = fuseOnnxPatterns(layerNormNodes({ epsOnLeft }), lookup, ['out']);
      expect(ops(out)).toEqual(['Relu', 'Constant', 'LayerNormalization', 'Relu']);
      const ln = out[2]!;
      expect(ln.input).toEqual(['x', 'ln.weight', 'ln.bias']);
      expect(ln.output).toEqual(['y']);
      expect(ln.name).toBe('/m/ReduceMean_mean');
      expect(attr(ln, 'axis')?.i).toBe(-1);
      expect(attr(ln, 'epsilon')?.f).toBeCloseTo(1e-5, 12);
      expect(attr(ln, 'single_axis')?.i).toBe(1);
    }
  });

  it('Mul(d, d) for the square; no affine: a scale of 1 from a new Constant node', () => {
    const out = fuseOnnxPatterns(layerNormNodes({ square: 'mul', affine: false }), lookup, ['out']);
    expect(ops(out)).toEqual(['Relu', 'Constant', 'Constant', 'LayerNormalization', 'Relu']);
    const ln = out[3]!;
    expect(ln.input).toHaveLength(2);
    expect(ln.output).toEqual(['norm']);
    const scale = out[2]!;
    expect(scale.output).toEqual([ln.input![1]]);
    expect(attr(scale, 'value_float')?.f).toBe(1);
  });

  it('a weight that is an Identity of a constant (torch.onnx shares equal initializers that way, e.g. a ViT\'s LayerNorm weights)', () => {
    const nodes = [nodeOf('Identity', ['ln.weight'], 'shared.weight'), ...layerNormNodes().map((n) => (n.input?.includes('ln.weight') ? { ...n, input: ['norm', 'shared.weight'] } : n))];
    const out = fuseOnnxPatterns(nodes, lookup, ['out']);
    const ln = out.find((n) => n.opType === 'LayerNormalization')!;
    expect(ln.input).toEqual(['x', 'shared.weight', 'ln.bias']);
  });

  it("ConvNeXt's channels-first LayerNorm: axes [1], weight [C, 1, 1]", () => {
    const nodes = layerNormNodes({ axes: [1] }).map((n) => (n.input?.includes('ln.weight') ? { ...n, input: ['norm', 'ln2d.weight'] } : n));
    const out = fuseOnnxPatterns(nodes, lookup, ['out']);
    const ln = out.find((n) => n.opType === 'LayerNormalization')!;
    expect(attr(ln, 'axis')?.i).toBe(1);
    expect(ln.input).toEqual(['x', 'ln2d.weight', 'ln.bias']);
  });

  it('constants read from Constant nodes (value_float and value tensors)', () => {
    const nodes = layerNormNodes().flatMap((n) => (n.opType === 'Add' && n.input?.includes('eps') ? [constNode('epsNode', 1e-6), { ...n, input: ['var', 'epsNode'] }] : [n]));
    const tensorTwo: FusionNode = { opType: 'Constant', input: [], output: ['two'], name: 'two', attribute: [{ name: 'value', type: 4, t: { dims: [], dataType: 1, floatData: [2] } }] };
    const out = fuseOnnxPatterns(nodes.map((n) => (n.output?.[0] === 'two' ? tensorTwo : n)), lookup, ['out']);
    const ln = out.find((n) => n.opType === 'LayerNormalization')!;
    expect(attr(ln, 'epsilon')?.f).toBeCloseTo(1e-6, 12);
  });

  it('is left alone when an intermediate value feeds something else, or the pattern differs', () => {
    const unchanged = (nodes: FusionNode[], outputs = ['out']) => expect(ops(fuseOnnxPatterns(nodes, lookup, outputs))).toEqual(ops(nodes));
    // The centred value also feeds another node (that a graph output depends on).
    unchanged([...layerNormNodes(), nodeOf('Relu', ['d'], 'leak')], ['out', 'leak']);
    unchanged([...layerNormNodes(), nodeOf('Relu', ['d'], 'leak'), nodeOf('Add', ['leak', 'out'], 'sum')], ['sum']);
    // The mean, the variance or the normalised value is a graph output (the normalised value: then no affine).
    unchanged(layerNormNodes(), ['out', 'mean']);
    unchanged(layerNormNodes(), ['out', 'var']);
    // Two different axes.
    unchanged(layerNormNodes().map((n) => (n.output?.[0] === 'var' ? { ...n, attribute: axesAttr([-2]) } : n)));
    // Several axes.
    unchanged(layerNormNodes({ axes: [-2, -1] }));
    // An exponent other than 2.
    unchanged(layerNormNodes().map((n) => (n.output?.[0] === 'two' ? constNode('two', 3) : n)));
    // keepdims 0.
    unchanged(layerNormNodes().map((n) => (n.opType === 'ReduceMean' ? { ...n, attribute: [...axesAttr([-1]), { name: 'keepdims', type: 2, i: 0 }] } : n)));
    // Sub the other way round.
    unchanged(layerNormNodes().map((n) => (n.opType === 'Sub' ? { ...n, input: ['mean', 'x'] } : n)));
  });

  it('dead nodes are no readers: an unused Reciprocal of the std (and what reads it) goes with the pattern', () => {
    const nodes = [...layerNormNodes(), nodeOf('Reciprocal', ['std'], 'rstd'), nodeOf('Neg', ['rstd'], 'nrstd')];
    expect(ops(fuseOnnxPatterns(nodes, lookup, ['out']))).toEqual(['Relu', 'Constant', 'LayerNormalization', 'Relu']);
    // Without graph outputs every node counts as live: the Reciprocal is a reader and nothing is fused.
    expect(ops(fuseOnnxPatterns(nodes, lookup))).toEqual(ops(nodes));
  });

  it('keeps the affine out when its constant is not per feature, and the normalised value when it is an output', () => {
    const wide = layerNormNodes().map((n) => (n.input?.includes('ln.weight') ? { ...n, input: ['norm', 'wide'] } : n));
    const out = fuseOnnxPatterns(wide, lookup, ['out']);
    expect(ops(out)).toEqual(['Relu', 'Constant', 'Constant', 'LayerNormalization', 'Mul', 'Add', 'Relu']);
    const asOutput = fuseOnnxPatterns(layerNormNodes(), lookup, ['out', 'norm']);
    expect(ops(asOutput)).toEqual(['Relu', 'Constant', 'Constant', 'LayerNormalization', 'Mul', 'Add', 'Relu']);
  });
});

describe('exact GELU written out becomes one Gelu node', () => {
  const head = (scale: 'div' | 'mul'): FusionNode[] => [
    nodeOf('Relu', ['input'], 'x'),
    scale === 'div' ? nodeOf('Div', ['x', 'sqrt2'], 'v') : nodeOf('Mul', ['rsqrt2', 'x'], 'v'),
    nodeOf('Erf', ['v'], 'e'),
    nodeOf('Add', ['one', 'e'], 'o'),
  ];
  const orders: Record<string, FusionNode[]> = {
    'x * o, then * 0.5 (torch)': [nodeOf('Mul', ['x', 'o'], 'm'), nodeOf('Mul', ['m', 'half'], 'y')],
    'o * x, then 0.5 *': [nodeOf('Mul', ['o', 'x'], 'm'), nodeOf('Mul', ['half', 'm'], 'y')],
    'x * 0.5, then * o (written by hand)': [nodeOf('Mul', ['x', 'half'], 'm'), nodeOf('Mul', ['m', 'o'], 'y')],
    'o * 0.5, then x *': [nodeOf('Mul', ['o', 'half'], 'm'), nodeOf('Mul', ['x', 'm'], 'y')],
  };
  for (const [label, tail] of Object.entries(orders)) {
    for (const scale of ['div', 'mul'] as const) {
      it(`${label}, ${scale === 'div' ? 'Div by sqrt 2' : 'Mul by 1/sqrt 2'}`, () => {
        // Written by hand, x * 0.5 comes first; order the nodes topologically either way.
        const nodes = label.startsWith('x * 0.5') ? [head(scale)[0]!, tail[0]!, ...head(scale).slice(1), tail[1]!] : [...head(scale), ...tail];
        const out = fuseOnnxPatterns([...nodes, nodeOf('Relu', ['y'], 'out')], lookup, ['out']);
        expect(ops(out)).toEqual(['Relu', 'Gelu', 'Relu']);
        expect(out[1]!.input).toEqual(['x']);
        expect(out[1]!.output).toEqual(['y']);
      });
    }
  }

  it('is left alone for other constants or when an intermediate value feeds something else', () => {
    const base = [...head('div'), ...orders['x * o, then * 0.5 (torch)']!, nodeOf('Relu', ['y'], 'out')];
    const unchanged = (nodes: FusionNode[], outputs = ['out']) => expect(ops(fuseOnnxPatterns(nodes, lookup, outputs))).toEqual(ops(nodes));
    unchanged(base.map((n) => (n.input?.includes('half') ? { ...n, input: ['m', 'notHalf'] } : n)));
    unchanged(base.map((n) => (n.opType === 'Div' ? { ...n, input: ['x', 'rsqrt2'] } : n)));
    unchanged(base.map((n) => (n.opType === 'Add' ? { ...n, input: ['e', 'half'] } : n)));
    unchanged([...base, nodeOf('Relu', ['e'], 'leak')], ['out', 'leak']);
    unchanged([...base, nodeOf('Relu', ['m'], 'leak')], ['out', 'leak']);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Whole models through importOnnx.

const ModelProto = protobuf.parse(onnxProto).root.lookupType('onnx.ModelProto');

interface Spec {
  input: number[];
  nodes: { op: string; inputs: string[]; output: string; attrs?: Record<string, number | number[] | string> }[];
  inits: Record<string, { dims: number[]; values: ArrayLike<number> }>;
  output: string;
}

function encode(spec: Spec): Uint8Array {
  const vi = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const attribute = (name: string, v: number | number[] | string) =>
    typeof v === 'string'
      ? { name, type: 3, s: new TextEncoder().encode(v) }
      : Array.isArray(v)
        ? { name, type: 7, ints: v }
        : name === 'epsilon' || !Number.isInteger(v)
          ? { name, type: 1, f: v }
          : { name, type: 2, i: v };
  return ModelProto.encode(
    ModelProto.fromObject({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'g',
        node: spec.nodes.map((n, i) => ({ opType: n.op, name: `/blk/${n.op}_${i}`, input: n.inputs, output: [n.output], attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)) })),
        initializer: Object.entries(spec.inits).map(([name, t]) => ({ name, dims: t.dims, dataType: 1, rawData: new Uint8Array(Float32Array.from(t.values).buffer) })),
        input: [vi('x', spec.input)],
        output: [vi(spec.output, [])],
      },
    }),
  ).finish();
}

const importSpec = (spec: Spec): Graph => importOnnx({ name: 'block.onnx', bytes: encode(spec) });

function importError(spec: Spec): string {
  try {
    importSpec(spec);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelImportError);
    return (e as Error).message;
  }
  throw new Error('expected a ModelImportError');
}

/** The written-out LayerNorm of `x` over `axis` into `y`, with weight `${p}.weight` and bias `${p}.bias`. */
function writtenLayerNorm(x: string, y: string, axis: number, p: string): Spec['nodes'] {
  return [
    { op: 'ReduceMean', inputs: [x], output: `${p}/mean`, attrs: { axes: [axis] } },
    { op: 'Sub', inputs: [x, `${p}/mean`], output: `${p}/d` },
    { op: 'Pow', inputs: [`${p}/d`, 'two'], output: `${p}/sq` },
    { op: 'ReduceMean', inputs: [`${p}/sq`], output: `${p}/var`, attrs: { axes: [axis] } },
    { op: 'Add', inputs: [`${p}/var`, 'eps'], output: `${p}/ve` },
    { op: 'Sqrt', inputs: [`${p}/ve`], output: `${p}/std` },
    { op: 'Div', inputs: [`${p}/d`, `${p}/std`], output: `${p}/n` },
    { op: 'Mul', inputs: [`${p}/n`, `${p}.weight`], output: `${p}/s` },
    { op: 'Add', inputs: [`${p}/s`, `${p}.bias`], output: y },
  ];
}

/** Float64 LayerNorm of a [outer, F, inner] array over F. */
function layerNorm(x: Float64Array, outer: number, f: number, inner: number, gamma: ArrayLike<number>, beta: ArrayLike<number>, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (k: number) => (o * f + k) * inner + i;
      let mean = 0;
      for (let k = 0; k < f; k++) mean += x[at(k)]! / f;
      let v = 0;
      for (let k = 0; k < f; k++) v += (x[at(k)]! - mean) ** 2 / f;
      for (let k = 0; k < f; k++) y[at(k)] = (gamma[k]! * (x[at(k)]! - mean)) / Math.sqrt(v + eps) + beta[k]!;
    }
  }
  return y;
}
const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
/** erf to 1e-12 (Taylor series; |x| here stays below 4). */
function erf(x: number): number {
  let term = x;
  let total = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    total += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * total;
}
const matmul = (x: Float64Array, rows: number, w: ArrayLike<number>, f: number, o: number, bias?: ArrayLike<number>): Float64Array => {
  const y = new Float64Array(rows * o);
  for (let r = 0; r < rows; r++) for (let k = 0; k < o; k++) for (let j = 0; j < f; j++) y[r * o + k] = y[r * o + k]! + x[r * f + j]! * w[j * o + k]! + (j === 0 && bias ? bias[k]! : 0);
  return y;
};

describe('models through importOnnx', () => {
  it('a transformer-style block on [1, T, F]: LayerNorm and GELU written out, MatMul with a bias Add, Gemm head', async () => {
    const random = rng(3);
    const [T, F, H, C] = [4, 6, 10, 3];
    const inits = {
      two: { dims: [], values: [2] },
      eps: { dims: [], values: [1e-5] },
      sqrt2: { dims: [], values: [Math.SQRT2] },
      one: { dims: [], values: [1] },
      half: { dims: [], values: [0.5] },
      'ln.weight': { dims: [F], values: randomArray(F, random, 1.5) },
      'ln.bias': { dims: [F], values: randomArray(F, random, 0.3) },
      'fc1.weight': { dims: [F, H], values: randomArray(F * H, random, 0.5) },
      'fc1.bias': { dims: [H], values: randomArray(H, random, 0.2) },
      'head.weight': { dims: [C, T * H], values: randomArray(C * T * H, random, 0.2) },
      'head.bias': { dims: [C], values: randomArray(C, random, 0.1) },
      shape: { dims: [2], values: [1, T * H] },
    };
    const spec: Spec = {
      input: [1, T, F],
      nodes: [
        ...writtenLayerNorm('x', 'ln/y', -1, 'ln'),
        { op: 'MatMul', inputs: ['ln/y', 'fc1.weight'], output: 'fc1/m' },
        { op: 'Add', inputs: ['fc1/m', 'fc1.bias'], output: 'fc1/y' },
        { op: 'Div', inputs: ['fc1/y', 'sqrt2'], output: 'g/v' },
        { op: 'Erf', inputs: ['g/v'], output: 'g/e' },
        { op: 'Add', inputs: ['g/e', 'one'], output: 'g/o' },
        { op: 'Mul', inputs: ['fc1/y', 'g/o'], output: 'g/m' },
        { op: 'Mul', inputs: ['g/m', 'half'], output: 'g/y' },
        { op: 'Flatten', inputs: ['g/y'], output: 'flat', attrs: { axis: 1 } },
        { op: 'Gemm', inputs: ['flat', 'head.weight', 'head.bias'], output: 'logits', attrs: { transB: 1 } },
      ],
      inits: inits as Spec['inits'],
      output: 'logits',
    };
    const graph = importSpec(spec);
    expect(graph.nodes.map((n) => n.op)).toEqual(['layernorm', 'linear', 'gelu', 'reshape', 'linear']);
    const [ln, fc1] = graph.nodes;
    expect(ln!.name).toBe('ln');
    expect(ln!.attrs).toMatchObject({ axis: 2 });
    expect(fc1!.name).toBe('fc1');
    expect(fc1!.params.weight!.shape).toEqual([H, F]);
    expect(fc1!.params.bias!.shape).toEqual([H]);

    const x = randomArray(T * F, rng(4), 2);
    const want = (() => {
      const y = layerNorm(Float64Array.from(x), T, F, 1, inits['ln.weight'].values, inits['ln.bias'].values, 1e-5);
      const h = matmul(y, T, inits['fc1.weight'].values, F, H, inits['fc1.bias'].values).map(gelu);
      const w = inits['head.weight'].values;
      return [0, 1, 2].map((k) => inits['head.bias'].values[k]! + h.reduce((a, v, j) => a + w[k * T * H + j]! * v, 0));
    })();
    const model = await (await cpuEngine()).load(graph);
    expect(relL2(await model.forward(x), want)).toBeLessThan(1e-6);
    const e = await model.explain(x, { rules: { preset: 'EpsilonPlus' } });
    expect(e.nonFinite).toBeNull();
    model.dispose();
  });

  it("ConvNeXt's channels-first LayerNorm over NCHW (axes [1], weight [C, 1, 1]) after a Conv", async () => {
    const random = rng(5);
    const [C, S] = [4, 3];
    const inits = {
      two: { dims: [], values: [2] },
      eps: { dims: [], values: [1e-6] },
      'stem.weight': { dims: [C, 2, 1, 1], values: randomArray(C * 2, random, 1) },
      'ln.weight': { dims: [C, 1, 1], values: randomArray(C, random, 1.5) },
      'ln.bias': { dims: [C, 1, 1], values: randomArray(C, random, 0.3) },
      'head.weight': { dims: [2, C], values: randomArray(2 * C, random, 0.5) },
    };
    const graph = importSpec({
      input: [1, 2, S, S],
      nodes: [
        { op: 'Conv', inputs: ['x', 'stem.weight'], output: 'c' },
        ...writtenLayerNorm('c', 'n', 1, 'ln'),
        { op: 'GlobalAveragePool', inputs: ['n'], output: 'p' },
        { op: 'Flatten', inputs: ['p'], output: 'f' },
        { op: 'Gemm', inputs: ['f', 'head.weight'], output: 'logits', attrs: { transB: 1 } },
      ],
      inits: inits as Spec['inits'],
      output: 'logits',
    });
    expect(graph.nodes.map((n) => n.op)).toEqual(['conv2d', 'layernorm', 'globalavgpool', 'reshape', 'linear']);
    expect(graph.nodes[1]!.attrs).toMatchObject({ axis: 1 });
    const x = randomArray(2 * S * S, rng(6), 2);
    const w = inits['stem.weight'].values;
    const c = new Float64Array(C * S * S);
    for (let o = 0; o < C; o++) for (let p = 0; p < S * S; p++) c[o * S * S + p] = w[o * 2]! * x[p]! + w[o * 2 + 1]! * x[S * S + p]!;
    const n = layerNorm(c, 1, C, S * S, inits['ln.weight'].values, inits['ln.bias'].values, 1e-6);
    const pooled = [...Array(C).keys()].map((o) => n.slice(o * S * S, (o + 1) * S * S).reduce((a, v) => a + v, 0) / (S * S));
    const hw = inits['head.weight'].values;
    const want = [0, 1].map((k) => pooled.reduce((a, v, o) => a + hw[k * C + o]! * v, 0));
    const model = await (await cpuEngine()).load(graph);
    expect(relL2(await model.forward(x), want)).toBeLessThan(1e-6);
    model.dispose();
  });

  it('LayerNormalization (opset 17): the last axis; several normalised axes are refused clearly', async () => {
    const random = rng(7);
    const gamma = randomArray(5, random, 1);
    const spec = (axis: number, input: number[], scaleDims: number[]): Spec => ({
      input,
      nodes: [
        { op: 'LayerNormalization', inputs: ['x', 'norm.weight'], output: 'n', attrs: { axis, epsilon: 1e-5 } },
        { op: 'Flatten', inputs: ['n'], output: 'logits' },
      ],
      inits: { 'norm.weight': { dims: scaleDims, values: scaleDims.length === 1 ? gamma : randomArray(scaleDims.reduce((a, d) => a * d, 1), random) } },
      output: 'logits',
    });
    const graph = importSpec(spec(-1, [1, 2, 5], [5]));
    expect(graph.nodes.map((n) => n.op)).toEqual(['layernorm', 'reshape']);
    expect(graph.nodes[0]!.name).toBe('norm');
    expect(graph.nodes[0]!.params.beta).toBeUndefined();
    const x = randomArray(10, rng(8), 2);
    const model = await (await cpuEngine()).load(graph);
    expect(relL2(await model.forward(x), layerNorm(Float64Array.from(x), 2, 5, 1, gamma, new Float64Array(5), 1e-5))).toBeLessThan(1e-6);
    model.dispose();
    expect(importError(spec(1, [1, 2, 5], [2, 5]))).toMatch(/normalising over the axes \[2, 5\] together .* only a single normalised axis/);
  });

  it('ReduceMean: a global average pool over H and W; other axes moved last and pooled; the batch axis refused', async () => {
    const pool = (axes: number[], keepdims: number, input: number[]): Spec => ({
      input,
      nodes: [
        { op: 'ReduceMean', inputs: ['x'], output: 'm', attrs: { axes, keepdims } },
        { op: 'Flatten', inputs: ['m'], output: 'logits' },
      ],
      inits: {},
      output: 'logits',
    });
    expect(importSpec(pool([2, 3], 1, [1, 3, 4, 4])).nodes.map((n) => n.op)).toEqual(['globalavgpool', 'reshape']);
    expect(importSpec(pool([-1, -2], 0, [1, 3, 4, 4])).nodes.map((n) => n.op)).toEqual(['globalavgpool', 'reshape']);
    // Over H and W of NHWC [1, 2, 3, 4] (torchvision's ConvNeXt-style heads written by hand): a transpose moves them
    // last, then one average pool; checked against the mean written out.
    const nhwc = importSpec(pool([1, 2], 0, [1, 2, 3, 4]));
    expect(nhwc.nodes.map((n) => n.op)).toEqual(['transpose', 'reshape', 'globalavgpool', 'reshape']);
    const x = randomArray(24, rng(10), 1);
    const model = await (await cpuEngine()).load(nhwc);
    const expected = new Float64Array(4);
    for (let i = 0; i < 6; i++) for (let c = 0; c < 4; c++) expected[c]! += x[i * 4 + c]! / 6;
    expect(relL2(await model.forward(x), expected)).toBeLessThan(1e-6);
    model.dispose();
    // Over the last axis of [1, 4, 6] (no transpose needed).
    expect(importSpec(pool([-1], 1, [1, 4, 6])).nodes.map((n) => n.op)).toEqual(['reshape', 'globalavgpool', 'reshape', 'reshape']);
    expect(importError(pool([0, 1], 1, [1, 3, 4, 4]))).toMatch(/ReduceMean over the batch axis is not supported/);
  });

  it('MatMul of a rank-4 NHWC value and Gemm keep their errors', () => {
    const random = rng(9);
    const graph = importSpec({
      input: [1, 2, 3, 4],
      nodes: [
        { op: 'MatMul', inputs: ['x', 'pw.weight'], output: 'y' },
        { op: 'Flatten', inputs: ['y'], output: 'logits' },
      ],
      inits: { 'pw.weight': { dims: [4, 5], values: randomArray(20, random) } },
      output: 'logits',
    });
    expect(graph.nodes[0]!.op).toBe('linear');
    expect(graph.nodes[0]!.params.weight!.shape).toEqual([5, 4]);
    const bad = importError({
      input: [1, 2, 3, 4],
      nodes: [{ op: 'MatMul', inputs: ['x', 'pw.weight'], output: 'logits' }],
      inits: { 'pw.weight': { dims: [3, 5], values: randomArray(15, random) } },
      output: 'logits',
    });
    expect(bad).toMatch(/the weight \[3, 5\] does not fit an input of 4 features/);
    // Two computed values are a matmul layer (ops/matmul.ts) when their leading axes agree; broadcasting them is refused.
    const twoComputed = importError({
      input: [1, 4, 4],
      nodes: [
        { op: 'Transpose', inputs: ['x'], output: 't', attrs: { perm: [1, 0, 2] } },
        { op: 'MatMul', inputs: ['x', 't'], output: 'logits' },
      ],
      inits: {},
      output: 'logits',
    });
    expect(twoComputed).toMatch(/leading axes of \[1, 4, 4\] and \[4, 1, 4\] differ/);
  });

  it("torchvision ConvNeXt (tests/fixtures/zoo): opset 13 (LayerNorm and GELU written out) imports as opset 17 does, PyTorch's logits", async () => {
    const zoo = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'zoo');
    const read = (f: string) => new Uint8Array(readFileSync(resolve(zoo, f)));
    const [old, opset17] = ['convnext.onnx', 'convnext_opset17.onnx'].map((f) => importOnnx({ name: f, bytes: read(f) }));
    const summary = (g: Graph) => g.nodes.map((n) => `${n.op}:${n.op === 'layernorm' ? JSON.stringify(n.attrs) : ''}`);
    expect(summary(old!)).toEqual(summary(opset17!));
    expect(old!.nodes.filter((n) => n.op === 'layernorm')).toHaveLength(10); // stem, 6 blocks, 2 downsamplings, head
    expect(old!.nodes.filter((n) => n.op === 'gelu')).toHaveLength(6);
    const x = Float32Array.from(toFloat64(parseNpy(read('convnext.input.npy'))));
    const logits = toFloat64(parseNpy(read('convnext.logits.npy')));
    for (const g of [old!, opset17!]) {
      const model = await (await cpuEngine()).load(g);
      expect(relL2(await model.forward(x), logits)).toBeLessThan(1e-5);
      model.dispose();
    }
  }, 60_000);
});
