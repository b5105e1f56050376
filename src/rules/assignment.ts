/**
 * Per-layer rule assignment. The JSON form (used by the CLI, share links and the app) is:
 *
 *   { "preset": "EpsilonPlusFlat", "presetParams": { "low": -3, "high": 3 },
 *     "layers": [ { "layer": "conv1", "rule": "gamma", "gamma": 0.25 }, { "layer": "#2", "rule": "epsilon" } ] }
 *
 * `preset` names a composite (default "captum-default"); each `layers` entry overrides one layer, chosen by its
 * name or by "#i", the i-th Linear/Conv2d layer in execution order (from #0). Remaining keys are rule parameters.
 */
import { isWeightedLayer, type Graph, type GraphNode, type OpType } from '../engine/graph';
import { compileRule, findRule, RuleError, type LayerClass, type ParamValue, type RuleParams } from './rules';
import type { RuleProgram } from './rule-program';
import { findComposite } from './composites';

export interface LayerRuleEntry {
  readonly layer: string;
  readonly rule: string;
  readonly [param: string]: ParamValue | string;
}

export interface RuleAssignment {
  readonly preset?: string;
  readonly presetParams?: RuleParams;
  readonly layers?: readonly LayerRuleEntry[];
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
  const presetName = assignment.preset ?? 'captum-default';
  const composite = findComposite(presetName);
  if (!composite) throw new RuleError(`unknown preset "${presetName}"`);
  const choices = composite.assign(graph, assignment.presetParams ?? {}, classOf);
  for (const entry of assignment.layers ?? []) {
    if (typeof entry.layer !== 'string' || typeof entry.rule !== 'string') {
      throw new RuleError('each layer entry needs a "layer" and a "rule"');
    }
    choices.set(selectLayer(graph, entry.layer).name, splitEntry(entry));
  }
  const out = new Map<string, ResolvedLayerRule>();
  for (const node of graph.nodes) {
    const choice = choices.get(node.name) ?? { rule: 'gradient', params: {} };
    const def = findRule(choice.rule);
    if (!def) throw new RuleError(`layer "${node.name}": unknown rule "${choice.rule}"`);
    const cls = classOf(node.op);
    if (!def.appliesTo.includes(cls)) {
      throw new RuleError(`layer "${node.name}" (${node.op}): rule "${def.id}" does not apply to this kind of layer`);
    }
    let program: RuleProgram;
    try {
      program = compileRule(def.id, choice.params);
    } catch (e) {
      throw new RuleError(`layer "${node.name}": ${(e as Error).message}`);
    }
    out.set(node.name, { layer: node.name, rule: def.id, params: choice.params, program });
  }
  return out;
}
