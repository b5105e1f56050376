import { fnActivationOp } from './activation-fn';
import { unaryOnnx } from './activation';

/** The error function, elementwise (ONNX Erf outside a GELU pattern). */
export const erfOp = fnActivationOp(
  'erf',
  { summary: 'The error function erf(x): Pass in the composites, or its gradient.', onnx: { Erf: unaryOnnx('erf', 'any shape') } },
  () => ({ fn: 'erf' }),
);
