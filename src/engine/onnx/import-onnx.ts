/**
 * ONNX -> Graph importer. Decodes a ModelProto with protobufjs's static decoder (./onnx-proto.generated.js, no
 * code generation at run time), folds everything that is constant at load time (the TorchScript exporter's
 * Shape/Gather/Concat chains, Constant nodes, weight transposes), maps the remaining operators onto the engine's
 * layer kinds with fully resolved attributes (explicit pads, resolved reshape targets, normalised slices) and names
 * layers after the PyTorch modules they came from.
 */
import type { AttrValue, Graph, GraphNode, OpType, Tensor } from '../graph';
import { onnx } from './onnx-proto.generated';
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
  num,
  readTensor,
  toInts,
} from './onnx-const';
import type { ConstValue, EmitOptions, OnnxAttributes, OnnxNode, PendingLayer } from '../ops/import-context';
import { ONNX_MAPPINGS } from './onnx-table';
import { fuseOnnxPatterns, type FusionAttribute, type FusionNode } from './onnx-fusions';
import { AllocationBudget, IMPORT_LIMITS, ImportLimitError, clipMessage, clipName, inputProblem, isSafeRelativePath, shapeProblem } from './limits';

export class ModelImportError extends Error {
  override name = 'ModelImportError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(clipMessage(message), options);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Decoded protobuf shapes (only the fields read here).

// The attribute and node shapes are the pre-pass's (./onnx-fusions.ts): one declaration of the decoded protobuf.
type AttributeLike = FusionAttribute;
type NodeLike = FusionNode;
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

/**
 * Decodes a ModelProto. The decoder is protobufjs's static code generated from ./onnx-schema.ts (`npm run
 * gen:onnx-proto`): reflection would compile it at run time with `Function()`, which the app's Content Security
 * Policy forbids (docs/security.md).
 */
function decodeModel(bytes: Uint8Array): ModelLike {
  return onnx.ModelProto.decode(bytes) as unknown as ModelLike;
}

/**
 * What protobufjs's reader and decoders throw for bytes that are not a well-formed message: a read past the end,
 * a bad varint, tag, wire type or group, nesting past its recursion limit, a missing required field.
 */
const MALFORMED_PROTOBUF =
  /^(index out of range|invalid (varint|tag|length) encoding|invalid wire type|illegal tag|invalid end group tag|missing end group|max depth exceeded|illegal buffer|missing required)/;

/**
 * A string field that is not valid UTF-8: proto3 strings are checked, and the browser's strict TextDecoder throws
 * a TypeError (Node: "The encoded data was not valid for encoding utf-8"; Chromium: "Failed to execute 'decode' on
 * 'TextDecoder': The encoded data was not valid."; Firefox: "TextDecoder.decode: Decoding failed.").
 */
const INVALID_UTF8 = /encoded data was not valid|TextDecoder.*(decod|fail)|decoding failed/i;

/**
 * Says why decoding a model's bytes failed. `malformed` only when the bytes are not a well-formed protobuf (the
 * file is damaged or is something else); any other failure (the page's Content Security Policy forbidding code
 * generation, memory running out, a bug) is named as what it is, so that a good file is never called damaged.
 */
export function describeDecodeFailure(e: unknown): { malformed: boolean; reason: string } {
  const name = e instanceof Error ? e.name : typeof e;
  const message = e instanceof Error ? e.message : String(e);
  const what = `${name}: ${message}`;
  if (
    ((name === 'Error' || name === 'RangeError' || name === 'ProtocolError') && MALFORMED_PROTOBUF.test(message)) ||
    (name === 'TypeError' && INVALID_UTF8.test(message))
  ) {
    return { malformed: true, reason: `not an ONNX model, or the file is damaged (${message})` };
  }
  if (name === 'EvalError' || /unsafe-eval|Content Security Policy|code generation from strings/i.test(message)) {
    return {
      malformed: false,
      reason: `the model could not be decoded because this page's Content Security Policy forbids code generation (eval, Function); the file itself may be fine (${what})`,
    };
  }
  if (/allocation failed|out of memory|Invalid (typed )?array length|Invalid string length|Array buffer/i.test(message)) {
    return { malformed: false, reason: `ran out of memory while decoding the model (${what})` };
  }
  if (/call stack|too much recursion/i.test(message)) {
    return { malformed: false, reason: `the decoder ran out of stack while decoding the model (${what})` };
  }
  return { malformed: false, reason: `the model could not be decoded (${what})` };
}


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
      model = decodeModel(bytes);
    } catch (e) {
      const { malformed, reason } = describeDecodeFailure(e);
      if (malformed) this.fail(reason);
      // Not the file's fault: keep the error as the cause (the fuzzers count a cause as a bug to look at).
      throw new ModelImportError(`${this.file}: ${reason}`, { cause: e });
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
      const known = (domain === '' || domain === 'ai.onnx') && (ONNX_MAPPINGS.has(op) || FOLDABLE_OPS.has(op));
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
    this.markUnsupported(op, node, index);
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
    // A mapping may read a value it has just made an alias of (a slice that takes everything): resolve it.
    const p: Pending = { op, inputs: inputs.map((i) => this.resolve(i)), output: out, attrs, params, onnxName: ctx.node.name ?? '' };
    const moduleName = weightInput !== undefined ? this.moduleFromWeight(ctx.raw[weightInput]) : undefined;
    if (moduleName) p.moduleName = moduleName;
    this.pending.push(p);
    this.producer.set(out, p);
    this.shapes.set(out, outShape);
    return p;
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
    // A weight read by several nodes, one of them in the weight's module scope: the TorchScript exporter merges
    // equal initializers (a ViT's LayerNorm weights, all ones, become one "...ln_1.weight"), so the nodes in other
    // scopes are named by their scope ("encoder.layers.encoder_layer_1.ln_2"), as nodes without a weight.
    const scopeOf = (p: Pending): string => clipName(scopeFromNodeName(clipName(p.onnxName)));
    const owned = new Set<string>();
    for (const p of nodes) if (p.moduleName && scopeOf(p) === p.moduleName) owned.add(p.moduleName);
    nodes = nodes.map((p) => {
      if (!p.moduleName || !owned.has(p.moduleName)) return p;
      const scope = scopeOf(p);
      if (!scope || scope === p.moduleName) return p;
      const { moduleName: _merged, ...rest } = p;
      return rest;
    });
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
    model = decodeModel(bytes);
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
export const SUPPORTED_ONNX_OPS: readonly string[] = [...new Set([...ONNX_MAPPINGS.keys(), ...FOLDABLE_OPS])].sort();

