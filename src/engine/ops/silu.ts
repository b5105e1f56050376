import { fnActivationOp } from './activation-fn';

/** SiLU (Swish) x * sigmoid(x): imported from x * Sigmoid(x) (ops/mul.ts); ONNX has no SiLU operator. */
export const siluOp = fnActivationOp('silu', { summary: 'SiLU x * sigmoid(x) (EfficientNet; fused from Sigmoid and Mul): Pass in the composites, or its gradient.' }, () => ({ fn: 'silu' }));
