/**
 * FLOP and byte counts of a model, from its graph (what the network computes) and from a compiled Program (what
 * the engine dispatches for one explanation under a rule assignment). A multiply-add counts as 2 FLOPs.
 */
import { compileProgram, inferShapes } from '../engine/compile';
import { isWeightedLayer, shapeSize, type Graph } from '../engine/graph';
import type { Program } from '../engine/program';
import type { ConvGeometry, Step } from '../engine/kernels/steps';
import { resolveAssignment, type RuleAssignment } from '../rules/assignment';
import { composites } from '../rules/composites';

export interface GraphCounts {
  /** Learned parameters (weights and biases of every layer). */
  readonly params: number;
  /** Multiply-adds of the Linear/Conv layers for one forward pass (batch 1). */
  readonly forwardMacs: number;
  /** Values written by the forward pass (every node output except reshape views), the input excluded. */
  readonly activations: number;
  readonly weightedLayers: number;
  readonly inputShape: readonly number[];
}

export function convMacs(g: ConvGeometry): number {
  return g.n * g.o * g.oh * g.ow * (g.c / g.groups) * g.kh * g.kw;
}

export function graphCounts(graph: Graph): GraphCounts {
  const shapes = inferShapes(graph);
  let params = 0;
  let forwardMacs = 0;
  let activations = 0;
  let weightedLayers = 0;
  for (const node of graph.nodes) {
    for (const p of Object.values(node.params)) params += p.data.length;
    const out = shapes.get(node.output)!;
    if (node.op !== 'reshape') activations += shapeSize(out);
    if (isWeightedLayer(node)) {
      weightedLayers += 1;
      // out = [n, o, (oh, ow)]; weight = [o, in/groups, (kh, kw)]: each output value takes prod(weight[1:]) MACs.
      const w = node.params.weight!.shape;
      forwardMacs += shapeSize(out) * shapeSize(w.slice(1));
    }
  }
  return { params, forwardMacs, activations, weightedLayers, inputShape: graph.input.shape };
}

export interface ProgramCounts {
  /** Multiply-adds of convolution-shaped steps (Linear, Conv, average pools) in the forward phase. */
  readonly forwardMacs: number;
  /** Multiply-adds of the relevance phase: every z pass (conv2d) and every transposed pass (conv2d-relevance). */
  readonly relevanceMacs: number;
  /** Multiply-adds of the parameter phase (modified weights), done once per program, not per explanation. */
  readonly paramSteps: number;
  readonly forwardSteps: number;
  readonly relevanceSteps: number;
  /** Bytes of every tensor the program declares, each rounded up to 16 bytes as the WebGPU backend allocates. */
  readonly bufferBytes: number;
  /** Of which learned parameters and constants (uploaded at load). */
  readonly paramBytes: number;
}

function stepMacs(step: Step): number {
  return step.kernel === 'conv2d' || step.kernel === 'conv2d-relevance' ? convMacs(step.geom) : 0;
}

export function programCounts(program: Program): ProgramCounts {
  let forwardMacs = 0;
  let relevanceMacs = 0;
  for (const s of program.forwardSteps) forwardMacs += stepMacs(s);
  for (const s of program.relevanceSteps) relevanceMacs += stepMacs(s);
  let bufferBytes = 0;
  let paramBytes = 0;
  for (const t of program.tensors) {
    const bytes = Math.max(16, Math.ceil((t.size * 4) / 16) * 16);
    bufferBytes += bytes;
    if (t.kind === 'param') paramBytes += bytes;
  }
  return {
    forwardMacs,
    relevanceMacs,
    paramSteps: program.paramSteps.length,
    forwardSteps: program.forwardSteps.length,
    relevanceSteps: program.relevanceSteps.length,
    bufferBytes,
    paramBytes,
  };
}

/** Counts for one rule assignment, compiling the program the engine would build (no backend involved). */
export function assignmentCounts(graph: Graph, rules: RuleAssignment): ProgramCounts {
  return programCounts(compileProgram(graph, resolveAssignment(graph, rules)));
}

/**
 * Per preset (every composite), the multiply-adds of one explanation relative to the forward pass, as a Markdown
 * table: forward + relevance, where the relevance pass counts each z pass a rule needs beyond the forward output
 * and each transposed pass (one per term of each group).
 */
export function formatPresetTable(models: readonly { readonly name: string; readonly graph: Graph }[]): string {
  const lines = [
    `| preset | ${models.map((m) => `${m.name} GFLOP (x forward)`).join(' | ')} |`,
    `|---|${models.map(() => '---:|').join('')}`,
  ];
  const forward = models.map((m) => graphCounts(m.graph).forwardMacs);
  const cells = (macs: (m: { graph: Graph }, i: number) => number) =>
    models.map((m, i) => {
      const v = macs(m, i);
      return `${((2 * v) / 1e9).toPrecision(3)} (${(v / forward[i]!).toFixed(2)})`;
    });
  lines.push(`| forward only | ${cells((_m, i) => forward[i]!).join(' | ')} |`);
  for (const c of composites) {
    const row = cells((m) => {
      const p = assignmentCounts(m.graph, { preset: c.id });
      return p.forwardMacs + p.relevanceMacs;
    });
    lines.push(`| ${c.id} | ${row.join(' | ')} |`);
  }
  return lines.join('\n');
}
