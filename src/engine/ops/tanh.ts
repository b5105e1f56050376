import { activationOp, unaryOnnx } from './activation';

export const tanhOp = activationOp('tanh', 'tanh', 'tanh-gradient', {
  summary: 'Tanh: Pass in the composites, or its gradient.',
  onnx: { Tanh: unaryOnnx('tanh', 'any shape') },
});
