import { activationOp, unaryOnnx } from './activation';
import { alwaysNonNegative } from './op';

/** ReLU; its gradient keeps relevance only where the input was positive. */
export const reluOp = activationOp('relu', 'relu', 'relu-gradient', {
  summary: 'ReLU: Pass in the composites; its gradient keeps relevance where the input was positive.',
  onnx: { Relu: unaryOnnx('relu', 'any shape') },
  nonNegative: alwaysNonNegative,
});
