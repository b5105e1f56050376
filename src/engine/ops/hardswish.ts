import { attrNumber } from '../graph';
import { fail } from './op';
import { fnActivationOp } from './activation-fn';
import { unaryOnnx } from './activation';

/**
 * HardSwish x * clamp(alpha x + beta, 0, 1): ONNX HardSwish (alpha 1/6, beta 1/2), and x * HardSigmoid(x) (fused in
 * the Mul mapping, ops/mul.ts, keeping the HardSigmoid's alpha and beta).
 */
export const hardSwishOp = fnActivationOp(
  'hardswish',
  {
    summary: 'HardSwish x * HardSigmoid(x) (MobileNetV3): Pass in the composites, or its gradient.',
    onnx: { HardSwish: unaryOnnx('hardswish', 'any shape', () => ({ alpha: 1 / 6, beta: 0.5 })) },
  },
  (node) => {
    const alpha = attrNumber(node, 'alpha', 1 / 6);
    const beta = attrNumber(node, 'beta', 0.5);
    if (!Number.isFinite(alpha) || !Number.isFinite(beta)) fail(node, 'alpha and beta must be finite');
    return { fn: 'hard-swish', alpha, beta };
  },
);
