/**
 * A rule assignment resolved against the engine's op table: one compiled rule per layer (rules/assignment.ts does
 * the work; the op table gives each layer's class).
 */
import type { Graph } from './graph';
import { layerClassOf } from './ops/registry';
import { resolveAssignmentWith, type ResolvedLayerRule, type RuleAssignment } from '../rules/assignment';

export function resolveAssignment(graph: Graph, assignment: RuleAssignment = {}): Map<string, ResolvedLayerRule> {
  return resolveAssignmentWith(graph, assignment, layerClassOf);
}
