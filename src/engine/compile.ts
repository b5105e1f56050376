/**
 * Compiles a graph and a rule assignment into a Program: forward steps for every node, the seed, then relevance
 * steps in reverse execution order. Relevance of a value used by several nodes (residual shortcuts) is summed.
 */
import { shapeSize, type Graph, type Shape } from './graph';
import { ops } from './ops/registry';
import { ShapeError, type RelevanceTarget } from './ops/op';
import { findDenominators, type PartKeyMemo } from './denominator';
import { ProgramBuilder, type Program, type Segment, type TensorRef } from './program';
import type { ResolvedLayerRule } from '../rules/assignment';
import { reuseBuffersByLifetime } from './buffer-reuse';

/** Infers and checks every value's shape; throws ShapeError naming the first layer that does not fit. */
export function inferShapes(graph: Graph): Map<string, Shape> {
  const shapes = new Map<string, Shape>([[graph.input.name, graph.input.shape]]);
  for (const node of graph.nodes) {
    const def = ops[node.op];
    if (!def) throw new ShapeError(`layer "${node.name}": unknown op "${node.op}"`);
    const inputs = node.inputs.map((name) => {
      const s = shapes.get(name);
      if (!s) throw new ShapeError(`layer "${node.name}" reads "${name}", which no earlier layer produces`);
      return s;
    });
    shapes.set(node.output, def.inferShape(node, inputs));
  }
  if (!shapes.has(graph.output)) throw new ShapeError(`the graph output "${graph.output}" is never produced`);
  const out = shapes.get(graph.output)!;
  const batch = graph.input.shape[0];
  if (out.length !== 2 || out[0] !== batch) throw new ShapeError(`the model output must be [${batch}, classes], got [${out.join(', ')}]`);
  return shapes;
}

/** The same graph over a batch of n inputs (for perturbation curves): only the batch dimensions change. */
export function withBatch(graph: Graph, n: number): Graph {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`batch size must be a positive integer, got ${n}`);
  return {
    ...graph,
    input: { ...graph.input, shape: [n, ...graph.input.shape.slice(1)] },
    nodes: graph.nodes.map((node) =>
      node.op === 'reshape' ? { ...node, attrs: { ...node.attrs, shape: [n, ...(node.attrs.shape as number[]).slice(1)] } } : node,
    ),
  };
}

/** A program with the forward pass only (its relevance output is the logits; nothing else is computed). */
export function compileForward(graph: Graph): Program {
  const shapes = inferShapes(graph);
  const b = new ProgramBuilder();
  const input = b.tensor(graph.input.shape, 'input', 'input');
  const control = b.tensor([3], 'control', 'input');
  const values = new Map<string, TensorRef>([[graph.input.name, input]]);
  for (const node of graph.nodes) {
    values.set(node.output, ops[node.op].forward({ node, inputs: node.inputs.map((v) => values.get(v)!), outShape: shapes.get(node.output)!, b }));
  }
  const logits = values.get(graph.output)!;
  return {
    tensors: b.tensors,
    forwardTensors: b.tensors.length,
    input,
    control,
    paramSteps: b.paramSteps,
    forwardSteps: b.forwardSteps,
    relevanceSteps: [],
    segments: [],
    outputs: { logits, relevance: logits, target: control, layers: [] },
  };
}

export interface CompileOptions {
  /** Share storage between relevance temporaries whose lifetimes do not overlap (buffer-reuse.ts); default true. */
  readonly reuseBuffers?: boolean;
  /** Hooks at layers (api.ts LayerHook): what they read back and where they scale relevance. */
  readonly hooks?: readonly HookSite[];
}

/**
 * A hook as the compiler sees it: the layer (a node name), and how its output relevance is scaled: not at all
 * ('observe'), per channel along `axis` (a factor tensor of the output's shape with every other axis 1), or per
 * element. The factors themselves are written per run (Program.hookScales).
 */
export interface HookSite {
  readonly layer: string;
  readonly mode: 'observe' | 'channel' | 'element';
  /** The channel axis, non-negative (mode 'channel'). */
  readonly axis?: number;
}

/** Per graph, the denominator part keys of the segments compiled so far (denominator.ts PartKeyMemo). */
const partKeyMemos = new WeakMap<Graph, PartKeyMemo>();
function partKeys(graph: Graph): PartKeyMemo {
  let memo = partKeyMemos.get(graph);
  if (!memo) partKeyMemos.set(graph, (memo = new Map()));
  return memo;
}

/**
 * What every program of one graph shares, built once per graph: the forward steps and state (numbered identically in
 * all programs, Program.forwardTensors), each value's forward tensor and its relevance storage. Programs fork its
 * builder; nothing emits into it.
 */
export interface ForwardPart {
  readonly builder: ProgramBuilder;
  readonly input: TensorRef;
  readonly control: TensorRef;
  readonly logits: TensorRef;
  /** One int: the class the seed chose. */
  readonly chosen: TensorRef;
  /** Each value's forward tensor. */
  readonly values: ReadonlyMap<string, TensorRef>;
  /** Each value's relevance storage (a reshape's sole input shares its output's). */
  readonly store: ReadonlyMap<string, TensorRef>;
  /** The values that are never negative (OpDef.nonNegative from the input on: what a ReLU gives, pooled, reshaped). */
  readonly nonNegative: ReadonlySet<string>;
}

const forwardParts = new WeakMap<Graph, ForwardPart>();

export function forwardPart(graph: Graph): ForwardPart {
  const known = forwardParts.get(graph);
  if (known) return known;
  const shapes = inferShapes(graph);
  if (graph.input.shape[0] !== 1) throw new ShapeError('explanations take one input at a time (batch 1)');
  const b = new ProgramBuilder();
  const input = b.tensor(graph.input.shape, 'input', 'input');
  const control = b.tensor([3], 'control', 'input');
  const values = new Map<string, TensorRef>([[graph.input.name, input]]);
  const nonNegative = new Set<string>();

  for (const node of graph.nodes) {
    const def = ops[node.op];
    const out = def.forward({ node, inputs: node.inputs.map((v) => values.get(v)!), outShape: shapes.get(node.output)!, b });
    values.set(node.output, out);
    if (def.nonNegative?.(node, node.inputs.map((v) => nonNegative.has(v)))) nonNegative.add(node.output);
  }

  const logits = values.get(graph.output)!;
  const consumers = new Map<string, number>();
  for (const node of graph.nodes) for (const v of node.inputs) consumers.set(v, (consumers.get(v) ?? 0) + 1);

  // Every value's relevance has its own storage, allocated with the forward state so that all programs of this
  // graph share it: a rule change then recomputes only the layers from the changed one down (Program.segments).
  // A reshape's sole input shares its relevance storage, as its activation does.
  const store = new Map<string, TensorRef>([[graph.output, b.tensor(logits.shape, `R:${graph.output}`)]]);
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const node = graph.nodes[k]!;
    const out = store.get(node.output);
    for (const v of node.inputs) {
      if (store.has(v)) continue;
      const shape = values.get(v)!.shape;
      store.set(v, node.op === 'reshape' && out && consumers.get(v) === 1 ? b.view(out, shape) : b.tensor(shape, `R:${v}`));
    }
  }
  const chosen = b.tensor([1], 'target');
  const part: ForwardPart = { builder: b, input, control, logits, chosen, values, store, nonNegative };
  forwardParts.set(graph, part);
  return part;
}

/** A layer's segment key (Segment.key): the layer, its compiled rule and its hook's mode. */
export const layerSegmentKey = (node: { readonly name: string }, rule: ResolvedLayerRule, hook?: HookSite): string =>
  `${node.name}:${JSON.stringify(rule.program)}${hook ? `:hook:${hook.mode}` : ''}`;

export function compileProgram(graph: Graph, rules: ReadonlyMap<string, ResolvedLayerRule>, options: CompileOptions = {}): Program {
  const part = forwardPart(graph);
  const { input, control, values, logits, store, chosen } = part;
  const b = ProgramBuilder.continuing(part.builder, part.builder.known());
  const forwardTensors = b.tensors.length;

  // Hooks: after the forward state (every program of the graph numbers that identically), their factor tensors.
  const hooks = options.hooks ?? [];
  const hookAt = new Map<string, { site: HookSite; factors: TensorRef | null; observed: TensorRef | null }>();
  for (const site of hooks) {
    const node = graph.nodes.find((n) => n.name === site.layer);
    if (!node) throw new ShapeError(`hook: no layer named "${site.layer}"`);
    if (hookAt.has(site.layer)) throw new ShapeError(`hook: layer "${site.layer}" has more than one hook`);
    const shape = values.get(node.output)!.shape;
    let factors: TensorRef | null = null;
    if (site.mode === 'element') factors = b.tensor(shape, `hook:${site.layer}`, 'input');
    if (site.mode === 'channel') {
      const axis = site.axis ?? 1;
      if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length) throw new ShapeError(`hook at "${site.layer}": axis ${axis} is not an axis of its output [${shape.join(', ')}]`);
      factors = b.tensor(shape.map((d, k) => (k === axis ? d : 1)), `hook:${site.layer}`, 'input');
    }
    hookAt.set(site.layer, { site, factors, observed: null });
  }
  const scaling = hooks.some((h) => h.mode !== 'observe');

  const segments: Segment[] = [];
  const segment = (key: string, emit: () => readonly string[]) => {
    const start = b.relevanceSteps.length;
    const written = emit();
    segments.push({ key, start, end: b.relevanceSteps.length, writes: written.map((v) => store.get(v)!.id) });
  };
  const seed = store.get(graph.output)!;
  segment('seed', () => {
    b.emit('relevance', { kernel: 'seed-relevance', logits, control, out: seed, chosen });
    return [graph.output];
  });

  // Whether a value's relevance has been written yet in this program: the first writer overwrites.
  const written = new Set<string>([graph.output]);
  const reached = new Set<string>([graph.output]);
  const layerInputs: { layer: string; value: string }[] = [];
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const node = graph.nodes[k]!;
    if (!reached.has(node.output)) continue; // nothing downstream reaches the output through this node
    const inputs = node.inputs.map((v) => values.get(v)!);
    const rule = rules.get(node.name);
    if (!rule) throw new Error(`no rule resolved for layer "${node.name}"`);
    const target = (i: number): RelevanceTarget => {
      const name = node.inputs[i]!;
      reached.add(name);
      const accumulate = written.has(name);
      written.add(name);
      return { ref: store.get(name)!, accumulate };
    };
    const pass = (i: number, ref: TensorRef) => {
      const name = node.inputs[i]!;
      const shape = values.get(name)!.shape;
      if (shapeSize(shape) !== ref.size) throw new ShapeError(`layer "${node.name}": relevance cannot pass unchanged to an input of another size`);
      const t = target(i);
      if (t.ref.id === ref.id) return; // shared storage (reshape): nothing to move
      b.emit('relevance', { kernel: 'elementwise', op: 'copy', a: b.view(ref, shape), b: null, out: t.ref, accumulate: t.accumulate });
    };
    const hook = hookAt.get(node.name);
    segment(layerSegmentKey(node, rule, hook?.site), () => {
      let r = store.get(node.output)!;
      // The relevance arriving here stays in its storage (read back as the hook's observation), unless that storage
      // is also an input's (a reshape's), where a scaling hook below may write: a copy is read back instead.
      if (hook && scaling && node.inputs.some((v) => store.get(v)!.id === r.id)) {
        hook.observed = b.tensor(r.shape, `observed:${node.name}`);
        b.emit('relevance', { kernel: 'elementwise', op: 'copy', a: r, b: null, out: hook.observed, accumulate: false });
      }
      if (hook?.factors) {
        const scaled = b.tensor(r.shape, `scaled:${node.name}`);
        b.emit('relevance', { kernel: 'broadcast-binary', op: 'multiply', a: r, b: hook.factors, out: scaled, scale: 1, accumulate: false });
        r = scaled;
      }
      const nonNegativeInputs = node.inputs.map((v) => part.nonNegative.has(v));
      ops[node.op].relevance({ node, inputs, output: values.get(node.output)!, r, program: rule.program, b, nonNegativeInputs, target, pass });
      return node.inputs;
    });
    // A residual add's first input is only part of what it splits; every other layer reports its input's relevance.
    // (A gate's input gets no relevance under Pass: an unwritten value holds another program's relevance, so it is
    // left out below.)
    if (node.op !== 'reshape' && node.op !== 'add') layerInputs.push({ layer: node.name, value: node.inputs[0]! });
  }

  if (!reached.has(graph.input.name)) throw new ShapeError('no relevance reaches the input: the output does not depend on it');
  for (const site of hooks) {
    const node = graph.nodes.find((n) => n.name === site.layer)!;
    if (!reached.has(node.output)) throw new ShapeError(`hook: no relevance reaches layer "${site.layer}" under these rules`);
  }
  const inputRelevance = store.get(graph.input.name)!;
  const program: Program = {
    tensors: b.tensors,
    forwardTensors,
    input,
    control,
    paramSteps: b.paramSteps,
    forwardSteps: b.forwardSteps,
    relevanceSteps: b.relevanceSteps,
    segments,
    outputs: {
      logits,
      relevance: b.view(inputRelevance, input.shape),
      target: chosen,
      layers: layerInputs
        .filter(({ value }) => written.has(value))
        .reverse()
        .map(({ layer, value }) => ({ layer, ref: b.view(store.get(value)!, values.get(value)!.shape) })),
      ...(hooks.length
        ? {
            hooks: hooks.map(({ layer }) => {
              const node = graph.nodes.find((n) => n.name === layer)!;
              const hook = hookAt.get(layer)!;
              return { layer, activation: values.get(node.output)!, relevance: hook.observed ?? store.get(node.output)! };
            }),
          }
        : {}),
    },
    ...(hooks.length ? { hookScales: [...hookAt.values()].flatMap((h) => (h.factors ? [h.factors] : [])) } : {}),
  };
  // Each layer's denominators, computed from the forward state alone, are cached across runs (denominator.ts).
  const marked = findDenominators(program, partKeys(graph));
  return options.reuseBuffers === false ? marked : reuseBuffersByLifetime(marked);
}
