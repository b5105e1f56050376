/**
 * The app's custom rule editor, its form <-> definition mapping (app/rule-form.ts): forms and definitions round-trip,
 * affine modifiers and null stabilisers included; what the form cannot show is named, not dropped silently; and
 * Zennit's Epsilon, ZPlus and Gamma defined through the form (Gamma also through the affine choice, as the e2e test
 * does) give the built-in rules' programs and relevance bit for bit on the CPU engine (as tests/unit/custom-rules).
 */
import { describe, expect, it } from 'vitest';
import type { RuleAssignment } from '../../src/rules/assignment';
import { compileRule, registerCustomRules } from '../../src/rules/rules';
import { EXAMPLE_RULE_SPECS, parseRuleDefinition, type CustomRuleSpec } from '../../src/rules/custom-rules';
import {
  affineOf,
  blankForm,
  formGaps,
  formOf,
  gapsMessage,
  modFormOf,
  specOf,
  TEMPLATES,
  withChoice,
  type ModForm,
  type RuleForm,
  type TemplateId,
} from '../../app/rule-form';
import { cpuEngine, randomArray, rng } from './helpers/engines';
import { smallNet } from './helpers/small-nets';

const fromTemplate = (t: TemplateId, id: string, label = id): RuleForm => ({ id, label, ...structuredClone(TEMPLATES[t].form) });
const affine = (plain: string, pos: string, neg: string): ModForm => ({ choice: 'affine', plain, pos, neg });

/** Gamma with every modifier through the affine choice (γ as $gamma), as the e2e test types it. */
function affineGamma(id: string): RuleForm {
  const form = fromTemplate('gamma', id);
  const up = affine('1', '$gamma', '0');
  const down = affine('1', '0', '$gamma');
  const [g1, g2] = form.groups as [RuleForm['groups'][0], RuleForm['groups'][0]];
  g1.bias = up;
  g1.terms = [{ input: 'positive', weight: up }, { input: 'negative', weight: down }];
  g2.bias = down;
  g2.terms = [{ input: 'positive', weight: down }, { input: 'negative', weight: up }];
  return form;
}

/** Definitions with affine modifiers and null stabilisers, every one the form can express. */
const AFFINE_SPECS: readonly CustomRuleSpec[] = [
  {
    id: 'my.affine',
    label: 'Affine',
    appliesTo: ['weighted', 'batchnorm'],
    params: [
      { name: 'epsilon', default: 0.001, min: 0, description: 'stabiliser added to the denominator in the direction of its sign' },
      { name: 'gamma', default: 1.5, min: 0, description: 'how much the gamma modifiers boost' },
    ],
    program: {
      groups: [
        {
          terms: [
            { input: 'positive', weight: { plain: 1, pos: '$gamma', neg: '-$gamma' } },
            { input: 'negative', weight: { pos: 2 } },
            { input: 'ones', weight: {} },
          ],
          bias: { plain: 0.5, neg: 0 },
          mask: 'positive',
          coefficient: '-$gamma',
          stabilizer: null,
        },
        {
          terms: [{ input: 'identity', weight: { plain: 1, neg: '$gamma' } }],
          bias: 'zero',
          mask: 'all',
          coefficient: 0.25,
          stabilizer: { epsilon: '$epsilon' },
        },
      ],
    },
  },
  {
    id: 'my.gradient-like',
    label: 'No division',
    appliesTo: ['weighted'],
    params: [{ name: 'epsilon', default: 1e-6, min: 0, description: 'stabiliser added to the denominator in the direction of its sign' }],
    program: {
      groups: [{ terms: [{ input: 'identity', weight: { plain: -1, pos: 1e-9 } }], bias: 'square', mask: 'negative', coefficient: 1, stabilizer: null }],
    },
  },
];

describe('the rule editor form: round trips', () => {
  it('the three templates: form -> definition -> form, and definition -> form -> definition', () => {
    for (const t of Object.keys(TEMPLATES) as TemplateId[]) {
      const form = fromTemplate(t, `my.${t}`, `My ${t}`);
      const spec = specOf(form);
      expect(() => parseRuleDefinition(spec)).not.toThrow();
      expect(formOf(spec), t).toEqual(form);
      expect(specOf(formOf(spec)), t).toEqual(spec);
      expect(formGaps(spec), t).toEqual([]);
    }
    expect(specOf(fromTemplate('epsilon', 'e')).params!.map((p) => p.name)).toEqual(['epsilon']);
    expect(specOf(fromTemplate('gamma', 'g')).params!.map((p) => p.name)).toEqual(['epsilon', 'gamma']);
  });

  it('affine modifiers and null stabilisers: definition -> form -> definition, exactly', () => {
    for (const spec of AFFINE_SPECS) {
      expect(() => parseRuleDefinition(spec)).not.toThrow();
      const form = formOf(spec);
      expect(specOf(form), spec.id).toEqual(spec);
      expect(formOf(specOf(form)), spec.id).toEqual(form);
      expect(formGaps(spec), spec.id).toEqual([]);
    }
    const form = formOf(AFFINE_SPECS[0]!);
    const [g1, g2] = form.groups;
    expect(g1!.stabiliser).toBe('none');
    expect(g2!.stabiliser).toBe('epsilon');
    expect(g1!.coefficient).toBe('-$gamma');
    expect(g1!.terms.map((t) => t.weight)).toEqual([affine('1', '$gamma', '-$gamma'), affine('', '2', ''), affine('', '', '')]);
    expect(g1!.bias).toEqual(affine('0.5', '', '0'));
    // Gamma's down, written as the shortcut writes it, is shown as the shortcut.
    expect(g2!.terms[0]!.weight).toEqual({ choice: 'gamma-down' });
    expect(specOf(form).program.groups![0]!.stabilizer).toBeNull();
  });

  it('a form with affine modifiers and null stabilisers: form -> definition -> form', () => {
    const form = affineGamma('my.affine-gamma');
    form.groups[1]!.stabiliser = 'none';
    form.groups[0]!.terms.push({ input: 'ones', weight: affine('', '-$gamma', '2.5') });
    const spec = specOf(form);
    expect(spec.program.groups![0]!.terms[0]!.weight).toEqual({ plain: 1, pos: '$gamma', neg: 0 });
    expect(spec.program.groups![0]!.terms[2]!.weight).toEqual({ pos: '-$gamma', neg: 2.5 });
    expect(spec.program.groups![1]!.stabilizer).toBeNull();
    expect(spec.params!.map((p) => p.name)).toEqual(['epsilon', 'gamma']);
    expect(() => parseRuleDefinition(spec)).not.toThrow();
    expect(formOf(spec)).toEqual(form);
    expect(specOf(formOf(spec))).toEqual(spec);
    // gamma is declared when only an affine coefficient names it, and not when nothing does.
    const onlyAffine = fromTemplate('epsilon', 'a');
    onlyAffine.groups[0]!.bias = affine('1', '', '-$gamma');
    expect(specOf(onlyAffine).params!.map((p) => p.name)).toEqual(['epsilon', 'gamma']);
    onlyAffine.groups[0]!.bias = affine('1', '', '-2');
    expect(specOf(onlyAffine).params!.map((p) => p.name)).toEqual(['epsilon']);
  });

  it('choosing "affine" starts from the coefficients of the modifier chosen before', () => {
    expect(withChoice({ choice: 'gamma-up' }, 'affine')).toEqual(affine('1', '$gamma', ''));
    expect(withChoice({ choice: 'gamma-down' }, 'affine')).toEqual(affine('1', '', '$gamma'));
    expect(withChoice({ choice: 'positive' }, 'affine')).toEqual(affine('', '1', ''));
    expect(withChoice(affine('1', '2', '3'), 'zero')).toEqual({ choice: 'zero' });
    for (const m of [{ choice: 'identity' }, { choice: 'positive' }, { choice: 'negative' }, { choice: 'gamma-up' }, { choice: 'gamma-down' }] as ModForm[]) {
      // The affine coefficients a choice starts from are the same modifier.
      const spec = specOf({ ...blankForm(), id: 'x', label: 'x', groups: [{ mask: 'all', coefficient: '1', stabiliser: 'epsilon', bias: m, terms: [{ input: 'identity', weight: { choice: 'affine', ...affineOf(m) } }] }] });
      const def = parseRuleDefinition(spec);
      registerCustomRules([def]);
      try {
        const program = compileRule('x', m.choice.startsWith('gamma') ? { gamma: 0.7 } : {});
        expect(program.kind === 'lrp' && program.groups[0]!.terms[0]!.weight, m.choice).toStrictEqual(program.kind === 'lrp' && program.groups[0]!.bias);
      } finally {
        registerCustomRules([]);
      }
    }
    expect(modFormOf('identity')).toEqual({ choice: 'identity' });
    expect(modFormOf({ plain: 1, pos: '$gamma' })).toEqual({ choice: 'gamma-up' });
    expect(modFormOf({ plain: 1, pos: '$gamma', neg: 0 })).toEqual(affine('1', '$gamma', '0'));
  });
});

describe('the rule editor form: what it cannot show is named', () => {
  const base = EXAMPLE_RULE_SPECS[0]!;
  const cases: readonly [string, unknown, RegExp][] = [
    ['pass', { id: 'my.pass', label: 'Pass', appliesTo: ['activation'], program: { kind: 'pass' } }, /program kind "pass"/],
    ['gradient', { id: 'my.grad', label: 'Grad', appliesTo: ['weighted'], program: { kind: 'gradient' } }, /program kind "gradient"/],
    [
      'ZBox',
      {
        ...base,
        program: { groups: [{ terms: [{ input: 'identity', weight: 'identity' }, { input: 'low', weight: { pos: -1 } }], bias: 'zero', stabilizer: { epsilon: '$epsilon' } }], bounds: { low: -1, high: 1 } },
      },
      /ZBox bounds.*input modifiers "low" or "high"/,
    ],
    [
      'alpha',
      {
        ...base,
        params: [{ name: 'epsilon', default: 1e-6 }, { name: 'alpha', default: 2 }],
        program: { groups: [{ terms: [{ input: 'identity', weight: 'identity' }], bias: 'identity', coefficient: '$alpha', stabilizer: { epsilon: '$epsilon' } }] },
      },
      /parameter "alpha"/,
    ],
    ['literal epsilon', { ...base, program: { groups: [{ terms: [{ input: 'identity', weight: 'identity' }], bias: 'identity', stabilizer: { epsilon: 1e-9 } }] } }, /a stabiliser of 1e-9 in group 1/],
    ['range', { ...base, params: [{ name: 'epsilon', default: 1e-6, max: 1 }] }, /a range for parameter "epsilon" \(\[0, 1\]\)/],
    ['description', { ...base, description: 'mine' }, /a description/],
    ['unused gamma', { ...base, params: [{ name: 'epsilon', default: 1e-6 }, { name: 'gamma', default: 1 }] }, /parts the form writes differently/],
  ];
  it.each(cases)('%s', (_name, spec, gap) => {
    const def = parseRuleDefinition(spec);
    const gaps = formGaps(def.spec);
    expect(gaps.join('; ')).toMatch(gap);
    expect(gapsMessage(gaps)).toMatch(/^This rule uses .*, which the form cannot show; edit its JSON instead/);
  });

  it('but not what only its defaults or key order change (the docs\' Epsilon, ZPlus and Gamma)', () => {
    for (const spec of EXAMPLE_RULE_SPECS) {
      expect(formGaps(spec), spec.id).toEqual([]);
      // The same rule again: the same program for any parameters.
      registerCustomRules([parseRuleDefinition(spec), parseRuleDefinition({ ...specOf(formOf(spec)), id: `${spec.id}.again` })]);
      try {
        const values: Record<string, number>[] = [{}, spec.params!.some((q) => q.name === 'gamma') ? { epsilon: 0.01, gamma: 2 } : { epsilon: 0.01 }];
        for (const p of values) expect(compileRule(`${spec.id}.again`, p), spec.id).toStrictEqual(compileRule(spec.id, p));
      } finally {
        registerCustomRules([]);
      }
    }
  });
});


describe('the rule editor form: the built-in rules through the form', () => {
  const eps = specOf(fromTemplate('epsilon', 'form.epsilon'));
  const zplus = specOf(fromTemplate('zplus', 'form.zplus'));
  const gamma = specOf(fromTemplate('gamma', 'form.gamma'));
  const gammaAffine = specOf(affineGamma('form.gamma-affine'));

  it('compile to the built-in programs, exactly', () => {
    registerCustomRules([eps, zplus, gamma, gammaAffine].map((s) => parseRuleDefinition(s)));
    try {
      expect(compileRule('form.epsilon')).toStrictEqual(compileRule('epsilon'));
      expect(compileRule('form.epsilon', { epsilon: 0.25 })).toStrictEqual(compileRule('epsilon', { epsilon: 0.25 }));
      expect(compileRule('form.zplus')).toStrictEqual(compileRule('zplus'));
      expect(compileRule('form.gamma')).toStrictEqual(compileRule('gamma'));
      expect(compileRule('form.gamma-affine')).toStrictEqual(compileRule('gamma'));
      expect(compileRule('form.gamma-affine', { gamma: 1.5, epsilon: 1e-3 })).toStrictEqual(compileRule('gamma', { gamma: 1.5, epsilon: 1e-3 }));
    } finally {
      registerCustomRules([]);
    }
  });

  it('give the built-in relevance bit for bit (CPU)', async () => {
    const pairs: readonly { name: string; builtin: RuleAssignment; custom: RuleAssignment }[] = [
      {
        name: 'Epsilon',
        builtin: { preset: 'gradient', layers: [{ layer: 'conv', rule: 'epsilon' }, { layer: 'fc', rule: 'epsilon', epsilon: 0.01 }] },
        custom: { preset: 'gradient', ruleDefs: [eps], layers: [{ layer: 'conv', rule: 'form.epsilon' }, { layer: 'fc', rule: 'form.epsilon', epsilon: 0.01 }] },
      },
      {
        name: 'ZPlus',
        builtin: { preset: 'EpsilonPlus' },
        custom: { preset: 'EpsilonPlus', ruleDefs: [zplus, eps], layers: [{ layer: 'conv', rule: 'form.zplus' }, { layer: 'fc', rule: 'form.epsilon' }] },
      },
      {
        name: 'Gamma',
        builtin: { preset: 'EpsilonPlus', layers: [{ layer: 'conv', rule: 'gamma' }, { layer: 'fc', rule: 'gamma', gamma: 0.8 }] },
        custom: { preset: 'EpsilonPlus', ruleDefs: [gamma], layers: [{ layer: 'conv', rule: 'form.gamma' }, { layer: 'fc', rule: 'form.gamma', gamma: 0.8 }] },
      },
      {
        name: 'Gamma (affine)',
        builtin: { preset: 'EpsilonPlus', layers: [{ layer: 'conv', rule: 'gamma' }, { layer: 'fc', rule: 'gamma', gamma: 0.8 }] },
        custom: { preset: 'EpsilonPlus', ruleDefs: [gammaAffine], layers: [{ layer: 'conv', rule: 'form.gamma-affine' }, { layer: 'fc', rule: 'form.gamma-affine', gamma: 0.8 }] },
      },
    ];
    const engine = await cpuEngine();
    const graph = smallNet(7);
    const input = randomArray(3 * 6 * 6, rng(8), 2);
    for (const pair of pairs) {
      // Separate models: nothing computed for one assignment is reused for the other.
      const [a, b] = await Promise.all([engine.load(graph), engine.load(graph)]);
      try {
        for (const target of [0, 3]) {
          const x = await a.explain(input, { rules: pair.builtin, target, layerRelevance: true });
          const y = await b.explain(input, { rules: pair.custom, target, layerRelevance: true });
          expect(x.nonFinite, pair.name).toBeNull();
          expect(Array.from(x.relevance).some((v) => v !== 0), `${pair.name}: some relevance`).toBe(true);
          expect(Array.from(y.relevance), `${pair.name}, target ${target}: input relevance`).toEqual(Array.from(x.relevance));
          x.layers.forEach((l, i) => expect(Array.from(y.layers[i]!.data), `${pair.name}: ${l.layer}`).toEqual(Array.from(l.data)));
        }
      } finally {
        a.dispose();
        b.dispose();
      }
    }
  });
});
