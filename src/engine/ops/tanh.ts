import { activationOp } from './activation';

export const tanhOp = activationOp('tanh', 'tanh', 'tanh-gradient');
