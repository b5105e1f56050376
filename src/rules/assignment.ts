/**
 * Per-layer rule assignment. The JSON form (used by the CLI, share links and the app) is:
 *
 *   { "preset": "EpsilonPlusFlat", "presetParams": { "low": -3, "high": 3 },
 *     "layers": [ { "layer": "conv1", "rule": "gamma", "gamma": 0.25 }, { "layer": "#2", "rule": "epsilon" } ] }
 *
 * `preset` names a composite (default DEFAULT_PRESET, "EpsilonPlusFlat", as in the app and the CLI; until
 * issue 17 it was "captum-default": an assignment written for that must name it); each `layers` entry overrides one
 * layer, chosen by its name or by "#i", the i-th Linear/Conv2d layer in execution order (from #0). Remaining keys
 * are rule parameters. Share links always name their preset, so their meaning does not depend on this default.
 *
 * `ruleDefs` (optional) defines custom rules as data (custom-rules.ts; docs/engine.md, "Custom rules"): `layers`
 * entries may then name them by id. They travel with the assignment (CLI --rule-def, the library, share links).
 */
import { isWeightedLayer, type Graph, type GraphNode, type OpType } from '../engine/graph';
import { compileRuleDefinition, findBuiltinRule, RuleError, type LayerClass, type ParamValue, type RuleDefinition, type RuleParams } from './rules';
import { parseRuleDefinitions, type CustomRuleSpec } from './custom-rules';
import type { RuleProgram } from './rule-program';
import { findComposite } from './composites';

/** The composite of an assignment that names none. */
export const DEFAULT_PRESET = 'EpsilonPlusFlat';

export interface LayerRuleEntry {
  readonly layer: string;
  readonly rule: string;
  readonly [param: string]: ParamValue | string;
}

export interface RuleAssignment {
  readonly preset?: string;
  readonly presetParams?: RuleParams;
  readonly layers?: readonly LayerRuleEntry[];
  /** Custom rules (their JSON definitions) that `layers` may name. */
  readonly ruleDefs?: readonly CustomRuleSpec[];
}

export interface RuleChoice {
  readonly rule: string;
  readonly params: RuleParams;
}

export interface ResolvedLayerRule extends RuleChoice {
  readonly layer: string;
  readonly program: RuleProgram;
}

/** Finds the node an assignment entry names: its name, or "#i" for the i-th Linear/Conv2d layer. */
export function selectLayer(graph: Graph, selector: string): GraphNode {
  const m = /^#(\d+)$/.exec(selector);
  if (m) {
    const weighted = graph.nodes.filter(isWeightedLayer);
    const node = weighted[Number(m[1])];
    if (!node) throw new RuleError(`layer "${selector}" does not exist: the model has ${weighted.length} Linear/Conv layers (#0 to #${weighted.length - 1})`);
    return node;
  }
  const node = graph.nodes.find((n) => n.name === selector);
  if (!node) throw new RuleError(`no layer named "${selector}" (layers: ${graph.nodes.map((n) => n.name).join(', ')})`);
  return node;
}

function splitEntry(entry: LayerRuleEntry): RuleChoice {
  const { layer: _layer, rule, ...params } = entry;
  return { rule, params: params as RuleParams };
}

/**
 * Resolves an assignment to one compiled rule per layer, validating every rule against its layer. `classOf` is the
 * engine's layer class of an op (engine/rule-assignment.ts passes the op table's; the page passes the classes the
 * worker reported, so that it does not load the engine's kernels).
 */
export function resolveAssignmentWith(graph: Graph, assignment: RuleAssignment, classOf: (op: OpType) => LayerClass): Map<string, ResolvedLayerRule> {
  const custom = new Map(parseRuleDefinitions(assignment.ruleDefs, 'ruleDefs').map((d) => [d.id, d]));
  const lookup = (id: string): RuleDefinition | undefined => findBuiltinRule(id) ?? custom.get(id);
  const preset = presetRules(graph, assignment, classOf);
  const overrides = new Map<string, RuleChoice>();
  for (const entry of assignment.layers ?? []) {
    if (typeof entry.layer !== 'string' || typeof entry.rule !== 'string') {
      throw new RuleError('each layer entry needs a "layer" and a "rule"');
    }
    overrides.set(selectLayer(graph, entry.layer).name, splitEntry(entry));
  }
  const out = new Map<string, ResolvedLayerRule>();
  graph.nodes.forEach((node, i) => {
    const choice = overrides.get(node.name);
    const resolved = choice ? resolveLayer(node, choice, lookup, custom, classOf) : preset[i]!;
    if (resolved instanceof Error) throw resolved;
    out.set(node.name, resolved);
  });
  return out;
}

/** One layer's rule, checked against the layer; what is wrong with it as an error. */
function resolveLayer(
  node: GraphNode,
  choice: RuleChoice,
  lookup: (id: string) => RuleDefinition | undefined,
  custom: ReadonlyMap<string, RuleDefinition>,
  classOf: (op: OpType) => LayerClass,
): ResolvedLayerRule | RuleError {
  const def = lookup(choice.rule);
  if (!def) {
    // A custom rule is found only in the assignment's own ruleDefs.
    return new RuleError(`layer "${node.name}": unknown rule "${choice.rule}"${custom.size ? ` (the assignment's ruleDefs define ${[...custom.keys()].join(', ')})` : ''}`);
  }
  if (!def.appliesTo.includes(classOf(node.op))) {
    return new RuleError(`layer "${node.name}" (${node.op}): rule "${def.id}" does not apply to this kind of layer`);
  }
  try {
    return resolvedRule(node.name, def, choice.params);
  } catch (e) {
    if (e instanceof RuleError) return e;
    throw e;
  }
}

/**
 * Every layer's rule under the assignment's preset alone (its error where it has one, thrown only if no override
 * replaces it), by node index: made once per graph, layer classes and preset with its parameters, as a slider
 * re-resolves the same preset with one override changed. The preset's choices are built-in rules only.
 */
const presetCache = new WeakMap<Graph, WeakMap<(op: OpType) => LayerClass, Map<string, readonly (ResolvedLayerRule | RuleError)[]>>>();
const MAX_PRESETS_PER_GRAPH = 32;

function presetRules(graph: Graph, assignment: RuleAssignment, classOf: (op: OpType) => LayerClass): readonly (ResolvedLayerRule | RuleError)[] {
  const presetName = assignment.preset ?? DEFAULT_PRESET;
  const composite = findComposite(presetName);
  if (!composite) throw new RuleError(`unknown preset "${presetName}"`);
  let byClasses = presetCache.get(graph);
  if (!byClasses) presetCache.set(graph, (byClasses = new WeakMap()));
  let byPreset = byClasses.get(classOf);
  if (!byPreset) byClasses.set(classOf, (byPreset = new Map()));
  const key = `${presetName}\u0000${JSON.stringify(assignment.presetParams ?? {})}`;
  const known = byPreset.get(key);
  if (known) return known;
  const choices = composite.assign(graph, assignment.presetParams ?? {}, classOf);
  const rules = graph.nodes.map((node) => resolveLayer(node, choices.get(node.name) ?? { rule: 'gradient', params: {} }, findBuiltinRule, new Map(), classOf));
  if (byPreset.size >= MAX_PRESETS_PER_GRAPH) byPreset.clear();
  byPreset.set(key, rules);
  return rules;
}

/**
 * Resolved rules by definition, then layer and parameters: a layer whose rule and parameters are unchanged gets the
 * same object back, so that comparing two assignments (the engine's program patches) is one identity check per layer
 * and resolving one again compiles only what changed. Keyed by the definition object (a redefined custom rule is
 * another object) and bounded: a slider adds one entry per value it passes.
 */
const resolvedRules = new WeakMap<RuleDefinition, Map<string, ResolvedLayerRule>>();
const MAX_RESOLVED_PER_RULE = 4096;

function resolvedRule(layer: string, def: RuleDefinition, params: RuleParams): ResolvedLayerRule {
  let byLayer = resolvedRules.get(def);
  if (!byLayer) resolvedRules.set(def, (byLayer = new Map()));
  const key = `${layer}\u0000${JSON.stringify(params)}`;
  const known = byLayer.get(key);
  if (known) return known;
  let program: RuleProgram;
  try {
    program = compileRuleDefinition(def, params);
  } catch (e) {
    throw new RuleError(`layer "${layer}": ${(e as Error).message}`);
  }
  if (byLayer.size >= MAX_RESOLVED_PER_RULE) byLayer.clear();
  const resolved: ResolvedLayerRule = { layer, rule: def.id, params, program };
  byLayer.set(key, resolved);
  return resolved;
}
