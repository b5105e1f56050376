/**
 * From the rules slice to the engine's RuleAssignment, and the rule each layer ends up with (preset plus
 * overrides), computed on the page from the model's weightless graph.
 */
import type { Graph, OpType } from '../src/engine/graph';
import { resolveAssignmentWith, type LayerRuleEntry, type RuleAssignment } from '../src/rules/assignment';
import { composites, findComposite } from '../src/rules/composites';
import { findRule, ruleDefinitions, type LayerClass, type ParamValue, type RuleDefinition, type RuleParams } from '../src/rules/rules';
import type { ModelCard } from '../src/models/model-card';
import { inputBounds, presetParams } from '../src/rules/preset-params';

export { inputBounds, presetParams };
import type { GraphSkeleton, ModelInfo } from './protocol';
import type { LayerOverride, RulesSlice } from './store';

export { composites, ruleDefinitions };

/** The presets the preset menu offers, in this order (the transformer presets last; one not in composites is left out). */
export const PRESET_ORDER = [
  'captum-default',
  'EpsilonPlusFlat',
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

export function toAssignment(rules: RulesSlice, model: ModelInfo): RuleAssignment {
  const layers: LayerRuleEntry[] = Object.entries(rules.overrides).map(([layer, o]) => ({ layer, rule: o.rule, ...o.params }));
  const params = presetParams(rules.preset, model.card);
  return { preset: rules.preset, ...(Object.keys(params).length ? { presetParams: params } : {}), ...(layers.length ? { layers } : {}) };
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
  const order = { zennit: 0, captum: 1, common: 2 } as const;
  return ruleDefinitions.filter((r) => r.appliesTo.includes(cls)).sort((a, b) => order[a.family] - order[b.family]);
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
