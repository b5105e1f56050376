/** The one table of ops the engine runs. */
import type { OpType } from '../graph';
import type { OpDef } from './op';
import { linearOp } from './linear';
import { conv2dOp } from './conv2d';
import { batchNormOp } from './batchnorm';
import { reluOp } from './relu';
import { maxPoolOp } from './maxpool2d';
import { avgPoolOp, globalAvgPoolOp } from './avgpool2d';
import { reshapeOp } from './reshape';
import { addOp } from './add';
import { padOp } from './pad';
import { sliceOp } from './slice';
import { leakyReluOp } from './leakyrelu';
import { clipOp } from './clip';
import { sigmoidOp } from './sigmoid';
import { tanhOp } from './tanh';

export const ops: Record<OpType, OpDef> = {
  linear: linearOp,
  conv2d: conv2dOp,
  batchnorm: batchNormOp,
  relu: reluOp,
  leakyrelu: leakyReluOp,
  clip: clipOp,
  sigmoid: sigmoidOp,
  tanh: tanhOp,
  maxpool2d: maxPoolOp,
  avgpool2d: avgPoolOp,
  globalavgpool: globalAvgPoolOp,
  reshape: reshapeOp,
  add: addOp,
  pad: padOp,
  slice: sliceOp,
};
