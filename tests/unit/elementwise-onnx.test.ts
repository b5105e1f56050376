/**
 * ONNX mappings of the elementwise ops (ops/add.ts, mul.ts, div.ts, the activations): constants folded into a
 * preceding bias or kept as layers, gates recognised, x * Sigmoid(x) fused into SiLU and x * HardSigmoid(x) into
 * HardSwish, GELU (opset 20, and the Erf pattern older exports write), and numbers through the imported graph.
 */
import { describe, expect, it } from 'vitest';
import type { Graph, GraphNode } from '../../src/engine/graph';
import { ModelImportError } from '../../src/engine/onnx/import-onnx';
import { cpuEngine, randomArray, relL2, rng } from './helpers/engines';
import { importSpec, tensorProto, type ModelSpec, type TNode } from './helpers/onnx-model';

const C = 3;
const seq = (n: number, scale = 1) => Array.from({ length: n }, (_, i) => (((i * 7) % 11) - 5) * 0.1 * scale);

/** x [1, 2, 4, 4] -> Conv 3x3 (2 -> 3, pad 1) as "conv" -> `body` -> GAP -> Flatten -> Gemm (4 classes). */
function model(body: TNode[], last: string, extraInits: ReturnType<typeof tensorProto>[] = []): ModelSpec {
  return {
    input: { name: 'x', dims: [1, 2, 4, 4] },
    output: 'logits',
    nodes: [
      { op: 'Conv', name: '/conv/Conv', inputs: ['x', 'conv.weight', 'conv.bias'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] } },
      ...body,
      { op: 'GlobalAveragePool', inputs: [last], outputs: ['pooled'] },
      { op: 'Flatten', inputs: ['pooled'], outputs: ['flat'], attrs: { axis: 1 } },
      { op: 'Gemm', name: '/fc/Gemm', inputs: ['flat', 'fc.weight', 'fc.bias'], outputs: ['logits'], attrs: { transB: 1 } },
    ],
    inits: [
      tensorProto('conv.weight', [C, 2, 3, 3], seq(C * 18)),
      tensorProto('conv.bias', [C], [0.1, -0.2, 0.3]),
      tensorProto('fc.weight', [4, C], seq(4 * C, 2)),
      tensorProto('fc.bias', [4], [0, 0.1, 0, -0.1]),
      ...extraInits,
    ],
  };
}

const ops = (g: Graph) => g.nodes.map((n) => n.op);
const find = (g: Graph, op: GraphNode['op']) => g.nodes.find((n) => n.op === op)!;

function importError(spec: ModelSpec): ModelImportError {
  try {
    importSpec(spec);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelImportError);
    return e as ModelImportError;
  }
  throw new Error('expected a ModelImportError');
}

describe('activation patterns', () => {
  for (const reversed of [false, true]) {
    it(`x * Sigmoid(x)${reversed ? ' (Sigmoid first)' : ''} becomes one SiLU layer; the Sigmoid is gone`, () => {
      const g = importSpec(model([{ op: 'Sigmoid', inputs: ['c'], outputs: ['s'] }, { op: 'Mul', inputs: reversed ? ['s', 'c'] : ['c', 's'], outputs: ['y'] }], 'y'));
      expect(ops(g)).toEqual(['conv2d', 'silu', 'globalavgpool', 'reshape', 'linear']);
      expect(find(g, 'silu').inputs).toEqual([find(g, 'conv2d').output]);
    });
  }

  it('x * HardSigmoid(x) (opset < 14 nn.Hardswish) becomes HardSwish with the HardSigmoid alpha and beta', () => {
    const g = importSpec(model([{ op: 'HardSigmoid', inputs: ['c'], outputs: ['s'], attrs: { alpha: 1 / 6, beta: 0.5 } }, { op: 'Mul', inputs: ['c', 's'], outputs: ['y'] }], 'y'));
    expect(ops(g)).toEqual(['conv2d', 'hardswish', 'globalavgpool', 'reshape', 'linear']);
    expect(find(g, 'hardswish').attrs.alpha).toBeCloseTo(1 / 6, 7);
    expect(find(g, 'hardswish').attrs.beta).toBe(0.5);
  });

  it('a Sigmoid read by something else stays (the SiLU reads x directly)', () => {
    const g = importSpec(model([{ op: 'Sigmoid', inputs: ['c'], outputs: ['s'] }, { op: 'Mul', inputs: ['c', 's'], outputs: ['m'] }, { op: 'Add', inputs: ['m', 's'], outputs: ['y'] }], 'y'));
    expect(ops(g)).toEqual(['conv2d', 'sigmoid', 'silu', 'add', 'globalavgpool', 'reshape', 'linear']);
  });

  it('HardSwish, HardSigmoid (ONNX defaults), Gelu (tanh), Gelu, Erf map to their layers', () => {
    const g = importSpec({
      ...model(
        [
          { op: 'HardSwish', inputs: ['c'], outputs: ['a'] },
          { op: 'HardSigmoid', inputs: ['a'], outputs: ['b'] },
          { op: 'Gelu', inputs: ['b'], outputs: ['d'], attrs: { approximate: 'tanh' } },
          { op: 'Gelu', inputs: ['d'], outputs: ['e'] },
          { op: 'Erf', inputs: ['e'], outputs: ['y'] },
        ],
        'y',
      ),
      opset: 20,
    });
    expect(ops(g)).toEqual(['conv2d', 'hardswish', 'hardsigmoid', 'gelu', 'gelu', 'erf', 'globalavgpool', 'reshape', 'linear']);
    expect(g.nodes[1]!.attrs).toEqual({ alpha: 1 / 6, beta: 0.5 });
    expect(g.nodes[2]!.attrs.alpha).toBeCloseTo(0.2, 7);
    expect(g.nodes[3]!.attrs).toEqual({ approximate: 'tanh' });
    expect(g.nodes[4]!.attrs).toEqual({});
  });

  it('Gelu with another approximation is refused, naming it', () => {
    const e = importError({ ...model([{ op: 'Gelu', inputs: ['c'], outputs: ['y'], attrs: { approximate: 'sigmoid' } }], 'y'), opset: 20 });
    expect(e.message).toMatch(/approximate "sigmoid"/);
  });

  it('the exact GELU written out (Div, Erf, Add, Mul, Mul; below opset 20) becomes one GELU layer', () => {
    const g = importSpec(
      model(
        [
          { op: 'Div', inputs: ['c', 'sqrt2'], outputs: ['g1'] },
          { op: 'Erf', inputs: ['g1'], outputs: ['g2'] },
          { op: 'Add', inputs: ['g2', 'one'], outputs: ['g3'] },
          { op: 'Mul', inputs: ['c', 'g3'], outputs: ['g4'] },
          { op: 'Mul', inputs: ['g4', 'half'], outputs: ['y'] },
        ],
        'y',
        [tensorProto('sqrt2', [], [Math.SQRT2]), tensorProto('one', [], [1]), tensorProto('half', [], [0.5])],
      ),
    );
    expect(ops(g)).toEqual(['conv2d', 'gelu', 'globalavgpool', 'reshape', 'linear']);
  });
});

describe('squeeze-excitation gates', () => {
  function se(gate: 'Sigmoid' | 'HardSigmoid', gateFirst: boolean): ModelSpec {
    return model(
      [
        { op: 'Relu', inputs: ['c'], outputs: ['f'] },
        { op: 'GlobalAveragePool', inputs: ['f'], outputs: ['sq'] },
        { op: 'Conv', name: '/se/fc1/Conv', inputs: ['sq', 'se.fc1.weight', 'se.fc1.bias'], outputs: ['e1'] },
        { op: 'Relu', inputs: ['e1'], outputs: ['e2'] },
        { op: 'Conv', name: '/se/fc2/Conv', inputs: ['e2', 'se.fc2.weight', 'se.fc2.bias'], outputs: ['e3'] },
        { op: gate, inputs: ['e3'], outputs: ['g'], ...(gate === 'HardSigmoid' ? { attrs: { alpha: 1 / 6, beta: 0.5 } } : {}) },
        { op: 'Mul', name: '/se/Mul', inputs: gateFirst ? ['g', 'f'] : ['f', 'g'], outputs: ['y'] },
      ],
      'y',
      [tensorProto('se.fc1.weight', [2, C, 1, 1], seq(2 * C)), tensorProto('se.fc1.bias', [2], [0.1, 0.2]), tensorProto('se.fc2.weight', [C, 2, 1, 1], seq(2 * C, 3)), tensorProto('se.fc2.bias', [C], [0, 0.1, -0.1])],
    );
  }

  for (const gate of ['Sigmoid', 'HardSigmoid'] as const) {
    for (const gateFirst of [false, true]) {
      it(`${gate}${gateFirst ? ' (gate first)' : ''}: a mul layer whose gate attribute names the ${gate} operand`, async () => {
        const g = importSpec(se(gate, gateFirst));
        expect(ops(g)).toEqual(['conv2d', 'relu', 'globalavgpool', 'conv2d', 'relu', 'conv2d', gate.toLowerCase(), 'mul', 'globalavgpool', 'reshape', 'linear']);
        const mul = find(g, 'mul');
        expect(mul.attrs.gate).toBe(gateFirst ? 0 : 1);
        expect(mul.inputs[mul.attrs.gate as number]).toBe(g.nodes[6]!.output);
        // Pass on the gate: relevance reaches the input through the signal only, and is finite.
        const m = await (await cpuEngine()).load(g);
        const e = await m.explain(randomArray(32, rng(3)), { rules: { preset: 'EpsilonPlus' } });
        expect(e.nonFinite).toBeNull();
        expect(e.layers.map((l) => l.layer)).not.toContain('se.fc1');
        m.dispose();
      });
    }
  }

  it('two computed values of equal shape, neither from a Sigmoid: the second is the gate', () => {
    const g = importSpec(model([{ op: 'Relu', inputs: ['c'], outputs: ['r'] }, { op: 'Mul', inputs: ['c', 'r'], outputs: ['y'] }], 'y'));
    expect(find(g, 'mul').attrs.gate).toBe(1);
  });

  it('otherwise the smaller (broadcast) operand is the gate', () => {
    const g = importSpec(model([{ op: 'GlobalAveragePool', inputs: ['c'], outputs: ['p'] }, { op: 'Mul', inputs: ['p', 'c'], outputs: ['y'] }], 'y'));
    expect(find(g, 'mul').attrs.gate).toBe(0);
  });
});

describe('Add, Sub, Mul, Div with constants', () => {
  it('Add and Sub of a per-channel constant after a Conv fold into its bias', () => {
    for (const op of ['Add', 'Sub'] as const) {
      const g = importSpec(model([{ op, inputs: ['c', 'k'], outputs: ['y'] }], 'y', [tensorProto('k', [1, C, 1, 1], [1, 2, 3])]));
      expect(ops(g)).toEqual(['conv2d', 'globalavgpool', 'reshape', 'linear']);
      const sign = op === 'Add' ? 1 : -1;
      expect(Array.from(g.nodes[0]!.params.bias!.data)).toEqual([0.1 + sign, -0.2 + 2 * sign, 0.3 + 3 * sign].map(Math.fround));
      expect(g.nodes[0]!.output).toBe('y');
    }
  });

  it('MatMul over [1, T, F] + a per-feature constant: one Linear with that bias', () => {
    const g = importSpec({
      input: { name: 'x', dims: [1, 2, 3] },
      output: 'logits',
      nodes: [
        { op: 'MatMul', inputs: ['x', 'w'], outputs: ['m'] },
        { op: 'Add', inputs: ['b', 'm'], outputs: ['a'] },
        { op: 'Flatten', inputs: ['a'], outputs: ['logits'], attrs: { axis: 1 } },
      ],
      inits: [tensorProto('w', [3, 4], seq(12)), tensorProto('b', [4], [1, 2, 3, 4])],
    });
    expect(ops(g)).toEqual(['linear', 'reshape']);
    expect(Array.from(g.nodes[0]!.params.bias!.data)).toEqual([1, 2, 3, 4]);
  });

  it('a constant that is no bias becomes an addconst layer: after a ReLU, along another axis, or when the Conv output feeds more', () => {
    const k = (shape: number[]) => tensorProto('k', shape, seq(shape.reduce((p, d) => p * d, 1)));
    const afterRelu = importSpec(model([{ op: 'Relu', inputs: ['c'], outputs: ['r'] }, { op: 'Add', inputs: ['r', 'k'], outputs: ['y'] }], 'y', [k([1, C, 1, 1])]));
    expect(ops(afterRelu)).toEqual(['conv2d', 'relu', 'addconst', 'globalavgpool', 'reshape', 'linear']);
    expect(find(afterRelu, 'addconst').params.constant!.shape).toEqual([1, C, 1, 1]);
    const alongW = importSpec(model([{ op: 'Add', inputs: ['c', 'k'], outputs: ['y'] }], 'y', [k([1, 1, 1, 4])]));
    expect(ops(alongW)).toContain('addconst');
    const shared = importSpec(model([{ op: 'Add', inputs: ['c', 'k'], outputs: ['a'] }, { op: 'Add', inputs: ['a', 'c'], outputs: ['y'] }], 'y', [k([1, C, 1, 1])]));
    expect(ops(shared)).toEqual(['conv2d', 'addconst', 'add', 'globalavgpool', 'reshape', 'linear']);
  });

  it('an aliased Conv output (through Identity) is not folded into', () => {
    const g = importSpec(
      model(
        [
          { op: 'Identity', inputs: ['c'], outputs: ['i'] },
          { op: 'Add', inputs: ['i', 'k'], outputs: ['a'] },
          { op: 'Add', inputs: ['a', 'i'], outputs: ['y'] },
        ],
        'y',
        [tensorProto('k', [1, C, 1, 1], [1, 2, 3])],
      ),
    );
    expect(ops(g)).toEqual(['conv2d', 'addconst', 'add', 'globalavgpool', 'reshape', 'linear']);
    expect(Array.from(g.nodes[0]!.params.bias!.data)).toEqual([0.1, -0.2, 0.3].map(Math.fround));
  });

  it('Sub: x - c keeps x with -c; c - x keeps sign -1 and c; the numbers follow', async () => {
    const k = tensorProto('k', [1, C, 1, 1], [1, 2, 3]);
    const xMinusC = importSpec(model([{ op: 'Relu', inputs: ['c'], outputs: ['r'] }, { op: 'Sub', inputs: ['r', 'k'], outputs: ['y'] }], 'y', [k]));
    const cMinusX = importSpec(model([{ op: 'Relu', inputs: ['c'], outputs: ['r'] }, { op: 'Sub', inputs: ['k', 'r'], outputs: ['y'] }], 'y', [k]));
    expect(find(xMinusC, 'addconst').attrs).toEqual({});
    expect(Array.from(find(xMinusC, 'addconst').params.constant!.data)).toEqual([-1, -2, -3]);
    expect(find(cMinusX, 'addconst').attrs).toEqual({ sign: -1 });
    expect(Array.from(find(cMinusX, 'addconst').params.constant!.data)).toEqual([1, 2, 3]);
    // Through GAP and a linear head, c - x and x - c give pooled values that are each other's negatives.
    const cpu = await cpuEngine();
    const input = randomArray(32, rng(8));
    const la = await (await cpu.load(xMinusC)).forward(input);
    const lb = await (await cpu.load(cMinusX)).forward(input);
    const bias = [0, 0.1, 0, -0.1];
    expect(relL2(la.map((v, i) => v - bias[i]!), lb.map((v, i) => -(v - bias[i]!)))).toBeLessThan(1e-6);
  });

  it('Mul and Div by a constant become scale layers; a constant divided by a computed value is refused', () => {
    const k = tensorProto('k', [C, 1, 1], [2, 4, 8]);
    const mul = importSpec(model([{ op: 'Mul', inputs: ['k', 'c'], outputs: ['y'] }], 'y', [k]));
    expect(find(mul, 'scale').attrs).toEqual({});
    expect(find(mul, 'scale').params.constant!.shape).toEqual([C, 1, 1]);
    const div = importSpec(model([{ op: 'Div', inputs: ['c', 'k'], outputs: ['y'] }], 'y', [k]));
    expect(find(div, 'scale').attrs).toEqual({ mode: 'div' });
    expect(importError(model([{ op: 'Div', inputs: ['k', 'c'], outputs: ['y'] }], 'y', [k])).message).toMatch(/dividing a constant by a computed value/);
  });
});

describe('two computed values with broadcasting', () => {
  it('Add, Sub and Div of a feature map and its pooled values', async () => {
    for (const [op, layer] of [
      ['Add', 'add'],
      ['Sub', 'add'],
      ['Div', 'div'],
    ] as const) {
      const g = importSpec(
        model(
          [
            { op: 'Relu', inputs: ['c'], outputs: ['r'] },
            { op: 'GlobalAveragePool', inputs: ['r'], outputs: ['p'] },
            { op: 'Add', inputs: ['p', 'one'], outputs: ['q'] },
            { op, inputs: ['r', 'q'], outputs: ['y'] },
          ],
          'y',
          [tensorProto('one', [1], [1])],
        ),
      );
      expect(ops(g)).toEqual(['conv2d', 'relu', 'globalavgpool', 'addconst', layer, 'globalavgpool', 'reshape', 'linear']);
      if (op === 'Sub') expect(find(g, 'add').attrs).toEqual({ mode: 'sub' });
      const m = await (await cpuEngine()).load(g);
      const e = await m.explain(randomArray(32, rng(4)), { rules: { preset: 'EpsilonPlus' } });
      expect(e.nonFinite).toBeNull();
      m.dispose();
    }
  });

  it('shapes that do not broadcast are refused, naming both', () => {
    const e = importError(model([{ op: 'Add', inputs: ['c', 'x'], outputs: ['y'] }], 'y'));
    expect(e.message).toMatch(/\[1, 3, 4, 4\] and \[1, 2, 4, 4\] do not broadcast/);
  });
});
