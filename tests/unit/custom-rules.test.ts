/**
 * Custom rules as data (src/rules/custom-rules.ts): the definition format's validation, registration through a rule
 * assignment's `ruleDefs`, and Zennit's Epsilon, ZPlus and Gamma re-defined as data giving the built-in rules'
 * relevance bit for bit on the CPU and WebGPU backends.
 */
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/index';
import type { RuleAssignment } from '../../src/rules/assignment';
import { resolveAssignment } from '../../src/engine/rule-assignment';
import { compileRule, findRule, registerCustomRules, RuleError } from '../../src/rules/rules';
import {
  EXAMPLE_RULE_SPECS,
  parseRuleDefinition,
  parseRuleDefinitions,
  parseRuleDefinitionText,
  type CustomRuleSpec,
} from '../../src/rules/custom-rules';
import { cpuEngine, gpuEngine, randomArray, rng } from './helpers/engines';
import { loadModel } from '../../src/lib/node';
import type { CustomRuleDefinition } from '../../src/lib/types';
import { smallNet } from './helpers/small-nets';

const [EPSILON, ZPLUS, GAMMA] = EXAMPLE_RULE_SPECS as [CustomRuleSpec, CustomRuleSpec, CustomRuleSpec];

/** A copy of a spec with some fields changed (deep, through JSON). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON copy, edited freely (into invalid forms too)
type Loose = Record<string, any>;
function edited(spec: CustomRuleSpec, change: (s: Loose) => void): unknown {
  const copy = JSON.parse(JSON.stringify(spec)) as Loose;
  change(copy);
  return copy;
}

function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RuleError);
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

describe('custom rule definitions: the programs', () => {
  it("re-definitions of Zennit's Epsilon, ZPlus and Gamma compile to the built-in programs, exactly", () => {
    const [eps, zplus, gamma] = EXAMPLE_RULE_SPECS.map((s) => parseRuleDefinition(s));
    const compile = (def: typeof eps, params = {}) => compileRule(def!.id, params);
    registerCustomRules([eps!, zplus!, gamma!]);
    try {
      expect(compile(eps)).toStrictEqual(compileRule('epsilon'));
      expect(compile(eps, { epsilon: 0.25 })).toStrictEqual(compileRule('epsilon', { epsilon: 0.25 }));
      expect(compile(zplus)).toStrictEqual(compileRule('zplus'));
      expect(compile(gamma)).toStrictEqual(compileRule('gamma'));
      expect(compile(gamma, { gamma: 1.5, epsilon: 1e-3 })).toStrictEqual(compileRule('gamma', { gamma: 1.5, epsilon: 1e-3 }));
    } finally {
      registerCustomRules([]);
    }
  });

  it('takes pass and gradient programs, ZBox bounds, the uniform operands and "-$name"', () => {
    const pass = parseRuleDefinition({ id: 'my.pass', label: 'Pass', appliesTo: ['activation'], program: { kind: 'pass' } });
    expect(pass.compile({} as never)).toEqual({ kind: 'pass' });
    const ab = parseRuleDefinition({
      id: 'my.ab',
      label: 'AlphaBeta',
      appliesTo: ['weighted'],
      params: [
        { name: 'alpha', default: 2, min: 1 },
        { name: 'beta', default: 1 },
      ],
      program: {
        groups: [
          { terms: [{ input: 'positive', weight: 'positive' }, { input: 'negative', weight: 'negative' }], bias: 'positive', coefficient: '$alpha', stabilizer: { epsilon: 1e-6 } },
          { terms: [{ input: 'positive', weight: 'negative' }, { input: 'negative', weight: 'positive' }], bias: 'negative', coefficient: '-$beta', stabilizer: { epsilon: 1e-6 } },
        ],
      },
    });
    registerCustomRules([ab]);
    try {
      expect(compileRule('my.ab')).toStrictEqual(compileRule('alphabeta'));
      // A negated zero is a zero (-0 would change the sign of zeros).
      const z = compileRule('my.ab', { beta: 0 });
      expect(z.kind === 'lrp' && Object.is(z.groups[1]!.coefficient, 0)).toBe(true);
    } finally {
      registerCustomRules([]);
    }
    const box = parseRuleDefinition({
      id: 'my.box',
      label: 'Box',
      appliesTo: ['weighted'],
      program: {
        groups: [
          {
            terms: [
              { input: 'identity', weight: 'identity' },
              { input: 'low', weight: { pos: -1 } },
              { input: 'high', weight: { neg: -1 } },
            ],
            bias: 'zero',
            stabilizer: { epsilon: 1e-6, sign: 'sign' },
          },
        ],
        bounds: { low: -3, high: [1, 2, 3] },
      },
    });
    expect(compileRule('zbox', { low: -3, high: [1, 2, 3] })).toStrictEqual(box.compile({} as never));
  });
});

describe('custom rule definitions: validation', () => {
  it('names the field and the allowed values', () => {
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.program.groups[0].terms[0].weight = 'postive'))))).toMatch(
      /"my\.epsilon": program\.groups\[0\]\.terms\[0\]\.weight "postive" is not a parameter modifier \(modifiers: "identity", "positive", "negative", "zero", "ones", "square"/,
    );
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.program.groups[0].terms[0].input = 'abs'))))).toMatch(
      /program\.groups\[0\]\.terms\[0\]\.input "abs" is not an input modifier \(modifiers: "identity", "positive", "negative", "ones", "low", "high"\)/,
    );
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => delete s.program.groups)))).toMatch(/program\.groups is missing: an "lrp" program needs at least one group/);
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.program.groups = []))))).toMatch(/program\.groups is missing/);
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.program.groups[0].stabilizer.epsilon = -1e-6))))).toMatch(
      /program\.groups\[0\]\.stabilizer\.epsilon must not be negative \(got -0\.000001\)/,
    );
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.params[0].min = -1))))).toMatch(
      /stabilizer\.epsilon must not be negative, but \$epsilon can be \(parameter "epsilon" ranges over \[-1, 1000000\]\)/,
    );
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => delete s.program.groups[0].stabilizer)))).toMatch(/stabilizer is missing: give \{ "epsilon": 1e-6 \}/);
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.program.groups[0].stabilizer.sign = 'clip'))))).toMatch(/stabilizer\.sign "clip" is not a sign handling this engine has: only "sign"/);
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.program.groups[0].mask = 'pos'))))).toMatch(/mask "pos" is not an output mask \(masks: "all", "positive", "negative"\)/);
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.program.groups[0].coefficient = '$gamma'))))).toMatch(
      /coefficient names the parameter "gamma", which the rule does not declare \(its parameters: epsilon\)/,
    );
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.appliesTo = ['conv'])))) ).toMatch(/appliesTo\[0\] "conv" is not a layer class \(classes: "weighted", /);
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.appliesTo = []))))).toMatch(/appliesTo must be a non-empty list of layer classes/);
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.program.kind = 'pass'))))).toMatch(/appliesTo\[0\] a "pass" program does not apply to "weighted" layers/);
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.params[0].default = 5e6))))).toMatch(/params\[0\]\.default must be a number from -1000000 to 1000000/);
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.extra = 1))))).toMatch(/"extra" is not a field of a rule definition \(fields: id, label, description, appliesTo, params, program\)/);
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => delete s.label)))).toMatch(/"my\.epsilon": label must be text of 1 to 64 characters/);
    expect(message(() => parseRuleDefinition(edited(ZPLUS, (s) => (s.program.groups[0].terms[0].input = 'low'))))).toMatch(/program\.bounds is missing: terms with input "low" or "high"/);
    expect(message(() => parseRuleDefinition(edited(GAMMA, (s) => (s.program.operands = 'uniform'))))).toMatch(/"uniform" is for products of two computed values only/);
  });

  it('refuses an id of a built-in rule (or alias), and ids given twice', () => {
    for (const id of ['epsilon', 'ZPlus', 'captum.gamma', 'alpha-beta']) {
      expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.id = id))))).toMatch(new RegExp(`id "${id}" is the name of a built-in rule: choose another`));
    }
    expect(message(() => parseRuleDefinition(edited(EPSILON, (s) => (s.id = '1x'))))).toMatch(/id "1x" must start with a letter/);
    expect(message(() => parseRuleDefinitions([EPSILON, EPSILON]))).toBe('ruleDefs[1]: id "my.epsilon" is defined twice');
    expect(message(() => parseRuleDefinitions(new Array(33).fill(EPSILON)))).toMatch(/has 33 rule definitions; at most 32/);
  });

  it("a file's text: JSON errors with the line and column, one definition or a list", () => {
    expect(parseRuleDefinitionText(JSON.stringify(EPSILON), 'eps.json').map((d) => d.id)).toEqual(['my.epsilon']);
    expect(parseRuleDefinitionText(JSON.stringify(EXAMPLE_RULE_SPECS), 'all.json').map((d) => d.id)).toEqual(['my.epsilon', 'my.zplus', 'my.gamma']);
    const bad = message(() => parseRuleDefinitionText('{\n  "id": "x",\n  "label": }', 'bad.json'));
    expect(bad).toMatch(/^bad\.json: not valid JSON at line 3, column 12 \(/);
    expect(message(() => parseRuleDefinitionText('{"id": "x",', 'cut.json'))).toMatch(/^cut\.json: not valid JSON at line 1, column 12/);
    expect(message(() => parseRuleDefinitionText('[1 2]', 'two.json'))).toMatch(/^two\.json: not valid JSON at line 1, column 4/);
    expect(message(() => parseRuleDefinitionText('[{"id": "x"}]', 'one.json'))).toMatch(/^one\.json\[0\] "x": label must be text/);
  });
});

/** Pairs of assignments, built-in and custom, that must give the same relevance bit for bit. */
const PAIRS: readonly { name: string; builtin: RuleAssignment; custom: RuleAssignment }[] = [
  {
    name: 'Epsilon on conv and fc',
    builtin: { preset: 'gradient', layers: [{ layer: 'conv', rule: 'epsilon' }, { layer: 'fc', rule: 'epsilon', epsilon: 0.01 }] },
    custom: { preset: 'gradient', ruleDefs: [EPSILON], layers: [{ layer: 'conv', rule: 'my.epsilon' }, { layer: 'fc', rule: 'my.epsilon', epsilon: 0.01 }] },
  },
  {
    name: 'ZPlus on conv, Epsilon on fc (EpsilonPlus)',
    builtin: { preset: 'EpsilonPlus' },
    custom: { preset: 'EpsilonPlus', ruleDefs: [ZPLUS, EPSILON], layers: [{ layer: 'conv', rule: 'my.zplus' }, { layer: 'fc', rule: 'my.epsilon' }] },
  },
  {
    name: 'Gamma on conv and fc (default and 0.8)',
    builtin: { preset: 'EpsilonPlus', layers: [{ layer: 'conv', rule: 'gamma' }, { layer: 'fc', rule: 'gamma', gamma: 0.8 }] },
    custom: { preset: 'EpsilonPlus', ruleDefs: EXAMPLE_RULE_SPECS, layers: [{ layer: 'conv', rule: 'my.gamma' }, { layer: 'fc', rule: 'my.gamma', gamma: 0.8 }] },
  },
];

async function bitForBit(engine: Engine): Promise<void> {
  const graph = smallNet(7);
  const input = randomArray(3 * 6 * 6, rng(8), 2);
  for (const pair of PAIRS) {
    // Separate models: nothing computed for one assignment is reused for the other.
    const [a, b] = await Promise.all([engine.load(graph), engine.load(graph)]);
    try {
      for (const target of [0, 3]) {
        const x = await a.explain(input, { rules: pair.builtin, target, layerRelevance: true });
        const y = await b.explain(input, { rules: pair.custom, target, layerRelevance: true });
        expect(x.nonFinite, pair.name).toBeNull();
        expect(Array.from(x.relevance).some((v) => v !== 0), `${pair.name}: some relevance`).toBe(true);
        expect(Array.from(y.relevance), `${pair.name}, target ${target}: input relevance`).toEqual(Array.from(x.relevance));
        expect(y.layers.map((l) => l.layer)).toEqual(x.layers.map((l) => l.layer));
        x.layers.forEach((l, i) => expect(Array.from(y.layers[i]!.data), `${pair.name}: ${l.layer}`).toEqual(Array.from(l.data)));
      }
    } finally {
      a.dispose();
      b.dispose();
    }
  }
}

describe('custom rules in an assignment (ruleDefs)', () => {
  it('resolves custom rules by id when the assignment defines them, and only then', () => {
    const graph = smallNet(1);
    const resolved = resolveAssignment(graph, PAIRS[2]!.custom);
    expect(resolved.get('conv')!.rule).toBe('my.gamma');
    expect(resolved.get('conv')!.program).toStrictEqual(resolveAssignment(graph, PAIRS[2]!.builtin).get('conv')!.program);
    // A registered rule (the app's registry) is no substitute for the assignment's definition.
    registerCustomRules([parseRuleDefinition(GAMMA)]);
    try {
      expect(findRule('my.gamma')?.label).toBe('Gamma (custom)');
      expect(message(() => resolveAssignment(graph, { preset: 'gradient', layers: [{ layer: 'conv', rule: 'my.gamma' }] }))).toMatch(
        /^layer "conv": unknown rule "my\.gamma"$/,
      );
    } finally {
      registerCustomRules([]);
    }
    expect(findRule('my.gamma')).toBeUndefined();
    expect(message(() => resolveAssignment(graph, { preset: 'gradient', ruleDefs: [ZPLUS], layers: [{ layer: 'fc', rule: 'my.gamma' }] }))).toBe(
      `layer "fc": unknown rule "my.gamma" (the assignment's ruleDefs define my.zplus)`,
    );
    expect(message(() => resolveAssignment(graph, { preset: 'gradient', ruleDefs: [ZPLUS], layers: [{ layer: 'relu', rule: 'my.zplus' }] }))).toMatch(
      /layer "relu" \(relu\): rule "my\.zplus" does not apply to this kind of layer/,
    );
    expect(message(() => resolveAssignment(graph, { preset: 'gradient', ruleDefs: [EPSILON], layers: [{ layer: 'conv', rule: 'my.epsilon', epsilon: -1 }] }))).toMatch(
      /layer "conv": parameter "epsilon" of rule "my\.epsilon" must be a number in \[0, 1000000\]/,
    );
    expect(message(() => resolveAssignment(graph, { ruleDefs: [{ ...EPSILON, id: 'epsilon' }] }))).toMatch(/^ruleDefs\[0\] "epsilon": id "epsilon" is the name of a built-in rule: choose another/);
  });

  it('re-defined Epsilon, ZPlus and Gamma give the built-in relevance bit for bit (CPU)', async () => {
    await bitForBit(await cpuEngine());
  });

  it('re-defined Epsilon, ZPlus and Gamma give the built-in relevance bit for bit (WebGPU)', async () => {
    await bitForBit(await gpuEngine());
  });
});

describe('custom rules through the library (rules.ruleDefs)', () => {
  it('loadModel(...).explain(..., { rules: { preset, layers, ruleDefs } }) equals the built-in rules', async () => {
    const tinyvgg = new URL('../../public/models/tinyvgg/model.json', import.meta.url).pathname;
    const model = await loadModel(tinyvgg, { backend: 'cpu' });
    try {
      const input = randomArray(model.inputShape.reduce((a, b) => a * b, 1), rng(3), 1);
      const ruleDefs = EXAMPLE_RULE_SPECS as readonly CustomRuleDefinition[];
      const a = await model.explain(input, { target: 2, rules: { preset: 'EpsilonPlusFlat', layers: [{ layer: '#1', rule: 'gamma', gamma: 0.5 }] } });
      const b = await model.explain(input, { target: 2, rules: { preset: 'EpsilonPlusFlat', ruleDefs, layers: { '#1': { rule: 'my.gamma', gamma: 0.5 } } } });
      expect(Array.from(b.relevance)).toEqual(Array.from(a.relevance));
      await expect(model.explain(input, { rules: { preset: 'EpsilonPlusFlat', ruleDefs: [{ ...ruleDefs[0]!, id: 'zplus' }] } })).rejects.toThrow(
        /ruleDefs\[0\] "zplus": id "zplus" is the name of a built-in rule/,
      );
    } finally {
      model.dispose();
    }
  });
});
