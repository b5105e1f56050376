import { attrNumber } from '../graph';
import { alwaysNonNegative, fail } from './op';
import { fnActivationOp } from './activation-fn';
import { unaryOnnx } from './activation';

/** HardSigmoid clamp(alpha x + beta, 0, 1) (ONNX defaults alpha 0.2, beta 0.5; torch's nn.Hardsigmoid exports 1/6). */
export const hardSigmoidOp = fnActivationOp(
  'hardsigmoid',
  {
    summary: 'HardSigmoid clamp(alpha x + beta, 0, 1): Pass in the composites, or its gradient.',
    onnx: { HardSigmoid: unaryOnnx('hardsigmoid', 'any shape, alpha and beta', (n) => ({ alpha: n.attr.float('alpha', 0.2), beta: n.attr.float('beta', 0.5) })) },
    nonNegative: alwaysNonNegative,
  },
  (node) => {
    const alpha = attrNumber(node, 'alpha', 0.2);
    const beta = attrNumber(node, 'beta', 0.5);
    if (!Number.isFinite(alpha) || !Number.isFinite(beta)) fail(node, 'alpha and beta must be finite');
    return { fn: 'hard-sigmoid', alpha, beta };
  },
);
