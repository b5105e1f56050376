import { activationOp, unaryOnnx } from './activation';
import { alwaysNonNegative } from './op';

export const sigmoidOp = activationOp('sigmoid', 'sigmoid', 'sigmoid-gradient', {
  summary: 'Sigmoid: Pass in the composites, or its gradient.',
  onnx: { Sigmoid: unaryOnnx('sigmoid', 'any shape') },
  nonNegative: alwaysNonNegative,
});
