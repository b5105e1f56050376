/** The one table of kernels: step kind -> CPU reference and GPU spec. */
import type { KernelDef } from './kernel';
import type { Step, StepKind } from './steps';
import { conv2dKernel } from './conv2d';
import { conv2dRelevanceKernel } from './conv2d-relevance';
import { stabilizedDivideKernel } from './stabilized-divide';
import { modifyParamsKernel } from './modify-params';
import { elementwiseKernel } from './elementwise';
import { maxPoolKernel, maxPoolRelevanceKernel } from './maxpool2d';
import { seedRelevanceKernel } from './seed-relevance';
import { windowCopyKernel } from './window-copy';

type KernelTable = { [K in StepKind]: KernelDef<Extract<Step, { kernel: K }>> };

export const kernels: KernelTable = {
  conv2d: conv2dKernel,
  'conv2d-relevance': conv2dRelevanceKernel,
  'stabilized-divide': stabilizedDivideKernel,
  'modify-params': modifyParamsKernel,
  elementwise: elementwiseKernel,
  maxpool2d: maxPoolKernel,
  'maxpool2d-relevance': maxPoolRelevanceKernel,
  'seed-relevance': seedRelevanceKernel,
  'window-copy': windowCopyKernel,
};

export function kernelFor<S extends Step>(step: S): KernelDef<S> {
  return kernels[step.kernel] as unknown as KernelDef<S>;
}
