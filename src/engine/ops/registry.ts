/** The one table of ops the engine runs. */
import type { OpType } from '../graph';
import type { OpDef } from './op';
import type { LayerClass } from '../../rules/rules';
import { linearOp } from './linear';
import { layerNormOp } from './layernorm';
import { conv2dOp } from './conv2d';
import { batchNormOp } from './batchnorm';
import { reluOp } from './relu';
import { maxPoolOp } from './maxpool2d';
import { avgPoolOp, globalAvgPoolOp } from './avgpool2d';
import { reshapeOp } from './reshape';
import { addOp } from './add';
import { addConstOp } from './addconst';
import { scaleOp } from './scale';
import { mulOp } from './mul';
import { divOp } from './div';
import { hardSigmoidOp } from './hardsigmoid';
import { hardSwishOp } from './hardswish';
import { siluOp } from './silu';
import { geluOp } from './gelu';
import { erfOp } from './erf';
import { padOp } from './pad';
import { sliceOp } from './slice';
import { concatOp } from './concat';
import { transposeOp } from './transpose';
import { leakyReluOp } from './leakyrelu';
import { clipOp } from './clip';
import { sigmoidOp } from './sigmoid';
import { tanhOp } from './tanh';
import { matMulOp } from './matmul';
import { softmaxOp } from './softmax';

export const ops = {
  linear: linearOp,
  layernorm: layerNormOp,
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
  addconst: addConstOp,
  scale: scaleOp,
  mul: mulOp,
  div: divOp,
  hardsigmoid: hardSigmoidOp,
  hardswish: hardSwishOp,
  silu: siluOp,
  gelu: geluOp,
  erf: erfOp,
  pad: padOp,
  slice: sliceOp,
  concat: concatOp,
  transpose: transposeOp,
  matmul: matMulOp,
  softmax: softmaxOp,
} satisfies Record<string, OpDef>;

/** The rule family of a layer kind. */
export function layerClassOf(op: OpType): LayerClass {
  return ops[op].layerClass;
}
