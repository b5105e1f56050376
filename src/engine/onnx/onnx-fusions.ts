/**
 * Import pre-pass: operator patterns that older exporters write out op by op become the one ONNX operator they
 * compute, so that the op table maps them like any other node. Runs on the decoded node list before anything is
 * mapped (import-onnx.ts), and only rewrites a pattern whose intermediate values feed nothing else.
 *
 * - LayerNorm written out (torch.onnx below opset 17, F.layer_norm; ConvNeXt's channels-first LayerNorm):
 *     mean = ReduceMean(x, axes=[a]); d = Sub(x, mean); p = Pow(d, 2) (or Mul(d, d)); v = ReduceMean(p, axes=[a]);
 *     s = Sqrt(Add(v, eps)); y = Div(d, s) [; Mul(y, gamma)] [; Add(., beta)]
 *   becomes LayerNormalization(x, gamma or 1, beta?) with axis a, epsilon eps and `single_axis` = 1 (a marker of
 *   this pre-pass: only axis a is normalised, where the ONNX operator would normalise a and every axis after it).
 *   gamma and beta must hold one value or have at most one axis longer than 1.
 * - Exact GELU written out (below opset 20): Div(x, sqrt 2) or Mul(x, 1/sqrt 2); Erf; Add 1; then the products
 *   with x and with 0.5 in either order (x * o * 0.5, x * 0.5 * o, o * 0.5 * x), constants on either side,
 *   becomes Gelu(x).
 * Constants (initializers or Constant nodes) are compared with a tolerance suited to float32 (1e-6 relative).
 */
import type { ConstValue } from '../ops/import-context';
import { num, readTensor, type LongLike, type TensorProtoLike } from './onnx-const';

export interface FusionAttribute {
  name?: string | null;
  type?: number | null;
  f?: number | null;
  i?: LongLike;
  s?: Uint8Array | null;
  t?: TensorProtoLike | null;
  floats?: number[] | null;
  ints?: LongLike[] | null;
}

/** The fields of a decoded NodeProto the pre-pass reads and writes. */
export interface FusionNode {
  input?: string[] | null;
  output?: string[] | null;
  name?: string | null;
  opType?: string | null;
  attribute?: FusionAttribute[] | null;
  domain?: string | null;
}

/** ONNX AttributeProto types. */
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
/** Largest Constant node tensor the pre-pass decodes (gamma and beta of a wide LayerNorm). */
const MAX_CONSTANT = 1 << 16;
const REL_TOL = 1e-6;

const isStandard = (n: FusionNode): boolean => !n.domain || n.domain === 'ai.onnx';
const attribute = (n: FusionNode, name: string): FusionAttribute | undefined => (n.attribute ?? []).find((a) => a.name === name);

/**
 * The node list with the patterns above replaced by single nodes (placed where each pattern's last node was, so the
 * order stays topological). `constant` reads an initializer; Constant nodes are read here. `graphOutputs` are the
 * values the graph returns (they count as consumers).
 */
export function fuseOnnxPatterns<N extends FusionNode>(
  nodes: readonly N[],
  constant: (name: string) => ConstValue | undefined,
  graphOutputs: readonly string[] = [],
): N[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output ?? []) if (o) producer.set(o, i);
  });
  const outputs = new Set(graphOutputs);
  // Live nodes: those a graph output depends on (all of them when no outputs are given). Dead nodes (the unused
  // Reciprocal an exporter may leave beside a LayerNorm) are no readers; those that read a fused value are dropped.
  const live = new Set<number>();
  if (outputs.size === 0) nodes.forEach((_, i) => live.add(i));
  const pending = [...outputs];
  while (pending.length > 0) {
    const p = producer.get(pending.pop()!);
    if (p === undefined || live.has(p)) continue;
    live.add(p);
    for (const v of nodes[p]!.input ?? []) if (v) pending.push(v);
  }
  const consumers = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    if (!live.has(i)) return;
    for (const v of n.input ?? []) {
      if (!v) continue;
      const list = consumers.get(v);
      if (list) list.push(i);
      else consumers.set(v, [i]);
    }
  });
  const names = new Set<string>([...producer.keys(), ...consumers.keys()]);

  const constantNode = new Map<string, FusionNode>();
  nodes.forEach((n) => {
    if (n.opType === 'Constant' && isStandard(n) && n.output?.[0]) constantNode.set(n.output[0], n);
  });
  // Identity of a constant (torch.onnx shares equal initializers, e.g. every LayerNorm weight of ones, that way).
  const identityOf = new Map<string, string>();
  nodes.forEach((n) => {
    if (n.opType === 'Identity' && isStandard(n) && n.output?.[0] && n.input?.[0]) identityOf.set(n.output[0], n.input[0]);
  });
  const constCache = new Map<string, ConstValue | null>();
  const constOf = (name: string | undefined, depth = 0): ConstValue | undefined => {
    if (!name) return undefined;
    const via = identityOf.get(name);
    if (via !== undefined && depth < 16) return constOf(via, depth + 1);
    if (!constCache.has(name)) constCache.set(name, constant(name) ?? readConstantNode(constantNode.get(name)) ?? null);
    return constCache.get(name) ?? undefined;
  };
  /** The single value of a constant input, if it is one. */
  const scalar = (name: string | undefined): number | undefined => {
    const c = constOf(name);
    return c && c.data.length === 1 ? c.data[0] : undefined;
  };
  const near = (name: string | undefined, target: number): boolean => {
    const v = scalar(name);
    return v !== undefined && Math.abs(v - target) <= REL_TOL * Math.abs(target);
  };

  const removed = new Set<number>();
  const inserted = new Map<number, FusionNode[]>();
  /** The node that reads `value`, when it is the only reader (and the value is no graph output). */
  const soleReader = (value: string | undefined, op?: string): number | undefined => {
    if (!value || outputs.has(value)) return undefined;
    const readers = consumers.get(value) ?? [];
    if (readers.length !== 1) return undefined;
    const i = readers[0]!;
    const n = nodes[i]!;
    return !removed.has(i) && isStandard(n) && (op === undefined || n.opType === op) ? i : undefined;
  };
  const readers = (value: string): number => (outputs.has(value) ? 1 : 0) + (consumers.get(value)?.length ?? 0);
  const out0 = (i: number): string => nodes[i]!.output?.[0] ?? '';
  const ins = (i: number): readonly string[] => nodes[i]!.input ?? [];
  /** For a binary node reading `value`, its other input (undefined when it reads `value` twice or not at all). */
  const other = (i: number, value: string): string | undefined => {
    const [a, b] = ins(i);
    if (ins(i).length !== 2 || a === b) return undefined;
    return a === value ? b : b === value ? a : undefined;
  };
  const fresh = (base: string): string => {
    let name = base;
    for (let k = 1; names.has(name); k++) name = `${base}_${k}`;
    names.add(name);
    return name;
  };
  const replace = (pattern: number[], make: FusionNode[]): void => {
    for (const i of pattern) removed.add(i);
    inserted.set(Math.max(...pattern), make);
  };

  /** The axes of a ReduceMean with keepdims 1, from its attribute or constant second input. */
  const reduceAxes = (i: number): number[] | undefined => {
    const n = nodes[i]!;
    if (n.opType !== 'ReduceMean' || !isStandard(n)) return undefined;
    const keep = attribute(n, 'keepdims');
    if (keep && num(keep.i) !== 1) return undefined;
    const noop = attribute(n, 'noop_with_empty_axes');
    if (noop && num(noop.i) !== 0) return undefined;
    if (ins(i)[1]) {
      const c = constOf(ins(i)[1]);
      return c ? Array.from(c.data, (v) => Number(v)) : undefined;
    }
    return attribute(n, 'axes')?.ints?.map(num);
  };

  /** A per-feature constant (gamma, beta): one value, or at most one axis longer than 1. */
  const perFeature = (name: string | undefined): boolean => {
    const c = constOf(name);
    return !!c && c.shape.filter((d) => d !== 1).length <= 1;
  };

  const fuseLayerNorm = (m1: number): void => {
    const axes = reduceAxes(m1);
    const x = ins(m1)[0];
    if (!axes || axes.length !== 1 || !x) return;
    const mean = out0(m1);
    const sub = soleReader(mean, 'Sub');
    if (sub === undefined || ins(sub)[0] !== x || ins(sub)[1] !== mean) return;
    const d = out0(sub);
    const dReaders = consumers.get(d) ?? [];
    if (outputs.has(d) || dReaders.length < 2 || dReaders.length > 3) return;
    // The square: Pow(d, 2) or Mul(d, d); the other reader of d is the Div.
    const sq = dReaders.find((i) => {
      const n = nodes[i]!;
      return (n.opType === 'Pow' && ins(i)[0] === d && near(ins(i)[1], 2)) || (n.opType === 'Mul' && ins(i)[0] === d && ins(i)[1] === d);
    });
    if (sq === undefined || removed.has(sq) || !isStandard(nodes[sq]!)) return;
    const div = dReaders.find((i) => i !== sq);
    const expected = nodes[sq]!.opType === 'Mul' ? 3 : 2;
    if (div === undefined || dReaders.length !== expected || dReaders.some((i) => i !== sq && i !== div)) return;
    if (nodes[div]!.opType !== 'Div' || !isStandard(nodes[div]!) || removed.has(div) || ins(div)[0] !== d) return;
    const m2 = soleReader(out0(sq), 'ReduceMean');
    const axes2 = m2 === undefined ? undefined : reduceAxes(m2);
    if (m2 === undefined || !axes2 || axes2.length !== 1 || axes2[0] !== axes[0] || ins(m2)[0] !== out0(sq)) return;
    const add = soleReader(out0(m2), 'Add');
    const epsName = add === undefined ? undefined : other(add, out0(m2));
    const eps = scalar(epsName);
    if (add === undefined || eps === undefined || !(eps >= 0)) return;
    const sqrt = soleReader(out0(add), 'Sqrt');
    if (sqrt === undefined || soleReader(out0(sqrt), 'Div') !== div || ins(div)[1] !== out0(sqrt)) return;
    const pattern = [m1, sub, sq, m2, add, sqrt, div];
    let y = out0(div);
    // Optional scale and shift by constants.
    let gamma: string | undefined;
    let beta: string | undefined;
    const mul = soleReader(y, 'Mul');
    const g = mul === undefined ? undefined : other(mul, y);
    if (mul !== undefined && perFeature(g)) {
      gamma = g;
      pattern.push(mul);
      y = out0(mul);
    }
    const shift = soleReader(y, 'Add');
    const b = shift === undefined ? undefined : other(shift, y);
    if (shift !== undefined && perFeature(b)) {
      beta = b;
      pattern.push(shift);
      y = out0(shift);
    }
    if (!y || pattern.some((i, k) => pattern.indexOf(i) !== k)) return;
    const made: FusionNode[] = [];
    if (!gamma) {
      gamma = fresh(`${y}::layernorm_scale`);
      made.push({ opType: 'Constant', domain: '', name: gamma, input: [], output: [gamma], attribute: [{ name: 'value_float', type: ATTR_FLOAT, f: 1 }] });
    }
    made.push({
      opType: 'LayerNormalization',
      domain: '',
      name: nodes[m1]!.name ?? '',
      input: beta ? [x, gamma, beta] : [x, gamma],
      output: [y],
      attribute: [
        { name: 'axis', type: ATTR_INT, i: axes[0]! },
        { name: 'epsilon', type: ATTR_FLOAT, f: eps },
        { name: 'single_axis', type: ATTR_INT, i: 1 },
      ],
    });
    replace(pattern, made);
  };

  const fuseGelu = (first: number): void => {
    const n = nodes[first]!;
    if (ins(first).length !== 2) return;
    const [a, b] = ins(first) as [string, string];
    // x / sqrt 2, or x * (1 / sqrt 2) with the constant on either side.
    const x = n.opType === 'Div' ? (near(b, Math.SQRT2) ? a : undefined) : near(b, Math.SQRT1_2) ? a : near(a, Math.SQRT1_2) ? b : undefined;
    if (!x) return;
    const erf = soleReader(out0(first), 'Erf');
    const one = erf === undefined ? undefined : soleReader(out0(erf), 'Add');
    if (erf === undefined || one === undefined || !near(other(one, out0(erf)), 1)) return;
    const o = out0(one);
    const half = (i: number, v: string): boolean => near(other(i, v), 0.5);
    // (A) x * o, then * 0.5;  (C) o * 0.5, then * x
    const m = soleReader(o, 'Mul');
    if (m !== undefined) {
      const last = soleReader(out0(m), 'Mul');
      if (other(m, o) === x && last !== undefined && half(last, out0(m))) return gelu([first, erf, one, m, last], x, out0(last));
      if (half(m, o) && last !== undefined && other(last, out0(m)) === x) return gelu([first, erf, one, m, last], x, out0(last));
    }
    // (B) x * 0.5 somewhere, then (x * 0.5) * o
    if (m !== undefined) {
      const h = other(m, o);
      const hp = h === undefined ? undefined : producer.get(h);
      if (hp !== undefined && !removed.has(hp) && nodes[hp]!.opType === 'Mul' && isStandard(nodes[hp]!) && other(hp, x) !== undefined && half(hp, x) && readers(h!) === 1) {
        return gelu([first, erf, one, hp, m], x, out0(m));
      }
    }
  };
  const gelu = (pattern: number[], x: string, y: string): void => {
    if (pattern.some((i) => removed.has(i)) || !y) return;
    replace(pattern, [{ opType: 'Gelu', domain: '', name: nodes[pattern[0]!]!.name ?? '', input: [x], output: [y], attribute: [] }]);
  };

  nodes.forEach((n, i) => {
    if (removed.has(i) || !isStandard(n)) return;
    if (n.opType === 'ReduceMean') fuseLayerNorm(i);
    else if (n.opType === 'Div' || n.opType === 'Mul') fuseGelu(i);
  });
  if (removed.size === 0) return [...nodes];
  // Values that no longer exist, and the dead nodes that read them (transitively).
  const made = new Set([...inserted.values()].flat().flatMap((n) => n.output ?? []));
  const gone = new Set([...removed].flatMap((i) => nodes[i]!.output ?? []).filter((o) => o && !made.has(o)));
  for (let changed = true; changed; ) {
    changed = false;
    nodes.forEach((n, i) => {
      if (live.has(i) || removed.has(i) || !(n.input ?? []).some((v) => gone.has(v))) return;
      removed.add(i);
      for (const o of n.output ?? []) if (o) gone.add(o);
      changed = true;
    });
  }
  const result: N[] = [];
  nodes.forEach((n, i) => {
    for (const m of inserted.get(i) ?? []) result.push(m as N);
    if (!removed.has(i)) result.push(n);
  });
  return result;
}

/** The value of a Constant node (value_float, value_floats or a small value tensor), if it is one. */
function readConstantNode(n: FusionNode | undefined): ConstValue | undefined {
  if (!n) return undefined;
  const value = attribute(n, 'value_float');
  if (value) return { dtype: 1, shape: [], data: Float32Array.of(value.f ?? 0) };
  const values = attribute(n, 'value_floats');
  if (values?.floats) return values.floats.length <= MAX_CONSTANT ? { dtype: 1, shape: [values.floats.length], data: Float32Array.from(values.floats) } : undefined;
  const t = attribute(n, 'value')?.t;
  if (!t) return undefined;
  const dims = (t.dims ?? []).map(num);
  if (dims.length > 8 || dims.reduce((a, d) => a * d, 1) > MAX_CONSTANT || t.dataLocation === 1) return undefined;
  try {
    return readTensor(t, () => {
      throw new Error('external data');
    });
  } catch {
    return undefined; // not a constant this pre-pass can read: the pattern is left as it is
  }
}
