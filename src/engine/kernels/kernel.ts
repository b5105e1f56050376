/** What each kernel file provides: a float64 CPU reference and the WebGPU dispatch spec. */
import type { TensorRef } from '../program';
import type { Step } from './steps';

export interface CpuMemory {
  get(ref: TensorRef): Float64Array;
}

export type UniformField = readonly ['u' | 'i' | 'f', number];

export interface GpuKernelSpec<S extends Step> {
  /** WGSL source; the entry point is `main`, workgroup size 64, binding 0 is the uniform struct. */
  readonly shader: string;
  /** Override constants: pipelines are cached per (shader, overrides), never per tensor size. */
  overrides(step: S): Record<string, number>;
  /** The uniform struct's fields in declaration order (each one 32-bit word). */
  uniforms(step: S): readonly UniformField[];
  /** Storage bindings 1..n in order; the last one is written. null binds a placeholder. */
  bindings(step: S): readonly (TensorRef | null)[];
  /** Number of invocations (one per element written, usually). */
  invocations(step: S): number;
}

export interface KernelDef<S extends Step> {
  readonly kind: S['kernel'];
  cpu(step: S, mem: CpuMemory): void;
  readonly gpu: GpuKernelSpec<S>;
}

/** stab(d) = d + eps * sign(d), sign(0) = +1 (Zennit and Captum). */
export function stabilize(d: number, eps: number): number {
  return d + (d >= 0 ? eps : -eps);
}
