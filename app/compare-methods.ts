/**
 * The methods a side of the Compare tab can use: its LRP rules, or a gradient baseline
 * (src/engine/attribution-methods.ts): Gradient, Gradient x Input, SmoothGrad (noise seed 0), Integrated Gradients
 * (zeros as the baseline, the midpoint rule). The page's side of them (no engine code: the worker computes them,
 * app/baseline-maps.ts).
 */
import { COMPARE_METHOD_LIMITS, type CompareBaseline, type ShareCompareMethod } from '../src/share/share-state';

export { COMPARE_METHOD_LIMITS };
export type { CompareBaseline };

/** What the worker is asked to compute for a baseline side (the link's form too). */
export type BaselineMethod = ShareCompareMethod;

export type CompareMethodId = 'lrp' | CompareBaseline;

/**
 * A side's method as the Compare tab holds it: the method, and every baseline's parameters (kept while another
 * method is chosen, so that switching back finds them).
 */
export interface CompareMethod {
  readonly method: CompareMethodId;
  /** SmoothGrad's noisy samples. */
  readonly samples: number;
  /** SmoothGrad's noise standard deviation, a fraction of the input's range (max - min). */
  readonly noiseLevel: number;
  /** Integrated Gradients' steps. */
  readonly steps: number;
}

/** Few samples and steps by default: each is one explanation, and the CPU backend runs them one after another. */
export const DEFAULT_COMPARE_METHOD: CompareMethod = { method: 'lrp', samples: 16, noiseLevel: 0.15, steps: 16 };

export const COMPARE_METHOD_NAMES: Record<CompareMethodId, string> = {
  lrp: 'LRP rules',
  gradient: 'Gradient',
  'gradient-x-input': 'Gradient × Input',
  smoothgrad: 'SmoothGrad',
  'integrated-gradients': 'Integrated Gradients',
};

export const COMPARE_METHOD_ORDER: readonly CompareMethodId[] = ['lrp', 'gradient', 'gradient-x-input', 'smoothgrad', 'integrated-gradients'];

/** The baseline a side computes (with only its own parameters); null: the side uses its LRP rules. */
export function baselineOf(m: CompareMethod): BaselineMethod | null {
  switch (m.method) {
    case 'lrp':
      return null;
    case 'smoothgrad':
      return { method: 'smoothgrad', samples: m.samples, noiseLevel: m.noiseLevel };
    case 'integrated-gradients':
      return { method: 'integrated-gradients', steps: m.steps };
    default:
      return { method: m.method };
  }
}

/** A side's method from a link's (the parameters a link leaves out keep their current values). */
export function compareMethodFrom(b: BaselineMethod | null, current: CompareMethod): CompareMethod {
  if (!b) return { ...current, method: 'lrp' };
  if (b.method === 'smoothgrad') return { ...current, method: b.method, samples: b.samples, noiseLevel: b.noiseLevel };
  if (b.method === 'integrated-gradients') return { ...current, method: b.method, steps: b.steps };
  return { ...current, method: b.method };
}

/** How a baseline reads in labels: "Integrated Gradients (16 steps)". */
export function baselineLabel(b: BaselineMethod): string {
  if (b.method === 'smoothgrad') return `SmoothGrad (${b.samples} sample${b.samples > 1 ? 's' : ''}, noise ${b.noiseLevel})`;
  if (b.method === 'integrated-gradients') return `Integrated Gradients (${b.steps} step${b.steps > 1 ? 's' : ''}, zeros baseline)`;
  return COMPARE_METHOD_NAMES[b.method];
}

