import { activationOp, leakyParams } from './activation';

/** LeakyReLU(alpha): x for x > 0, alpha * x otherwise. */
export const leakyReluOp = activationOp('leakyrelu', 'leaky-relu', 'leaky-relu-gradient', leakyParams);
