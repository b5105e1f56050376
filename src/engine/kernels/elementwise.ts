import shader from '../../shaders/elementwise.wgsl?raw';
import type { KernelDef } from './kernel';
import { defineParams } from './uniforms';
import type { ElementwiseOp, ElementwiseStep } from './steps';

const opCode: Record<ElementwiseOp, number> = {
  relu: 0,
  'relu-gradient': 1,
  add: 2,
  multiply: 3,
  copy: 4,
  'leaky-relu': 5,
  'leaky-relu-gradient': 6,
  clip: 7,
  'clip-gradient': 8,
  sigmoid: 9,
  'sigmoid-gradient': 10,
  tanh: 11,
  'tanh-gradient': 12,
};

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function apply(op: ElementwiseOp, a: number, b: number, p0: number, p1: number): number {
  switch (op) {
    case 'leaky-relu':
      return a > 0 ? a : p0 * a;
    case 'leaky-relu-gradient':
      return a > 0 ? b : p0 * b;
    case 'clip':
      return Math.min(Math.max(a, p0), p1);
    case 'clip-gradient':
      return a > p0 && a < p1 ? b : 0;
    case 'sigmoid':
      return sigmoid(a);
    case 'sigmoid-gradient':
      return b * sigmoid(a) * (1 - sigmoid(a));
    case 'tanh':
      return Math.tanh(a);
    case 'tanh-gradient':
      return b * (1 - Math.tanh(a) ** 2);
    case 'relu':
      return Math.max(a, 0);
    case 'relu-gradient':
      return a > 0 ? b : 0;
    case 'add':
      return a + b;
    case 'multiply':
      return a * b;
    case 'copy':
      return a;
  }
}

const params = defineParams([['total', 'u32'], ['p0', 'f32'], ['p1', 'f32']]);

export const elementwiseKernel: KernelDef<ElementwiseStep> = {
  kind: 'elementwise',
  cpu(step, mem) {
    const a = mem.get(step.a);
    const b = step.b ? mem.get(step.b) : null;
    const out = mem.get(step.out);
    for (let i = 0; i < out.length; i++) {
      const v = apply(step.op, a[i]!, b ? b[i]! : 0, step.p0 ?? 0, step.p1 ?? 0);
      out[i] = step.accumulate ? out[i]! + v : v;
    }
  },
  gpu: {
    shader,
    params,
    overrides: (s) => ({ OP: opCode[s.op], ACCUMULATE: s.accumulate ? 1 : 0 }),
    uniforms: (s) => params.pack({ total: s.out.size, p0: s.p0 ?? 0, p1: s.p1 ?? 0 }),
    bindings: (s) => [s.a, s.b, s.out],
    invocations: (s) => s.out.size,
  },
};
