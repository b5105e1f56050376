import { activationOp } from './activation';

/** ReLU; its gradient keeps relevance only where the input was positive. */
export const reluOp = activationOp('relu', 'relu', 'relu-gradient');
