/** What each kernel file provides: a float64 CPU reference and the WebGPU dispatch spec. */
import type { TensorRef } from '../program';
import type { Step } from './steps';

export interface CpuMemory {
  get(ref: TensorRef): Float64Array;
}

export type UniformField = readonly ['u' | 'i' | 'f', number];

export interface GpuKernelSpec<S extends Step> {
  /**
   * WGSL source; the entry point is `main`, binding 0 is the uniform struct. Workgroup size 64 with a 1-D flat
   * index when the spec gives `invocations`; the shader's own workgroup size when it gives `workgroups`.
   */
  readonly shader: string;
  /** Override constants: pipelines are cached per (shader, overrides), never per tensor size. */
  overrides(step: S): Record<string, number>;
  /** The uniform struct's fields in declaration order (each one 32-bit word). */
  uniforms(step: S): readonly UniformField[];
  /** Storage bindings 1..n in order; the last one is written. null binds a placeholder. */
  bindings(step: S): readonly (TensorRef | null)[];
  /** Number of invocations (one per element written, usually), folded into workgroups of 64 along x then y. */
  invocations?(step: S): number;
  /** Explicit workgroup counts [x, y, z] (each at most 65535), for shaders with their own geometry. */
  workgroups?(step: S): readonly [number, number, number];
}

export interface KernelDef<S extends Step> {
  readonly kind: S['kernel'];
  cpu(step: S, mem: CpuMemory): void;
  readonly gpu: GpuKernelSpec<S>;
  /**
   * Other GPU implementations of the same step semantics, chosen by the step's `variant` field (the CPU reference
   * is the same for all of them); the default `gpu` runs when a step names no variant.
   */
  readonly variants?: Readonly<Record<string, GpuKernelSpec<S>>>;
}

/** stab(d) = d + eps * sign(d), sign(0) = +1 (Zennit and Captum). */
export function stabilize(d: number, eps: number): number {
  return d + (d >= 0 ? eps : -eps);
}
