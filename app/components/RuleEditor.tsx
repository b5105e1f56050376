/**
 * The custom rule editor: a form that defines a rule as data (src/rules/custom-rules.ts): its id and name, the layer
 * classes it applies to, its epsilon and gamma, and its groups (output mask, coefficient, stabiliser, bias modifier,
 * terms of an input modifier and a weight modifier; a modifier is a named one, Gamma's up or down, or any affine
 * plain·w + pos·w⁺ + neg·w⁻). The definition is checked as a --rule-def file is; problems show inline. A defined
 * rule joins the Rule menus of the layers it applies to, and travels in share links. The form <-> definition
 * mapping is app/rule-form.ts; Edit says what of a rule the form cannot show rather than changing it silently.
 */
import { useId, useState, type FormEvent } from 'react';
import { LAYER_CLASSES, OUTPUT_MASKS, parseRuleDefinition } from '../../src/rules/custom-rules';
import {
  AFFINE_PARTS,
  blankForm,
  DECIMAL,
  FORM_INPUTS,
  formGaps,
  formOf,
  gapsMessage,
  MOD_CHOICES,
  newGroup,
  newTerm,
  specOf,
  TEMPLATES,
  withChoice,
  type GroupForm,
  type ModChoice,
  type ModForm,
  type RuleForm,
  type StabiliserChoice,
  type TermForm,
} from '../rule-form';
import { defineCustomRule, removeCustomRule, useCustomRules } from '../rules-state';

const STABILISERS: readonly { value: StabiliserChoice; label: string }[] = [
  { value: 'epsilon', label: 'ε (z + ε·sign(z))' },
  { value: 'none', label: 'none (no division)' },
];

export function RuleEditor() {
  const id = useId();
  const defs = useCustomRules((s) => s.defs);
  const [form, setForm] = useState<RuleForm>(blankForm);
  const [problem, setProblem] = useState<string | null>(null);
  const [done, setDone] = useState('');
  /** What of the rule last opened with Edit the form cannot show (null: nothing, or no rule opened). */
  const [gaps, setGaps] = useState<{ id: string; text: string } | null>(null);
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
      setGaps(null);
      setDone(`${replaced ? 'Updated' : 'Defined'} “${def.label}” (${def.id}): choose it in the Rule menu of a layer it applies to.`);
    } catch (err) {
      // The definition's check names fields of the JSON; the form's names for them read better here.
      const text = (err instanceof Error ? err.message : String(err))
        .replace(/program\.groups\[(\d+)\]\.terms\[(\d+)\]\.weight/g, (_m, g: string, t: string) => `Group ${Number(g) + 1} term ${Number(t) + 1} weight`)
        .replace(/program\.groups\[(\d+)\]\.bias/g, (_m, g: string) => `Group ${Number(g) + 1} bias`)
        .replace(/ (weight|bias)\.(plain|pos|neg)\b/g, ' $1: $2 coefficient')
        .replace(/program\.groups\[(\d+)\]\.terms\[(\d+)\]/g, (_m, g: string, t: string) => `group ${Number(g) + 1}, term ${Number(t) + 1},`)
        .replace(/program\.groups\[(\d+)\]/g, (_m, g: string) => `group ${Number(g) + 1}`)
        .replace(/\bid\b(?= ")/, 'the rule id');
      setProblem(text);
    }
  };

  /** Edit: the rule back in the form, and what of it the form cannot show said plainly (the rule stays as it is). */
  const openInForm = (d: (typeof defs)[number]) => {
    const missing = formGaps(d.spec);
    setForm(formOf(d.spec));
    setGaps(missing.length ? { id: d.id, text: gapsMessage(missing) } : null);
    setProblem(null);
    setDone(`Editing “${d.label}” (${d.id}).`);
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
              <button type="button" className="small" onClick={() => openInForm(d)} aria-label={`Edit custom rule ${d.label}`}>
                Edit
              </button>{' '}
              <button type="button" className="small" onClick={() => {
                  removeCustomRule(d.id);
                  if (gaps?.id === d.id) setGaps(null);
                }} aria-label={`Remove custom rule ${d.label}`}>
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
      <form
        onSubmit={submit}
        aria-label="Define a custom rule"
        aria-describedby={[gaps ? `${id}-gaps` : '', problem ? `${id}-problem` : ''].filter(Boolean).join(' ') || undefined}
        noValidate
      >
        <div aria-live="polite">
          {gaps && (
            <p id={`${id}-gaps`} className="notice rule-gaps">
              {gaps.text}
            </p>
          )}
        </div>
        <div className="row">
          <label htmlFor={`${id}-template`}>Start from</label>
          <select
            id={`${id}-template`}
            value=""
            onChange={(e) => {
              const t = TEMPLATES[e.target.value as keyof typeof TEMPLATES];
              if (!t) return;
              edit((f) => Object.assign(f, structuredClone(t.form)));
              setGaps(null);
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
            stab(z) = z + ε sign(z), sign(0) = +1; γ is used by the gamma modifiers and by $gamma (or -$gamma) in affine ones. Both can then be changed per layer.
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
                Stabiliser{' '}
                <select
                  aria-label={`Group ${gi + 1} stabiliser`}
                  value={g.stabiliser}
                  onChange={(e) => editGroup(gi, (x) => void (x.stabiliser = e.target.value as StabiliserChoice))}
                >
                  {STABILISERS.map((m) => (
                    <option key={m.value} value={m.value}>
                      {m.label}
                    </option>
                  ))}
                </select>
              </label>
              <ModField visible="Bias" name={`Group ${gi + 1} bias`} value={g.bias} onChange={(v) => editGroup(gi, (x) => void (x.bias = v))} />
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
                    {FORM_INPUTS.map((m) => (
                      <option key={m} value={m}>
                        {m}
                      </option>
                    ))}
                  </select>
                </label>
                <ModField visible="weight" name={`Group ${gi + 1} term ${ti + 1} weight`} value={t.weight} onChange={(v) => editGroup(gi, (x) => void (x.terms[ti]!.weight = v))} />
                {g.terms.length > 1 && (
                  <button type="button" className="small" onClick={() => editGroup(gi, (x) => void x.terms.splice(ti, 1))}>
                    Remove term {ti + 1} of group {gi + 1}
                  </button>
                )}
              </div>
            ))}
            <button type="button" className="small" onClick={() => editGroup(gi, (x) => void x.terms.push(newTerm()))}>
              Add a term to group {gi + 1}
            </button>
          </fieldset>
        ))}
        <div className="row">
          <button type="button" onClick={() => edit((f) => void f.groups.push(newGroup()))}>
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

/**
 * A weight or bias modifier: its menu (accessible name "<name> modifier"), and for the affine choice its three
 * coefficients, each a number, $gamma or -$gamma ("<name>: plain coefficient", "... pos ...", "... neg ...").
 */
function ModField({ visible, name, value, onChange }: { visible: string; name: string; value: ModForm; onChange: (v: ModForm) => void }) {
  return (
    <span className="mod-field">
      <label>
        {visible}{' '}
        <select aria-label={`${name} modifier`} value={value.choice} onChange={(e) => onChange(withChoice(value, e.target.value as ModChoice))}>
          {MOD_CHOICES.map((m) => (
            <option key={m.value} value={m.value}>
              {m.label}
            </option>
          ))}
        </select>
      </label>
      {value.choice === 'affine' && (
        <span className="affine" role="group" aria-label={`${name}: affine coefficients`}>
          {AFFINE_PARTS.map(({ key, label, name: part }) => (
            <label key={key}>
              {label}{' '}
              <input
                aria-label={`${name}: ${part}`}
                value={value[key]}
                size={7}
                placeholder="0"
                spellCheck={false}
                autoComplete="off"
                onChange={(e) => onChange({ ...value, [key]: e.target.value })}
              />
            </label>
          ))}
        </span>
      )}
    </span>
  );
}
