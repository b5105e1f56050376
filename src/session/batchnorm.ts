/**
 * BatchNorm merged into the Linear/Conv before it (as Zennit's canonizer does) or kept as a layer of its own (as
 * Captum explains it). One policy for the app, the CLI and the library: merged unless asked otherwise (the app's
 * BatchNorm choice, `--batchnorm keep`, `batchNorm: 'layer'`), and kept where the CLI's `--rule` names a
 * BatchNorm layer (a merged one has no rule of its own).
 */
import { foldBatchNorm } from '../engine/canonicalize';
import type { Graph } from '../engine/graph';

export interface BatchNormApplied {
  /** The graph to explain. */
  readonly graph: Graph;
  /** BatchNorm layers in the model as opened. */
  readonly batchNorms: number;
  /** Of those, how many were merged (some cannot be: after a ReLU, a Concat, the input). */
  readonly merged: number;
  /** What happened, for the model's notes (null: the model has no BatchNorm). */
  readonly note: string | null;
}

const batchNormNames = (graph: Graph): string[] => graph.nodes.filter((n) => n.op === 'batchnorm').map((n) => n.name);

/** The default choice: merged, unless one of `ruleLayers` (layers given a rule of their own) is a BatchNorm layer. */
export function mergeBatchNormByDefault(graph: Graph, ruleLayers: readonly string[] = []): boolean {
  const names = new Set(batchNormNames(graph));
  return !ruleLayers.some((layer) => names.has(layer));
}

/** The graph with BatchNorm merged (where it can be) or kept, and a note saying which. */
export function applyBatchNorm(graph: Graph, merge: boolean): BatchNormApplied {
  const batchNorms = batchNormNames(graph).length;
  if (batchNorms === 0) return { graph, batchNorms, merged: 0, note: null };
  if (!merge) return { graph, batchNorms, merged: 0, note: `${batchNorms} BatchNorm layers are kept as layers of their own (as Captum does).` };
  const folded = foldBatchNorm(graph);
  const merged = batchNorms - batchNormNames(folded).length;
  return {
    graph: folded,
    batchNorms,
    merged,
    note: `${merged} of ${batchNorms} BatchNorm layers are merged into the layer before them (as Zennit does), so their rules are that layer's.`,
  };
}
