/**
 * Inputs for the ONNX importer fuzz tests: the property check for one file, and random ModelProtos built from the
 * supported operators with random attributes, initializers and wiring (encoded with protobufjs).
 */
import * as protobuf from 'protobufjs';
import fc from 'fast-check';
import { SUPPORTED_ONNX_OPS, importOnnx, onnxExternalFiles } from '../../src/engine/onnx/import-onnx';
import { onnxProto } from '../../src/engine/onnx/onnx-schema';
import { checkImport, onnxSideFiles, PropertyViolation, type Outcome } from './harness';

const ModelProto = protobuf.parse(onnxProto).root.lookupType('onnx.ModelProto');
const side = onnxSideFiles();

/** The property for one ONNX file (with every known side file available). */
export function checkOnnx(bytes: Uint8Array, name = 'fuzz.onnx'): Outcome {
  let files: unknown;
  try {
    files = onnxExternalFiles(bytes);
  } catch (e) {
    throw new PropertyViolation(`onnxExternalFiles threw ${(e as Error).message}`);
  }
  if (!Array.isArray(files) || !files.every((f) => typeof f === 'string')) throw new PropertyViolation('onnxExternalFiles returned a non-list');
  return checkImport(name, () => importOnnx({ name, bytes }, side));
}

export const onnxEntry = (bytes: Uint8Array) => ({ kind: 'onnx' as const, bytes });

// ---------------------------------------------------------------------------------------------------------------
// Random ModelProtos

const int64 = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: -2, max: 6 }) },
  { weight: 2, arbitrary: fc.integer({ min: -70000, max: 70000 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<number | string>(2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53 - 1, '9007199254740993', '9223372036854775807', '-9223372036854775808'),
  },
);
const dim = fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 1, max: 6 }) }, { weight: 1, arbitrary: int64 });
const float = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: -4, max: 4, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 3.4e38, 1e-45, 2 ** 31) },
);
const DTYPES = [1, 1, 1, 1, 7, 7, 7, 6, 11, 10, 16, 9, 2, 3, 5, 8, 12, 13, 0, 99];
const LOCATIONS = ['w.bin', 'cnn.onnx.data', 'sub/w.bin', '../../etc/passwd', '/etc/passwd', 'C:\\w.bin', 'https://evil.example/w', ''];
const OFFSETS = [undefined, '0', '4', '-4', '1.5', 'abc', '1e3', '99999999999', '9007199254740993'];

const tensor = fc.oneof(
  // A consistent float tensor (weights).
  {
    weight: 4,
    arbitrary: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 4 }).chain((dims) => {
      const n = dims.reduce((a, b) => a * b, 1);
      return fc.record({
        dims: fc.constant(dims),
        dataType: fc.constant(1),
        floatData: fc.array(float, { minLength: n, maxLength: n }),
      });
    }),
  },
  // A consistent int64 vector (shapes, axes, pads, starts/ends).
  {
    weight: 4,
    arbitrary: fc.array(int64, { minLength: 0, maxLength: 8 }).map((v) => ({ dims: [v.length], dataType: 7, int64Data: v })),
  },
  // A scalar of some type.
  { weight: 1, arbitrary: fc.record({ dims: fc.constant([]), dataType: fc.constantFrom(1, 7, 6, 11), doubleData: fc.array(float, { maxLength: 1 }), floatData: fc.array(float, { maxLength: 1 }), int64Data: fc.array(int64, { maxLength: 1 }), int32Data: fc.array(fc.integer({ min: -5, max: 5 }), { maxLength: 1 }) }) },
  // Anything: dims, type and payload that need not agree.
  {
    weight: 2,
    arbitrary: fc.record(
      {
        dims: fc.array(dim, { maxLength: 6 }),
        dataType: fc.constantFrom(...DTYPES),
        rawData: fc.uint8Array({ maxLength: 96 }),
        floatData: fc.array(float, { maxLength: 8 }),
        int64Data: fc.array(int64, { maxLength: 8 }),
        int32Data: fc.array(fc.integer(), { maxLength: 8 }),
        doubleData: fc.array(float, { maxLength: 8 }),
      },
      { requiredKeys: ['dims', 'dataType'] },
    ),
  },
  // External data.
  {
    weight: 1,
    arbitrary: fc
      .record({ dims: fc.array(dim, { maxLength: 4 }), dataType: fc.constantFrom(1, 7, 10), location: fc.constantFrom(...LOCATIONS), offset: fc.constantFrom(...OFFSETS), length: fc.constantFrom(...OFFSETS) })
      .map(({ location, offset, length, ...t }) => ({
        ...t,
        dataLocation: 1,
        externalData: [
          { key: 'location', value: location },
          ...(offset !== undefined ? [{ key: 'offset', value: offset }] : []),
          ...(length !== undefined ? [{ key: 'length', value: length }] : []),
        ],
      })),
  },
);

const ATTR_NAMES = [
  'kernel_shape', 'strides', 'pads', 'dilations', 'group', 'auto_pad', 'axis', 'axes', 'perm', 'to', 'value', 'value_float',
  'value_floats', 'value_int', 'value_ints', 'shape', 'starts', 'ends', 'alpha', 'beta', 'transA', 'transB', 'keepdims',
  'ceil_mode', 'count_include_pad', 'mode', 'epsilon', 'min', 'max', 'allowzero', 'start', 'end', 'training_mode',
] as const;
const STRINGS = ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID', 'constant', 'reflect', '', '<script>alert(1)</script>'];

const attribute = fc.oneof(
  fc.record({ name: fc.constantFrom(...ATTR_NAMES), type: fc.constant(2), i: int64 }),
  fc.record({ name: fc.constantFrom(...ATTR_NAMES), type: fc.constant(7), ints: fc.array(int64, { maxLength: 8 }) }),
  fc.record({ name: fc.constantFrom(...ATTR_NAMES), type: fc.constant(1), f: float }),
  fc.record({ name: fc.constantFrom(...ATTR_NAMES), type: fc.constant(6), floats: fc.array(float, { maxLength: 4 }) }),
  fc.record({ name: fc.constantFrom(...ATTR_NAMES), type: fc.constant(3), s: fc.constantFrom(...STRINGS).map((s) => new TextEncoder().encode(s)) }),
  fc.record({ name: fc.constantFrom(...ATTR_NAMES), type: fc.constant(4), t: tensor }),
);

const op = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...SUPPORTED_ONNX_OPS) },
  { weight: 4, arbitrary: fc.constant('Constant') },
  { weight: 1, arbitrary: fc.constantFrom('Foo', 'Loop', 'If', 'Tile', 'Resize') },
);

interface NodeSpec {
  op: string;
  domain: string;
  inputs: number[];
  outputs: number[];
  attrs: unknown[];
  name: string;
}
const nodeSpec: fc.Arbitrary<NodeSpec> = fc.record({
  op,
  domain: fc.constantFrom('', '', '', '', 'ai.onnx', 'com.microsoft'),
  inputs: fc.array(fc.nat(), { maxLength: 4 }),
  outputs: fc.array(fc.nat(), { minLength: 1, maxLength: 2 }),
  attrs: fc.array(attribute, { maxLength: 4 }),
  name: fc.constantFrom('', '/conv1/Conv', '/layer1/layer1.0/relu/Relu', 'n', '<b>x</b>', '/a/b/c'),
});

const inputDims = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(1, 0), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 })).map((t) => [...t]) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(1, 0), fc.integer({ min: 1, max: 16 })).map((t) => [...t]) },
  { weight: 1, arbitrary: fc.array(dim, { maxLength: 6 }) },
);

export const randomModel = fc.record({
  irVersion: fc.constantFrom(3, 8),
  inputs: fc.oneof({ weight: 8, arbitrary: inputDims.map((d) => [d]) }, { weight: 1, arbitrary: fc.array(inputDims, { maxLength: 3 }) }),
  inputType: fc.constantFrom(1, 1, 1, 1, 7, 0),
  initializers: fc.array(tensor, { maxLength: 5 }),
  nodes: fc.array(nodeSpec, { minLength: 1, maxLength: 10 }),
  output: fc.oneof({ weight: 8, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat() }),
  extraOutputs: fc.nat({ max: 1 }),
});

export type ModelSpec = typeof randomModel extends fc.Arbitrary<infer T> ? T : never;

const INIT_NAMES = ['W', 'B', 'S', 'fc.weight', 'conv1.weight', 'conv1.bias', 'x', 'idx', 'shape'];

/** Encodes a random model: names of inputs, initializers and earlier outputs wired by index. */
export function encodeRandom(m: ModelSpec): Uint8Array {
  const pool: string[] = [];
  const inputs = m.inputs.map((dims, i) => {
    const name = i === 0 ? 'x' : `x${i}`;
    pool.push(name);
    return {
      name,
      type: { tensorType: { elemType: m.inputType, shape: { dim: dims.map((d) => (d === 0 ? { dimParam: 'batch' } : { dimValue: d })) } } },
    };
  });
  const initializer = m.initializers.map((t, i) => {
    const name = INIT_NAMES[i % INIT_NAMES.length]!;
    pool.push(name);
    return { ...t, name };
  });
  let fresh = 0;
  const node = m.nodes.map((n, k) => {
    const input = n.inputs.map((i) => (i % 9 === 8 ? '' : pool.length === 0 ? 'nothing' : pool[i % pool.length]!));
    const output = n.outputs.map((o) => (o % 11 === 10 && pool.length > 0 ? pool[o % pool.length]! : `t${fresh++}`));
    pool.push(...output);
    return { opType: n.op, domain: n.domain, name: n.name ? `${n.name}${k}` : '', input, output, attribute: n.attrs };
  });
  const last = node.at(-1)?.output[0] ?? 'y';
  const outName = m.output < 0 ? last : (pool[m.output % Math.max(pool.length, 1)] ?? last);
  const outputs = [outName, ...(m.extraOutputs ? [pool[0] ?? 'z'] : [])].map((name) => ({ name }));
  const msg = ModelProto.fromObject({
    irVersion: m.irVersion,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'fuzz', node, initializer, input: inputs, output: outputs },
  });
  return ModelProto.encode(msg).finish();
}

export function encodeLen(n: number): number[] {
  const out: number[] = [];
  let x = n;
  do {
    out.push((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
    x >>>= 7;
  } while (x > 0);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Valid chains of layers, then perturbed: deeper into the importer than random wiring gets.

const step = fc.record({ kind: fc.nat(), a: fc.nat(), b: fc.nat(), c: fc.nat() });
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

const perturbation = fc.oneof(
  fc.record({ kind: fc.constant('attr' as const), target: fc.nat(), attr: attribute, keepName: fc.boolean() }),
  fc.record({ kind: fc.constant('dims' as const), target: fc.nat(), dims: fc.array(dim, { maxLength: 6 }) }),
  fc.record({ kind: fc.constant('dtype' as const), target: fc.nat(), dtype: fc.constantFrom(...DTYPES) }),
  fc.record({ kind: fc.constant('data' as const), target: fc.nat(), values: fc.array(float, { maxLength: 12 }) }),
  fc.record({ kind: fc.constant('ints' as const), target: fc.nat(), values: fc.array(int64, { maxLength: 10 }) }),
  fc.record({ kind: fc.constant('input' as const), target: fc.nat(), slot: fc.nat({ max: 3 }), pick: fc.nat() }),
  fc.record({ kind: fc.constant('op' as const), target: fc.nat(), op }),
  fc.record({ kind: fc.constant('inputDims' as const), dims: inputDims }),
  fc.record({ kind: fc.constant('tensorAttr' as const), target: fc.nat(), t: tensor }),
);

export const chainModel = fc.record({
  flat: fc.boolean(),
  c: fc.integer({ min: 1, max: 4 }),
  h: fc.integer({ min: 1, max: 9 }),
  w: fc.integer({ min: 1, max: 9 }),
  steps: fc.array(step, { maxLength: 10 }),
  classes: fc.integer({ min: 1, max: 5 }),
  softmax: fc.boolean(),
  perturb: fc.array(perturbation, { maxLength: 3 }),
});
export type ChainSpec = typeof chainModel extends fc.Arbitrary<infer T> ? T : never;

interface TensorObj {
  name: string;
  dims: number[];
  dataType: number;
  floatData?: number[];
  int64Data?: (number | string)[];
  [k: string]: unknown;
}
interface NodeObj {
  opType: string;
  name: string;
  input: string[];
  output: string[];
  attribute: { name: string; [k: string]: unknown }[];
}

const pattern = (n: number): number[] => Array.from({ length: n }, (_, i) => ((i * 7) % 11) / 8 - 0.6);
const ints = (name: string, v: number[]): TensorObj => ({ name, dims: [v.length], dataType: 7, int64Data: v });
const iattr = (name: string, v: number | number[]) => (Array.isArray(v) ? { name, type: 7, ints: v } : { name, type: 2, i: v });

/** Builds the layers a chain describes, following the shape as it goes; the result imports cleanly. */
function buildChain(m: ChainSpec): { nodes: NodeObj[]; inits: TensorObj[]; inputDims: number[]; output: string } {
  const nodes: NodeObj[] = [];
  const inits: TensorObj[] = [];
  let shape = m.flat ? [1, m.c * m.h] : [1, m.c, m.h, m.w];
  const inputDims = [...shape];
  let cur = 'x';
  let k = 0;
  const node = (op: string, module: string, input: string[], attribute: NodeObj['attribute'] = [], out = `v${k}`): string => {
    nodes.push({ opType: op, name: `/${module}/${op}`, input, output: [out], attribute });
    k++;
    return out;
  };
  const weight = (name: string, dims: number[]): string => {
    inits.push({ name, dims, dataType: 1, floatData: pattern(dims.reduce((a, b) => a * b, 1)) });
    return name;
  };
  const add = (s: Step): void => {
    const id = `l${k}`;
    if (shape.length === 4) {
      const [, C, H, W] = shape as [number, number, number, number];
      switch (s.kind % 16) {
        case 0: {
          const O = 1 + (s.a % 4);
          const kk = Math.min(1 + (s.b % 3), H, W);
          const st = 1 + (s.c % 2);
          const p = s.c % 3 === 2 ? 1 : 0;
          cur = node('Conv', id, [cur, weight(`${id}.weight`, [O, C, kk, kk]), weight(`${id}.bias`, [O])], [iattr('kernel_shape', [kk, kk]), iattr('strides', [st, st]), iattr('pads', [p, p, p, p])]);
          shape = [1, O, Math.floor((H + 2 * p - kk) / st) + 1, Math.floor((W + 2 * p - kk) / st) + 1];
          return;
        }
        case 1:
          cur = node('Relu', id, [cur]);
          return;
        case 2:
          cur = node('LeakyRelu', id, [cur], [{ name: 'alpha', type: 1, f: 0.1 }]);
          return;
        case 3:
          cur = node(s.a % 2 ? 'Sigmoid' : 'Tanh', id, [cur]);
          return;
        case 4: {
          inits.push({ name: `${id}.min`, dims: [], dataType: 1, floatData: [0] }, { name: `${id}.max`, dims: [], dataType: 1, floatData: [6] });
          cur = node('Clip', id, [cur, `${id}.min`, `${id}.max`]);
          return;
        }
        case 5:
        case 6: {
          const kk = Math.min(2, H, W);
          cur = node(s.kind % 16 === 5 ? 'MaxPool' : 'AveragePool', id, [cur], [iattr('kernel_shape', [kk, kk]), iattr('strides', [kk, kk])]);
          shape = [1, C, Math.floor((H - kk) / kk) + 1, Math.floor((W - kk) / kk) + 1];
          return;
        }
        case 7:
          cur = node('BatchNormalization', id, [cur, weight(`${id}.weight`, [C]), weight(`${id}.bias`, [C]), weight(`${id}.running_mean`, [C]), weight(`${id}.running_var`, [C])]);
          inits.at(-1)!.floatData = inits.at(-1)!.floatData!.map((v) => Math.abs(v) + 0.5);
          return;
        case 8: {
          const r = node('Relu', `${id}/a`, [cur]);
          cur = node('Add', id, [cur, r]);
          return;
        }
        case 9: {
          const p = 1 + (s.a % 2);
          inits.push(ints(`${id}.pads`, [0, 0, p, p, 0, 0, p, p]));
          cur = node('Pad', id, [cur, `${id}.pads`]);
          shape = [1, C, H + 2 * p, W + 2 * p];
          return;
        }
        case 10: {
          if (H < 2) return;
          inits.push(ints(`${id}.starts`, [0]), ints(`${id}.ends`, [H]), ints(`${id}.axes`, [2]), ints(`${id}.steps`, [2]));
          cur = node('Slice', id, [cur, `${id}.starts`, `${id}.ends`, `${id}.axes`, `${id}.steps`]);
          shape = [1, C, Math.ceil(H / 2), W];
          return;
        }
        case 11:
          cur = node('GlobalAveragePool', id, [cur]);
          shape = [1, C, 1, 1];
          return;
        case 12: {
          const keep = s.a % 2;
          cur = node('ReduceMean', id, [cur], [iattr('axes', [2, 3]), iattr('keepdims', keep)]);
          shape = keep ? [1, C, 1, 1] : [1, C];
          return;
        }
        case 13:
          cur = node('Flatten', id, [cur], [iattr('axis', 1)]);
          shape = [1, C * H * W];
          return;
        case 14: {
          // The TorchScript exporter's x.view(x.size(0), -1).
          const sh = node('Shape', `${id}/s`, [cur]);
          inits.push({ name: `${id}.zero`, dims: [], dataType: 7, int64Data: [0] });
          const g = node('Gather', `${id}/g`, [sh, `${id}.zero`], [iattr('axis', 0)]);
          const u = node('Unsqueeze', `${id}/u`, [g], [iattr('axes', [0])]);
          inits.push(ints(`${id}.minus1`, [-1]));
          const cat = node('Concat', `${id}/c`, [u, `${id}.minus1`], [iattr('axis', 0)]);
          cur = node('Reshape', id, [cur, cat]);
          shape = [1, C * H * W];
          return;
        }
        default:
          cur = node(s.a % 2 ? 'Dropout' : 'Identity', id, [cur]);
          return;
      }
    }
    const F = shape[1]!;
    switch (s.kind % 6) {
      case 0: {
        const O = 1 + (s.a % 6);
        const transB = s.b % 2;
        cur = node('Gemm', id, [cur, weight(`${id}.weight`, transB ? [O, F] : [F, O]), weight(`${id}.bias`, [O])], [iattr('transB', transB)]);
        shape = [1, O];
        return;
      }
      case 1: {
        const O = 1 + (s.a % 6);
        const mm = node('MatMul', `${id}/mm`, [cur, weight(`${id}.w`, [F, O])]);
        cur = node('Add', id, [mm, weight(`${id}.b`, [O])]);
        shape = [1, O];
        return;
      }
      case 2:
        cur = node('Relu', id, [cur]);
        return;
      case 3:
        cur = node('Sigmoid', id, [cur]);
        return;
      case 4: {
        const u = node('Unsqueeze', `${id}/u`, [cur], [iattr('axes', [2])]);
        cur = node('Squeeze', id, [u], [iattr('axes', [2])]);
        return;
      }
      default:
        cur = node('Dropout', id, [cur]);
    }
  };
  for (const s of m.steps) add(s);
  if (shape.length === 4) {
    cur = node('Flatten', 'flatten', [cur]);
    shape = [1, shape[1]! * shape[2]! * shape[3]!];
  }
  cur = node('Gemm', 'fc', [cur, weight('fc.weight', [m.classes, shape[1]!]), weight('fc.bias', [m.classes])], [iattr('transB', 1)]);
  if (m.softmax) cur = node('Softmax', 'softmax', [cur], [iattr('axis', 1)]);
  return { nodes, inits, inputDims, output: cur };
}

/** Encodes a chain with its perturbations applied. */
export function encodeChain(m: ChainSpec): Uint8Array {
  const { nodes, inits, output } = buildChain(m);
  let inputDims: number[] = buildChain(m).inputDims;
  const pool = ['x', ...inits.map((t) => t.name), ...nodes.flatMap((n) => n.output), '', 'missing'];
  for (const p of m.perturb) {
    const n = nodes[('target' in p ? p.target : 0) % nodes.length]!;
    const t = inits.length > 0 ? inits[('target' in p ? p.target : 0) % inits.length]! : undefined;
    switch (p.kind) {
      case 'attr': {
        const name = p.keepName && n.attribute.length > 0 ? n.attribute[p.target % n.attribute.length]!.name : p.attr.name;
        n.attribute = [...n.attribute.filter((a) => a.name !== name), { ...p.attr, name }];
        break;
      }
      case 'dims':
        if (t) t.dims = p.dims as number[];
        break;
      case 'dtype':
        if (t) t.dataType = p.dtype;
        break;
      case 'data':
        if (t) t.floatData = p.values;
        break;
      case 'ints':
        if (t) {
          t.dataType = 7;
          t.int64Data = p.values;
          t.dims = [p.values.length];
          delete t.floatData;
        }
        break;
      case 'input':
        n.input[p.slot] = pool[p.pick % pool.length]!;
        break;
      case 'op':
        n.opType = p.op;
        break;
      case 'inputDims':
        inputDims = p.dims as number[];
        break;
      case 'tensorAttr':
        n.attribute.push({ name: 'value', type: 4, t: p.t });
        break;
    }
  }
  const msg = ModelProto.fromObject({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'chain',
      node: nodes,
      initializer: inits,
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: inputDims.map((d) => ({ dimValue: d })) } } } }],
      output: [{ name: output }],
    },
  });
  return ModelProto.encode(msg).finish();
}
