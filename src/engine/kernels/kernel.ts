/** What each kernel file provides: a float64 CPU reference and the WebGPU dispatch spec. */
import type { TensorRef } from '../program';
import type { Step } from './steps';
import type { PackedUniforms, UniformParams } from './uniforms';

export interface CpuMemory {
  get(ref: TensorRef): Float64Array;
}

export interface GpuKernelSpec<S extends Step> {
  /**
   * WGSL source without the uniform struct; the entry point is `main`, binding 0 is `var<uniform> p: Params`.
   * Workgroup size 64 with a 1-D flat index when the spec gives `invocations`; the shader's own workgroup size when
   * it gives `workgroups`.
   */
  readonly shader: string;
  /**
   * The uniform struct's one field list (`defineParams`, ./uniforms.ts): the `struct Params` text prepended to
   * `shader` where the pipeline is built (`shaderSource`), and the packer `uniforms` uses.
   */
  readonly params: UniformParams;
  /** Override constants: pipelines are cached per (shader, overrides), never per tensor size. */
  overrides(step: S): Record<string, number>;
  /** The step's uniform values by field name, packed by this spec's `params` (`params.pack({ ... })`). */
  uniforms(step: S): PackedUniforms;
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
