/**
 * ONNX -> Graph importer. Decodes a ModelProto with protobufjs, folds everything that is constant at load time
 * (the TorchScript exporter's Shape/Gather/Concat chains, Constant nodes, weight transposes), maps the remaining
 * operators onto the engine's layer kinds with fully resolved attributes (explicit pads, resolved reshape
 * targets, normalised slices) and names layers after the PyTorch modules they came from.
 */
import * as protobuf from 'protobufjs';
import type { AttrValue, Graph, GraphNode, OpType, Tensor } from '../graph';
import { onnxProto } from './onnx-schema';
import {
  type AttrBag,
  type ConstTensor,
  type LongLike,
  type TensorProtoLike,
  DT,
  FOLDABLE_OPS,
  FoldError,
  dtypeName,
  evaluate,
  isFloatType,
  normaliseSlice,
  num,
  readTensor,
  toInts,
  transpose2d,
} from './onnx-const';
import type { ConstValue, EmitOptions, OnnxAttributes, OnnxNode, PendingLayer } from '../ops/import-context';
import { ONNX_MAPPINGS } from './onnx-table';
import { fuseOnnxPatterns } from './onnx-fusions';
import { AllocationBudget, IMPORT_LIMITS, ImportLimitError, clipMessage, clipName, inputProblem, isSafeRelativePath, shapeProblem } from './limits';

export class ModelImportError extends Error {
  override name = 'ModelImportError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(clipMessage(message), options);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Decoded protobuf shapes (only the fields read here).

interface AttributeLike {
  name?: string | null;
  f?: number | null;
  i?: LongLike;
  s?: Uint8Array | null;
  t?: TensorProtoLike | null;
  floats?: number[] | null;
  ints?: LongLike[] | null;
  type?: number | null;
}
interface NodeLike {
  input?: string[] | null;
  output?: string[] | null;
  name?: string | null;
  opType?: string | null;
  attribute?: AttributeLike[] | null;
  domain?: string | null;
}
interface ValueInfoLike {
  name?: string | null;
  type?: {
    tensorType?: {
      elemType?: number | null;
      shape?: { dim?: { dimValue?: LongLike; dimParam?: string | null }[] | null } | null;
    } | null;
  } | null;
}
interface GraphLike {
  node?: NodeLike[] | null;
  initializer?: TensorProtoLike[] | null;
  input?: ValueInfoLike[] | null;
  output?: ValueInfoLike[] | null;
}
interface ModelLike {
  graph?: GraphLike | null;
}

let modelType: protobuf.Type | undefined;
function onnxModelType(): protobuf.Type {
  modelType ??= protobuf.parse(onnxProto).root.lookupType('onnx.ModelProto');
  return modelType;
}

/** Operators that become (or disappear into) engine layers. Foldable ones are in FOLDABLE_OPS. */
const RUNTIME_OPS: ReadonlySet<string> = new Set([
  'Gemm',
  'MatMul',
  'MaxPool',
  'AveragePool',
  'ReduceMean',
  'Add',
  'Slice',
]);

/** A layer under construction; becomes a GraphNode once the graph is pruned and named. */
interface Pending {
  op: OpType;
  inputs: string[];
  output: string;
  attrs: Record<string, AttrValue>;
  params: Record<string, Tensor>;
  /** ONNX node name (the TorchScript exporter's scope path, e.g. "/blocks/blocks.3/Add"). */
  onnxName: string;
  /** Module name taken from the weight initializer ("conv1.weight" -> "conv1"), if any. */
  moduleName?: string;
}

function stripExt(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  return base.replace(/\.onnx$/i, '');
}

function tensor(shape: readonly number[], data: Float32Array): Tensor {
  return { shape: [...shape], data };
}

/**
 * The PyTorch module path of a TorchScript exporter node name: "/layer1/layer1.0/relu/Relu" -> "layer1.0.relu",
 * "/features/features.1/conv/conv.0/conv.0.0/Conv" -> "features.1.conv.0.0"; "/Flatten" -> "" (no module). Each
 * segment is a module's name relative to the module its chain started in: a segment that extends the one before
 * ("conv" then "conv.0") replaces it, any other segment descends into the module named so far.
 */
export function scopeFromNodeName(name: string): string {
  if (!name.startsWith('/')) return '';
  const parts = name.split('/').filter((p) => p.length > 0);
  parts.pop();
  let base = '';
  let prev = '';
  let full = '';
  for (const p of parts) {
    if (!(prev && p.startsWith(`${prev}.`))) base = full;
    full = base ? `${base}.${p}` : p;
    prev = p;
  }
  return full;
}

/** At most this many names are listed in a message; the rest are counted. */
const LISTED = 8;

function describeNodes(names: readonly string[]): string {
  const shown = names.slice(0, LISTED).map((n) => `"${clipName(n)}"`);
  if (names.length > LISTED) shown.push(`and ${names.length - LISTED} more`);
  const q = shown.join(', ');
  return names.length === 1 ? `(node ${q})` : `(nodes ${q})`;
}

/**
 * Imports an ONNX model. `sideFiles` supplies external-data files by the name the model refers to them
 * (e.g. "model.onnx.data").
 */
export function importOnnx(
  model: { name: string; bytes: Uint8Array },
  sideFiles?: ReadonlyMap<string, Uint8Array>,
): Graph {
  try {
    let fileBytes = model.bytes.byteLength;
    for (const b of sideFiles?.values() ?? []) fileBytes += b.byteLength;
    return new Importer(model.name, sideFiles ?? new Map(), new AllocationBudget(fileBytes)).run(model.bytes);
  } catch (e) {
    if (e instanceof ModelImportError) throw e;
    if (e instanceof MissingSideFile) {
      throw new ModelImportError(`${model.name} keeps its weights in ${e.location}: open both files together`);
    }
    // A limit reached outside the places that name a node (the budget is shared by the whole import).
    if (e instanceof ImportLimitError) throw new ModelImportError(`${model.name}: ${e.message}`);
    const msg = e instanceof Error ? e.message : String(e);
    throw new ModelImportError(`${model.name}: could not import the model: ${msg}`, { cause: e });
  }
}

class Importer {
  private readonly consts = new Map<string, ConstTensor>();
  /** Constant value -> initializer it was derived from by a shape-only op (Transpose, Reshape, Identity, ...). */
  private readonly origin = new Map<string, string>();
  private readonly initializerNames = new Set<string>();
  private readonly shapes = new Map<string, number[]>();
  private readonly alias = new Map<string, string>();
  private readonly poisoned = new Set<string>();
  private readonly pending: Pending[] = [];
  private readonly producer = new Map<string, Pending>();
  private readonly consumers = new Map<string, number>();
  private readonly unsupported = new Map<string, string[]>();
  private readonly notes: string[] = [];
  private graphOutputs = new Set<string>();
  private inputName = '';

  constructor(
    private readonly file: string,
    private readonly sideFiles: ReadonlyMap<string, Uint8Array>,
    readonly budget: AllocationBudget,
  ) {}

  private fail(message: string): never {
    throw new ModelImportError(`${this.file}: ${message}`);
  }

  private resolve(name: string): string {
    let n = name;
    for (let guard = 0; this.alias.has(n) && guard < 1e6; guard++) n = this.alias.get(n)!;
    return n;
  }

  private external = (location: string, offset: number, length: number | undefined): Uint8Array => {
    const base = location.split(/[\\/]/).pop() ?? location;
    const bytes = this.sideFiles.get(location) ?? this.sideFiles.get(base);
    if (!bytes) throw new MissingSideFile(location);
    const len = length ?? bytes.byteLength - offset;
    if (offset < 0 || offset + len > bytes.byteLength) {
      this.fail(`${location} is too short (${bytes.byteLength} bytes; a weight needs bytes ${offset}..${offset + len}): is it the right file?`);
    }
    return bytes.subarray(offset, offset + len);
  };

  private readTensorOrFail(t: TensorProtoLike, what: string): ConstTensor {
    try {
      return readTensor(t, this.external, this.budget);
    } catch (e) {
      if (e instanceof MissingSideFile) throw e;
      if (e instanceof FoldError || e instanceof ImportLimitError) this.fail(`${what}: ${e.message}`);
      throw e;
    }
  }

  /** Reserves memory for an array the importer is about to make (a transposed or converted weight). */
  charge(count: number, what: string): void {
    try {
      this.budget.reserve(count, 4, what);
    } catch (e) {
      if (e instanceof ImportLimitError) this.fail(e.message);
      throw e;
    }
  }

  run(bytes: Uint8Array): Graph {
    let model: ModelLike;
    try {
      model = onnxModelType().decode(bytes) as unknown as ModelLike;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      this.fail(`not an ONNX model, or the file is damaged (${msg})`);
    }
    const g = model.graph;
    if (!g || !g.node || g.node.length === 0) this.fail('not an ONNX model: it holds no graph');
    const nodes = g.node;
    if (nodes.length > IMPORT_LIMITS.maxNodes) {
      this.fail(`the graph has ${nodes.length} nodes; at most ${IMPORT_LIMITS.maxNodes} are supported`);
    }

    // Initializers (external data included).
    const missing = new Set<string>();
    for (const init of g.initializer ?? []) {
      const name = init.name ?? '';
      this.initializerNames.add(name);
      try {
        this.consts.set(name, this.readTensorOrFail(init, `initializer "${name}"`));
      } catch (e) {
        if (e instanceof MissingSideFile) missing.add(e.location);
        else throw e;
      }
    }
    if (missing.size > 0) {
      throw new ModelImportError(`${this.file} keeps its weights in ${[...missing].join(' and ')}: open both files together`);
    }

    // The single real input.
    const inputs = (g.input ?? []).filter((i) => !this.initializerNames.has(i.name ?? ''));
    if (inputs.length === 0) this.fail('the graph has no input');
    if (inputs.length > 1) {
      this.fail(`the graph has ${inputs.length} inputs (${inputs.map((i) => `"${i.name}"`).join(', ')}); only models with a single input are supported`);
    }
    const input = inputs[0]!;
    this.inputName = input.name ?? '';
    const tt = input.type?.tensorType;
    if (tt?.elemType && tt.elemType !== DT.FLOAT) {
      this.fail(`the input "${this.inputName}" is ${dtypeName(tt.elemType)}; only float32 inputs are supported`);
    }
    const dims = tt?.shape?.dim ?? [];
    if (dims.length === 0) this.fail(`the input "${this.inputName}" has no declared shape`);
    if (dims.length > IMPORT_LIMITS.maxRank) this.fail(`the input "${this.inputName}" has ${dims.length} dimensions; at most ${IMPORT_LIMITS.maxRank} are supported`);
    const inputShape = dims.map((d, i) => {
      const v = num(d.dimValue);
      if (i === 0 && v > 1) {
        this.fail(`the input "${this.inputName}" has a fixed batch of ${v}; export the model with batch 1 or a dynamic batch`);
      }
      if (v > 0) return v;
      if (i === 0) return 1;
      this.fail(`the input "${this.inputName}" has an unknown size along axis ${i} (${clipName(d.dimParam || '?')}); a fixed size is needed`);
    });
    const tooBig = inputProblem(inputShape, inputShape.length === 4 ? 'nchw' : 'other');
    if (tooBig) this.fail(tooBig.replace(/^the input/, `the input "${clipName(this.inputName)}"`));
    this.shapes.set(this.inputName, inputShape);

    const outputs = (g.output ?? []).map((o) => o.name ?? '').filter((n) => n);
    if (outputs.length === 0) this.fail('the graph has no output');
    if (outputs.length > 1) this.notes.push(`The model has ${outputs.length} outputs; only the first, "${clipName(outputs[0]!)}", is explained.`);
    this.graphOutputs = new Set(outputs);

    nodes.splice(0, nodes.length, ...fuseOnnxPatterns(nodes, (name) => this.consts.get(name), outputs)); // LayerNorm and GELU written out
    // Unknown operators: report them all at once.
    const unknown = new Map<string, string[]>();
    nodes.forEach((n, i) => {
      const op = n.opType ?? '';
      const domain = n.domain ?? '';
      const known = (domain === '' || domain === 'ai.onnx') && (ONNX_MAPPINGS.has(op) || RUNTIME_OPS.has(op) || FOLDABLE_OPS.has(op));
      if (!known) {
        const label = domain && domain !== 'ai.onnx' ? `${domain}.${op}` : op;
        const list = unknown.get(label) ?? [];
        list.push(this.nodeLabel(n, i));
        unknown.set(label, list);
      }
    });
    if (unknown.size > 0) this.failUnsupported(unknown);

    for (const n of nodes) for (const i of n.input ?? []) if (i) this.consumers.set(i, (this.consumers.get(i) ?? 0) + 1);
    for (const o of outputs) this.consumers.set(o, (this.consumers.get(o) ?? 0) + 1);

    const order = this.topoOrder(nodes);
    for (const idx of order) this.visit(nodes[idx]!, idx);
    if (this.unsupported.size > 0) this.failUnsupported(this.unsupported);

    return this.finish(outputs[0]!, inputShape);
  }

  private nodeLabel(n: NodeLike, index: number): string {
    return n.name || n.output?.[0] || `${n.opType ?? 'node'} #${index}`;
  }

  private failUnsupported(list: Map<string, string[]>): never {
    const parts = [...list].map(([op, names]) => `${op} ${describeNodes(names)}`);
    this.fail(`unsupported ONNX operators: ${parts.join(', ')}`);
  }

  markUnsupported(label: string, node: NodeLike, index: number): void {
    const list = this.unsupported.get(label) ?? [];
    list.push(this.nodeLabel(node, index));
    this.unsupported.set(label, list);
    for (const o of node.output ?? []) if (o) this.poisoned.add(o);
  }

  /** Depth-first topological order that keeps the file's order where it is already valid. */
  private topoOrder(nodes: readonly NodeLike[]): number[] {
    const producerIdx = new Map<string, number>();
    nodes.forEach((n, i) => {
      for (const o of n.output ?? []) {
        if (!o) continue;
        const clash = producerIdx.has(o) ? 'another node' : this.consts.has(o) || this.initializerNames.has(o) ? 'an initializer' : o === this.inputName ? 'the graph input' : '';
        if (clash) this.fail(`node "${clipName(this.nodeLabel(n, i))}" writes "${clipName(o)}", which ${clash} already defines`);
        producerIdx.set(o, i);
      }
    });
    const state = new Uint8Array(nodes.length); // 0 new, 1 on stack, 2 done
    const order: number[] = [];
    const visit = (start: number): void => {
      const stack: [number, number][] = [[start, 0]];
      state[start] = 1;
      while (stack.length > 0) {
        const top = stack[stack.length - 1]!;
        const [i, k] = top;
        const ins = nodes[i]!.input ?? [];
        if (k < ins.length) {
          top[1] = k + 1;
          const name = ins[k]!;
          if (!name) continue;
          const p = producerIdx.get(name);
          if (p === undefined) {
            if (!this.consts.has(name) && name !== this.inputName) {
              this.fail(`node "${this.nodeLabel(nodes[i]!, i)}" reads "${name}", which nothing in the graph produces`);
            }
            continue;
          }
          if (state[p] === 1) this.fail(`the graph has a cycle through node "${this.nodeLabel(nodes[p]!, p)}"`);
          if (state[p] === 0) {
            state[p] = 1;
            stack.push([p, 0]);
          }
        } else {
          state[i] = 2;
          order.push(i);
          stack.pop();
        }
      }
    };
    for (let i = 0; i < nodes.length; i++) if (state[i] === 0) visit(i);
    return order;
  }

  private attrs(node: NodeLike): AttrBag & { str(name: string, fallback: string): string } {
    const map = new Map<string, AttributeLike>();
    for (const a of node.attribute ?? []) if (a.name) map.set(a.name, a);
    const readAttrTensor = (t: TensorProtoLike, name: string): ConstTensor =>
      this.readTensorOrFail(t, `attribute "${name}" of node "${node.name ?? ''}"`);
    return {
      has: (name) => map.has(name),
      int(name, fallback) {
        const a = map.get(name);
        return a ? num(a.i) : fallback;
      },
      ints(name) {
        const a = map.get(name);
        if (!a) return undefined;
        if (a.type === 7 || (a.ints && a.ints.length > 0)) return (a.ints ?? []).map(num);
        return undefined;
      },
      float(name, fallback) {
        const a = map.get(name);
        return a ? (a.f ?? 0) : fallback;
      },
      floats(name) {
        const a = map.get(name);
        if (!a) return undefined;
        if (a.type === 6 || (a.floats && a.floats.length > 0)) return [...(a.floats ?? [])];
        return undefined;
      },
      tensor(name) {
        const a = map.get(name);
        if (!a?.t) return undefined;
        return readAttrTensor(a.t, name);
      },
      str(name, fallback) {
        const a = map.get(name);
        // protobufjs leaves an absent bytes field as its (non-Uint8Array) default.
        return a?.s instanceof Uint8Array && a.s.byteLength > 0 ? new TextDecoder().decode(a.s) : fallback;
      },
    };
  }

  private visit(node: NodeLike, index: number): void {
    const op = node.opType ?? '';
    const raw = node.input ?? [];
    const ins = raw.map((n) => (n ? this.resolve(n) : ''));
    const outs = node.output ?? [];
    if (ins.some((n) => n && this.poisoned.has(n))) {
      for (const o of outs) if (o) this.poisoned.add(o);
      return;
    }
    const allConst = ins.every((n) => !n || this.consts.has(n));
    const shapeOnly = (op === 'Shape' || op === 'Size') && !!ins[0] && (this.shapes.has(ins[0]) || this.consts.has(ins[0]));
    if (FOLDABLE_OPS.has(op) && (allConst || shapeOnly)) {
      this.fold(node, index, op, ins, outs);
      return;
    }
    const at = this.attrs(node);
    const ctx = new NodeCtx(this, node, index, op, ins, raw, at);
    const mapping = (node.domain ?? '') === '' || node.domain === 'ai.onnx' ? ONNX_MAPPINGS.get(op) : undefined;
    if (mapping) {
      mapping.map(ctx);
      return;
    }
    if (!RUNTIME_OPS.has(op)) {
      this.markUnsupported(op, node, index);
      return;
    }
    switch (op) {
      case 'Gemm':
        return this.gemm(ctx, at);
      case 'MatMul':
        return this.matmul(ctx);
      case 'MaxPool':
      case 'AveragePool':
        return this.pool(ctx, at);
      case 'ReduceMean':
        return this.reduceMean(ctx, at);
      case 'Add':
        return this.add(ctx);
      case 'Slice':
        return this.slice(ctx, at);
    }
  }

  private fold(node: NodeLike, index: number, op: string, ins: string[], outs: string[]): void {
    const at = this.attrs(node);
    let res: ConstTensor[];
    try {
      res = evaluate(
        op,
        ins.map((n) => (n ? this.consts.get(n) : undefined)),
        ins.map((n) => (n ? (this.shapes.get(n) ?? this.consts.get(n)?.shape) : undefined)),
        at,
        this.budget,
      );
    } catch (e) {
      if (e instanceof FoldError || e instanceof ImportLimitError) this.fail(`node "${clipName(this.nodeLabel(node, index))}" (${op}): ${e.message}`);
      throw e;
    }
    res.forEach((t, i) => {
      const o = outs[i];
      if (o) this.consts.set(o, t);
    });
    const shapeOnlyOps = ['Transpose', 'Reshape', 'Identity', 'Dropout', 'Cast', 'Squeeze', 'Unsqueeze', 'Flatten'];
    if (shapeOnlyOps.includes(op) && ins[0] && outs[0]) this.origin.set(outs[0], this.origin.get(ins[0]) ?? ins[0]);
  }

  shapeOf(name: string): number[] {
    const s = this.shapes.get(name);
    if (!s) this.fail(`internal: the shape of "${name}" is unknown`);
    return s;
  }

  isConst(name: string): boolean {
    return this.consts.has(name);
  }

  constOf(name: string): ConstTensor | undefined {
    return this.consts.get(name);
  }

  producerOf(value: string): Pending | undefined {
    return this.producer.get(value);
  }

  consumerCount(value: string): number {
    return this.consumers.get(value) ?? 0;
  }

  isGraphOutput(value: string): boolean {
    return this.graphOutputs.has(value);
  }

  setAlias(output: string, value: string): void {
    this.alias.set(output, value);
  }

  /** A layer now writes `output` (a following node was fused into it); the value it wrote before is gone. */
  retarget(layer: PendingLayer, output: string, shape: number[]): void {
    this.producer.delete(layer.output);
    layer.output = output;
    this.producer.set(output, layer as Pending);
    this.shapes.set(output, shape);
  }

  note(message: string): void {
    this.notes.push(message);
  }

  /** Module name from a weight initializer, following folded transposes back to the initializer. */
  private moduleFromWeight(rawName: string | undefined): string | undefined {
    if (!rawName) return undefined;
    const init = this.origin.get(rawName) ?? rawName;
    if (!this.initializerNames.has(init)) return undefined;
    const m = /^(.+)\.weight$/.exec(init);
    return m?.[1] === undefined ? undefined : clipName(m[1]);
  }

  emit(
    ctx: NodeCtx,
    op: OpType,
    inputs: string[],
    attrs: Record<string, AttrValue>,
    params: Record<string, Tensor>,
    outShape: number[],
    output?: string,
    weightInput?: number,
  ): Pending {
    const out = output ?? ctx.out();
    const bad = shapeProblem(outShape, 'its output', false);
    if (bad) ctx.error(bad);
    if (this.pending.length >= IMPORT_LIMITS.maxNodes) this.fail(`the graph has more than ${IMPORT_LIMITS.maxNodes} layers`);
    const p: Pending = { op, inputs, output: out, attrs, params, onnxName: ctx.node.name ?? '' };
    const moduleName = weightInput !== undefined ? this.moduleFromWeight(ctx.raw[weightInput]) : undefined;
    if (moduleName) p.moduleName = moduleName;
    this.pending.push(p);
    this.producer.set(out, p);
    this.shapes.set(out, outShape);
    return p;
  }



  /** Two positive integers (strides, dilations, kernel sizes), within the input size limit. */
  private pair(ctx: NodeCtx, v: readonly number[], what: string): number[] {
    if (v.length !== 2 || !v.every((x) => Number.isSafeInteger(x) && x >= 1 && x <= IMPORT_LIMITS.maxInputSide)) {
      ctx.error(`${what} [${v.slice(0, 8).join(', ')}] should be two integers from 1 to ${IMPORT_LIMITS.maxInputSide}`);
    }
    return [...v];
  }

  /** A constant as float32 for a layer parameter: the same array when it already is, else a reserved copy. */
  private f32(t: ConstTensor, what: string): Float32Array {
    if (t.data instanceof Float32Array) return t.data;
    this.charge(t.data.length, what);
    return new Float32Array(t.data);
  }

  /** Explicit [top, left, bottom, right] pads, auto_pad resolved against the input size. */
  private resolvePads(
    ctx: NodeCtx,
    at: ReturnType<Importer['attrs']>,
    size: number[],
    kernel: readonly number[],
    stride: readonly number[],
    dilation: readonly number[],
  ): number[] {
    const autoPad = at.str('auto_pad', 'NOTSET');
    if (autoPad === 'NOTSET' || autoPad === '') {
      const p = at.ints('pads') ?? [0, 0, 0, 0];
      if (p.length !== 4) ctx.error(`pads [${p.slice(0, 8).join(', ')}] should have 4 values`);
      if (p.some((v) => v < 0)) ctx.error('negative pads are not supported');
      if (!p.every((v) => Number.isSafeInteger(v) && v <= IMPORT_LIMITS.maxInputSide)) ctx.error(`pads [${p.join(', ')}] should be integers up to ${IMPORT_LIMITS.maxInputSide}`);
      return [...p];
    }
    if (autoPad === 'VALID') return [0, 0, 0, 0];
    if (autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') ctx.error(`auto_pad ${autoPad} is not supported`);
    const begin: number[] = [];
    const end: number[] = [];
    for (let i = 0; i < 2; i++) {
      const out = Math.ceil(size[i]! / stride[i]!);
      const total = Math.max((out - 1) * stride[i]! + (kernel[i]! - 1) * dilation[i]! + 1 - size[i]!, 0);
      const small = Math.floor(total / 2);
      const b = autoPad === 'SAME_UPPER' ? small : total - small;
      begin.push(b);
      end.push(total - b);
    }
    return [begin[0]!, begin[1]!, end[0]!, end[1]!];
  }

  private gemm(ctx: NodeCtx, at: ReturnType<Importer['attrs']>): void {
    if (at.int('transA', 0) !== 0) ctx.error('transA=1 is not supported');
    const x = ctx.rt(0);
    const s = ctx.rank(x, 2, 'Gemm needs a 2D input');
    const b = ctx.param(1, 'the weight');
    if (b.shape.length !== 2) ctx.error(`the weight has shape [${b.shape.join(', ')}], 2D expected`);
    const transB = at.int('transB', 0) !== 0;
    const [out, inF] = (transB ? b.shape : [b.shape[1], b.shape[0]]) as [number, number];
    if (inF !== s[1]) ctx.error(`the weight [${b.shape.join(', ')}]${transB ? '' : ' (transposed)'} does not fit an input of ${s[1]} features`);
    if (b.data.length === 0) ctx.error(`the weight has shape [${b.shape.join(', ')}], which holds nothing`);
    const wt = transB ? b : this.transpose(ctx, b);
    const alpha = at.float('alpha', 1);
    const beta = at.float('beta', 1);
    let w = this.f32(wt, 'the weight');
    if (alpha !== 1) {
      this.charge(w.length, 'the scaled weight');
      w = w.map((v) => v * alpha);
    }
    const params: Record<string, Tensor> = { weight: tensor([out, inF], w) };
    if (ctx.ins[2]) {
      const c = ctx.param(2, 'the bias');
      const bias = this.perChannel(ctx, c, out, 2, 'the bias');
      if (beta !== 1) for (let i = 0; i < bias.length; i++) bias[i] = bias[i]! * beta;
      params.bias = tensor([out], bias);
    }
    this.emit(ctx, 'linear', [x], {}, params, [s[0]!, out], undefined, 1);
  }

  private matmul(ctx: NodeCtx): void {
    const x = ctx.rt(0);
    const s = ctx.rank(x, 2, 'MatMul is supported on 2D inputs with a constant weight');
    const b = ctx.param(1, 'the weight');
    if (b.shape.length !== 2 || b.shape[0] !== s[1]) {
      ctx.error(`the weight [${b.shape.join(', ')}] does not fit an input of ${s[1]} features`);
    }
    if (b.data.length === 0) ctx.error(`the weight has shape [${b.shape.join(', ')}], which holds nothing`);
    const wt = this.transpose(ctx, b);
    this.emit(ctx, 'linear', [x], {}, { weight: tensor(wt.shape, this.f32(wt, 'the weight')) }, [s[0]!, wt.shape[0]!], undefined, 1);
  }

  /** A 2D constant transposed, within the memory budget. */
  private transpose(ctx: NodeCtx, b: ConstTensor): ConstTensor {
    return ctx.guard(() => transpose2d(b, this.budget));
  }

  /**
   * A constant that broadcasts along axis 1 only (per channel / per output feature) against a value of rank `rank`:
   * returns its `channels` values (a single value is repeated). Throws otherwise.
   */
  private perChannel(ctx: NodeCtx, c: ConstTensor, channels: number, rank: number, what: string): Float32Array {
    const n = c.data.length;
    if (n === 1) {
      this.charge(channels, what);
      return new Float32Array(channels).fill(c.data[0]!);
    }
    const aligned = [...new Array<number>(Math.max(0, rank - c.shape.length)).fill(1), ...c.shape];
    const ok =
      n === channels && aligned.length === rank && aligned.every((d, i) => (i === 1 ? d === channels : d === 1));
    if (!ok) ctx.error(`${what} has shape [${c.shape.join(', ')}]; one value per channel (${channels}) expected`);
    this.charge(n, what);
    return new Float32Array(c.data);
  }

  private pool(ctx: NodeCtx, at: ReturnType<Importer['attrs']>): void {
    const x = ctx.rt(0);
    const s = ctx.rank(x, 4, 'only 2D pooling (NCHW input) is supported');
    const kernelAttr = at.ints('kernel_shape');
    if (!kernelAttr || kernelAttr.length !== 2) ctx.error('kernel_shape must list 2 sizes');
    const kernel = this.pair(ctx, kernelAttr, 'kernel_shape');
    const stride = this.pair(ctx, at.ints('strides') ?? [1, 1], 'strides');
    const dilation = this.pair(ctx, at.ints('dilations') ?? [1, 1], 'dilations');
    const pads = this.resolvePads(ctx, at, [s[2]!, s[3]!], kernel, stride, dilation);
    const size = (i: number, ceil: boolean): number => {
      const span = s[2 + i]! + pads[i]! + pads[i + 2]! - dilation[i]! * (kernel[i]! - 1) - 1;
      let o = (ceil ? Math.ceil(span / stride[i]!) : Math.floor(span / stride[i]!)) + 1;
      // The last window must start inside the input or its leading padding.
      if (ceil && (o - 1) * stride[i]! >= s[2 + i]! + pads[i]!) o--;
      return o;
    };
    const oh = size(0, false);
    const ow = size(1, false);
    if (at.int('ceil_mode', 0) === 1 && (size(0, true) !== oh || size(1, true) !== ow)) {
      ctx.error('ceil_mode=1 is unsupported (it changes the output size here)');
    }
    if (oh <= 0 || ow <= 0) ctx.error(`the output would be empty (input ${s[2]}x${s[3]})`);
    if (ctx.op === 'MaxPool') {
      if (ctx.node.output?.[1] && this.consumers.get(ctx.node.output[1])) {
        ctx.error('the indices output is not supported');
      }
      this.emit(ctx, 'maxpool2d', [x], { kernel: [...kernel], stride: [...stride], pads, dilation: [...dilation] }, {}, [
        s[0]!,
        s[1]!,
        oh,
        ow,
      ]);
    } else {
      if (dilation.some((d) => d !== 1)) ctx.error('dilated average pooling is not supported');
      const countIncludePad = at.int('count_include_pad', 0) ? 1 : 0;
      this.emit(ctx, 'avgpool2d', [x], { kernel: [...kernel], stride: [...stride], pads, countIncludePad }, {}, [
        s[0]!,
        s[1]!,
        oh,
        ow,
      ]);
    }
  }


  private reduceMean(ctx: NodeCtx, at: ReturnType<Importer['attrs']>): void {
    const x = ctx.rt(0);
    const s = ctx.rank(x, 4, 'ReduceMean is supported as a global average pool over H and W of an NCHW tensor');
    const axes = ctx.ins[1] ? ctx.ints(1, 'the axes') : at.ints('axes');
    const norm = (axes ?? []).map((a) => (a < 0 ? a + 4 : a)).sort();
    if (norm.length !== 2 || norm[0] !== 2 || norm[1] !== 3) {
      ctx.error(`ReduceMean over axes [${(axes ?? []).join(', ')}] is not supported (only over H and W, axes [2, 3])`);
    }
    const keep = at.int('keepdims', 1) === 1;
    const gapShape = [s[0]!, s[1]!, 1, 1];
    if (keep) {
      this.emit(ctx, 'globalavgpool', [x], {}, {}, gapShape);
      return;
    }
    const mid = `${ctx.out()}/gap`;
    this.emit(ctx, 'globalavgpool', [x], {}, {}, gapShape, mid);
    this.emit(ctx, 'reshape', [mid], { shape: [s[0]!, s[1]!] }, {}, [s[0]!, s[1]!]);
  }


  private add(ctx: NodeCtx): void {
    const [a, b] = [ctx.ins[0] ?? '', ctx.ins[1] ?? ''];
    const ca = this.consts.has(a);
    const cb = this.consts.has(b);
    if (!ca && !cb) {
      const sa = this.shapeOf(a);
      const sb = this.shapeOf(b);
      if (sa.length !== sb.length || sa.some((d, i) => d !== sb[i])) {
        ctx.error(`adding [${sa.join(', ')}] and [${sb.join(', ')}] needs broadcasting, which is not supported`);
      }
      this.emit(ctx, 'add', [a, b], {}, {}, [...sa]);
      return;
    }
    // x + constant: only as a bias after a Linear/Conv (MatMul + Add is how some exporters write nn.Linear).
    const x = ca ? b : a;
    const rawX = ca ? ctx.raw[1] : ctx.raw[0];
    const c = this.consts.get(ca ? a : b)!;
    const p = this.producer.get(x);
    const single = rawX === x && (this.consumers.get(x) ?? 0) === 1 && !this.graphOutputs.has(x);
    if (!p || (p.op !== 'linear' && p.op !== 'conv2d') || !single) {
      this.markUnsupported('Add of a constant', ctx.node, ctx.index);
      return;
    }
    const out = p.params.weight!.shape[0]!;
    const add = this.perChannel(ctx, c, out, this.shapeOf(x).length, 'the added constant');
    this.charge(out, 'the bias');
    const old = p.params.bias?.data;
    const bias = new Float32Array(out);
    for (let o = 0; o < out; o++) bias[o] = (old ? old[o]! : 0) + add[o]!;
    p.params.bias = tensor([out], bias);
    // The layer now produces the Add's value: take over its name (x fed nothing else).
    const y = ctx.out();
    this.producer.delete(x);
    p.output = y;
    this.producer.set(y, p);
    this.shapes.set(y, this.shapeOf(x));
  }


  private slice(ctx: NodeCtx, at: ReturnType<Importer['attrs']>): void {
    const x = ctx.rt(0);
    const s = this.shapeOf(x);
    const opt = (i: number, what: string): number[] | undefined => (ctx.ins[i] ? ctx.ints(i, what) : undefined);
    const starts = opt(1, 'starts') ?? at.ints('starts');
    const ends = opt(2, 'ends') ?? at.ints('ends');
    const axes = opt(3, 'axes') ?? (ctx.ins.length < 2 ? at.ints('axes') : undefined);
    const steps = opt(4, 'steps');
    if (!starts || !ends) ctx.error('starts and ends must be constants');
    const spec = ctx.guard(() => normaliseSlice(s, starts, ends, axes, steps));
    if (spec.steps.some((t) => t < 0)) ctx.error('negative slice steps are not supported');
    if (spec.counts.some((c) => c === 0)) ctx.error('the slice is empty');
    if (spec.counts.every((c, i) => c === s[i])) {
      this.alias.set(ctx.out(), x); // takes everything
      return;
    }
    this.emit(
      ctx,
      'slice',
      [x],
      { starts: spec.starts, ends: spec.ends, axes: s.map((_, i) => i), steps: spec.steps },
      {},
      spec.counts,
    );
  }

  private finish(outputName: string, inputShape: number[]): Graph {
    const out = this.resolve(outputName);
    if (this.consts.has(out)) this.fail(`the output "${outputName}" is a constant; the model computes nothing from its input`);
    if (out === this.inputName) this.fail('the model has no layers between its input and its output');
    if (!this.producer.has(out)) this.fail(`the output "${outputName}" is not computed by any supported layer`);

    // Keep only what the output depends on.
    const live = new Set<Pending>();
    const stack = [out];
    while (stack.length > 0) {
      const v = stack.pop()!;
      const p = this.producer.get(v);
      if (!p || live.has(p)) continue;
      live.add(p);
      stack.push(...p.inputs);
    }
    const kept = this.pending.filter((p) => live.has(p));
    for (const p of kept) {
      for (const i of p.inputs) {
        if (i !== this.inputName && !this.producer.has(i)) this.fail(`internal: "${i}" has no producer`);
      }
    }

    const names = this.nameLayers(kept);
    const nodes: GraphNode[] = kept.map((p, i) => ({
      name: names[i]!,
      op: p.op,
      inputs: [...p.inputs],
      output: p.output,
      attrs: p.attrs,
      params: p.params,
    }));
    const graph: Graph = {
      name: stripExt(this.file),
      input: { name: this.inputName, shape: inputShape },
      output: out,
      nodes,
      ...(this.notes.length > 0 ? { notes: [...new Set(this.notes)] } : {}),
    };
    return graph;
  }

  /**
   * PyTorch module names where recoverable: the weight's prefix, else the TorchScript exporter's scope path; nodes
   * that share a scope (e.g. a residual block's Slice/Pad/Add) get the op as a suffix ("blocks.3.add"); the rest
   * are "<op>_<k>" with k counting that op type. Collisions get _1, _2, ...
   */
  private nameLayers(nodes: readonly Pending[]): string[] {
    // Names come from the file: cut long ones first (the work below is quadratic in a name's length).
    const scopes = nodes.map((p) => (p.moduleName ? '' : clipName(scopeFromNodeName(clipName(p.onnxName)))));
    const perScope = new Map<string, number>();
    for (const s of scopes) if (s) perScope.set(s, (perScope.get(s) ?? 0) + 1);
    // A scope that encloses other modules ("blocks.0" around "blocks.0.conv1") is a container: ops written in its
    // forward() (the residual Add) are named "<scope>.<op>" even when they are its only op.
    const enclosing = new Set<string>(); // every proper dotted prefix of a scope or module name
    for (const [i, p] of nodes.entries()) {
      const parts = (p.moduleName ?? scopes[i]!).split('.');
      for (let k = 1; k < parts.length; k++) enclosing.add(parts.slice(0, k).join('.'));
    }
    const isContainer = (s: string): boolean => enclosing.has(s);
    const proposed: (string | undefined)[] = nodes.map((p, i) => {
      if (p.moduleName) return p.moduleName;
      const s = scopes[i]!;
      if (!s) return undefined;
      if (perScope.get(s) === 1 && !isContainer(s)) return s;
      const leaf = clipName((clipName(p.onnxName).split('/').pop() ?? p.op).toLowerCase());
      return `${s}.${leaf}`;
    });
    const used = new Set<string>();
    const next = new Map<string, number>(); // per base name, the suffix to try next (keeps this linear)
    const unique = (base: string): string => {
      let n = base;
      let k = next.get(base) ?? 1;
      for (; used.has(n); k++) n = `${base}_${k}`;
      next.set(base, k);
      used.add(n);
      return n;
    };
    const out = new Array<string>(nodes.length);
    proposed.forEach((n, i) => {
      if (n) out[i] = unique(n);
    });
    const perOp = new Map<string, number>();
    nodes.forEach((p, i) => {
      const k = perOp.get(p.op) ?? 0;
      perOp.set(p.op, k + 1);
      if (!proposed[i]) out[i] = unique(`${p.op}_${k}`);
    });
    return out;
  }

  failAt(ctx: NodeCtx, message: string): never {
    this.fail(`node "${this.nodeLabel(ctx.node, ctx.index)}" (${ctx.op}): ${message}`);
  }
}

class MissingSideFile extends Error {
  constructor(readonly location: string) {
    super(`missing side file ${location}`);
  }
}

/** One node being imported: the OnnxNode that op mappings see, with errors that name the node. */
class NodeCtx implements OnnxNode {
  readonly outs: readonly string[];
  constructor(
    private readonly imp: Importer,
    readonly node: NodeLike,
    readonly index: number,
    readonly op: string,
    /** Resolved input names ('' for omitted optional inputs). */
    readonly ins: readonly string[],
    /** Input names as written in the file. */
    readonly raw: readonly string[],
    readonly attr: OnnxAttributes,
  ) {
    this.outs = (node.output ?? []).map((o) => o ?? '');
  }

  get opType(): string {
    return this.op;
  }

  error(message: string): never {
    this.imp.failAt(this, message);
  }

  out(k = 0): string {
    const o = this.node.output?.[k];
    if (!o) this.error(k === 0 ? 'it has no output' : `it has no output ${k}`);
    return o;
  }

  isConst(i: number): boolean {
    const n = this.ins[i];
    return !!n && this.imp.isConst(n);
  }

  /** A computed (non-constant) input. */
  rt(i: number): string {
    const n = this.ins[i];
    if (!n) this.error(`input ${i} is missing`);
    if (this.imp.isConst(n)) this.error(`input ${i} is a constant; layers must compute on the model input`);
    this.imp.shapeOf(n);
    return n;
  }

  /** A constant input (initializer or folded). */
  cst(i: number, what: string): ConstTensor {
    const n = this.ins[i];
    if (!n) this.error(`${what} is missing`);
    const t = this.imp.constOf(n);
    if (!t) this.error(`${what} ("${n}") must be a constant`);
    return t;
  }

  /** A constant input as integers (shapes, axes, pads). */
  ints(i: number, what: string): number[] {
    const t = this.cst(i, what);
    return this.guard(() => toInts(t));
  }

  /** A constant float input: a weight, bias or statistic. */
  param(i: number, what: string): ConstTensor {
    const t = this.cst(i, what);
    if (!isFloatType(t.dtype)) this.error(`${what} is ${dtypeName(t.dtype)}, float expected`);
    return t;
  }

  f32(t: ConstValue, what: string): Float32Array {
    if (t.data instanceof Float32Array) return t.data;
    this.charge(t.data.length, what);
    return new Float32Array(t.data);
  }

  charge(count: number, what: string): void {
    this.imp.charge(count, what);
  }

  shapeOf(value: string): number[] {
    return this.imp.shapeOf(value);
  }

  rank(name: string, r: number, why?: string): number[] {
    const s = this.imp.shapeOf(name);
    if (s.length !== r) this.error(why ?? `a rank-${r} input is expected, got [${s.join(', ')}]`);
    return s;
  }

  producer(value: string): PendingLayer | undefined {
    return this.imp.producerOf(value);
  }

  consumers(value: string): number {
    return this.imp.consumerCount(value);
  }

  isGraphOutput(value: string): boolean {
    return this.imp.isGraphOutput(value);
  }

  emit(op: OpType, inputs: string[], attrs: Record<string, AttrValue>, params: Record<string, Tensor>, outShape: number[], options: EmitOptions = {}): string {
    return this.imp.emit(this, op, inputs, attrs, params, outShape, options.output, options.weightInput).output;
  }

  alias(output: string, value: string): void {
    this.imp.setAlias(output, value);
  }

  retarget(layer: PendingLayer, output: string, shape: number[]): void {
    this.imp.retarget(layer, output, shape);
  }

  note(message: string): void {
    this.imp.note(message);
  }

  unsupported(label: string): void {
    this.imp.markUnsupported(label, this.node, this.index);
  }

  /** Runs a shape computation, turning FoldErrors into errors that name the node. */
  guard<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof FoldError) this.error(e.message);
      throw e;
    }
  }
}

/**
 * The external-data files an ONNX model refers to (e.g. ["model.onnx.data"]), so that a reader can fetch them
 * before importing. Empty for self-contained models and for bytes that are not an ONNX model. Locations that would
 * leave the model's folder (absolute, "..", URLs) are left out.
 */
export function onnxExternalFiles(bytes: Uint8Array): string[] {
  let model: ModelLike;
  try {
    model = onnxModelType().decode(bytes) as unknown as ModelLike;
  } catch {
    return [];
  }
  const files = new Set<string>();
  const visit = (t: TensorProtoLike | null | undefined): void => {
    const loc = t?.externalData?.find((e) => e.key === 'location')?.value;
    // Only names beside the model: readers must never be sent to "../../etc/passwd" or a URL (the importer then
    // refuses the model with a message saying why).
    if (loc && isSafeRelativePath(loc)) files.add(loc);
  };
  for (const init of model.graph?.initializer ?? []) visit(init);
  for (const n of model.graph?.node ?? []) for (const a of n.attribute ?? []) visit(a.t);
  return [...files];
}

/** Op types importOnnx maps onto layers or folds away at load. */
export const SUPPORTED_ONNX_OPS: readonly string[] = [...new Set([...ONNX_MAPPINGS.keys(), ...RUNTIME_OPS, ...FOLDABLE_OPS])].sort();

