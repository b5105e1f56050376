/**
 * FLOP and byte counts of a model, from its graph (what the network computes) and from a compiled Program (what
 * the engine dispatches for one explanation under a rule assignment). A multiply-add counts as 2 FLOPs. Counted:
 * Linear/Conv layers (and average pools, in programs), the batched matmuls between computed values (attention's
 * Q K^T and A V) and softmax (SOFTMAX_FLOPS per value); elementwise work (activations, LayerNorm, additions) is not.
 */
import { compileProgram, inferShapes } from '../engine/compile';
import { isWeightedLayer, shapeSize, type Graph } from '../engine/graph';
import type { Program } from '../engine/program';
import type { ConvGeometry, Step } from '../engine/kernels/steps';
import { type RuleAssignment } from '../rules/assignment';
import { resolveAssignment } from '../engine/rule-assignment';
import { composites } from '../rules/composites';

/** FLOPs per softmax value: the row maximum, the subtraction, exp, the row sum and the division. */
export const SOFTMAX_FLOPS = 5;

export interface GraphCounts {
  /** Learned parameters (weights and biases of every layer). */
  readonly params: number;
  /** Multiply-adds for one forward pass (batch 1): the Linear/Conv layers and the matmuls (attention). */
  readonly forwardMacs: number;
  /** Of which the matmuls between computed values (attention's Q K^T and A V). */
  readonly matmulMacs: number;
  /** Values the softmax layers inside the graph compute (attention weights). */
  readonly softmaxValues: number;
  /** FLOPs of one forward pass: 2 per multiply-add, SOFTMAX_FLOPS per softmax value. */
  readonly forwardFlops: number;
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
  let matmulMacs = 0;
  let softmaxValues = 0;
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
    } else if (node.op === 'matmul') {
      // [..., M, K] x [..., K, N] -> [..., M, N]: K multiply-adds per output value.
      const a = shapes.get(node.inputs[0]!)!;
      matmulMacs += shapeSize(out) * a[a.length - 1]!;
    } else if (node.op === 'softmax') {
      softmaxValues += shapeSize(out);
    }
  }
  forwardMacs += matmulMacs;
  const forwardFlops = 2 * forwardMacs + SOFTMAX_FLOPS * softmaxValues;
  return { params, forwardMacs, matmulMacs, softmaxValues, forwardFlops, activations, weightedLayers, inputShape: graph.input.shape };
}

export interface ProgramCounts {
  /** Multiply-adds of convolution-shaped steps (Linear, Conv, average pools) and matmuls in the forward phase. */
  readonly forwardMacs: number;
  /**
   * Multiply-adds of the relevance phase: every z pass (conv2d), every transposed pass (conv2d-relevance), every
   * matmul (attention's z passes and their transposed products).
   */
  readonly relevanceMacs: number;
  /** FLOPs of the forward phase: 2 per multiply-add, SOFTMAX_FLOPS per softmax value. */
  readonly forwardFlops: number;
  /** FLOPs of the relevance phase, likewise. */
  readonly relevanceFlops: number;
  /** Multiply-adds of the parameter phase (modified weights), done once per program, not per explanation. */
  readonly paramSteps: number;
  readonly forwardSteps: number;
  readonly relevanceSteps: number;
  /** Bytes of every tensor the program declares, each rounded up to 16 bytes as the WebGPU backend allocates. */
  readonly bufferBytes: number;
  /** Of which learned parameters and constants (uploaded at load). */
  readonly paramBytes: number;
  /**
   * The largest single tensor, in bytes as allocated, and its label: what the device's maxBufferSize and
   * maxStorageBufferBindingSize must allow (the WebGPU backend refuses a program with a larger tensor).
   */
  readonly largestBufferBytes: number;
  readonly largestBuffer: string;
}

function stepMacs(step: Step): number {
  if (step.kernel === 'conv2d' || step.kernel === 'conv2d-relevance') return convMacs(step.geom);
  if (step.kernel === 'matmul') return step.batch * step.m * step.k * step.n;
  return 0;
}

/** Multiply-adds and FLOPs of a phase's steps. */
function phaseCounts(steps: readonly Step[]): { macs: number; flops: number } {
  let macs = 0;
  let softmax = 0;
  for (const s of steps) {
    macs += stepMacs(s);
    if (s.kernel === 'softmax') softmax += s.rows * s.cols;
  }
  return { macs, flops: 2 * macs + SOFTMAX_FLOPS * softmax };
}

export function programCounts(program: Program): ProgramCounts {
  const forward = phaseCounts(program.forwardSteps);
  const relevance = phaseCounts(program.relevanceSteps);
  let bufferBytes = 0;
  let paramBytes = 0;
  let largestBufferBytes = 0;
  let largestBuffer = '';
  for (const t of program.tensors) {
    const bytes = Math.max(16, Math.ceil((t.size * 4) / 16) * 16);
    bufferBytes += bytes;
    if (t.kind === 'param') paramBytes += bytes;
    if (bytes > largestBufferBytes) {
      largestBufferBytes = bytes;
      largestBuffer = t.label;
    }
  }
  return {
    forwardMacs: forward.macs,
    relevanceMacs: relevance.macs,
    forwardFlops: forward.flops,
    relevanceFlops: relevance.flops,
    paramSteps: program.paramSteps.length,
    forwardSteps: program.forwardSteps.length,
    relevanceSteps: program.relevanceSteps.length,
    bufferBytes,
    paramBytes,
    largestBufferBytes,
    largestBuffer,
  };
}

/** Counts for one rule assignment, compiling the program the engine would build (no backend involved). */
export function assignmentCounts(graph: Graph, rules: RuleAssignment): ProgramCounts {
  return programCounts(compileProgram(graph, resolveAssignment(graph, rules)));
}

/**
 * Per preset (every composite), the FLOPs of one explanation relative to the forward pass, as a Markdown
 * table: forward + relevance, where the relevance pass counts each z pass a rule needs beyond the forward output
 * and each transposed pass (one per term of each group). A preset that cannot explain a model (it refuses one of
 * its layers) shows "n/a".
 */
export function formatPresetTable(models: readonly { readonly name: string; readonly graph: Graph }[]): string {
  const lines = [
    `| preset | ${models.map((m) => `${m.name} GFLOP (x forward)`).join(' | ')} |`,
    `|---|${models.map(() => '---:|').join('')}`,
  ];
  const forward = models.map((m) => graphCounts(m.graph).forwardFlops);
  const cells = (flops: (m: { graph: Graph }, i: number) => number | null) =>
    models.map((m, i) => {
      const v = flops(m, i);
      return v === null ? 'n/a' : `${(v / 1e9).toPrecision(3)} (${(v / forward[i]!).toFixed(2)})`;
    });
  lines.push(`| forward only | ${cells((_m, i) => forward[i]!).join(' | ')} |`);
  for (const c of composites) {
    const row = cells((m) => {
      let p: ProgramCounts;
      try {
        p = assignmentCounts(m.graph, { preset: c.id });
      } catch {
        return null;
      }
      return p.forwardFlops + p.relevanceFlops;
    });
    lines.push(`| ${c.id} | ${row.join(' | ')} |`);
  }
  return lines.join('\n');
}
