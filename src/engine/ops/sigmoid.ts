import { activationOp } from './activation';

export const sigmoidOp = activationOp('sigmoid', 'sigmoid', 'sigmoid-gradient');
