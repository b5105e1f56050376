/**
 * From the rules slice to the engine's RuleAssignment, and the rule each layer ends up with (preset plus
 * overrides), computed on the page from the model's weightless graph.
 */
import type { Graph, OpType } from '../src/engine/graph';
import { resolveAssignmentWith, type LayerRuleEntry, type RuleAssignment } from '../src/rules/assignment';
import { composites, findComposite } from '../src/rules/composites';
import { findRule, registerCustomRules, ruleDefinitions, type LayerClass, type ParamValue, type RuleDefinition, type RuleParams } from '../src/rules/rules';
import { parseRuleDefinitions, type CustomRuleDefinition, type CustomRuleSpec } from '../src/rules/custom-rules';
import { create } from 'zustand';
import type { ModelCard } from '../src/models/model-card';
import { inputBounds, presetAssignment, presetParams } from '../src/rules/preset-params';

export { inputBounds, presetParams };
import type { GraphSkeleton, ModelInfo } from './protocol';
import { update, type LayerOverride, type RulesSlice } from './store';

export { composites, ruleDefinitions };

/**
 * The presets the preset menu offers, in this order: the default (EpsilonPlusFlat) first, the transformer presets
 * last; one not in composites is left out.
 */
export const PRESET_ORDER = [
  'EpsilonPlusFlat',
  'captum-default',
  'EpsilonGammaBox',
  'EpsilonAlpha2Beta1Flat',
  'EpsilonPlus',
  'EpsilonAlpha2Beta1',
  'gradient',
  'cp-epsilon',
  'cp-gamma',
  'attnlrp',
] as const;

export function asGraph(skeleton: GraphSkeleton): Graph {
  return { ...skeleton, nodes: skeleton.nodes.map((n) => ({ ...n, attrs: {}, params: {} })) };
}

export function toAssignment(rules: Pick<RulesSlice, 'preset' | 'overrides'>, model: ModelInfo): RuleAssignment {
  const layers: LayerRuleEntry[] = Object.entries(rules.overrides).map(([layer, o]) => ({ layer, rule: o.rule, ...o.params }));
  return presetAssignment(rules.preset, model.card, layers, customRuleSpecs(Object.values(rules.overrides).map((o) => o.rule)));
}

// ---------------------------------------------------------------------------------------------------------------
// Custom rules (the rule editor's): registered with the rule catalogue's lookup, so that the layer menus offer them;
// an assignment that uses one carries its definition (`ruleDefs`), so the worker and share links get it as data.

export interface CustomRulesState {
  readonly defs: readonly CustomRuleDefinition[];
}

export const useCustomRules = create<CustomRulesState>()(() => ({ defs: [] }));

/** The definitions (JSON) of the custom rules among `ids`, once each, in the order defined. */
export function customRuleSpecs(ids: readonly string[]): CustomRuleSpec[] {
  const used = new Set(ids);
  return useCustomRules.getState().defs.filter((d) => used.has(d.id)).map((d) => d.spec);
}

function setCustomRules(defs: readonly CustomRuleDefinition[]): void {
  useCustomRules.setState({ defs });
  registerCustomRules(defs);
  // A new rules object (same content, so the explanation is not recomputed): the layer menus render again and
  // offer the rules; an assignment using a re-defined rule carries its new definition.
  update('rules', (r) => ({ overrides: { ...r.overrides } }));
}

/** Adds a custom rule, or replaces the one with its id. */
export function defineCustomRule(def: CustomRuleDefinition): void {
  const defs = useCustomRules.getState().defs;
  setCustomRules(defs.some((d) => d.id === def.id) ? defs.map((d) => (d.id === def.id ? def : d)) : [...defs, def]);
}

/** Removes a custom rule; layers that had it go back to the preset's rule. */
export function removeCustomRule(id: string): void {
  setCustomRules(useCustomRules.getState().defs.filter((d) => d.id !== id));
  update('rules', (r) => ({ overrides: Object.fromEntries(Object.entries(r.overrides).filter(([, o]) => o.rule !== id)) }));
}

/**
 * Defines a link's custom rules (replacing those with the same ids). Returns why they could not be, or null; the
 * link decoder has checked them already, so this fails only on a definition this page cannot compile.
 */
export function defineLinkRules(specs: readonly CustomRuleSpec[] | undefined): string | null {
  if (!specs?.length) return null;
  try {
    const parsed = parseRuleDefinitions(specs, "the link's rule definitions");
    const ids = new Set(parsed.map((d) => d.id));
    setCustomRules([...useCustomRules.getState().defs.filter((d) => !ids.has(d.id)), ...parsed]);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

export interface EffectiveRule {
  readonly rule: RuleDefinition;
  readonly params: RuleParams;
  readonly overridden: boolean;
}

/** Layer classes as the worker reported them: the page does not load the engine's op table (and its kernels). */
function classOf(model: ModelInfo): (op: OpType) => LayerClass {
  const classes = new Map<OpType, LayerClass>(model.layers.map((l) => [l.op, l.cls]));
  return (op) => classes.get(op) ?? 'structural';
}

/** The rule every layer gets: the preset's choice, or the layer's override; layers without either: gradient. */
export function effectiveRules(model: ModelInfo, rules: RulesSlice): Map<string, EffectiveRule> {
  const graph = asGraph(model.skeleton);
  const composite = findComposite(rules.preset) ?? composites[0]!;
  const chosen = composite.assign(graph, presetParams(rules.preset, model.card), classOf(model));
  const out = new Map<string, EffectiveRule>();
  for (const node of graph.nodes) {
    const override = rules.overrides[node.name];
    const choice = override ?? chosen.get(node.name) ?? { rule: 'gradient', params: {} };
    const rule = findRule(choice.rule) ?? findRule('gradient')!;
    out.set(node.name, { rule, params: choice.params, overridden: !!override });
  }
  return out;
}

/** Null when the assignment is valid for the model, else the first problem (naming the layer). */
export function validateAssignment(model: ModelInfo, assignment: RuleAssignment): string | null {
  try {
    resolveAssignmentWith(asGraph(model.skeleton), assignment, classOf(model));
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Rules that can apply to a layer class, Zennit's first, then Captum's, then the gradient. */
export function rulesFor(cls: LayerClass): readonly RuleDefinition[] {
  const order = { zennit: 0, captum: 1, custom: 2, common: 3 } as const;
  return [...ruleDefinitions, ...useCustomRules.getState().defs].filter((r) => r.appliesTo.includes(cls)).sort((a, b) => order[a.family] - order[b.family]);
}

/** The parameters a newly chosen rule starts with: its defaults, except ZBox's bounds, which come from the card. */
export function initialParams(rule: RuleDefinition, card: ModelCard): RuleParams {
  if (rule.id !== 'zbox') return {};
  return inputBounds(card);
}

/** A parameter's value: the one set, else the rule's default. */
export function paramValue(rule: RuleDefinition, params: RuleParams, name: string): ParamValue | undefined {
  return params[name] ?? rule.params.find((p) => p.name === name)?.default;
}

/** Sets one parameter; AlphaBeta keeps alpha - beta = 1 by moving the other one. */
export function withParam(current: LayerOverride, name: string, value: ParamValue): LayerOverride {
  const params: Record<string, ParamValue> = { ...current.params, [name]: value };
  if (current.rule === 'alphabeta' && typeof value === 'number') {
    if (name === 'alpha') params.beta = Math.max(0, value - 1);
    if (name === 'beta') params.alpha = value + 1;
  }
  return { rule: current.rule, params };
}
