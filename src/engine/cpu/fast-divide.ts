/**
 * The stabilised division s = coefficient * r / stab(z) of the relevance pass (../kernels/stabilized-divide.ts) for
 * the fast CPU backend: the reference's per-element tests of the mask and the stabiliser hoisted out of the loop,
 * and, in the common case (no mask, epsilon > 0), stab(z) = z + sign(z) eps without a branch: the signs of z are
 * as good as random, and the mispredicted branch took two thirds of the loop's time. The same arithmetic (eps times
 * plus or minus 1 is exact), so the same results bit for bit (tests/unit/cpu-fast-kernels.test.ts).
 */
import type { TensorRef } from '../program';
import { stabilize } from '../kernels/kernel';
import type { StabilizedDivideStep } from '../kernels/steps';

interface DivideMemory {
  get(ref: TensorRef): Float32Array;
}

export function stabilizedDivideFast(step: StabilizedDivideStep, mem: DivideMemory): void {
  const r = mem.get(step.r);
  const z = mem.get(step.z);
  const zref = mem.get(step.zref);
  const s = mem.get(step.s);
  const k = step.coefficient;
  const eps = step.epsilon;
  const n = s.length;
  const mask = step.mask;
  if (mask === 'all' && eps !== null && eps > 0) {
    // sign(z) with sign(0) = +1, as stabilize(); d is never 0 here (|d| >= eps), so no 0/0 guard.
    for (let i = 0; i < n; i++) {
      const zi = z[i]!;
      s[i] = (k * r[i]!) / (zi + eps * (+(zi >= 0) * 2 - 1));
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const zr = zref[i]!;
    if (mask === 'positive' ? !(zr > 0) : mask === 'negative' ? !(zr < 0) : false) {
      s[i] = 0;
      continue;
    }
    const v = k * r[i]!;
    if (eps === null) {
      s[i] = v;
      continue;
    }
    const d = stabilize(z[i]!, eps);
    // Only an epsilon of 0 meeting z = 0 gets here: no contribution, so no relevance passes (never 0/0).
    s[i] = d === 0 ? 0 : v / d;
  }
}
