/**
 * The custom rule editor's form (app/components/RuleEditor.tsx) and the definition it stands for
 * (src/rules/custom-rules.ts), both ways, with no React: `specOf` writes the definition a form describes, `formOf`
 * reads a definition back into the form (Edit), and `formGaps` names what of a definition the form cannot show
 * (the editor says so instead of changing it silently). formOf(specOf(form)) is the form, and specOf(formOf(spec))
 * the spec, for every spec the form can express (tests/unit/rule-editor-form.test.ts).
 *
 * The form's numbers are text as typed: a number is written as a number, anything else ("$gamma", "-$gamma", a typo)
 * as text, which the definition's check accepts ("$name" of a parameter) or names.
 */
import { INPUT_MODIFIERS, LAYER_CLASSES, NAMED_MODIFIERS, OUTPUT_MASKS, CUSTOM_RULE_LIMITS, type CustomModifier, type CustomRuleSpec, type CustomValue } from '../src/rules/custom-rules';
import type { LayerClass } from '../src/rules/rules';

export type NamedModifier = (typeof NAMED_MODIFIERS)[number];
/** A weight or bias modifier's menu: a named one, Gamma's up (w + γ w⁺) and down (w + γ w⁻), or any affine one. */
export type ModChoice = NamedModifier | 'gamma-up' | 'gamma-down' | 'affine';
export const MOD_CHOICES: readonly { value: ModChoice; label: string }[] = [
  ...NAMED_MODIFIERS.map((m) => ({ value: m as ModChoice, label: m })),
  { value: 'gamma-up', label: 'gamma up (w + γ w⁺)' },
  { value: 'gamma-down', label: 'gamma down (w + γ w⁻)' },
  { value: 'affine', label: 'affine (plain·w + pos·w⁺ + neg·w⁻)' },
];

/** The three coefficients of an affine modifier, as typed; '' leaves the coefficient out of the definition (0). */
export interface AffineForm {
  plain: string;
  pos: string;
  neg: string;
}
export const AFFINE_PARTS: readonly { key: keyof AffineForm; label: string; name: string }[] = [
  { key: 'plain', label: 'plain', name: 'plain coefficient' },
  { key: 'pos', label: 'pos', name: 'pos coefficient' },
  { key: 'neg', label: 'neg', name: 'neg coefficient' },
];

/** A modifier in the form: its menu choice, and for 'affine' its coefficients. */
export type ModForm = { choice: Exclude<ModChoice, 'affine'> } | ({ choice: 'affine' } & AffineForm);

/** The input modifiers the form offers (low and high need ZBox bounds, which the form does not have). */
export const FORM_INPUTS = INPUT_MODIFIERS.filter((m) => m !== 'low' && m !== 'high');
export type FormInput = (typeof INPUT_MODIFIERS)[number];

export interface TermForm {
  input: FormInput;
  weight: ModForm;
}
/** A group's stabiliser: 'epsilon' is z + ε·sign(z) with the rule's ε; 'none' no division (the gradient-like term). */
export type StabiliserChoice = 'epsilon' | 'none';
export interface GroupForm {
  mask: (typeof OUTPUT_MASKS)[number];
  coefficient: string;
  stabiliser: StabiliserChoice;
  bias: ModForm;
  terms: TermForm[];
}
export interface RuleForm {
  id: string;
  label: string;
  appliesTo: LayerClass[];
  epsilon: string;
  gamma: string;
  groups: GroupForm[];
}

const mod = (choice: Exclude<ModChoice, 'affine'>): ModForm => ({ choice });
export const newTerm = (): TermForm => ({ input: 'identity', weight: mod('identity') });
export const newGroup = (): GroupForm => ({ mask: 'all', coefficient: '1', stabiliser: 'epsilon', bias: mod('identity'), terms: [newTerm()] });

export type TemplateId = 'epsilon' | 'zplus' | 'gamma';
export const TEMPLATES: Readonly<Record<TemplateId, { label: string; form: Omit<RuleForm, 'id' | 'label'> }>> = {
  epsilon: {
    label: 'Epsilon',
    form: { appliesTo: ['weighted'], epsilon: '1e-6', gamma: '0.25', groups: [newGroup()] },
  },
  zplus: {
    label: 'ZPlus',
    form: {
      appliesTo: ['weighted'],
      epsilon: '1e-6',
      gamma: '0.25',
      groups: [
        {
          mask: 'all',
          coefficient: '1',
          stabiliser: 'epsilon',
          bias: mod('positive'),
          terms: [
            { input: 'positive', weight: mod('positive') },
            { input: 'negative', weight: mod('negative') },
          ],
        },
      ],
    },
  },
  gamma: {
    label: 'Gamma',
    form: {
      appliesTo: ['weighted'],
      epsilon: '1e-6',
      gamma: '0.25',
      groups: [
        {
          mask: 'positive',
          coefficient: '1',
          stabiliser: 'epsilon',
          bias: mod('gamma-up'),
          terms: [
            { input: 'positive', weight: mod('gamma-up') },
            { input: 'negative', weight: mod('gamma-down') },
          ],
        },
        {
          mask: 'negative',
          coefficient: '1',
          stabiliser: 'epsilon',
          bias: mod('gamma-down'),
          terms: [
            { input: 'positive', weight: mod('gamma-down') },
            { input: 'negative', weight: mod('gamma-up') },
          ],
        },
      ],
    },
  },
};

export const blankForm = (): RuleForm => ({ id: '', label: '', ...structuredClone(TEMPLATES.epsilon.form) });

export const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
/** A number typed in the form: the number, or the text itself (the definition's check then names the field). */
export const numberOf = (text: string): number | string => (DECIMAL.test(text.trim()) ? Number(text.trim()) : text.trim());
/** A number as the form shows it: the shorter of its plain and exponent forms (1e-6, 0.25), either read back exactly. */
export function numberText(x: number): string {
  const plain = String(x);
  const exp = x.toExponential();
  return exp.length < plain.length && Number(exp) === x ? exp : plain;
}
/** A number of a definition as the form shows it ('' where the definition leaves it out). */
const textOf = (v: CustomValue | undefined): string => (v === undefined ? '' : typeof v === 'number' ? numberText(v) : v);

/** The affine coefficients a modifier choice stands for (what the affine fields start from when it is chosen). */
export function affineOf(m: ModForm): AffineForm {
  switch (m.choice) {
    case 'affine':
      return { plain: m.plain, pos: m.pos, neg: m.neg };
    case 'identity':
      return { plain: '1', pos: '', neg: '' };
    case 'positive':
      return { plain: '', pos: '1', neg: '' };
    case 'negative':
      return { plain: '', pos: '', neg: '1' };
    case 'gamma-up':
      return { plain: '1', pos: '$gamma', neg: '' };
    case 'gamma-down':
      return { plain: '1', pos: '', neg: '$gamma' };
    default:
      // zero, ones, square: no affine form; start from nothing.
      return { plain: '', pos: '', neg: '' };
  }
}

/** A modifier whose menu choice changed (to 'affine': its coefficients start from what the old choice was). */
export function withChoice(m: ModForm, choice: ModChoice): ModForm {
  return choice === 'affine' ? { choice, ...affineOf(m) } : { choice };
}

export function modifierSpec(m: ModForm): CustomModifier {
  switch (m.choice) {
    case 'gamma-up':
      return { plain: 1, pos: '$gamma' };
    case 'gamma-down':
      return { plain: 1, neg: '$gamma' };
    case 'affine': {
      const out: { plain?: CustomValue; pos?: CustomValue; neg?: CustomValue } = {};
      for (const { key } of AFFINE_PARTS) if (m[key].trim() !== '') out[key] = numberOf(m[key]);
      return out;
    }
    default:
      return m.choice;
  }
}

/** A definition's modifier in the form: named ones by name, Gamma's up and down by their shortcut, others affine. */
export function modFormOf(m: CustomModifier): ModForm {
  if (typeof m === 'string') return (NAMED_MODIFIERS as readonly string[]).includes(m) ? mod(m as NamedModifier) : { choice: 'affine', plain: '', pos: '', neg: '' };
  const keys = Object.keys(m).sort().join(',');
  if (keys === 'plain,pos' && m.plain === 1 && m.pos === '$gamma') return mod('gamma-up');
  if (keys === 'neg,plain' && m.plain === 1 && m.neg === '$gamma') return mod('gamma-down');
  return { choice: 'affine', plain: textOf(m.plain), pos: textOf(m.pos), neg: textOf(m.neg) };
}

/** Whether a number of the form names the parameter gamma ("$gamma" or "-$gamma"). */
const namesGamma = (text: string): boolean => /^-?\$gamma$/.test(text.trim());
const modUsesGamma = (m: ModForm): boolean => m.choice === 'gamma-up' || m.choice === 'gamma-down' || (m.choice === 'affine' && AFFINE_PARTS.some(({ key }) => namesGamma(m[key])));

/** Whether the form's rule uses γ (then the definition declares the parameter gamma). */
export const formUsesGamma = (form: RuleForm): boolean =>
  form.groups.some((g) => namesGamma(g.coefficient) || modUsesGamma(g.bias) || g.terms.some((t) => modUsesGamma(t.weight)));

const EPSILON_DESCRIPTION = 'stabiliser added to the denominator in the direction of its sign';
const GAMMA_DESCRIPTION = 'how much the gamma modifiers boost';

/** The definition the form describes (the parameters: epsilon, and gamma when something names it). */
export function specOf(form: RuleForm): CustomRuleSpec {
  return {
    id: form.id.trim(),
    label: form.label.trim(),
    appliesTo: form.appliesTo,
    params: [
      { name: 'epsilon', default: numberOf(form.epsilon) as number, min: 0, description: EPSILON_DESCRIPTION },
      ...(formUsesGamma(form) ? [{ name: 'gamma', default: numberOf(form.gamma) as number, min: 0, description: GAMMA_DESCRIPTION }] : []),
    ],
    program: {
      groups: form.groups.map((g) => ({
        terms: g.terms.map((t) => ({ input: t.input, weight: modifierSpec(t.weight) })),
        bias: modifierSpec(g.bias),
        mask: g.mask,
        coefficient: numberOf(g.coefficient),
        stabilizer: g.stabiliser === 'none' ? null : { epsilon: '$epsilon' },
      })),
    },
  };
}

/**
 * A definition back in the form. What the form cannot show (formGaps names it) falls back to the nearest it has: the
 * editor says so, and the rule itself stays as it was until the form is defined again.
 */
export function formOf(spec: CustomRuleSpec): RuleForm {
  const param = (name: string, fallback: string) => {
    const d = spec.params?.find((p) => p.name === name)?.default;
    return d === undefined ? fallback : numberText(d);
  };
  const groups = (spec.program.groups ?? []).map(
    (g): GroupForm => ({
      mask: (OUTPUT_MASKS.includes(g.mask as GroupForm['mask']) ? g.mask : 'all') as GroupForm['mask'],
      coefficient: textOf(g.coefficient ?? 1),
      stabiliser: g.stabilizer === null ? 'none' : 'epsilon',
      bias: modFormOf(g.bias),
      terms: g.terms.map((t) => ({ input: ((FORM_INPUTS as readonly string[]).includes(t.input) ? t.input : 'identity') as FormInput, weight: modFormOf(t.weight) })),
    }),
  );
  return {
    id: spec.id,
    label: spec.label,
    appliesTo: spec.appliesTo.filter((c): c is LayerClass => (LAYER_CLASSES as readonly string[]).includes(c)),
    epsilon: param('epsilon', '1e-6'),
    gamma: param('gamma', '0.25'),
    groups: groups.length ? groups : [newGroup()],
  };
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
/** JSON with its objects' keys sorted (key order carries no meaning in a definition). */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** A definition with the defaults written out and the text that only describes left out: what compiles the same. */
function normalised(spec: CustomRuleSpec): unknown {
  return {
    id: spec.id,
    label: spec.label.trim(),
    appliesTo: spec.appliesTo,
    params: [...(spec.params ?? [])]
      .map((p) => ({ name: p.name, default: p.default, min: p.min ?? 0, max: p.max ?? CUSTOM_RULE_LIMITS.magnitude }))
      .sort((a, b) => (a.name < b.name ? -1 : 1)),
    program: {
      kind: spec.program.kind ?? 'lrp',
      bounds: spec.program.bounds ?? null,
      operands: spec.program.operands ?? null,
      groups: (spec.program.groups ?? []).map((g) => ({
        terms: g.terms,
        bias: g.bias,
        mask: g.mask ?? 'all',
        coefficient: g.coefficient ?? 1,
        stabilizer: g.stabilizer === null ? null : { epsilon: g.stabilizer.epsilon },
      })),
    },
  };
}

/**
 * What of a definition the form cannot show, in words ("program kind "pass"", "the ZBox bounds", ...); empty when
 * Edit then Define gives back the same rule (the same program for every parameter value).
 */
export function formGaps(spec: CustomRuleSpec): string[] {
  const gaps: string[] = [];
  const kind = spec.program.kind ?? 'lrp';
  if (kind !== 'lrp') gaps.push(`program kind "${kind}"`);
  if (spec.program.bounds !== undefined) gaps.push('ZBox bounds (program.bounds)');
  if (spec.program.operands !== undefined) gaps.push(`operands "${spec.program.operands}"`);
  const groups = spec.program.groups ?? [];
  if (groups.some((g) => g.terms.some((t) => t.input === 'low' || t.input === 'high'))) gaps.push('input modifiers "low" or "high"');
  const others = (spec.params ?? []).map((p) => p.name).filter((n) => n !== 'epsilon' && n !== 'gamma');
  if (others.length) gaps.push(`parameter${others.length > 1 ? 's' : ''} ${others.map((n) => `"${n}"`).join(', ')}`);
  for (const p of spec.params ?? []) {
    if ((p.name === 'epsilon' || p.name === 'gamma') && ((p.min ?? 0) !== 0 || (p.max ?? CUSTOM_RULE_LIMITS.magnitude) !== CUSTOM_RULE_LIMITS.magnitude)) {
      gaps.push(`a range for parameter "${p.name}" ([${p.min ?? 0}, ${p.max ?? CUSTOM_RULE_LIMITS.magnitude}])`);
    }
  }
  if (!(spec.params ?? []).some((p) => p.name === 'epsilon')) gaps.push('no parameter "epsilon" (the form always has one)');
  groups.forEach((g, gi) => {
    if (g.stabilizer !== null && g.stabilizer.epsilon !== '$epsilon') gaps.push(`a stabiliser of ${JSON.stringify(g.stabilizer.epsilon)} in group ${gi + 1} (the form's is $epsilon)`);
    const named = (m: CustomModifier) => typeof m !== 'string' || (NAMED_MODIFIERS as readonly string[]).includes(m);
    if (!named(g.bias) || g.terms.some((t) => !named(t.weight))) gaps.push(`an unknown modifier in group ${gi + 1}`);
  });
  if (spec.description !== undefined) gaps.push('a description');
  if (gaps.length === 0 && !same(normalised(specOf(formOf(spec))), normalised(spec))) gaps.push('parts the form writes differently');
  return gaps;
}

/** The editor's words for a definition's gaps: what it uses, and where to edit it instead. */
export function gapsMessage(gaps: readonly string[]): string {
  return `This rule uses ${gaps.join('; ')}, which the form cannot show; edit its JSON instead (shown with the rule in the list above). Defining it from this form would leave ${gaps.length > 1 ? 'them' : 'it'} out.`;
}
