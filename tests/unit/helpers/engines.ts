/** Shared engines for tests: one CPU and one WebGPU (Dawn) engine per test file. */
import { createEngine, type Engine } from '../../../src/engine/index';
import { createNodeGpu } from '../../../src/node/node-gpu';

let cpu: Promise<Engine> | undefined;
let gpu: Promise<Engine> | undefined;

export function cpuEngine(): Promise<Engine> {
  cpu ??= createEngine({ backend: 'cpu' });
  return cpu;
}

export function gpuEngine(): Promise<Engine> {
  gpu ??= createNodeGpu().then((g) => createEngine({ backend: 'webgpu', gpu: g }));
  return gpu;
}

/** Deterministic pseudo-random numbers (mulberry32) so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(n: number, random: () => number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (random() * 2 - 1) * scale;
  return out;
}

export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

export function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}
