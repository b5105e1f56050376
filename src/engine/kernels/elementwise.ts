import shader from '../../shaders/elementwise.wgsl?raw';
import type { KernelDef } from './kernel';
import type { ElementwiseOp, ElementwiseStep } from './steps';

const opCode: Record<ElementwiseOp, number> = { relu: 0, 'relu-gradient': 1, add: 2, multiply: 3, copy: 4 };

function apply(op: ElementwiseOp, a: number, b: number): number {
  switch (op) {
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

export const elementwiseKernel: KernelDef<ElementwiseStep> = {
  kind: 'elementwise',
  cpu(step, mem) {
    const a = mem.get(step.a);
    const b = step.b ? mem.get(step.b) : null;
    const out = mem.get(step.out);
    for (let i = 0; i < out.length; i++) {
      const v = apply(step.op, a[i]!, b ? b[i]! : 0);
      out[i] = step.accumulate ? out[i]! + v : v;
    }
  },
  gpu: {
    shader,
    overrides: (s) => ({ OP: opCode[s.op], ACCUMULATE: s.accumulate ? 1 : 0 }),
    uniforms: (s) => [['u', s.out.size]],
    bindings: (s) => [s.a, s.b, s.out],
    invocations: (s) => s.out.size,
  },
};
