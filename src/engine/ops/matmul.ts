import { attrNumber, shapeSize, type GraphNode, type Shape } from '../graph';
import type { TensorRef } from '../program';
import { fail, unsupportedRule, type OpDef, type RelevanceContext } from './op';
import type { OnnxNode } from './import-context';
import type { ParamModifier } from '../../rules/rule-program';

/** Ranks of the operands: [..., M, K] x [..., K, N] with the same leading (batch) axes. */
const MIN_RANK = 2;
const MAX_RANK = 6;

interface Geometry {
  readonly batch: number;
  readonly m: number;
  readonly k: number;
  readonly n: number;
}

function geometry(node: GraphNode, a: Shape, b: Shape): Geometry {
  if (a.length < MIN_RANK || a.length > MAX_RANK || b.length !== a.length) {
    fail(node, `multiplies two tensors of equal rank ${MIN_RANK} to ${MAX_RANK} ([..., M, K] x [..., K, N]), got [${a.join(', ')}] and [${b.join(', ')}]`);
  }
  const lead = a.slice(0, -2);
  if (lead.some((d, i) => d !== b[i])) fail(node, `the leading axes of [${a.join(', ')}] and [${b.join(', ')}] differ (broadcasting them is not supported)`);
  const [m, k] = a.slice(-2) as [number, number];
  const [k2, n] = b.slice(-2) as [number, number];
  if (k !== k2) fail(node, `cannot multiply [${a.join(', ')}] by [${b.join(', ')}]: ${k} columns against ${k2} rows`);
  return { batch: shapeSize(lead), m, k, n };
}

/** The operand held constant as a gate (the attention weights: a Softmax's output), or -1 for none. */
const gateOf = (node: GraphNode): -1 | 0 | 1 => {
  const g = attrNumber(node, 'gate', -1);
  if (g !== -1 && g !== 0 && g !== 1) fail(node, `gate must be -1 (none), 0 or 1, got ${g}`);
  return g;
};

/**
 * The batched product of two computed values [..., M, K] x [..., K, N] (attention's Q K^T and A V). Attribute `gate`:
 * the operand a Softmax computes (the attention weights), -1 when neither does.
 *
 * Epsilon (CP-LRP, Ali et al. 2022): the gate is held constant, so the product is linear in the other operand and the
 * epsilon rule gives it all relevance, the gate none. For A V (gate A): R_V[k, n] = V[k, n] sum_m A[m, k] R[m, n] /
 * stab(Z[m, n]), Z = A V, per batch entry; conserving up to the stabiliser. Uniform (AttnLRP, Achtibat et al. 2024):
 * both operands get half of the epsilon rule, R_A = A * (s B^T), R_B = B * (A^T s), s = R / (2 stab(Z)).
 * Gradient: R_A = R B^T, R_B = A^T R.
 */
export const matMulOp: OpDef = {
  op: 'matmul',
  layerClass: 'matmul',
  summary:
    'Batched product of two computed values [..., M, K] x [..., K, N] (attention): Epsilon holds the Softmax operand constant as a gate (CP-LRP) and gives the other one all relevance; Uniform gives each operand half of the epsilon rule (AttnLRP); the gradient is the product rule.',
  inferShape(node, [a, b]) {
    if (!a || !b) fail(node, 'multiplies exactly two inputs');
    gateOf(node);
    const { m, n } = geometry(node, a, b);
    return [...a.slice(0, -2), m, n];
  },
  forward(ctx) {
    const [a, b] = ctx.inputs as [TensorRef, TensorRef];
    const g = geometry(ctx.node, a.shape, b.shape);
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    ctx.b.emit('forward', { kernel: 'matmul', a, b, out, ...g, transA: false, transB: false, accumulate: false });
    return out;
  },
  relevance(ctx) {
    const { program, b: builder, node } = ctx;
    const [a, bIn] = ctx.inputs as [TensorRef, TensorRef];
    const g = geometry(node, a.shape, bIn.shape);
    if (program.kind === 'gradient') {
      const ta = ctx.target(0);
      builder.emit('relevance', { kernel: 'matmul', a: ctx.r, b: bIn, out: ta.ref, batch: g.batch, m: g.m, k: g.n, n: g.k, transA: false, transB: true, accumulate: ta.accumulate });
      const tb = ctx.target(1);
      builder.emit('relevance', { kernel: 'matmul', a, b: ctx.r, out: tb.ref, batch: g.batch, m: g.k, k: g.m, n: g.n, transA: true, transB: false, accumulate: tb.accumulate });
      return;
    }
    if (program.kind !== 'lrp') return unsupportedRule(ctx);
    if (program.operands === 'uniform') return emitUniform(ctx, g);
    const gate = gateOf(node);
    if (gate === -1) {
      fail(node, 'the epsilon rule on a product of two computed values needs one of them held constant (a Softmax output, the attention weights); neither is (the uniform rule splits it)');
    }
    emitGatedEpsilon(ctx, gate, g);
  },
};

/** The epsilon rule's one plain group (a product has no bias, so zeroBias changes nothing), or undefined. */
function plainGroup(ctx: RelevanceContext) {
  const { program } = ctx;
  if (program.kind !== 'lrp') return undefined;
  const group = program.groups[0];
  const plain = (m: ParamModifier) => m.kind === 'affine' && m.plain === 1 && m.pos === 0 && m.neg === 0;
  const t0 = group?.terms[0];
  if (program.groups.length !== 1 || !group || group.terms.length !== 1 || t0?.input !== 'identity' || !plain(t0.weight) || !(plain(group.bias) || group.bias.kind === 'zero')) {
    return undefined;
  }
  return group;
}

/**
 * AttnLRP's rule for a matrix product (Achtibat et al. 2024, Sec. 3: epsilon over the summed index, then the uniform rule on each product): s = coefficient R / stab(Z) (coefficient 1/2);
 * R_A = A * (s B^T), R_B = B * (A^T s), both operands, whichever is a Softmax output.
 */
function emitUniform(ctx: RelevanceContext, g: Geometry): void {
  const { b, node } = ctx;
  const group = plainGroup(ctx);
  if (!group || group.mask !== 'all') return unsupportedRule(ctx);
  const s = b.tensor(ctx.output.shape, `${node.name}:s`);
  b.emit('relevance', { kernel: 'stabilized-divide', r: ctx.r, z: ctx.output, zref: ctx.output, s, epsilon: group.epsilon, coefficient: group.coefficient, mask: 'all' });
  const [a, bIn] = ctx.inputs as [TensorRef, TensorRef];
  const ta = b.tensor(a.shape, `${node.name}:ta`);
  b.emit('relevance', { kernel: 'matmul', a: s, b: bIn, out: ta, batch: g.batch, m: g.m, k: g.n, n: g.k, transA: false, transB: true, accumulate: false });
  const targetA = ctx.target(0);
  b.emit('relevance', { kernel: 'elementwise', op: 'multiply', a, b: ta, out: targetA.ref, accumulate: targetA.accumulate });
  const tb = b.tensor(bIn.shape, `${node.name}:tb`);
  b.emit('relevance', { kernel: 'matmul', a, b: s, out: tb, batch: g.batch, m: g.k, k: g.m, n: g.n, transA: true, transB: false, accumulate: false });
  const targetB = ctx.target(1);
  b.emit('relevance', { kernel: 'elementwise', op: 'multiply', a: bIn, b: tb, out: targetB.ref, accumulate: targetB.accumulate });
}

/** CP-LRP: s = R / stab(Z); the signal operand x gets x * (gate^T s) (or x * (s gate^T) when the gate is B). */
function emitGatedEpsilon(ctx: RelevanceContext, gate: 0 | 1, g: Geometry): void {
  const { program, b, node } = ctx;
  if (program.kind !== 'lrp') return;
  // The epsilon rule only (one group, the unmodified product).
  const group = plainGroup(ctx);
  if (!group) return unsupportedRule(ctx);
  const s = b.tensor(ctx.output.shape, `${node.name}:s`);
  b.emit('relevance', { kernel: 'stabilized-divide', r: ctx.r, z: ctx.output, zref: ctx.output, s, epsilon: group.epsilon, coefficient: group.coefficient, mask: group.mask });
  const [a, bIn] = ctx.inputs as [TensorRef, TensorRef];
  const signal = gate === 0 ? 1 : 0;
  const x = ctx.inputs[signal]!;
  const t = b.tensor(x.shape, `${node.name}:t`);
  if (gate === 0) b.emit('relevance', { kernel: 'matmul', a, b: s, out: t, batch: g.batch, m: g.k, k: g.m, n: g.n, transA: true, transB: false, accumulate: false });
  else b.emit('relevance', { kernel: 'matmul', a: s, b: bIn, out: t, batch: g.batch, m: g.m, k: g.n, n: g.k, transA: false, transB: true, accumulate: false });
  const target = ctx.target(signal);
  b.emit('relevance', { kernel: 'elementwise', op: 'multiply', a: x, b: t, out: target.ref, accumulate: target.accumulate });
}

/** ONNX MatMul of two computed values (called by the MatMul mapping in ./linear.ts when B is not constant). */
export function mapComputedMatMul(n: OnnxNode): void {
  const a = n.rt(0);
  const b = n.rt(1);
  const sa = n.shapeOf(a);
  const sb = n.shapeOf(b);
  if (sa.length < MIN_RANK || sa.length > MAX_RANK || sb.length !== sa.length) {
    n.error(`a product of two computed values is supported for equal ranks ${MIN_RANK} to ${MAX_RANK}, got [${sa.join(', ')}] and [${sb.join(', ')}]`);
  }
  if (sa.slice(0, -2).some((d, i) => d !== sb[i])) n.error(`the leading axes of [${sa.join(', ')}] and [${sb.join(', ')}] differ (broadcasting them is not supported)`);
  if (sa[sa.length - 1] !== sb[sb.length - 2]) n.error(`cannot multiply [${sa.join(', ')}] by [${sb.join(', ')}]`);
  const isSoftmax = (v: string) => n.producer(v)?.op === 'softmax';
  const gate = isSoftmax(a) ? 0 : isSoftmax(b) ? 1 : -1;
  n.emit('matmul', [a, b], { gate }, {}, [...sa.slice(0, -1), sb[sb.length - 1]!]);
}
