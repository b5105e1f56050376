/** The one table of kernels: step kind -> CPU reference and GPU spec. */
import type { GpuKernelSpec, KernelDef } from './kernel';
import type { Step, StepKind } from './steps';
import { conv2dKernel } from './conv2d';
import { conv2dRelevanceKernel } from './conv2d-relevance';
import { conv2dGpuVariants, conv2dRelevanceGpuVariants } from './conv2d-fast';
import { stabilizedDivideKernel } from './stabilized-divide';
import { modifyParamsKernel } from './modify-params';
import { elementwiseKernel } from './elementwise';
import { maxPoolKernel, maxPoolRelevanceKernel } from './maxpool2d';
import { seedRelevanceKernel } from './seed-relevance';
import { windowCopyKernel } from './window-copy';
import { broadcastBinaryKernel } from './broadcast-binary';
import { sumToShapeKernel } from './sum-to-shape';
import { activationKernel } from './activation';
import { layerNormKernel, layerNormRelevanceKernel } from './layernorm';
import { stridedCopyKernel } from './strided-copy';
import { matMulKernel } from './matmul';
import { softmaxKernel } from './softmax';

type KernelTable = { [K in StepKind]: KernelDef<Extract<Step, { kernel: K }>> };

export const kernels: KernelTable = {
  // The direct kernels, plus the tiled GEMM and GEMV variants a step may name (./conv2d-fast.ts).
  conv2d: { ...conv2dKernel, variants: conv2dGpuVariants },
  'conv2d-relevance': { ...conv2dRelevanceKernel, variants: conv2dRelevanceGpuVariants },
  'stabilized-divide': stabilizedDivideKernel,
  'modify-params': modifyParamsKernel,
  elementwise: elementwiseKernel,
  maxpool2d: maxPoolKernel,
  'maxpool2d-relevance': maxPoolRelevanceKernel,
  'seed-relevance': seedRelevanceKernel,
  'window-copy': windowCopyKernel,
  'broadcast-binary': broadcastBinaryKernel,
  'sum-to-shape': sumToShapeKernel,
  activation: activationKernel,
  layernorm: layerNormKernel,
  'layernorm-relevance': layerNormRelevanceKernel,
  'strided-copy': stridedCopyKernel,
  matmul: matMulKernel,
  softmax: softmaxKernel,
};

export function kernelFor<S extends Step>(step: S): KernelDef<S> {
  return kernels[step.kernel] as unknown as KernelDef<S>;
}

/** The GPU implementation a step runs with: its kernel's default spec, or the variant the step names. */
export function gpuSpecFor<S extends Step>(step: S): GpuKernelSpec<S> {
  const def = kernelFor(step);
  const variant = (step as { readonly variant?: string }).variant;
  if (variant === undefined) return def.gpu;
  const spec = def.variants?.[variant];
  if (!spec) throw new Error(`kernel ${step.kernel} has no GPU variant "${variant}"`);
  return spec;
}
