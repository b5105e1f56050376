import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Graph, GraphNode, OpType } from '../../src/engine/graph';
import { resolveAssignment } from '../../src/engine/rule-assignment';
import { findComposite } from '../../src/rules/composites';
import {
  caseInputFile,
  caseTolerance,
  caseToAssignment,
  formatSci,
  loadManifest,
  matchLayerName,
  relL2,
  selectCases,
  type GoldenCase,
  type GoldenManifest,
  type GoldenModel,
} from '../../src/cli/golden-cases';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const goldens = resolve(repoRoot, '..', 'shared', 'goldens');
const main = loadManifest(join(goldens, 'cases.json'));
const resnet = loadManifest(join(goldens, 'resnet', 'cases.json'));
const tfjs = loadManifest(join(goldens, 'tfjs', 'cases.json'));

const byId = (m: GoldenManifest, id: string): GoldenCase => {
  const c = m.cases.find((x) => x.id === id);
  if (!c) throw new Error(`no case ${id}`);
  return c;
};
const plan = (m: GoldenManifest, id: string) => {
  const c = byId(m, id);
  return caseToAssignment(c, m.models[c.model]!);
};

const OPS: Record<string, OpType | null> = {
  Linear: 'linear',
  Conv2d: 'conv2d',
  BatchNorm2d: 'batchnorm',
  ReLU: 'relu',
  MaxPool2d: 'maxpool2d',
  AvgPool2d: 'avgpool2d',
  AdaptiveAvgPool2d: 'globalavgpool',
  Dropout: null,
};

/** A stand-in for the imported graph, built from the manifest's layer list (names and ops only). */
function fakeGraph(model: GoldenModel, batchnorm: 'layer' | 'merge', bnName = (n: string) => n): Graph {
  const nodes: GraphNode[] = [];
  let prev = 'input';
  for (const l of model.layers ?? []) {
    const op = OPS[l.type];
    if (op === undefined) throw new Error(`unmapped layer type ${l.type}`);
    if (op === null || (op === 'batchnorm' && batchnorm === 'merge')) continue;
    const name = op === 'batchnorm' ? bnName(l.name) : l.name;
    nodes.push({ name, op, inputs: [prev], output: `${name}:out`, attrs: {}, params: {} });
    prev = `${name}:out`;
  }
  return { name: 'fake', input: { name: 'input', shape: model.input_shape ?? [1] }, output: prev, nodes };
}

/** resnet20 has no layer list: a small residual stand-in is enough to validate the composites' assignments. */
const resnetGraph: Graph = {
  name: 'resnet-ish',
  input: { name: 'input', shape: [1, 3, 32, 32] },
  output: 'fc:out',
  nodes: (
    [
      ['conv1', 'conv2d', ['input']],
      ['relu1', 'relu', ['conv1:out']],
      ['layer1.0.conv1', 'conv2d', ['relu1:out']],
      ['layer1.0.relu', 'relu', ['layer1.0.conv1:out']],
      ['layer1.0.conv2', 'conv2d', ['layer1.0.relu:out']],
      ['layer1.0.add', 'add', ['layer1.0.conv2:out', 'relu1:out']],
      ['gap', 'globalavgpool', ['layer1.0.add:out']],
      ['flatten', 'reshape', ['gap:out']],
      ['fc', 'linear', ['flatten:out']],
    ] as const
  ).map(([name, op, inputs]) => ({ name, op, inputs, output: `${name}:out`, attrs: {}, params: {} })),
};

describe('manifests', () => {
  it('loads all three manifests with their folders', () => {
    expect(main.cases).toHaveLength(92);
    expect(resnet.cases).toHaveLength(3);
    expect(tfjs.cases).toHaveLength(6);
    expect(main.dir).toBe(goldens);
    expect(resnet.dir).toBe(join(goldens, 'resnet'));
  });

  it('selects by reference and id substring', () => {
    expect(selectCases(main, { reference: 'captum' })).toHaveLength(28);
    expect(selectCases(main, { reference: 'zennit' })).toHaveLength(64);
    expect(selectCases(main, { filter: 'bncnn/' })).toHaveLength(23);
    expect(selectCases(main, { reference: 'captum', filter: 'mixed' }).map((c) => c.id)).toEqual(
      expect.arrayContaining(['mlp/captum/mixed/top', 'bncnn/captum/mixed/bottom']),
    );
    expect(selectCases(main, { filter: 'no such case' })).toEqual([]);
  });

  it('reports unreadable or invalid manifests clearly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'golden-'));
    expect(() => loadManifest(join(dir, 'missing.json'))).toThrow(/cannot read manifest .*ENOENT/);
    writeFileSync(join(dir, 'bad.json'), '{ nope');
    expect(() => loadManifest(join(dir, 'bad.json'))).toThrow(/not valid JSON/);
    writeFileSync(join(dir, 'nomodel.json'), JSON.stringify({ models: {}, cases: [{ id: 'a', model: 'x', reference: 'zennit', target: 0, relevance: 'r.npy' }] }));
    expect(() => loadManifest(join(dir, 'nomodel.json'))).toThrow(/case "a" names model "x"/);
    writeFileSync(join(dir, 'dup.json'), JSON.stringify({ models: { m: {} }, cases: [1, 2].map(() => ({ id: 'a', model: 'm', reference: 'zennit', target: 0, relevance: 'r' })) }));
    expect(() => loadManifest(join(dir, 'dup.json'))).toThrow(/duplicate case id "a"/);
  });
});

describe('caseToAssignment: every case', () => {
  for (const c of main.cases) {
    it(`${c.id} maps to a valid assignment`, () => {
      const model = main.models[c.model]!;
      const p = caseToAssignment(c, model);
      expect(p.batchnorm).toBe(c.batchnorm);
      // Captum keeps BatchNorm as a layer (onnx_bn where the model has one); Zennit merges it (legacy export).
      const expectedFile = c.batchnorm === 'layer' ? (model.onnx_bn ?? model.onnx_legacy)!.file : model.onnx_legacy!.file;
      expect(p.modelFile).toBe(expectedFile);
      expect(p.sideFile).toBeUndefined();
      // The assignment resolves on a graph with the model's layers: every rule exists and fits its layer.
      const graph = fakeGraph(model, p.batchnorm);
      const resolved = resolveAssignment(graph, p.assignment);
      expect(resolved.size).toBe(graph.nodes.length);
      // With the graph given the mapping is the same (names already match).
      expect(caseToAssignment(c, model, graph)).toEqual(p);
      expect(caseInputFile(c, model)).toBe(`${c.model}.input.npy`);
    });
  }
  for (const c of resnet.cases) {
    it(`${c.id} maps to a valid assignment`, () => {
      const p = caseToAssignment(c, resnet.models[c.model]!);
      expect(p).toMatchObject({ modelFile: 'resnet20_cifar10.legacy.onnx', batchnorm: 'merge', assignment: { preset: c.composite } });
      expect(p.assignment.presetParams).toEqual(c.zbox);
      expect(resolveAssignment(resnetGraph, p.assignment).size).toBe(resnetGraph.nodes.length);
    });
  }
  for (const c of tfjs.cases) {
    it(`${c.id} maps to the TF.js model.json`, () => {
      const p = caseToAssignment(c, tfjs.models[c.model]!);
      expect(p).toMatchObject({ format: 'tfjs', modelFile: `../../models/${c.model}/model.json` });
      expect(p.sideFile).toBeUndefined();
      expect(caseInputFile(c, tfjs.models[c.model]!)).toBe(c.input);
    });
  }
});

describe('caseToAssignment: Captum', () => {
  it('maps Linear/Conv entries to #i and Captum rule ids', () => {
    expect(plan(main, 'mlp/captum/epsilon-default/top')).toEqual({
      modelFile: 'mlp.legacy.onnx',
      batchnorm: 'layer',
      assignment: {
        preset: 'captum-default',
        layers: [
          { layer: '#0', rule: 'captum.epsilon', epsilon: 1e-9 },
          { layer: '#1', rule: 'captum.epsilon', epsilon: 1e-9 },
          { layer: '#2', rule: 'captum.epsilon', epsilon: 1e-9 },
        ],
      },
    });
    expect(plan(main, 'cnn/captum/gamma-0.25/top').assignment.layers).toEqual(
      [0, 1, 2, 3].map((i) => ({ layer: `#${i}`, rule: 'captum.gamma', gamma: 0.25 })),
    );
    expect(plan(main, 'lenet/captum/alpha1beta0/top').assignment.layers).toEqual(
      [0, 1, 2, 3, 4].map((i) => ({ layer: `#${i}`, rule: 'captum.alpha1beta0' })),
    );
  });

  it('maps the mixed case: gamma without bias, BatchNorm identity by name, on the onnx_bn file', () => {
    const p = plan(main, 'bncnn/captum/mixed/top');
    expect(p.modelFile).toBe('bncnn.bn.onnx');
    expect(p.assignment.layers).toEqual([
      { layer: '#0', rule: 'captum.gamma', gamma: 0.5, zeroBias: true },
      { layer: '#1', rule: 'captum.epsilon', epsilon: 0.1 },
      { layer: '#2', rule: 'captum.epsilon', epsilon: 1e-9 },
      { layer: 'bn1', rule: 'captum.identity' },
      { layer: 'bn2', rule: 'captum.identity' },
    ]);
    const resolved = resolveAssignment(fakeGraph(main.models.bncnn!, 'layer'), p.assignment);
    expect(resolved.get('conv1')).toMatchObject({ rule: 'captum.gamma', params: { gamma: 0.5, zeroBias: true } });
    expect(resolved.get('bn1')!.program).toEqual({ kind: 'pass' });
    expect(resolved.get('gap')!.rule).toBe('captum.epsilon');
    expect(resolved.get('relu1')!.rule).toBe('pass');
  });

  it('resolves BatchNorm names against the graph when the importer kept ONNX node names', () => {
    const c = byId(main, 'bncnn/captum/mixed/bottom');
    const graph = fakeGraph(main.models.bncnn!, 'layer', (n) => `/${n}/BatchNormalization`);
    const p = caseToAssignment(c, main.models.bncnn!, graph);
    expect(p.assignment.layers!.slice(3).map((l) => l.layer)).toEqual(['/bn1/BatchNormalization', '/bn2/BatchNormalization']);
    expect(resolveAssignment(graph, p.assignment).get('/bn2/BatchNormalization')!.rule).toBe('captum.identity');
    const bare = fakeGraph(main.models.bncnn!, 'merge');
    expect(() => caseToAssignment(c, main.models.bncnn!, bare)).toThrow(/no layer of the loaded graph corresponds to "bn1"/);
  });

  it('rejects unknown Captum rules and parameters with the reason', () => {
    const c = byId(main, 'mlp/captum/epsilon-0.25/top');
    const model = main.models.mlp!;
    expect(() => caseToAssignment({ ...c, rules: [{ layer: 'fc1', rule: 'zplus' }] }, model)).toThrow(
      'mlp/captum/epsilon-0.25/top: unknown Captum rule "zplus" on layer "fc1"',
    );
    expect(() => caseToAssignment({ ...c, rules: [{ layer: 'fc1', rule: 'epsilon', stabilizer: 2 }] }, model)).toThrow(/unknown parameter "stabilizer"/);
    expect(() => caseToAssignment({ ...c, rules: [{ layer: 'fc9', rule: 'epsilon' }] }, model)).toThrow(/names layer "fc9"/);
    expect(() => caseToAssignment({ ...c, rules: undefined }, model)).toThrow(/needs a "rules" list/);
    expect(() => caseToAssignment({ ...c, reference: 'shap' }, model)).toThrow(/unknown reference "shap"/);
  });

  it('refuses to keep BatchNorm as a layer without an onnx_bn file', () => {
    const c = byId(main, 'bncnn/captum/epsilon-default/top');
    const { onnx_bn: _bn, ...model } = main.models.bncnn!;
    expect(() => caseToAssignment(c, model)).toThrow(/no onnx_bn file/);
  });
});

describe('caseToAssignment: Zennit', () => {
  it('maps composites to presets with the zbox bounds', () => {
    for (const name of ['EpsilonPlusFlat', 'EpsilonGammaBox', 'EpsilonAlpha2Beta1Flat']) {
      const p = plan(main, `cnn/zennit/${name}/top`);
      expect(p).toEqual({ modelFile: 'cnn.legacy.onnx', batchnorm: 'merge', assignment: { preset: name, presetParams: { low: -3, high: 3 } } });
    }
    const box = resolveAssignment(fakeGraph(main.models.cnn!, 'merge'), plan(main, 'cnn/zennit/EpsilonGammaBox/top').assignment);
    expect(box.get('conv1')).toMatchObject({ rule: 'zbox', params: { low: -3, high: 3 } });
    expect(box.get('conv2')).toMatchObject({ rule: 'gamma', params: { gamma: 0.25 } });
    expect(box.get('fc1')!.rule).toBe('epsilon');
    expect(box.get('pool2')!.rule).toBe('norm');
    expect(box.get('pool1')!.rule).toBe('gradient');
    expect(box.get('relu1')!.rule).toBe('pass');
    // resnet20: one bound per input channel.
    const r = plan(resnet, 'resnet20/zennit/EpsilonGammaBox');
    expect((r.assignment.presetParams!.low as number[]).length).toBe(3);
    expect(resolveAssignment(resnetGraph, r.assignment).get('conv1')!.params.high).toEqual(byId(resnet, 'resnet20/zennit/EpsilonGammaBox').zbox!.high);
    expect(resolveAssignment(resnetGraph, r.assignment).get('layer1.0.add')!.rule).toBe('norm');
  });

  it('maps single-rule cases to one entry per Linear/Conv layer on the gradient preset', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['Epsilon-1e-6', { rule: 'epsilon', epsilon: 1e-6 }],
      ['Epsilon-0.25', { rule: 'epsilon', epsilon: 0.25 }],
      ['ZPlus', { rule: 'zplus' }],
      ['AlphaBeta-2-1', { rule: 'alphabeta', alpha: 2, beta: 1 }],
      ['AlphaBeta-1-0', { rule: 'alphabeta', alpha: 1, beta: 0 }],
      ['Gamma-0.25', { rule: 'gamma', gamma: 0.25 }],
      ['WSquare', { rule: 'wsquare' }],
      ['Flat', { rule: 'flat' }],
    ];
    for (const [name, entry] of cases) {
      const p = plan(main, `lenet/zennit/${name}/top`);
      expect(p.modelFile).toBe('lenet.legacy.onnx');
      expect(p.assignment).toEqual({ preset: 'gradient', layers: [0, 1, 2, 3, 4].map((i) => ({ layer: `#${i}`, ...entry })) });
    }
    const resolved = resolveAssignment(fakeGraph(main.models.lenet!, 'merge'), plan(main, 'lenet/zennit/ZPlus/top').assignment);
    expect(resolved.get('relu1')!.rule).toBe('gradient');
    expect(resolved.get('pool1')!.rule).toBe('gradient');
    expect(resolved.get('fc3')!.rule).toBe('zplus');
  });

  it('maps the -first cases: that rule on #0, Epsilon(1e-6) on the others', () => {
    expect(plan(main, 'cnn/zennit/ZBox-first/top').assignment).toEqual({
      preset: 'gradient',
      layers: [
        { layer: '#0', rule: 'zbox', low: -3, high: 3 },
        { layer: '#1', rule: 'epsilon', epsilon: 1e-6 },
        { layer: '#2', rule: 'epsilon', epsilon: 1e-6 },
        { layer: '#3', rule: 'epsilon', epsilon: 1e-6 },
      ],
    });
    expect(plan(main, 'mlp/zennit/WSquare-first/top').assignment.layers).toEqual([
      { layer: '#0', rule: 'wsquare' },
      { layer: '#1', rule: 'epsilon', epsilon: 1e-6 },
      { layer: '#2', rule: 'epsilon', epsilon: 1e-6 },
    ]);
    expect(plan(main, 'bncnn/zennit/Flat-first/top')).toMatchObject({
      modelFile: 'bncnn.legacy.onnx',
      batchnorm: 'merge',
      assignment: { layers: [{ layer: '#0', rule: 'flat' }, { layer: '#1', rule: 'epsilon' }, { layer: '#2', rule: 'epsilon' }] },
    });
  });

  it('rejects unknown composites and ZBox without bounds', () => {
    const c = byId(main, 'cnn/zennit/ZPlus/top');
    const model = main.models.cnn!;
    expect(() => caseToAssignment({ ...c, composite: 'MixedComposite' }, model)).toThrow('cnn/zennit/ZPlus/top: unknown Zennit composite or rule "MixedComposite"');
    expect(() => caseToAssignment({ ...c, composite: 'Epsilon-abc' }, model)).toThrow(/unknown Zennit composite or rule/);
    expect(() => caseToAssignment({ ...c, composite: 'ZBox-first', zbox: undefined }, model)).toThrow(/zbox/);
    expect(() => caseToAssignment({ ...c, batchnorm: 'fold' }, model)).toThrow(/unknown batchnorm mode "fold"/);
    const { layers: _l, ...noLayers } = model;
    expect(() => caseToAssignment(c, noLayers)).toThrow(/lists no layers/);
  });
});

describe('LXT cases (../shared/goldens/vit)', () => {
  it('map their composite to the CP-LRP preset of that name on the ONNX file; unknown composites are refused', () => {
    const vit = loadManifest(join(goldens, 'vit', 'cases.json'));
    expect(vit.cases.map((c) => caseToAssignment(c, vit.models[c.model]!))).toEqual([
      { modelFile: 'vit-tiny.onnx', batchnorm: 'merge', assignment: { preset: 'cp-gamma' } },
      { modelFile: 'vit-tiny.onnx', batchnorm: 'merge', assignment: { preset: 'cp-epsilon' } },
    ]);
    for (const c of vit.cases) expect(findComposite(c.composite!)).toBeDefined();
    const c = vit.cases[0]!;
    expect(() => caseToAssignment({ ...c, composite: 'attn-lrp' }, vit.models[c.model]!)).toThrow(/unknown LXT composite "attn-lrp"/);
  });
});

describe('pass criterion', () => {
  it('uses max(1e-4, 4 f32_rel_err), or 1e-3 without f32_rel_err', () => {
    expect(caseTolerance({ f32_rel_err: 1e-7 })).toBe(1e-4);
    expect(caseTolerance({ f32_rel_err: 0.01 })).toBe(0.04);
    expect(caseTolerance({})).toBe(1e-3);
    for (const c of resnet.cases) expect(caseTolerance(c)).toBe(1e-3);
    // The cnn Epsilon-1e-6 cases have near-zero z and a looser tolerance.
    expect(caseTolerance(byId(main, 'cnn/zennit/Epsilon-1e-6/top'))).toBeGreaterThan(1e-4);
  });

  it('computes relL2 in float64', () => {
    expect(relL2([1, 2, 2], [1, 2, 2])).toBe(0);
    expect(relL2(new Float32Array([3, 0]), new Float64Array([0, 4]))).toBeCloseTo(5 / 4, 15);
    expect(relL2([0, 0], [0, 0])).toBe(0);
    expect(relL2([1, 0], [0, 0])).toBe(Infinity);
    expect(relL2([NaN, 0], [1, 0])).toBeNaN();
    expect(() => relL2([1], [1, 2])).toThrow(/1 values against the reference's 2/);
  });

  it('formats numbers with two-digit exponents', () => {
    expect(formatSci(1.234e-7)).toBe('1.23e-07');
    expect(formatSci(1e-4)).toBe('1.00e-04');
    expect(formatSci(0)).toBe('0.00e+00');
    expect(formatSci(12.5)).toBe('1.25e+01');
    expect(formatSci(1e-300)).toBe('1.00e-300');
    expect(formatSci(NaN)).toBe('NaN');
  });
});

describe('matchLayerName', () => {
  it('matches PyTorch module names to graph layer names', () => {
    expect(matchLayerName(['conv1', 'fc1'], 'fc1')).toBe('fc1');
    expect(matchLayerName(['/conv1/Conv', '/bn1/BatchNormalization'], 'bn1')).toBe('/bn1/BatchNormalization');
    expect(matchLayerName(['/layer1/layer1.0/conv1/Conv', '/layer1/layer1.1/conv1/Conv'], 'layer1.1.conv1')).toBe('/layer1/layer1.1/conv1/Conv');
    expect(matchLayerName(['/layer1/layer1.0/conv1/Conv', '/layer1/layer1.1/conv1/Conv'], 'conv1')).toBeUndefined();
    expect(matchLayerName(['fc1'], 'fc2')).toBeUndefined();
  });
});
