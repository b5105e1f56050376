import { fail } from './op';
import { fnActivationOp } from './activation-fn';

/**
 * GELU x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), or with approximate "tanh" 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715
 * x^3))). ONNX Gelu (opset 20); older exports' Div, Erf, Add, Mul, Mul are fused into a Gelu node before import
 * (onnx/onnx-fusions.ts).
 */
export const geluOp = fnActivationOp(
  'gelu',
  {
    summary: 'GELU, exact (erf) or tanh approximation (ConvNeXt): Pass in the composites, or its gradient.',
    onnx: {
      Gelu: {
        limits: 'approximate "none" or "tanh"',
        map(n) {
          const x = n.rt(0);
          const approximate = n.attr.str('approximate', 'none');
          if (approximate !== 'none' && approximate !== 'tanh') n.error(`approximate "${approximate}" is not supported (only "none" and "tanh")`);
          n.emit('gelu', [x], approximate === 'tanh' ? { approximate } : {}, {}, n.shapeOf(x));
        },
      },
    },
  },
  (node) => {
    const a = node.attrs.approximate ?? 'none';
    if (a !== 'none' && a !== 'tanh') fail(node, `approximate must be "none" or "tanh", got ${JSON.stringify(a)}`);
    return { fn: a === 'tanh' ? 'gelu-tanh' : 'gelu' };
  },
);
