/**
 * Custom rules as data: a JSON definition of the same form as the built-in catalogue's entries (rules.ts), parsed,
 * validated and compiled to a RuleProgram (rule-program.ts). Pure and framework-free: the CLI (--rule-def), the
 * library (rules.ruleDefs), share links and the app's rule editor all go through parseRuleDefinition.
 *
 *   {
 *     "id": "my.zplus", "label": "ZPlus (mine)", "description": "optional text",
 *     "appliesTo": ["weighted"],
 *     "params": [{ "name": "epsilon", "default": 1e-6, "min": 0, "max": 1e6 }],
 *     "program": {
 *       "groups": [{
 *         "terms": [{ "input": "positive", "weight": "positive" }, { "input": "negative", "weight": "negative" }],
 *         "bias": "positive", "mask": "all", "coefficient": 1,
 *         "stabilizer": { "epsilon": "$epsilon", "sign": "sign" }
 *       }]
 *     }
 *   }
 *
 * A number anywhere in a program (modifier coefficients, a group's coefficient, epsilon) may be a literal, "$name" (a
 * parameter's value) or "-$name" (its negation). docs/engine.md, "Custom rules", documents every field.
 */
import type { Group, InputModifier, OutputMask, ParamModifier, RuleProgram, Term } from './rule-program';
import { builtinRuleIds, RuleError, type LayerClass, type NumberParam, type ResolvedParams, type RuleDefinition } from './rules';

/** A number of a program: a literal, "$name" (a parameter) or "-$name" (its negation). */
export type CustomValue = number | string;

/** A parameter modifier: a named one, or plain * p + pos * max(p, 0) + neg * min(p, 0). */
export type CustomModifier = string | { readonly plain?: CustomValue; readonly pos?: CustomValue; readonly neg?: CustomValue };

/** The JSON form of a custom rule (what --rule-def files, `ruleDefs` and links hold). */
export interface CustomRuleSpec {
  readonly id: string;
  readonly label: string;
  readonly description?: string;
  readonly appliesTo: readonly string[];
  readonly params?: readonly { readonly name: string; readonly default: number; readonly min?: number; readonly max?: number; readonly description?: string }[];
  readonly program: {
    readonly kind?: 'lrp' | 'pass' | 'gradient';
    readonly groups?: readonly {
      readonly terms: readonly { readonly input: string; readonly weight: CustomModifier }[];
      readonly bias: CustomModifier;
      readonly mask?: string;
      readonly coefficient?: CustomValue;
      readonly stabilizer: { readonly epsilon: CustomValue; readonly sign?: string } | null;
    }[];
    readonly bounds?: { readonly low: number | readonly number[]; readonly high: number | readonly number[] };
    readonly operands?: 'uniform';
  };
}

/** A parsed custom rule: the catalogue's form (findable, compilable), and the JSON it came from (it travels). */
export interface CustomRuleDefinition extends RuleDefinition {
  readonly family: 'custom';
  readonly spec: CustomRuleSpec;
}

/** A definition that cannot be used (a RuleError, as the other rule errors: `error.name` is 'RuleError'). */
export class CustomRuleError extends RuleError {}

/** Bounds on a definition: anything beyond them is refused (definitions travel in links and files). */
export const CUSTOM_RULE_LIMITS = {
  /** Definitions in one assignment, file or link. */
  definitions: 32,
  idChars: 64,
  labelChars: 64,
  descriptionChars: 500,
  params: 8,
  groups: 8,
  termsPerGroup: 8,
  boundsValues: 4096,
  /** Largest |number| in a program or a parameter's range. */
  magnitude: 1e6,
} as const;

export const LAYER_CLASSES: readonly LayerClass[] = [
  'weighted',
  'batchnorm',
  'avgpool',
  'maxpool',
  'activation',
  'add',
  'structural',
  'gate',
  'scale',
  'layernorm',
  'matmul',
  'softmax',
];
/** The layer classes each program kind can apply to (as the built-in rules of that kind). */
export const CLASSES_FOR_KIND: Readonly<Record<'lrp' | 'pass' | 'gradient', readonly LayerClass[]>> = {
  lrp: ['weighted', 'batchnorm', 'avgpool', 'maxpool', 'add', 'layernorm', 'matmul', 'softmax'],
  pass: ['activation', 'batchnorm', 'gate', 'scale', 'layernorm', 'softmax'],
  gradient: LAYER_CLASSES,
};
export const INPUT_MODIFIERS: readonly InputModifier[] = ['identity', 'positive', 'negative', 'ones', 'low', 'high'];
export const NAMED_MODIFIERS = ['identity', 'positive', 'negative', 'zero', 'ones', 'square'] as const;
export type NamedModifier = (typeof NAMED_MODIFIERS)[number];
export const OUTPUT_MASKS: readonly OutputMask[] = ['all', 'positive', 'negative'];
/** The stabiliser's sign handling: stab(z) = z + eps * sign(z) with sign(0) = +1 (Zennit's and Captum's). */
export const STABILIZER_SIGNS = ['sign'] as const;

const ID_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const PARAM_PATTERN = /^[A-Za-z][A-Za-z0-9_]*$/;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => {
  const s = typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};
const quoteList = (items: readonly string[]): string => items.map((x) => `"${x}"`).join(', ');

/** The modifier a name stands for (named modifiers are affine ones where they can be, as the built-ins write them). */
function namedModifier(name: NamedModifier): ParamModifier {
  switch (name) {
    case 'identity':
      return { kind: 'affine', plain: 1, pos: 0, neg: 0 };
    case 'positive':
      return { kind: 'affine', plain: 0, pos: 1, neg: 0 };
    case 'negative':
      return { kind: 'affine', plain: 0, pos: 0, neg: 1 };
    case 'zero':
      return { kind: 'zero' };
    case 'ones':
      return { kind: 'ones' };
    case 'square':
      return { kind: 'square' };
  }
}

/** Parses and checks one definition. `where` prefixes messages ("--rule-def a.json", "ruleDefs[0]"). */
export function parseRuleDefinition(v: unknown, where = 'rule definition'): CustomRuleDefinition {
  if (!isRecord(v)) throw new CustomRuleError(`${where}: a rule definition must be an object { id, label, appliesTo, params?, program }`);
  const idText = typeof v.id === 'string' ? v.id : '';
  const at = idText && ID_PATTERN.test(idText) ? `${where} "${idText}"` : where;
  const fail = (field: string, what: string): never => {
    throw new CustomRuleError(`${at}: ${field} ${what}`);
  };
  const known = ['id', 'label', 'description', 'appliesTo', 'params', 'program'];
  for (const k of Object.keys(v)) if (!known.includes(k)) fail(`"${k.slice(0, 40)}"`, `is not a field of a rule definition (fields: ${known.join(', ')})`);

  // id and label
  if (typeof v.id !== 'string' || v.id.length === 0) fail('id', 'is missing: give the rule a name such as "my.epsilon"');
  const id = v.id as string;
  if (id.length > CUSTOM_RULE_LIMITS.idChars || !ID_PATTERN.test(id)) {
    fail('id', `${show(id)} must start with a letter and have up to ${CUSTOM_RULE_LIMITS.idChars} letters, digits, ".", "_" or "-"`);
  }
  if (builtinRuleIds().some((b) => b.toLowerCase() === id.toLowerCase())) {
    fail('id', `"${id}" is the name of a built-in rule: choose another (e.g. "custom.${id}")`);
  }
  const label = v.label;
  if (typeof label !== 'string' || label.trim().length === 0 || label.length > CUSTOM_RULE_LIMITS.labelChars) {
    fail('label', `must be text of 1 to ${CUSTOM_RULE_LIMITS.labelChars} characters (got ${show(label)})`);
  }
  // eslint-disable-next-line no-control-regex
  const control = /[\u0000-\u001f\u007f]/;
  if (control.test(label as string)) fail('label', 'contains control characters');
  let description = `Custom rule "${id}".`;
  if (v.description !== undefined) {
    if (typeof v.description !== 'string' || v.description.length > CUSTOM_RULE_LIMITS.descriptionChars) {
      fail('description', `must be text of up to ${CUSTOM_RULE_LIMITS.descriptionChars} characters`);
    }
    description = v.description as string;
  }

  // params
  const params: NumberParam[] = [];
  if (v.params !== undefined) {
    if (!Array.isArray(v.params)) fail('params', 'must be a list of { name, default, min?, max?, description? }');
    const list = v.params as unknown[];
    if (list.length > CUSTOM_RULE_LIMITS.params) fail('params', `has ${list.length} parameters; at most ${CUSTOM_RULE_LIMITS.params}`);
    list.forEach((p, i) => {
      const f = `params[${i}]`;
      if (!isRecord(p)) fail(f, 'must be an object { name, default, min?, max?, description? }');
      const pr = p as Record<string, unknown>;
      for (const k of Object.keys(pr)) {
        if (!['name', 'default', 'min', 'max', 'description', 'kind'].includes(k)) fail(`${f}."${k.slice(0, 40)}"`, 'is not a field of a parameter (fields: name, default, min, max, description)');
      }
      if (pr.kind !== undefined && pr.kind !== 'number') fail(`${f}.kind`, `must be "number" (custom rules take number parameters only; got ${show(pr.kind)})`);
      if (typeof pr.name !== 'string' || !PARAM_PATTERN.test(pr.name) || pr.name.length > 32) {
        fail(`${f}.name`, `must be a name of letters, digits and "_" starting with a letter, up to 32 characters (got ${show(pr.name)})`);
      }
      const name = pr.name as string;
      if (params.some((q) => q.name === name)) fail(`${f}.name`, `"${name}" is given twice`);
      const num = (key: string, fallback: number | undefined): number => {
        const x = pr[key] ?? fallback;
        if (typeof x !== 'number' || !Number.isFinite(x) || Math.abs(x) > CUSTOM_RULE_LIMITS.magnitude) {
          fail(`${f}.${key}`, `must be a number from -${CUSTOM_RULE_LIMITS.magnitude} to ${CUSTOM_RULE_LIMITS.magnitude} (got ${show(x)})`);
        }
        return x as number;
      };
      const min = num('min', 0);
      const max = num('max', CUSTOM_RULE_LIMITS.magnitude);
      const def = num('default', undefined);
      if (min > max) fail(`${f}`, `has min ${min} above max ${max}`);
      if (def < min || def > max) fail(`${f}.default`, `${def} is outside [${min}, ${max}] (min defaults to 0)`);
      if (pr.description !== undefined && (typeof pr.description !== 'string' || pr.description.length > CUSTOM_RULE_LIMITS.descriptionChars)) {
        fail(`${f}.description`, `must be text of up to ${CUSTOM_RULE_LIMITS.descriptionChars} characters`);
      }
      params.push({ name, kind: 'number', default: def, min, max, description: typeof pr.description === 'string' ? pr.description : `parameter ${name}` });
    });
  }

  // program
  if (!isRecord(v.program)) fail('program', 'is missing: give { "groups": [...] } (or { "kind": "pass" } / { "kind": "gradient" })');
  const prog = v.program as Record<string, unknown>;
  for (const k of Object.keys(prog)) {
    if (!['kind', 'groups', 'bounds', 'operands'].includes(k)) fail(`program."${k.slice(0, 40)}"`, 'is not a field of a program (fields: kind, groups, bounds, operands)');
  }
  const kind = prog.kind ?? 'lrp';
  if (kind !== 'lrp' && kind !== 'pass' && kind !== 'gradient') fail('program.kind', `must be "lrp", "pass" or "gradient" (got ${show(kind)})`);

  // appliesTo
  if (!Array.isArray(v.appliesTo) || v.appliesTo.length === 0) {
    fail('appliesTo', `must be a non-empty list of layer classes (${quoteList(LAYER_CLASSES)})`);
  }
  const allowed = CLASSES_FOR_KIND[kind as 'lrp' | 'pass' | 'gradient'];
  const appliesTo: LayerClass[] = [];
  for (const [i, c] of (v.appliesTo as unknown[]).entries()) {
    if (!LAYER_CLASSES.includes(c as LayerClass)) fail(`appliesTo[${i}]`, `${show(c)} is not a layer class (classes: ${quoteList(LAYER_CLASSES)})`);
    if (!allowed.includes(c as LayerClass)) fail(`appliesTo[${i}]`, `a "${kind as string}" program does not apply to "${c as string}" layers (it applies to ${quoteList(allowed)})`);
    if (!appliesTo.includes(c as LayerClass)) appliesTo.push(c as LayerClass);
  }

  // A number of the program: checked now, resolved against the parameters at compile time.
  const paramNames = params.map((p) => p.name);
  const value = (x: unknown, field: string, opts: { nonNegative?: boolean } = {}): ((p: ResolvedParams) => number) => {
    if (typeof x === 'number') {
      if (!Number.isFinite(x) || Math.abs(x) > CUSTOM_RULE_LIMITS.magnitude) fail(field, `must be a finite number from -${CUSTOM_RULE_LIMITS.magnitude} to ${CUSTOM_RULE_LIMITS.magnitude} (got ${show(x)})`);
      if (opts.nonNegative && x < 0) fail(field, `must not be negative (got ${x})`);
      return () => x;
    }
    if (typeof x === 'string') {
      const m = /^(-?)\$([A-Za-z][A-Za-z0-9_]*)$/.exec(x);
      if (!m) fail(field, `${show(x)} must be a number, "$name" (a parameter) or "-$name"`);
      const [, minus, name] = m!;
      const spec = params.find((p) => p.name === name);
      if (!spec) fail(field, `names the parameter "${name}", which the rule does not declare (${paramNames.length ? `its parameters: ${paramNames.join(', ')}` : 'it has no "params"'})`);
      if (opts.nonNegative && (minus === '-' ? spec!.max > 0 : spec!.min < 0)) {
        fail(field, `must not be negative, but ${x} can be (parameter "${name}" ranges over [${spec!.min}, ${spec!.max}])`);
      }
      // No -0: a negated zero would change the sign of zeros (and the backends' parameter caches' keys).
      return minus === '-' ? (p) => { const n = p.number(name!); return n === 0 ? 0 : -n; } : (p) => p.number(name!);
    }
    return fail(field, `must be a number, "$name" (a parameter) or "-$name" (got ${show(x)})`);
  };
  const modifier = (x: unknown, field: string): ((p: ResolvedParams) => ParamModifier) => {
    if (typeof x === 'string') {
      if (!(NAMED_MODIFIERS as readonly string[]).includes(x)) {
        fail(field, `${show(x)} is not a parameter modifier (modifiers: ${quoteList(NAMED_MODIFIERS)}, or { "plain": a, "pos": b, "neg": c })`);
      }
      const mod = namedModifier(x as NamedModifier);
      return () => mod;
    }
    if (isRecord(x)) {
      for (const k of Object.keys(x)) if (!['plain', 'pos', 'neg'].includes(k)) fail(`${field}."${k.slice(0, 40)}"`, 'is not a field of a modifier (plain * p + pos * max(p, 0) + neg * min(p, 0): fields plain, pos, neg)');
      const plain = value(x.plain ?? 0, `${field}.plain`);
      const pos = value(x.pos ?? 0, `${field}.pos`);
      const neg = value(x.neg ?? 0, `${field}.neg`);
      return (p) => ({ kind: 'affine', plain: plain(p), pos: pos(p), neg: neg(p) });
    }
    return fail(field, `is missing or not a modifier: give one of ${quoteList(NAMED_MODIFIERS)}, or { "plain": a, "pos": b, "neg": c } (got ${show(x)})`);
  };

  let compile: (p: ResolvedParams) => RuleProgram;
  if (kind === 'pass' || kind === 'gradient') {
    for (const k of ['groups', 'bounds', 'operands']) if (prog[k] !== undefined) fail(`program.${k}`, `is only for "lrp" programs (this one is "${kind as string}")`);
    const fixed: RuleProgram = { kind: kind as 'pass' | 'gradient' };
    compile = () => fixed;
  } else {
    if (!Array.isArray(prog.groups) || prog.groups.length === 0) fail('program.groups', 'is missing: an "lrp" program needs at least one group { terms, bias, mask, coefficient, stabilizer }');
    const rawGroups = prog.groups as unknown[];
    if (rawGroups.length > CUSTOM_RULE_LIMITS.groups) fail('program.groups', `has ${rawGroups.length} groups; at most ${CUSTOM_RULE_LIMITS.groups}`);
    let usesBounds = false;
    const groups = rawGroups.map((g, gi): ((p: ResolvedParams) => Group) => {
      const f = `program.groups[${gi}]`;
      if (!isRecord(g)) fail(f, 'must be an object { terms, bias, mask, coefficient, stabilizer }');
      const gr = g as Record<string, unknown>;
      for (const k of Object.keys(gr)) {
        if (!['terms', 'bias', 'mask', 'coefficient', 'stabilizer'].includes(k)) fail(`${f}."${k.slice(0, 40)}"`, 'is not a field of a group (fields: terms, bias, mask, coefficient, stabilizer)');
      }
      if (!Array.isArray(gr.terms) || gr.terms.length === 0) fail(`${f}.terms`, 'must be a non-empty list of { input, weight }');
      const rawTerms = gr.terms as unknown[];
      if (rawTerms.length > CUSTOM_RULE_LIMITS.termsPerGroup) fail(`${f}.terms`, `has ${rawTerms.length} terms; at most ${CUSTOM_RULE_LIMITS.termsPerGroup}`);
      const terms = rawTerms.map((t, ti): ((p: ResolvedParams) => Term) => {
        const tf = `${f}.terms[${ti}]`;
        if (!isRecord(t)) fail(tf, 'must be an object { input, weight }');
        const tr = t as Record<string, unknown>;
        for (const k of Object.keys(tr)) if (!['input', 'weight'].includes(k)) fail(`${tf}."${k.slice(0, 40)}"`, 'is not a field of a term (fields: input, weight)');
        if (!INPUT_MODIFIERS.includes(tr.input as InputModifier)) fail(`${tf}.input`, `${show(tr.input)} is not an input modifier (modifiers: ${quoteList(INPUT_MODIFIERS)})`);
        const input = tr.input as InputModifier;
        if (input === 'low' || input === 'high') usesBounds = true;
        const weight = modifier(tr.weight, `${tf}.weight`);
        return (p) => ({ input, weight: weight(p) });
      });
      const bias = modifier(gr.bias, `${f}.bias`);
      const mask = gr.mask ?? 'all';
      if (!OUTPUT_MASKS.includes(mask as OutputMask)) fail(`${f}.mask`, `${show(mask)} is not an output mask (masks: ${quoteList(OUTPUT_MASKS)})`);
      const coefficient = value(gr.coefficient ?? 1, `${f}.coefficient`);
      if (!('stabilizer' in gr)) fail(`${f}.stabilizer`, 'is missing: give { "epsilon": 1e-6 } (z + eps * sign(z), sign(0) = +1) or null (no division: the gradient)');
      let epsilon: ((p: ResolvedParams) => number) | null = null;
      if (gr.stabilizer !== null) {
        const s = gr.stabilizer;
        if (!isRecord(s)) fail(`${f}.stabilizer`, `must be { "epsilon": number, "sign": "sign" } or null (got ${show(s)})`);
        const sr = s as Record<string, unknown>;
        for (const k of Object.keys(sr)) if (!['epsilon', 'sign'].includes(k)) fail(`${f}.stabilizer."${k.slice(0, 40)}"`, 'is not a field of a stabiliser (fields: epsilon, sign)');
        if (sr.epsilon === undefined) fail(`${f}.stabilizer.epsilon`, 'is missing (a number from 0, "$name" or null for the stabiliser)');
        if (sr.sign !== undefined && !(STABILIZER_SIGNS as readonly unknown[]).includes(sr.sign)) {
          fail(`${f}.stabilizer.sign`, `${show(sr.sign)} is not a sign handling this engine has: only "sign" (z + eps * sign(z), sign(0) = +1, as Zennit and Captum)`);
        }
        epsilon = value(sr.epsilon, `${f}.stabilizer.epsilon`, { nonNegative: true });
      }
      const eps = epsilon;
      return (p) => ({
        terms: terms.map((t) => t(p)),
        bias: bias(p),
        coefficient: coefficient(p),
        mask: mask as OutputMask,
        epsilon: eps ? eps(p) : null,
      });
    });
    let bounds: { low: number | readonly number[]; high: number | readonly number[] } | undefined;
    if (prog.bounds !== undefined) {
      const b = prog.bounds;
      if (!isRecord(b)) fail('program.bounds', 'must be { "low": number or list, "high": number or list }');
      const br = b as Record<string, unknown>;
      for (const k of Object.keys(br)) if (!['low', 'high'].includes(k)) fail(`program.bounds."${k.slice(0, 40)}"`, 'is not a field of bounds (fields: low, high)');
      const bound = (x: unknown, field: string): number | readonly number[] => {
        const ok = (y: unknown) => typeof y === 'number' && Number.isFinite(y) && Math.abs(y) <= CUSTOM_RULE_LIMITS.magnitude;
        if (ok(x)) return x as number;
        if (Array.isArray(x) && x.length > 0 && x.length <= CUSTOM_RULE_LIMITS.boundsValues && x.every(ok)) return [...(x as number[])];
        return fail(field, `must be a number or a list of 1 to ${CUSTOM_RULE_LIMITS.boundsValues} numbers, one per input channel (got ${show(x)})`);
      };
      bounds = { low: bound(br.low, 'program.bounds.low'), high: bound(br.high, 'program.bounds.high') };
    }
    if (usesBounds && !bounds) fail('program.bounds', 'is missing: terms with input "low" or "high" (ZBox) need { "low": ..., "high": ... }');
    if (prog.operands !== undefined) {
      if (prog.operands !== 'uniform') fail('program.operands', `must be "uniform" or left out (got ${show(prog.operands)})`);
      if (appliesTo.some((c) => c !== 'matmul')) fail('program.operands', '"uniform" is for products of two computed values only: appliesTo must be ["matmul"]');
    }
    const operands = prog.operands === 'uniform' ? ({ operands: 'uniform' } as const) : {};
    const fixedBounds = bounds;
    compile = (p) => ({ kind: 'lrp', groups: groups.map((g) => g(p)), ...(fixedBounds ? { bounds: fixedBounds } : {}), ...operands });
  }

  const spec = JSON.parse(JSON.stringify(v)) as CustomRuleSpec;
  return {
    id,
    family: 'custom',
    label: (label as string).trim(),
    description,
    params,
    appliesTo,
    // Whether it conserves relevance is not known from its program in general: it is not claimed.
    conserving: false,
    compile,
    spec,
  };
}

/** Parses a list of definitions (an assignment's `ruleDefs`, a link's, a file's): each checked, ids distinct. */
export function parseRuleDefinitions(v: unknown, where = 'ruleDefs'): CustomRuleDefinition[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new CustomRuleError(`${where} must be a list of rule definitions`);
  if (v.length > CUSTOM_RULE_LIMITS.definitions) throw new CustomRuleError(`${where} has ${v.length} rule definitions; at most ${CUSTOM_RULE_LIMITS.definitions}`);
  const out: CustomRuleDefinition[] = [];
  v.forEach((d, i) => {
    const def = parseRuleDefinition(d, `${where}[${i}]`);
    if (out.some((o) => o.id === def.id)) throw new CustomRuleError(`${where}[${i}]: id "${def.id}" is defined twice`);
    out.push(def);
  });
  return out;
}

/** Where JSON text first goes wrong (an offset; the text's length when it ends too early). */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const bad = (): never => {
    throw i;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else bad();
  };
  const string = () => {
    i++; // the opening quote
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) bad();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) bad();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) bad();
      }
      i++;
    }
    if (i >= text.length) bad();
    i++;
  };
  const value = (depth: number): void => {
    if (depth > 512) bad();
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (c === '{') {
          ws();
          if (text[i] !== '"') bad();
          string();
          ws();
          if (text[i] !== ':') bad();
          i++;
        }
        value(depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === close) {
          i++;
          return;
        }
        bad();
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) bad();
    i += m![0].length;
  };
  try {
    value(0);
    ws();
    if (i < text.length) bad();
  } catch (at) {
    if (typeof at === 'number') return Math.min(at, text.length);
    throw at;
  }
  return text.length;
}

/** The definitions of a file's text: one definition or a list. `file` names it in messages (JSON errors with position). */
export function parseRuleDefinitionText(text: string, file: string): CustomRuleDefinition[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const offset = jsonErrorOffset(text);
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    const column = offset - before.lastIndexOf('\n');
    throw new CustomRuleError(`${file}: not valid JSON at line ${line}, column ${column} (${msg.split('\n')[0]})`);
  }
  return Array.isArray(json) ? parseRuleDefinitions(json, file) : [parseRuleDefinition(json, file)];
}

/** Re-definitions of Zennit's Epsilon, ZPlus and Gamma (docs/engine.md's examples; the tests check them bit for bit). */
export const EXAMPLE_RULE_SPECS: readonly CustomRuleSpec[] = [
  {
    id: 'my.epsilon',
    label: 'Epsilon (custom)',
    appliesTo: ['weighted', 'batchnorm', 'avgpool', 'add'],
    params: [{ name: 'epsilon', default: 1e-6 }],
    program: { groups: [{ terms: [{ input: 'identity', weight: 'identity' }], bias: 'identity', mask: 'all', coefficient: 1, stabilizer: { epsilon: '$epsilon' } }] },
  },
  {
    id: 'my.zplus',
    label: 'ZPlus (custom)',
    appliesTo: ['weighted'],
    params: [{ name: 'epsilon', default: 1e-6 }],
    program: {
      groups: [
        {
          terms: [
            { input: 'positive', weight: 'positive' },
            { input: 'negative', weight: 'negative' },
          ],
          bias: 'positive',
          stabilizer: { epsilon: '$epsilon' },
        },
      ],
    },
  },
  {
    id: 'my.gamma',
    label: 'Gamma (custom)',
    appliesTo: ['weighted'],
    params: [
      { name: 'gamma', default: 0.25 },
      { name: 'epsilon', default: 1e-6 },
    ],
    program: {
      groups: [
        {
          terms: [
            { input: 'positive', weight: { plain: 1, pos: '$gamma' } },
            { input: 'negative', weight: { plain: 1, neg: '$gamma' } },
          ],
          bias: { plain: 1, pos: '$gamma' },
          mask: 'positive',
          stabilizer: { epsilon: '$epsilon' },
        },
        {
          terms: [
            { input: 'positive', weight: { plain: 1, neg: '$gamma' } },
            { input: 'negative', weight: { plain: 1, pos: '$gamma' } },
          ],
          bias: { plain: 1, neg: '$gamma' },
          mask: 'negative',
          stabilizer: { epsilon: '$epsilon' },
        },
      ],
    },
  },
];
