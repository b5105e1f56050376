import { activationOp, leakyParams, unaryOnnx } from './activation';

/** LeakyReLU(alpha): x for x > 0, alpha * x otherwise. */
export const leakyReluOp = activationOp('leakyrelu', 'leaky-relu', 'leaky-relu-gradient', {
    summary: 'LeakyReLU(alpha): Pass in the composites, or its gradient.',
    onnx: { LeakyRelu: unaryOnnx('leakyrelu', 'any shape', (n) => ({ alpha: n.attr.float('alpha', 0.01) })) },
  }, leakyParams);
