/**
 * The rule catalogue: every LRP rule LRP Lens offers, as data. Each entry names its parameters (with defaults and
 * bounds, so the UI and the link decoder can validate them) and compiles them to a RuleProgram.
 * Captum's and Zennit's rules are separate entries: the two libraries differ on purpose (Captum's gamma keeps the
 * bias and does not split inputs by sign; its default epsilon is 1e-9, Zennit's 1e-6).
 */
import {
  affineMod,
  epsilonProgram,
  identityMod,
  negativeMod,
  onesMod,
  positiveMod,
  squareMod,
  zeroMod,
  type Group,
  type ParamModifier,
  type RuleProgram,
} from './rule-program';

/** Layer kinds as far as rules are concerned. */
/**
 * 'gate': the product of a signal and a gate (squeeze-excitation); 'scale': multiplication by a constant;
 * 'layernorm': LayerNorm, whose normaliser the rules hold constant; 'matmul': the product of two computed values
 * (attention), whose Softmax operand the epsilon rule holds constant (CP-LRP); 'softmax': a Softmax inside the graph
 * (attention weights), whose epsilon rule is AttnLRP's softmax rule.
 */
export type LayerClass =
  | 'weighted'
  | 'batchnorm'
  | 'avgpool'
  | 'maxpool'
  | 'activation'
  | 'add'
  | 'structural'
  | 'gate'
  | 'scale'
  | 'layernorm'
  | 'matmul'
  | 'softmax';

export interface NumberParam {
  readonly name: string;
  readonly kind: 'number';
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly description: string;
}
export interface BooleanParam {
  readonly name: string;
  readonly kind: 'boolean';
  readonly default: boolean;
  readonly description: string;
}
/** A scalar or one value per input channel (ZBox bounds). */
export interface BoundsParam {
  readonly name: string;
  readonly kind: 'bounds';
  readonly default: number;
  readonly description: string;
}
export type ParamSpec = NumberParam | BooleanParam | BoundsParam;

export type ParamValue = number | boolean | readonly number[];
export type RuleParams = Readonly<Record<string, ParamValue>>;

export interface RuleDefinition {
  readonly id: string;
  /** 'custom': defined as data (custom-rules.ts), not in this catalogue. */
  readonly family: 'captum' | 'zennit' | 'common' | 'custom';
  readonly label: string;
  readonly description: string;
  readonly params: readonly ParamSpec[];
  readonly appliesTo: readonly LayerClass[];
  /** Whether the rule's relevance sums are conserved (given zero bias). */
  readonly conserving: boolean;
  compile(params: ResolvedParams): RuleProgram;
}

/** Parameters after defaults and validation. */
export interface ResolvedParams {
  number(name: string): number;
  boolean(name: string): boolean;
  bounds(name: string): number | readonly number[];
}

const LRP_LAYERS: readonly LayerClass[] = ['weighted', 'batchnorm', 'avgpool', 'maxpool', 'add', 'layernorm', 'matmul', 'softmax'];
const WEIGHTED: readonly LayerClass[] = ['weighted'];

const eps = (def: number): NumberParam => ({
  name: 'epsilon',
  kind: 'number',
  default: def,
  min: 0,
  max: 1e6,
  description: 'stabiliser added to the denominator in the direction of its sign',
});
const zeroBias: BooleanParam = {
  name: 'zeroBias',
  kind: 'boolean',
  default: false,
  description: 'treat the bias as zero (relevance is then conserved by conserving rules)',
};
const gammaParam: NumberParam = {
  name: 'gamma',
  kind: 'number',
  default: 0.25,
  min: 0,
  max: 1e6,
  description: 'how much positive contributions are boosted',
};

const biasOr = (p: ResolvedParams, mod: ParamModifier): ParamModifier => (p.boolean('zeroBias') ? zeroMod : mod);
const ZENNIT_EPS = 1e-6;
const CAPTUM_EPS = 1e-9;

function group(terms: Group['terms'], bias: ParamModifier, epsilon: number | null, coefficient = 1, mask: Group['mask'] = 'all'): Group {
  return { terms, bias, epsilon, coefficient, mask };
}

export const ruleDefinitions: readonly RuleDefinition[] = [
  // ---- Captum (captum.attr._utils.lrp_rules) ----
  {
    id: 'captum.epsilon',
    family: 'captum',
    label: 'Epsilon (Captum)',
    description: "Captum's EpsilonRule: R_j = a_j sum_k w_jk R_k / stab(z_k), z with the bias.",
    params: [eps(CAPTUM_EPS)],
    appliesTo: LRP_LAYERS,
    conserving: false,
    compile: (p) => epsilonProgram(p.number('epsilon')),
  },
  {
    id: 'captum.gamma',
    family: 'captum',
    label: 'Gamma (Captum)',
    description: "Captum's GammaRule: weights w + gamma w+, bias kept unless zeroBias, then the epsilon formula (eps 1e-9).",
    params: [gammaParam, { ...zeroBias, name: 'zeroBias' }],
    appliesTo: WEIGHTED,
    conserving: false,
    compile: (p) => epsilonProgram(CAPTUM_EPS, affineMod(1, p.number('gamma'), 0), biasOr(p, identityMod)),
  },
  {
    id: 'captum.alpha1beta0',
    family: 'captum',
    label: 'Alpha1-Beta0 (Captum)',
    description: "Captum's Alpha1_Beta0_Rule: weights w+, bias kept, then the epsilon formula (eps 1e-9).",
    params: [zeroBias],
    appliesTo: WEIGHTED,
    conserving: false,
    compile: (p) => epsilonProgram(CAPTUM_EPS, positiveMod, biasOr(p, identityMod)),
  },
  {
    id: 'captum.identity',
    family: 'captum',
    label: 'Identity (Captum)',
    description: "Captum's IdentityRule: relevance passes unchanged (shape-preserving layers only).",
    params: [],
    appliesTo: ['batchnorm', 'activation'],
    conserving: true,
    compile: () => ({ kind: 'pass' }),
  },
  // ---- Zennit (zennit.rules) ----
  {
    id: 'epsilon',
    family: 'zennit',
    label: 'Epsilon',
    description: 'R_j = a_j sum_k w_jk R_k / stab(z_k): small epsilon follows the gradient x input, large epsilon keeps only strong contributions.',
    params: [eps(ZENNIT_EPS), zeroBias],
    appliesTo: LRP_LAYERS,
    conserving: false,
    compile: (p) => epsilonProgram(p.number('epsilon'), identityMod, biasOr(p, identityMod)),
  },
  {
    id: 'zplus',
    family: 'zennit',
    label: 'ZPlus',
    description: 'Only positive contributions a+ w+ + a- w- (with b+): AlphaBeta(1, 0).',
    params: [eps(ZENNIT_EPS), zeroBias],
    appliesTo: WEIGHTED,
    conserving: true,
    compile: (p) => ({
      kind: 'lrp',
      groups: [group([{ input: 'positive', weight: positiveMod }, { input: 'negative', weight: negativeMod }], biasOr(p, positiveMod), p.number('epsilon'))],
    }),
  },
  {
    id: 'alphabeta',
    family: 'zennit',
    label: 'AlphaBeta',
    description: 'alpha times the positive contributions minus beta times the negative ones; alpha - beta = 1.',
    params: [
      { name: 'alpha', kind: 'number', default: 2, min: 1, max: 1e6, description: 'weight of positive contributions' },
      { name: 'beta', kind: 'number', default: 1, min: 0, max: 1e6, description: 'weight of negative contributions' },
      eps(ZENNIT_EPS),
      zeroBias,
    ],
    appliesTo: WEIGHTED,
    conserving: true,
    compile: (p) => {
      const alpha = p.number('alpha');
      const beta = p.number('beta');
      if (Math.abs(alpha - beta - 1) > 1e-9) {
        throw new RangeError(`AlphaBeta needs alpha - beta = 1 (got alpha ${alpha}, beta ${beta})`);
      }
      const e = p.number('epsilon');
      const groups: Group[] = [
        group([{ input: 'positive', weight: positiveMod }, { input: 'negative', weight: negativeMod }], biasOr(p, positiveMod), e, alpha),
      ];
      if (beta !== 0) {
        groups.push(group([{ input: 'positive', weight: negativeMod }, { input: 'negative', weight: positiveMod }], biasOr(p, negativeMod), e, -beta));
      }
      return { kind: 'lrp', groups };
    },
  },
  {
    id: 'gamma',
    family: 'zennit',
    label: 'Gamma',
    description: 'Generalised gamma: boosts contributions with the sign of z (inputs, weights and bias split by sign).',
    params: [gammaParam, eps(ZENNIT_EPS), zeroBias],
    appliesTo: WEIGHTED,
    conserving: false,
    compile: (p) => {
      const g = p.number('gamma');
      const e = p.number('epsilon');
      const up = affineMod(1, g, 0);
      const down = affineMod(1, 0, g);
      return {
        kind: 'lrp',
        groups: [
          group([{ input: 'positive', weight: up }, { input: 'negative', weight: down }], biasOr(p, up), e, 1, 'positive'),
          group([{ input: 'positive', weight: down }, { input: 'negative', weight: up }], biasOr(p, down), e, 1, 'negative'),
        ],
      };
    },
  },
  {
    id: 'flat',
    family: 'zennit',
    label: 'Flat',
    description: 'Every input and weight treated as 1: relevance spread evenly over the receptive field.',
    params: [eps(ZENNIT_EPS)],
    appliesTo: WEIGHTED,
    conserving: true,
    compile: (p) => ({ kind: 'lrp', groups: [group([{ input: 'ones', weight: onesMod }], zeroMod, p.number('epsilon'))] }),
  },
  {
    id: 'wsquare',
    family: 'zennit',
    label: 'WSquare',
    description: 'Inputs treated as 1, weights and bias squared.',
    params: [eps(ZENNIT_EPS), zeroBias],
    appliesTo: WEIGHTED,
    conserving: true,
    compile: (p) => ({ kind: 'lrp', groups: [group([{ input: 'ones', weight: squareMod }], biasOr(p, squareMod), p.number('epsilon'))] }),
  },
  {
    id: 'zbox',
    family: 'zennit',
    label: 'ZBox',
    description: 'For the first layer of bounded inputs: a w - l w+ - h w-, with l and h the lowest and highest input values.',
    params: [
      { name: 'low', kind: 'bounds', default: -3, description: 'lowest input value (scalar or one per channel)' },
      { name: 'high', kind: 'bounds', default: 3, description: 'highest input value (scalar or one per channel)' },
      eps(ZENNIT_EPS),
    ],
    appliesTo: WEIGHTED,
    conserving: true,
    compile: (p) => ({
      kind: 'lrp',
      groups: [
        group(
          [
            { input: 'identity', weight: identityMod },
            { input: 'low', weight: affineMod(0, -1, 0) },
            { input: 'high', weight: affineMod(0, 0, -1) },
          ],
          zeroMod,
          p.number('epsilon'),
        ),
      ],
      bounds: { low: p.bounds('low'), high: p.bounds('high') },
    }),
  },
  {
    id: 'norm',
    family: 'zennit',
    label: 'Norm',
    description: 'Proportional split by contribution (average pools, residual additions).',
    params: [eps(ZENNIT_EPS)],
    appliesTo: ['avgpool', 'add', 'batchnorm'],
    conserving: true,
    compile: (p) => epsilonProgram(p.number('epsilon')),
  },
  {
    id: 'pass',
    family: 'zennit',
    label: 'Pass',
    description:
      'Relevance passes unchanged (activations, scaling by a constant, LayerNorm); on the product of a signal and a gate the signal takes all relevance, the gate none.',
    params: [],
    appliesTo: ['activation', 'batchnorm', 'gate', 'scale', 'layernorm', 'softmax'],
    conserving: true,
    compile: () => ({ kind: 'pass' }),
  },
  // ---- AttnLRP (Achtibat et al. 2024) ----
  {
    id: 'uniform',
    family: 'common',
    label: 'Uniform (AttnLRP)',
    description:
      "AttnLRP's uniform rule for a product of two computed values Z = A B (attention's Q K^T and A V): each operand gets half of the epsilon rule, R_A = A * (s B^T), R_B = B * (A^T s), s = R / (2 stab(Z)).",
    params: [eps(0)],
    appliesTo: ['matmul'],
    conserving: true,
    compile: (p) => ({ kind: 'lrp', groups: [group([{ input: 'identity', weight: identityMod }], identityMod, p.number('epsilon'), 0.5)], operands: 'uniform' }),
  },
  {
    id: 'gradient',
    family: 'common',
    label: 'Gradient',
    description: 'The plain gradient: ReLU masks, MaxPool routes to the maximum, AvgPool splits evenly.',
    params: [],
    appliesTo: ['weighted', 'batchnorm', 'avgpool', 'maxpool', 'activation', 'add', 'structural', 'gate', 'scale', 'layernorm', 'matmul', 'softmax'],
    conserving: false,
    compile: () => ({ kind: 'gradient' }),
  },
];

const byId = new Map(ruleDefinitions.map((r) => [r.id, r]));

/** Accepted aliases: the names the golden manifests and Captum users write. */
const aliases: Record<string, string> = {
  identity: 'captum.identity',
  alpha1beta0: 'captum.alpha1beta0',
  'alpha-beta': 'alphabeta',
};

/** A rule of the built-in catalogue (by id or alias). */
export function findBuiltinRule(id: string): RuleDefinition | undefined {
  return byId.get(id) ?? byId.get(aliases[id] ?? '');
}

/** Every name a built-in rule answers to (ids and aliases): a custom rule may take none of them. */
export function builtinRuleIds(): string[] {
  return [...byId.keys(), ...Object.keys(aliases)];
}

/**
 * Custom rules registered for lookup by findRule (the app's rule editor registers its rules here, so that its menus
 * find them). Resolving an assignment never reads this registry: a custom rule there must be in its `ruleDefs`.
 */
let registered: ReadonlyMap<string, RuleDefinition> = new Map();

/** Replaces the registered custom rules (ids colliding with a built-in rule are ignored). */
export function registerCustomRules(defs: readonly RuleDefinition[]): void {
  registered = new Map(defs.filter((d) => !findBuiltinRule(d.id)).map((d) => [d.id, d]));
}

/** The registered custom rules, in the order they were registered. */
export function registeredCustomRules(): readonly RuleDefinition[] {
  return [...registered.values()];
}

/** A built-in rule, or a custom rule registered with registerCustomRules. */
export function findRule(id: string): RuleDefinition | undefined {
  return findBuiltinRule(id) ?? registered.get(id);
}

export class RuleError extends Error {
  override name = 'RuleError';
}

/** Validates parameters against the rule's spec, fills defaults and compiles the program. */
export function compileRule(id: string, params: RuleParams = {}): RuleProgram {
  const def = findRule(id);
  if (!def) throw new RuleError(`unknown rule "${id}" (known: ${ruleDefinitions.map((r) => r.id).join(', ')})`);
  return compileRuleDefinition(def, params);
}

/** As compileRule, for a definition at hand (a custom rule's). */
export function compileRuleDefinition(def: RuleDefinition, params: RuleParams = {}): RuleProgram {
  for (const key of Object.keys(params)) {
    if (!def.params.some((s) => s.name === key)) {
      throw new RuleError(`rule "${def.id}" has no parameter "${key}"${def.params.length ? ` (it takes ${def.params.map((s) => s.name).join(', ')})` : ''}`);
    }
  }
  const spec = (name: string): ParamSpec => {
    const s = def.params.find((x) => x.name === name);
    if (!s) throw new RuleError(`rule "${def.id}" has no parameter "${name}"`);
    return s;
  };
  const resolved: ResolvedParams = {
    number(name) {
      const s = spec(name);
      if (s.kind !== 'number') throw new RuleError(`parameter "${name}" of rule "${def.id}" is not a number`);
      const v = params[name] ?? s.default;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < s.min || v > s.max) {
        throw new RuleError(`parameter "${name}" of rule "${def.id}" must be a number in [${s.min}, ${s.max}] (got ${JSON.stringify(v)})`);
      }
      return v;
    },
    boolean(name) {
      const s = spec(name);
      const v = params[name] ?? s.default;
      if (typeof v !== 'boolean') throw new RuleError(`parameter "${name}" of rule "${def.id}" must be true or false (got ${JSON.stringify(v)})`);
      return v;
    },
    bounds(name) {
      const s = spec(name);
      const v = params[name] ?? s.default;
      const ok = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
      if (ok(v)) return v as number;
      if (Array.isArray(v) && v.length > 0 && v.length <= 4096 && v.every(ok)) return v as readonly number[];
      throw new RuleError(`parameter "${name}" of rule "${def.id}" must be a number or a list of numbers, one per channel`);
    },
  };
  return def.compile(resolved);
}
