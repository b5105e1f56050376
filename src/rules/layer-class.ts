import type { OpType } from '../engine/graph';
import type { LayerClass } from './rules';

/** Which rules can apply to a layer depends only on its op. */
export function layerClassOfOp(op: OpType): LayerClass {
  switch (op) {
    case 'linear':
    case 'conv2d':
      return 'weighted';
    case 'batchnorm':
      return 'batchnorm';
    case 'avgpool2d':
    case 'globalavgpool':
      return 'avgpool';
    case 'maxpool2d':
      return 'maxpool';
    case 'relu':
    case 'leakyrelu':
    case 'clip':
    case 'sigmoid':
    case 'tanh':
      return 'activation';
    case 'add':
      return 'add';
    case 'reshape':
    case 'pad':
    case 'slice':
      return 'structural';
  }
}
