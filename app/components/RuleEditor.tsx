/**
 * The custom rule editor: a form that defines a rule as data (src/rules/custom-rules.ts): its id and name, the layer
 * classes it applies to, its stabiliser epsilon, and its groups (output mask, coefficient, bias modifier, terms of an
 * input modifier and a weight modifier). The definition is checked as a --rule-def file is; problems show inline.
 * A defined rule joins the Rule menus of the layers it applies to, and travels in share links.
 */
import { useId, useState, type FormEvent } from 'react';
import { INPUT_MODIFIERS, LAYER_CLASSES, NAMED_MODIFIERS, OUTPUT_MASKS, parseRuleDefinition, type CustomModifier, type CustomRuleSpec } from '../../src/rules/custom-rules';
import type { LayerClass } from '../../src/rules/rules';
import { defineCustomRule, removeCustomRule, useCustomRules } from '../rules-state';

/** A weight or bias modifier as the form offers it: a named one, or Gamma's up (w + γ w+) and down (w + γ w-). */
type ModChoice = (typeof NAMED_MODIFIERS)[number] | 'gamma-up' | 'gamma-down';
const MOD_CHOICES: readonly { value: ModChoice; label: string }[] = [
  ...NAMED_MODIFIERS.map((m) => ({ value: m, label: m })),
  { value: 'gamma-up', label: 'gamma up (w + γ w+)' },
  { value: 'gamma-down', label: 'gamma down (w + γ w−)' },
];

interface TermForm {
  input: (typeof INPUT_MODIFIERS)[number];
  weight: ModChoice;
}
interface GroupForm {
  mask: (typeof OUTPUT_MASKS)[number];
  coefficient: string;
  bias: ModChoice;
  terms: TermForm[];
}
interface RuleForm {
  id: string;
  label: string;
  appliesTo: LayerClass[];
  epsilon: string;
  gamma: string;
  groups: GroupForm[];
}

const TEMPLATES: Readonly<Record<'epsilon' | 'zplus' | 'gamma', { label: string; form: Omit<RuleForm, 'id' | 'label'> }>> = {
  epsilon: {
    label: 'Epsilon',
    form: { appliesTo: ['weighted'], epsilon: '1e-6', gamma: '0.25', groups: [{ mask: 'all', coefficient: '1', bias: 'identity', terms: [{ input: 'identity', weight: 'identity' }] }] },
  },
  zplus: {
    label: 'ZPlus',
    form: {
      appliesTo: ['weighted'],
      epsilon: '1e-6',
      gamma: '0.25',
      groups: [{ mask: 'all', coefficient: '1', bias: 'positive', terms: [{ input: 'positive', weight: 'positive' }, { input: 'negative', weight: 'negative' }] }],
    },
  },
  gamma: {
    label: 'Gamma',
    form: {
      appliesTo: ['weighted'],
      epsilon: '1e-6',
      gamma: '0.25',
      groups: [
        { mask: 'positive', coefficient: '1', bias: 'gamma-up', terms: [{ input: 'positive', weight: 'gamma-up' }, { input: 'negative', weight: 'gamma-down' }] },
        { mask: 'negative', coefficient: '1', bias: 'gamma-down', terms: [{ input: 'positive', weight: 'gamma-down' }, { input: 'negative', weight: 'gamma-up' }] },
      ],
    },
  },
};

const blankForm = (): RuleForm => ({ id: '', label: '', ...structuredClone(TEMPLATES.epsilon.form) });

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
/** A number typed in the form: the number, or the text itself (the definition's check then names the field). */
const numberOf = (text: string): number | string => (DECIMAL.test(text.trim()) ? Number(text.trim()) : text.trim());

function modifierSpec(m: ModChoice): CustomModifier {
  if (m === 'gamma-up') return { plain: 1, pos: '$gamma' };
  if (m === 'gamma-down') return { plain: 1, neg: '$gamma' };
  return m;
}

function modChoiceOf(m: CustomModifier): ModChoice {
  if (typeof m === 'string') return (NAMED_MODIFIERS as readonly string[]).includes(m) ? (m as ModChoice) : 'identity';
  if (m.plain === 1 && m.pos === '$gamma' && !m.neg) return 'gamma-up';
  if (m.plain === 1 && m.neg === '$gamma' && !m.pos) return 'gamma-down';
  return 'identity';
}

/** The definition the form describes (the parameters: epsilon, and gamma when a gamma modifier is used). */
function specOf(form: RuleForm): CustomRuleSpec {
  const usesGamma = form.groups.some((g) => g.bias.startsWith('gamma') || g.terms.some((t) => t.weight.startsWith('gamma')));
  return {
    id: form.id.trim(),
    label: form.label.trim(),
    appliesTo: form.appliesTo,
    params: [
      { name: 'epsilon', default: numberOf(form.epsilon) as number, min: 0, description: 'stabiliser added to the denominator in the direction of its sign' },
      ...(usesGamma ? [{ name: 'gamma', default: numberOf(form.gamma) as number, min: 0, description: 'how much the gamma modifiers boost' }] : []),
    ],
    program: {
      groups: form.groups.map((g) => ({
        terms: g.terms.map((t) => ({ input: t.input, weight: modifierSpec(t.weight) })),
        bias: modifierSpec(g.bias),
        mask: g.mask,
        coefficient: numberOf(g.coefficient),
        stabilizer: { epsilon: '$epsilon' },
      })),
    },
  };
}

/** A defined rule back in the form (rules the form cannot show exactly fall back to its nearest choices). */
function formOf(spec: CustomRuleSpec): RuleForm {
  const param = (name: string, fallback: string) => String(spec.params?.find((p) => p.name === name)?.default ?? fallback);
  return {
    id: spec.id,
    label: spec.label,
    appliesTo: spec.appliesTo.filter((c): c is LayerClass => (LAYER_CLASSES as readonly string[]).includes(c)),
    epsilon: param('epsilon', '1e-6'),
    gamma: param('gamma', '0.25'),
    groups: (spec.program.groups ?? []).map((g) => ({
      mask: (g.mask ?? 'all') as GroupForm['mask'],
      coefficient: String(g.coefficient ?? 1),
      bias: modChoiceOf(g.bias),
      terms: g.terms.map((t) => ({ input: t.input as TermForm['input'], weight: modChoiceOf(t.weight) })),
    })),
  };
}

export function RuleEditor() {
  const id = useId();
  const defs = useCustomRules((s) => s.defs);
  const [form, setForm] = useState<RuleForm>(blankForm);
  const [problem, setProblem] = useState<string | null>(null);
  const [done, setDone] = useState('');
  const edit = (change: (f: RuleForm) => void) =>
    setForm((f) => {
      const next = structuredClone(f);
      change(next);
      return next;
    });
  const editGroup = (gi: number, change: (g: GroupForm) => void) => edit((f) => change(f.groups[gi]!));

  const fieldProblem = (text: string, what: string): string | null => {
    const t = text.trim();
    if (!DECIMAL.test(t)) return `${what}: “${t}” is not a number.`;
    if (Number(t) < 0) return `${what} must not be negative (got ${t}).`;
    return null;
  };
  const problems = {
    epsilon: fieldProblem(form.epsilon, 'Epsilon'),
    gamma: fieldProblem(form.gamma, 'Gamma'),
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setDone('');
    const first = problems.epsilon ?? problems.gamma;
    if (first) {
      setProblem(first);
      return;
    }
    try {
      const def = parseRuleDefinition(specOf(form), 'The rule');
      const replaced = defs.some((d) => d.id === def.id);
      defineCustomRule(def);
      setProblem(null);
      setDone(`${replaced ? 'Updated' : 'Defined'} “${def.label}” (${def.id}): choose it in the Rule menu of a layer it applies to.`);
    } catch (err) {
      // The definition's check names fields of the JSON; the form's names for them read better here.
      const text = (err instanceof Error ? err.message : String(err))
        .replace(/program\.groups\[(\d+)\]\.terms\[(\d+)\]/g, (_m, g: string, t: string) => `group ${Number(g) + 1}, term ${Number(t) + 1},`)
        .replace(/program\.groups\[(\d+)\]/g, (_m, g: string) => `group ${Number(g) + 1}`)
        .replace(/\bid\b(?= ")/, 'the rule id');
      setProblem(text);
    }
  };

  return (
    <details className="rule-editor">
      <summary>Custom rules{defs.length ? ` (${defs.length})` : ''}</summary>
      {defs.length > 0 && (
        <ul className="custom-rules" aria-label="Custom rules defined">
          {defs.map((d) => (
            <li key={d.id}>
              <span>
                {d.label} <code>{d.id}</code>
              </span>{' '}
              <button type="button" className="small" onClick={() => setForm(formOf(d.spec))} aria-label={`Edit custom rule ${d.label}`}>
                Edit
              </button>{' '}
              <button type="button" className="small" onClick={() => removeCustomRule(d.id)} aria-label={`Remove custom rule ${d.label}`}>
                Remove
              </button>
              <details>
                <summary>JSON (for --rule-def)</summary>
                <pre>{JSON.stringify(d.spec, null, 2)}</pre>
              </details>
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={submit} aria-label="Define a custom rule" aria-describedby={problem ? `${id}-problem` : undefined} noValidate>
        <div className="row">
          <label htmlFor={`${id}-template`}>Start from</label>
          <select
            id={`${id}-template`}
            value=""
            onChange={(e) => {
              const t = TEMPLATES[e.target.value as keyof typeof TEMPLATES];
              if (t) edit((f) => Object.assign(f, structuredClone(t.form)));
            }}
          >
            <option value="">a template…</option>
            {Object.entries(TEMPLATES).map(([k, t]) => (
              <option key={k} value={k}>
                {t.label}
              </option>
            ))}
          </select>
        </div>
        <div className="row">
          <label htmlFor={`${id}-id`}>Rule id</label>
          <input id={`${id}-id`} value={form.id} placeholder="my.epsilon" onChange={(e) => edit((f) => void (f.id = e.target.value))} />
          <label htmlFor={`${id}-label`}>Rule name</label>
          <input id={`${id}-label`} value={form.label} placeholder="Epsilon (mine)" onChange={(e) => edit((f) => void (f.label = e.target.value))} />
        </div>
        <fieldset className="applies-to">
          <legend>Applies to</legend>
          {LAYER_CLASSES.filter((c) => c !== 'structural').map((c) => (
            <label key={c} className="check">
              <input
                type="checkbox"
                checked={form.appliesTo.includes(c)}
                onChange={(e) => edit((f) => void (f.appliesTo = e.target.checked ? [...f.appliesTo, c] : f.appliesTo.filter((x) => x !== c)))}
              />{' '}
              {c}
            </label>
          ))}
        </fieldset>
        <div className="row">
          <label htmlFor={`${id}-eps`}>Epsilon</label>
          <input
            id={`${id}-eps`}
            value={form.epsilon}
            size={8}
            inputMode="decimal"
            aria-invalid={!!problems.epsilon}
            aria-describedby={problems.epsilon ? `${id}-eps-problem` : `${id}-eps-hint`}
            onChange={(e) => edit((f) => void (f.epsilon = e.target.value))}
          />
          <label htmlFor={`${id}-gamma`}>Gamma</label>
          <input
            id={`${id}-gamma`}
            value={form.gamma}
            size={6}
            inputMode="decimal"
            aria-invalid={!!problems.gamma}
            aria-describedby={problems.gamma ? `${id}-gamma-problem` : `${id}-eps-hint`}
            onChange={(e) => edit((f) => void (f.gamma = e.target.value))}
          />
          <span id={`${id}-eps-hint`} className="hint">
            stab(z) = z + ε sign(z), sign(0) = +1; γ is used by the gamma modifiers. Both can then be changed per layer.
          </span>
        </div>
        {problems.epsilon && (
          <p id={`${id}-eps-problem`} className="error">
            {problems.epsilon}
          </p>
        )}
        {problems.gamma && (
          <p id={`${id}-gamma-problem`} className="error">
            {problems.gamma}
          </p>
        )}
        {form.groups.map((g, gi) => (
          <fieldset key={gi} className="rule-group">
            <legend>Group {gi + 1}</legend>
            <div className="row">
              <label>
                Output mask{' '}
                <select aria-label={`Group ${gi + 1} output mask`} value={g.mask} onChange={(e) => editGroup(gi, (x) => void (x.mask = e.target.value as GroupForm['mask']))}>
                  {OUTPUT_MASKS.map((m) => (
                    <option key={m} value={m}>
                      {m}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                Coefficient{' '}
                <input
                  aria-label={`Group ${gi + 1} coefficient`}
                  value={g.coefficient}
                  size={5}
                  inputMode="decimal"
                  onChange={(e) => editGroup(gi, (x) => void (x.coefficient = e.target.value))}
                />
              </label>
              <label>
                Bias{' '}
                <ModSelect label={`Group ${gi + 1} bias modifier`} value={g.bias} onChange={(v) => editGroup(gi, (x) => void (x.bias = v))} />
              </label>
              {form.groups.length > 1 && (
                <button type="button" className="small" onClick={() => edit((f) => void f.groups.splice(gi, 1))}>
                  Remove group {gi + 1}
                </button>
              )}
            </div>
            {g.terms.map((t, ti) => (
              <div key={ti} className="row rule-term">
                <span>Term {ti + 1}:</span>
                <label>
                  input{' '}
                  <select
                    aria-label={`Group ${gi + 1} term ${ti + 1} input modifier`}
                    value={t.input}
                    onChange={(e) => editGroup(gi, (x) => void (x.terms[ti]!.input = e.target.value as TermForm['input']))}
                  >
                    {INPUT_MODIFIERS.filter((m) => m !== 'low' && m !== 'high').map((m) => (
                      <option key={m} value={m}>
                        {m}
                      </option>
                    ))}
                  </select>
                </label>
                <label>
                  weight{' '}
                  <ModSelect label={`Group ${gi + 1} term ${ti + 1} weight modifier`} value={t.weight} onChange={(v) => editGroup(gi, (x) => void (x.terms[ti]!.weight = v))} />
                </label>
                {g.terms.length > 1 && (
                  <button type="button" className="small" onClick={() => editGroup(gi, (x) => void x.terms.splice(ti, 1))}>
                    Remove term {ti + 1} of group {gi + 1}
                  </button>
                )}
              </div>
            ))}
            <button type="button" className="small" onClick={() => editGroup(gi, (x) => void x.terms.push({ input: 'identity', weight: 'identity' }))}>
              Add a term to group {gi + 1}
            </button>
          </fieldset>
        ))}
        <div className="row">
          <button type="button" onClick={() => edit((f) => void f.groups.push({ mask: 'all', coefficient: '1', bias: 'identity', terms: [{ input: 'identity', weight: 'identity' }] }))}>
            Add a group
          </button>
          <button type="submit">Define rule</button>
        </div>
        {problem && (
          <p id={`${id}-problem`} className="error" role="alert">
            {problem}
          </p>
        )}
        <p className="hint" role="status" aria-label="Custom rule result">
          {done}
        </p>
      </form>
    </details>
  );
}

function ModSelect({ label, value, onChange }: { label: string; value: ModChoice; onChange: (v: ModChoice) => void }) {
  return (
    <select aria-label={label} value={value} onChange={(e) => onChange(e.target.value as ModChoice)}>
      {MOD_CHOICES.map((m) => (
        <option key={m.value} value={m.value}>
          {m.label}
        </option>
      ))}
    </select>
  );
}
